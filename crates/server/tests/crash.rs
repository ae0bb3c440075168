//! Crash recovery of the flow-end outbox, with the real `flowhook` process:
//! SIGKILL while 2,000 messages are outstanding, then a restart delivers every
//! one; SIGTERM lets work in flight finish or gives its leases back. On SQLite
//! and on PostgreSQL.
//!
//! The receiver counts 2xx answers per `webhook-id`, so a duplicate shows:
//! after a SIGKILL, only a message whose 2xx answer went to the dead server
//! (in flight at the kill) may arrive twice; after a SIGTERM, none may.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN: &str = "crash-test-admin-token-0123";

/// The receiver: answers `status` (changeable) after `delay`, and counts its
/// 2xx answers per webhook-id.
struct Receiver {
    addr: std::net::SocketAddr,
    status: Arc<Mutex<u16>>,
    delay: Arc<Mutex<Duration>>,
    /// 2xx answers per webhook-id.
    answered: Arc<Mutex<HashMap<String, usize>>>,
    requests: Arc<Mutex<usize>>,
    /// Set while the server is killed: a 2xx given then went to no one.
    server_dead: Arc<AtomicBool>,
    /// 2xx answers given while the server was dead: the messages in flight at
    /// the kill whose success the server never learnt.
    answered_to_the_dead: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start() -> Receiver {
        let status = Arc::new(Mutex::new(503u16));
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let answered = Arc::new(Mutex::new(HashMap::new()));
        let requests = Arc::new(Mutex::new(0usize));
        let server_dead = Arc::new(AtomicBool::new(false));
        let answered_to_the_dead = Arc::new(AtomicUsize::new(0));
        let (s, dl, d, n, dead, lost) = (
            status.clone(),
            delay.clone(),
            answered.clone(),
            requests.clone(),
            server_dead.clone(),
            answered_to_the_dead.clone(),
        );
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
            let (s, dl, d, n) = (s.clone(), dl.clone(), d.clone(), n.clone());
            let (dead, lost) = (dead.clone(), lost.clone());
            async move {
                *n.lock().expect("lock") += 1;
                let wait = *dl.lock().expect("lock");
                tokio::time::sleep(wait).await;
                let code = *s.lock().expect("lock");
                if (200..300).contains(&code)
                    && let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok())
                {
                    *d.lock().expect("lock").entry(id.to_owned()).or_insert(0) += 1;
                    if dead.load(Ordering::SeqCst) {
                        lost.fetch_add(1, Ordering::SeqCst);
                    }
                }
                axum::http::StatusCode::from_u16(code).expect("status")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Receiver {
            addr,
            status,
            delay,
            answered,
            requests,
            server_dead,
            answered_to_the_dead,
        }
    }

    /// Distinct webhook-ids answered with a 2xx.
    fn delivered(&self) -> usize {
        self.answered.lock().expect("lock").len()
    }

    /// 2xx answers beyond the first, over all webhook-ids.
    fn duplicates(&self) -> usize {
        self.answered
            .lock()
            .expect("lock")
            .values()
            .map(|n| n - 1)
            .sum()
    }
}

/// A `flowhook serve` process and its address.
struct Server {
    child: Child,
    addr: String,
}

fn start_server(db_url: &str, data_dir: &std::path::Path, lease_seconds: u64) -> Server {
    start_server_with(db_url, data_dir, lease_seconds, &[])
}

/// [`start_server`] with more settings in the environment.
fn start_server_with(
    db_url: &str,
    data_dir: &std::path::Path,
    lease_seconds: u64,
    extra: &[(&str, &str)],
) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flowhook"))
        .envs(extra.iter().copied())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data_dir)
        .env("FLOWHOOK_DATABASE_URL", db_url)
        .env("FLOWHOOK_ADMIN_TOKEN", ADMIN)
        .env("FLOWHOOK_MASTER_KEY", "cd".repeat(32))
        .env("FLOWHOOK_EGRESS_ALLOW_CIDRS", "127.0.0.1/32")
        .env("FLOWHOOK_RETRY_SCHEDULE", vec!["1"; 40].join(","))
        .env("FLOWHOOK_DELIVERY_LEASE_SECONDS", lease_seconds.to_string())
        .env("FLOWHOOK_DELIVERY_TIMEOUT_SECONDS", "2")
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flowhook starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && line.contains("flowhook serving") {
                let addr = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("listen="))
                    .map(str::to_owned);
                let _ = tx.send(addr);
                sent = true;
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .ok()
        .flatten()
        .expect("the server printed its address");
    Server { child, addr }
}

async fn call(
    http: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> Value {
    http.request(method, format!("http://{}{path}", server.addr))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .unwrap_or(Value::Null)
}

async fn queue_depth(http: &reqwest::Client, server: &Server) -> Option<f64> {
    let text = http
        .get(format!("http://{}/metrics", server.addr))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("flowhook_delivery_queue_depth "))
        .and_then(|v| v.trim().parse().ok())
}

/// Creates an account whose default webhook is `end` (a flow-end receiver's
/// URL); returns its key.
async fn account_ending_at(http: &reqwest::Client, server: &Server, end: String) -> String {
    let acct = call(
        http,
        server,
        reqwest::Method::POST,
        "/v1/accounts",
        ADMIN,
        json!({"name": "crash", "allow_http": true}),
    )
    .await;
    let key = acct["security_id"].as_str().expect("key").to_owned();
    let hook = call(
        http,
        server,
        reqwest::Method::POST,
        "/v1/webhooks",
        &key,
        json!({"name": "end", "url": end, "is_default": true}),
    )
    .await;
    assert!(hook["id"].is_string(), "{hook}");
    key
}

/// Creates an account, a default webhook to the receiver and a flow; returns
/// (account key, flow id).
async fn provision(http: &reqwest::Client, server: &Server, rx: &Receiver) -> (String, String) {
    let key = account_ending_at(http, server, format!("http://{}/end", rx.addr)).await;
    let flow = http
        .post(format!("http://{}/v1/flows", server.addr))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(r#"{"name": "crash", "webhook_on_complete": true, "start": "a",
                  "widgets": {"a": {"type": "store_variable", "assign": {"$flow.key.n": "1"}, "lines": [null]}}}"#)
        .send().await.expect("send").json::<Value>().await.expect("json");
    (key, flow["id"].as_str().expect("flow id").to_owned())
}

/// Runs `n` executions (each enqueues one message) with 16 callers.
async fn enqueue(http: &reqwest::Client, server: &Server, key: &str, flow: &str, n: usize) {
    let url = format!("http://{}/v1/flows/{flow}/executions", server.addr);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (http, url, key, next) = (http.clone(), url.clone(), key.to_owned(), next.clone());
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let resp = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"contact": "918000374000", "wait": true}))
                    .send()
                    .await
                    .expect("execution");
                assert_eq!(resp.status(), 200);
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
}

async fn wait_delivered(rx: &Receiver, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while rx.delivered() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} messages delivered",
            rx.delivered()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn database(kind: &str, dir: &std::path::Path) -> Option<String> {
    match kind {
        "sqlite" => Some(format!("sqlite://{}", dir.join("flowhook.db").display())),
        _ => flowhook_storage::testing::fresh_postgres_url("crash test").await,
    }
}

async fn sigkill_with_2000_outstanding(kind: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(db) = database(kind, dir.path()).await else {
        return;
    };
    let rx = Receiver::start().await;
    let http = reqwest::Client::new();
    let mut server = start_server(&db, dir.path(), 7);
    let (key, flow) = provision(&http, &server, &rx).await;
    // Slow answers keep attempts open at the receiver when the kill comes.
    *rx.delay.lock().expect("lock") = Duration::from_millis(200);
    enqueue(&http, &server, &key, &flow, 2000).await;
    let outstanding = queue_depth(&http, &server).await.expect("metrics");
    assert!(
        outstanding >= 1990.0,
        "messages are outstanding at the kill: {outstanding}"
    );
    assert!(
        *rx.requests.lock().expect("lock") > 0,
        "attempts were in progress"
    );

    // Until the kill every answer is a 503; the attempts still open at the
    // receiver then answer 200 to a dead server, which cannot record them.
    rx.server_dead.store(true, Ordering::SeqCst);
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    *rx.status.lock().expect("lock") = 200;
    // Let the open attempts answer before the restart, so that what counts as
    // answered to the dead is exactly that.
    tokio::time::sleep(Duration::from_millis(400)).await;
    *rx.delay.lock().expect("lock") = Duration::ZERO;
    rx.server_dead.store(false, Ordering::SeqCst);
    let in_flight_at_kill = rx.answered_to_the_dead.load(Ordering::SeqCst);

    let mut server = start_server(&db, dir.path(), 7);
    wait_delivered(&rx, 2000, Duration::from_secs(120)).await;
    assert_eq!(rx.delivered(), 2000, "every message arrived");
    let mut depth = None;
    for _ in 0..50 {
        depth = queue_depth(&http, &server).await;
        if depth == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(depth, Some(0.0), "nothing left pending");
    // Only a message whose success went to the dead server is sent again.
    let duplicates = rx.duplicates();
    assert!(
        duplicates <= in_flight_at_kill,
        "{duplicates} duplicates, but only {in_flight_at_kill} messages were in flight at the kill"
    );
    let answers: usize = rx.answered.lock().expect("lock").values().sum();
    assert_eq!(answers, 2000 + duplicates);
    server.child.kill().expect("stop");
    let _ = server.child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_on_sqlite() {
    sigkill_with_2000_outstanding("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_on_postgres() {
    sigkill_with_2000_outstanding("postgres").await;
}

/// Sends SIGTERM and waits (at most 30 s) for a clean exit; how long it took.
fn stop_with_sigterm(server: &mut Server) -> Duration {
    let pid = server.child.id().to_string();
    let term = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(term.success());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "flowhook did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "clean exit: {status:?}");
    started.elapsed()
}

/// The stored execution `uuid` of the database's only account, read directly.
async fn stored_execution(db: &str, uuid: &str) -> flowhook_storage::ExecutionRecord {
    let store = flowhook_storage::connect(db).await.expect("store");
    let account = store.accounts().await.expect("accounts")[0].id;
    let id = flowhook_core::ids::ExecutionId::parse(uuid).expect("uuid");
    store
        .execution(account, id)
        .await
        .expect("read")
        .expect("stored")
}

/// SIGTERM: attempts in flight finish, leases are given back, the process exits
/// cleanly; a restart (with a lease far longer than the test) delivers the rest
/// at once, which it could not if leases had been left behind.
async fn sigterm_releases_work(kind: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(db) = database(kind, dir.path()).await else {
        return;
    };
    let rx = Receiver::start().await;
    *rx.delay.lock().expect("lock") = Duration::from_millis(300);
    let http = reqwest::Client::new();
    let mut server = start_server(&db, dir.path(), 600);
    let (key, flow) = provision(&http, &server, &rx).await;
    enqueue(&http, &server, &key, &flow, 200).await;
    stop_with_sigterm(&mut server);

    *rx.status.lock().expect("lock") = 200;
    *rx.delay.lock().expect("lock") = Duration::ZERO;
    let mut server = start_server(&db, dir.path(), 600);
    wait_delivered(&rx, 200, Duration::from_secs(30)).await;
    let mut depth = None;
    for _ in 0..50 {
        depth = queue_depth(&http, &server).await;
        if depth == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(depth, Some(0.0), "nothing left pending");
    assert_eq!(
        rx.duplicates(),
        0,
        "after a SIGTERM every attempt was recorded: no message twice"
    );
    server.child.kill().expect("stop");
    let _ = server.child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_work_on_sqlite() {
    sigterm_releases_work("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_work_on_postgres() {
    sigterm_releases_work("postgres").await;
}

/// What the database holds for the account of API key `key`: the store, the
/// account and its whole outbox, read directly (no server running).
async fn on_disk(
    db: &str,
    key: &str,
) -> (
    std::sync::Arc<dyn flowhook_storage::Store>,
    flowhook_storage::AccountRecord,
    Vec<flowhook_storage::DeliveryRecord>,
) {
    let store = flowhook_storage::connect(db).await.expect("reopen");
    let hash = flowhook_core::account::SecurityId::parse(key)
        .expect("key")
        .lookup_hash();
    let account = store
        .account_by_security_hash(&hash)
        .await
        .expect("account")
        .expect("exists");
    let filter = flowhook_storage::DeliveryFilter {
        limit: 1_000_000,
        ..Default::default()
    };
    let outbox = store.deliveries(account.id, &filter).await.expect("outbox");
    (store, account, outbox)
}

/// SIGKILL while hundreds of executions are waiting on the group commit: every
/// execution whose caller got a 200 has its row, finished, and its outbox row,
/// because an answer waits for the commit holding its writes.
async fn sigkill_during_group_commit(kind: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(db) = database(kind, dir.path()).await else {
        return;
    };
    let rx = Receiver::start().await;
    let http = reqwest::Client::new();
    let mut server = start_server(&db, dir.path(), 7);
    let (key, flow) = provision(&http, &server, &rx).await;
    let url = format!("http://{}/v1/flows/{flow}/executions", server.addr);
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut callers = Vec::new();
    for _ in 0..256 {
        let (http, url, key, answered, stop) = (
            http.clone(),
            url.clone(),
            key.clone(),
            answered.clone(),
            stop.clone(),
        );
        callers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(resp) = http
                    .post(&url)
                    .bearer_auth(&key)
                    .json(&json!({"contact": "918000374000", "wait": true}))
                    .send()
                    .await
                else {
                    return;
                };
                if resp.status() != 200 {
                    return;
                }
                let Ok(exec) = resp.json::<Value>().await else {
                    return;
                };
                let uuid = exec["uuid"].as_str().expect("uuid").to_owned();
                answered.lock().expect("lock").push(uuid);
            }
        }));
    }
    // Let the load build up, then kill with calls in flight.
    let started = Instant::now();
    while answered.lock().expect("lock").len() < 2000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load never built up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in callers {
        let _ = c.await;
    }
    let answered = answered.lock().expect("lock").clone();

    // Read what is on disk, as the next server will.
    let (store, account, outbox) = on_disk(&db, &key).await;
    let outbox: HashSet<String> = outbox
        .into_iter()
        .map(|d| d.execution_id.to_string())
        .collect();
    for uuid in &answered {
        let id = flowhook_core::ids::ExecutionId::parse(uuid).expect("uuid");
        let exec = store
            .execution(account.id, id)
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("answered execution {uuid} has no row"));
        assert_eq!(exec.status, "completed", "{uuid}");
        assert!(
            outbox.contains(uuid),
            "answered execution {uuid} has no outbox row"
        );
    }
    assert!(answered.len() >= 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_group_commit_loses_no_answered_execution_on_sqlite() {
    sigkill_during_group_commit("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_group_commit_loses_no_answered_execution_on_postgres() {
    sigkill_during_group_commit("postgres").await;
}

/// A receiver of flow-end messages (bodies kept) that also serves `/slow`,
/// which answers only after a minute: a webhook widget calling it is cut by
/// whatever stops its server first.
struct Recorder {
    addr: std::net::SocketAddr,
    messages: Arc<Mutex<Vec<Value>>>,
    slow_calls: Arc<Mutex<usize>>,
}

impl Recorder {
    async fn start() -> Recorder {
        let messages = Arc::new(Mutex::new(Vec::new()));
        let slow_calls = Arc::new(Mutex::new(0));
        let (m, n) = (messages.clone(), slow_calls.clone());
        let app = axum::Router::new()
            .route(
                "/slow",
                axum::routing::get(move |query: axum::extract::RawQuery| {
                    let n = n.clone();
                    // `/slow?ms=N` answers after N ms instead of a minute.
                    let ms = query
                        .0
                        .and_then(|q| q.strip_prefix("ms=").and_then(|v| v.parse().ok()))
                        .unwrap_or(60_000);
                    async move {
                        *n.lock().expect("lock") += 1;
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        "late"
                    }
                }),
            )
            .fallback(move |body: axum::body::Bytes| {
                let m = m.clone();
                async move {
                    if let Ok(doc) = serde_json::from_slice::<Value>(&body) {
                        m.lock().expect("lock").push(doc);
                    }
                    "ok"
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Recorder {
            addr,
            messages,
            slow_calls,
        }
    }

    async fn wait_until(&self, what: &str, done: impl Fn(&Recorder) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Starts an execution that sets `$flow.key.before`, then waits on `/slow`
/// (a minute); returns its uuid once the slow call is in progress.
async fn start_cut_execution(http: &reqwest::Client, server: &Server, rx: &Recorder) -> String {
    start_slow_execution(http, server, rx, "").await
}

/// The same, with `/slow` answering as `query` says (`?ms=N`).
async fn start_slow_execution(
    http: &reqwest::Client,
    server: &Server,
    rx: &Recorder,
    query: &str,
) -> String {
    let key = account_ending_at(http, server, format!("http://{}/end", rx.addr)).await;
    let flow = json!({"name": "cut", "webhook_on_complete": true, "start": "set",
        "widgets": {
            "set": {"type": "store_variable", "assign": {"$flow.key.before": "set"}, "lines": ["slow"]},
            "slow": {"type": "webhook", "request": {"method": "GET", "url": format!("http://{}/slow{query}", rx.addr)},
                     "response": {"timeout_seconds": 60}, "lines": [null, null]}}});
    let flow = call(http, server, reqwest::Method::POST, "/v1/flows", &key, flow).await;
    let flow = flow["id"].as_str().unwrap_or_else(|| panic!("{flow}"));
    let started = call(
        http,
        server,
        reqwest::Method::POST,
        &format!("/v1/flows/{flow}/executions"),
        &key,
        json!({"contact": "918000374000", "keys": {"$flow.key.orderId": "A-17"}, "wait": false}),
    )
    .await;
    let uuid = started["uuid"].as_str().expect("uuid").to_owned();
    rx.wait_until("the slow call", |rx| {
        *rx.slow_calls.lock().expect("lock") > 0
    })
    .await;
    uuid
}

/// The flow-end message of `uuid` carries the variables set before the cut.
async fn assert_message_after_cut(rx: &Recorder, uuid: &str) {
    rx.wait_until("the flow-end message", |rx| {
        rx.messages
            .lock()
            .expect("lock")
            .iter()
            .any(|m| m["phonon-uuid"] == uuid)
    })
    .await;
    let messages = rx.messages.lock().expect("lock").clone();
    let message = messages
        .iter()
        .find(|m| m["phonon-uuid"] == uuid)
        .expect("message");
    let keys = message["keys"].as_array().expect("keys");
    let value = |name: &str| {
        keys.iter()
            .find(|k| k["name"] == name)
            .map(|k| k["value"].clone())
    };
    assert_eq!(value("$flow.key.before"), Some(json!("set")), "{message}");
    assert_eq!(value("$flow.key.orderId"), Some(json!("A-17")), "{message}");
}

/// SIGTERM while a webhook widget waits: after the grace period the execution
/// ends as interrupted, and its flow-end message carries the variables set
/// before the cut.
async fn sigterm_during_a_slow_widget(kind: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(db) = database(kind, dir.path()).await else {
        return;
    };
    let rx = Recorder::start().await;
    let http = reqwest::Client::new();
    let grace = [("FLOWHOOK_SHUTDOWN_GRACE_SECONDS", "1")];
    let mut server = start_server_with(&db, dir.path(), 7, &grace);
    let uuid = start_cut_execution(&http, &server, &rx).await;
    let stopped = stop_with_sigterm(&mut server);
    assert!(
        stopped >= Duration::from_secs(1),
        "the execution got its grace period"
    );
    // The stopping server ended it itself, not the next start.
    let exec = stored_execution(&db, &uuid).await;
    assert_eq!(exec.status, "failed");
    assert_eq!(
        exec.reason.as_deref(),
        Some(flowhook_engine::executions::SHUTDOWN_INTERRUPTED)
    );
    let mut server = start_server_with(&db, dir.path(), 7, &grace);
    assert_message_after_cut(&rx, &uuid).await;
    server.child.kill().expect("stop");
    let _ = server.child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_slow_widget_sends_the_message_on_sqlite() {
    sigterm_during_a_slow_widget("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_slow_widget_sends_the_message_on_postgres() {
    sigterm_during_a_slow_widget("postgres").await;
}

/// SIGKILL while a webhook widget waits: the embedded server's next start ends
/// the execution as interrupted, and its flow-end message carries the
/// variables set before the cut. (On PostgreSQL the same happens once its
/// heartbeats are a minute old; see `heartbeats.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_slow_widget_sends_the_message_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("flowhook.db").display());
    let rx = Recorder::start().await;
    let http = reqwest::Client::new();
    let mut server = start_server(&db, dir.path(), 7);
    let uuid = start_cut_execution(&http, &server, &rx).await;
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    let mut server = start_server(&db, dir.path(), 7);
    assert_message_after_cut(&rx, &uuid).await;
    server.child.kill().expect("stop");
    let _ = server.child.wait();
}

/// Two live servers on one PostgreSQL database share the outbox: executions
/// started on both are each delivered exactly once (claims skip what the other
/// server holds), and neither loses any.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_postgres_deliver_each_message_once() {
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    let Some(db) = database("postgres", dir_a.path()).await else {
        return;
    };
    let rx = Receiver::start().await;
    *rx.status.lock().expect("lock") = 200;
    let http = reqwest::Client::new();
    let mut a = start_server(&db, dir_a.path(), 30);
    let mut b = start_server(&db, dir_b.path(), 30);
    let (key, flow) = provision(&http, &a, &rx).await;
    tokio::join!(
        enqueue(&http, &a, &key, &flow, 1000),
        enqueue(&http, &b, &key, &flow, 1000)
    );
    wait_delivered(&rx, 2000, Duration::from_secs(120)).await;
    assert_eq!(rx.delivered(), 2000, "none missing");
    assert_eq!(rx.duplicates(), 0, "none sent twice");
    // The outbox agrees: every message delivered, each at its first attempt.
    let (_, _, outbox) = on_disk(&db, &key).await;
    assert_eq!(outbox.len(), 2000);
    assert!(
        outbox
            .iter()
            .all(|d| d.status == "delivered" && d.attempts == 1),
        "each delivered by one attempt of one server"
    );
    for server in [&mut a, &mut b] {
        server.child.kill().expect("stop");
        let _ = server.child.wait();
    }
}

/// SIGTERM while a widget waits, but within the grace period: the execution
/// finishes normally before the server exits, and its message says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_execution_finish_within_the_grace_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("flowhook.db").display());
    let rx = Recorder::start().await;
    let http = reqwest::Client::new();
    let grace = [("FLOWHOOK_SHUTDOWN_GRACE_SECONDS", "20")];
    let mut server = start_server_with(&db, dir.path(), 30, &grace);
    let uuid = start_slow_execution(&http, &server, &rx, "?ms=1500").await;
    stop_with_sigterm(&mut server);
    // It ended before the exit: completed, not interrupted.
    let exec = stored_execution(&db, &uuid).await;
    assert_eq!(exec.status, "completed", "{:?}", exec.reason);
    let mut server = start_server(&db, dir.path(), 30);
    assert_message_after_cut(&rx, &uuid).await;
    server.child.kill().expect("stop");
    let _ = server.child.wait();
}

/// Schedules 1,000 outbound calls due over 20 seconds, SIGKILLs a server
/// midway and lets the schedule finish (after a restart on SQLite; on the
/// other server on PostgreSQL). Each call's flow posts its contact to the
/// recorder through a webhook widget.
///
/// Every call starts exactly once: none is posted twice, none is left
/// scheduled, and every call is either done (and posted) or ended
/// `interrupted` because it was running at the kill (an interrupted run is
/// not repeated, so its side effects never happen twice).
async fn outbound_through_a_kill(kind: &str) {
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    let Some(db) = database(kind, dir_a.path()).await else {
        return;
    };
    let rx = Recorder::start().await;
    let http = reqwest::Client::new();
    let mut a = start_server(&db, dir_a.path(), 7);
    let mut b = (kind == "postgres").then(|| start_server(&db, dir_b.path(), 7));
    let key = account_ending_at(&http, &a, format!("http://{}/end", rx.addr)).await;
    let flow = json!({"name": "dial", "start": "post", "widgets": {
        "post": {"type": "webhook", "request": {"method": "POST", "url": format!("http://{}/hit", rx.addr),
                 "body_type": "json", "body": "{\"contact\": \"$call.dnis.number\"}"},
                 "lines": [null, null]}}});
    let flow = call(&http, &a, reqwest::Method::POST, "/v1/flows", &key, flow).await;
    let flow = flow["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{flow}"))
        .to_owned();

    const CALLS: usize = 1000;
    let first_due = chrono::Utc::now() + chrono::Duration::seconds(1);
    let mut requests = Vec::new();
    for half in 0..2 {
        let calls: Vec<Value> = (0..CALLS / 2)
            .map(|i| {
                let n = half * CALLS / 2 + i;
                let due = first_due + chrono::Duration::milliseconds(20 * n as i64);
                json!({"start-time": due.to_rfc3339(), "contact-numbers": [format!("9{:09}", n)]})
            })
            .collect();
        let answer = call(
            &http,
            &a,
            reqwest::Method::POST,
            "/v1/outbound",
            "",
            json!({"api-version": "1.0", "security-id": key, "flow-id": flow, "calls": calls}),
        )
        .await;
        assert_eq!(answer["api-response-code"], 200, "{answer}");
        requests.push(
            answer["request-id"]
                .as_str()
                .expect("request id")
                .to_owned(),
        );
    }
    let posted = |rx: &Recorder| -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for m in rx.messages.lock().expect("lock").iter() {
            if let Some(c) = m["contact"].as_str() {
                *counts.entry(c.to_owned()).or_insert(0) += 1;
            }
        }
        counts
    };
    rx.wait_until("the first 400 calls", |rx| posted(rx).len() >= 400)
        .await;
    a.child.kill().expect("SIGKILL");
    a.child.wait().expect("reaped");
    let at_kill = posted(&rx).len();
    assert!(at_kill < CALLS, "the kill came midway: {at_kill} posted");
    let mut live = match b.take() {
        Some(b) => b,
        None => start_server(&db, dir_a.path(), 7),
    };

    // Until nothing is scheduled or running (on PostgreSQL a run cut by the
    // kill is ended after a minute without its server's heartbeat).
    let deadline = Instant::now() + Duration::from_secs(150);
    let views = loop {
        let mut views = Vec::new();
        for id in &requests {
            let view = http
                .get(format!("http://{}/v1/outbound/{id}", live.addr))
                .bearer_auth(&key)
                .send()
                .await
                .expect("get")
                .json::<Value>()
                .await
                .expect("json");
            views.push(view);
        }
        let open: u64 = views
            .iter()
            .map(|v| {
                v["counts"]["scheduled"].as_u64().unwrap_or(1)
                    + v["counts"]["running"].as_u64().unwrap_or(1)
            })
            .sum();
        if open == 0 {
            break views;
        }
        assert!(Instant::now() < deadline, "{open} calls still open");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let posted = posted(&rx);
    assert!(posted.values().all(|&n| n == 1), "no call ran twice");
    let calls: Vec<&Value> = views
        .iter()
        .flat_map(|v| v["calls"].as_array().expect("calls"))
        .collect();
    assert_eq!(calls.len(), CALLS);
    let mut interrupted = 0;
    for c in &calls {
        let contact = c["contact"].as_str().expect("contact");
        match c["state"].as_str() {
            Some("done") => assert!(posted.contains_key(contact), "{c}"),
            Some("failed") => {
                let error = c["error"].as_str().unwrap_or_default();
                assert!(error.contains("interrupted"), "only a cut run fails: {c}");
                interrupted += 1;
            }
            other => panic!("unexpected state {other:?}: {c}"),
        }
    }
    let unposted_interrupted = calls
        .iter()
        .filter(|c| !posted.contains_key(c["contact"].as_str().unwrap_or_default()))
        .count();
    assert_eq!(
        posted.len() + unposted_interrupted,
        CALLS,
        "every call ran: posted, or cut by the kill before it could post"
    );
    assert!(
        interrupted <= 20,
        "only runs in flight at the kill are cut: {interrupted}"
    );
    eprintln!(
        "{kind}: {CALLS} calls, {at_kill} posted before the kill, {interrupted} cut by it, {} posted in all, none twice",
        posted.len()
    );
    live.child.kill().expect("stop");
    let _ = live.child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_calls_run_once_through_a_sigkill_on_sqlite() {
    outbound_through_a_kill("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_calls_run_once_when_one_of_two_servers_is_killed_on_postgres() {
    outbound_through_a_kill("postgres").await;
}
