//! Load harness for the flow-end webhook: executions in, signed deliveries out,
//! receipts counted at a recording receiver on loopback. In one run, on the
//! real `flowhook serve` process:
//!
//! - `ceiling`: a bare `reqwest` client posting the same payload with 64
//!   connections — the most any sender could deliver to this receiver here;
//! - `drain`: N messages already in the outbox (written as finished executions
//!   write them), then the server starts: messages/s until the last arrives;
//! - `saturated`: N executions of a one-`store_variable` flow with
//!   `webhook_on_complete`, over 64 connections as fast as the API answers:
//!   executions/s in, receipts/s out, and send→receipt latency (from the
//!   execution's 200 to the message's arrival), which grows without bound if
//!   the worker is starved;
//! - `paced`: executions at a fixed 500/s; send→receipt latency.
//!
//! Each on SQLite and (when `LOAD_POSTGRES_URL` or `FLOWHOOK_TEST_DATABASE_URL`
//! names a server) PostgreSQL, with the server's CPU per message, its RSS, and
//! PostgreSQL's own CPU per message. Duplicates (a message received twice) are
//! counted and reported.
//!
//! Run: `cargo bench -p flowhook --bench delivery_load` (env `LOAD_N`,
//! `LOAD_MODES`=comma list of ceiling,drain,saturated,paced,sqlite,postgres).

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowhook_core::account::{AccountName, SecurityId, TimeZone};
use flowhook_core::http::{BodyType, HttpMethod};
use flowhook_core::ids::{AccountId, ExecutionId, WebhookId};
use flowhook_core::secret::{Binding, MasterKey, Purpose, SigningSecret};
use flowhook_core::webhook::WebhookUrl;
use flowhook_storage::{
    DeliveryRecord, ExecutionRecord, NewAccount, Sealed, StoredAuth, WebhookRecord,
};
use serde_json::json;
use support::{Server, env_usize, percentile};

/// When each message (by phonon-uuid) first arrived, and how many times.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<HashMap<String, (Instant, u32)>>>);

impl Arrivals {
    fn len(&self) -> usize {
        self.0.lock().expect("lock").len()
    }

    fn duplicates(&self) -> u32 {
        self.0
            .lock()
            .expect("lock")
            .values()
            .map(|(_, n)| n - 1)
            .sum()
    }

    fn clear(&self) {
        self.0.lock().expect("lock").clear();
    }

    /// Waits until `n` distinct messages arrived; the time of the last.
    async fn wait_for(&self, n: usize) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            {
                let seen = self.0.lock().expect("lock");
                if seen.len() >= n {
                    return seen.values().map(|(at, _)| *at).max().expect("some");
                }
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} messages arrived",
                self.len()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn receiver() -> (std::net::SocketAddr, Arrivals) {
    let arrivals = Arrivals::default();
    let seen = arrivals.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let seen = seen.clone();
        async move {
            let at = Instant::now();
            if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&body)
                && let Some(uuid) = doc["phonon-uuid"].as_str()
            {
                seen.0
                    .lock()
                    .expect("lock")
                    .entry(uuid.to_owned())
                    .and_modify(|(_, n)| *n += 1)
                    .or_insert((at, 1));
            }
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (addr, arrivals)
}

fn payload(uuid: &str) -> String {
    json!({"callDetails": [{"calleeNumber": "912243692987", "connectTime": "2026-11-21T10:00:03+05:30",
        "didNumber": "912243692987", "duration": "57", "endTime": "2026-11-21T10:01:00+05:30",
        "hangupCause": "16", "incoming": true, "startTime": "2026-11-21T10:00:00+05:30"}],
        "keys": [{"name": "$flow.key.orderId", "value": "A-17"}], "phonon-uuid": uuid, "recordingUrls": []})
    .to_string()
}

/// Prints the server's (and PostgreSQL's) CPU per message since `before`.
fn costs(server: &Server, before: (f64, f64), messages: usize, postgres: bool) {
    let per = |s: f64| s * 1000.0 / messages as f64;
    let (rss, peak) = server.rss();
    print!(
        "{:18}server CPU {:.3} ms/msg, RSS {rss:.1} MB (peak {peak:.1} MB)",
        "",
        per(server.cpu() - before.0)
    );
    if postgres {
        print!(
            ", PostgreSQL CPU {:.3} ms/msg",
            per(support::postgres_cpu() - before.1)
        );
    }
    println!();
}

/// Fills the outbox of `db` with `n` messages to `target`, as finished
/// executions write them.
async fn fill_outbox(db: &str, target: std::net::SocketAddr, n: usize) {
    let store = flowhook_storage::connect(db).await.expect("store");
    let master = MasterKey::parse(&support::master_key()).expect("key");
    let account = AccountId::generate();
    store
        .create_account(&NewAccount {
            id: account,
            name: AccountName::parse("bench").expect("name"),
            client_id: 123_456_789,
            security_hash: SecurityId::generate().lookup_hash(),
            allow_http: true,
            timezone: TimeZone::UTC,
            short_token: flowhook_engine::links::issue_token(&master, account).1,
        })
        .await
        .expect("account");
    let hook = WebhookRecord {
        id: WebhookId::generate(),
        account_id: account,
        name: "end".into(),
        method: HttpMethod::Post,
        url: WebhookUrl::parse(&format!("http://{target}/end")).expect("url"),
        auth: StoredAuth::None,
        body_type: BodyType::Json,
        headers: vec![],
        is_default: true,
        signing_secret: Sealed(master.seal(
            Binding::new(account, Purpose::SigningSecret),
            SigningSecret::generate().expose(),
        )),
        previous_secret: None,
        previous_until: None,
        last_check: None,
        created_at: 0,
        updated_at: 0,
    };
    store.insert_webhook(&hook).await.expect("hook");
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..n {
        let store = store.clone();
        writes.spawn(async move {
            let mut exec = ExecutionRecord::running(
                ExecutionId::generate(),
                account,
                "Bench001",
                1,
                "918000374000",
            );
            store.insert_execution(&exec).await.expect("insert");
            // Ended as a finished execution ends: a `running` one would be
            // ended again as interrupted by the server's start-up.
            exec.status = "completed".into();
            exec.finished_at = Some(flowhook_storage::now_millis());
            let d = DeliveryRecord::new(account, hook.id, exec.id, payload(&format!("drain-{i}")));
            assert!(
                store
                    .finish_execution(&exec, Some(&d))
                    .await
                    .expect("finish"),
                "a seeded execution ends"
            );
        });
        if writes.len() >= 256 {
            writes.join_next().await;
        }
    }
    while writes.join_next().await.is_some() {}
}

/// A server with an account whose default webhook is the receiver, and a
/// one-step flow with `webhook_on_complete`; the executions URL and API key.
async fn flow_end_setup(server: &Server, target: std::net::SocketAddr) -> (String, String) {
    let http = reqwest::Client::new();
    let key = support::account(&http, &server.addr).await;
    http.post(format!("http://{}/v1/webhooks", server.addr))
        .bearer_auth(&key)
        .json(&json!({"name": "end", "url": format!("http://{target}/end"), "is_default": true}))
        .send()
        .await
        .expect("send");
    let flow = support::flow(&http, &server.addr, &key, r#"{"name": "bench", "webhook_on_complete": true, "start": "a",
        "widgets": {"a": {"type": "store_variable", "assign": {"$flow.key.orderId": "A-17"}, "lines": [null]}}}"#.into()).await;
    (
        format!("http://{}/v1/flows/{flow}/executions", server.addr),
        key,
    )
}

type Sent = Arc<Mutex<Vec<(String, Instant)>>>;

/// Starts one execution; records when its answer came, by uuid.
async fn execute(http: &reqwest::Client, url: &str, key: &str, sent: &Sent) {
    let exec: serde_json::Value = http
        .post(url)
        .bearer_auth(key)
        .json(&json!({"contact": "918000374000", "wait": true}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let uuid = exec["uuid"]
        .as_str()
        .unwrap_or_else(|| panic!("{exec}"))
        .to_owned();
    sent.lock().expect("lock").push((uuid, Instant::now()));
}

/// Send→receipt latencies, sorted.
fn latencies(sent: &Sent, arrivals: &Arrivals) -> Vec<Duration> {
    let arrived = arrivals.0.lock().expect("lock");
    let mut all: Vec<Duration> = sent
        .lock()
        .expect("lock")
        .iter()
        .map(|(uuid, at)| {
            arrived
                .get(uuid)
                .map(|(r, _)| r.saturating_duration_since(*at))
                .expect("arrived")
        })
        .collect();
    all.sort();
    all
}

fn main() {
    let n = env_usize("LOAD_N", 20_000);
    let modes = std::env::var("LOAD_MODES")
        .unwrap_or("ceiling,drain,saturated,paced,sqlite,postgres".into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let (target, arrivals) = receiver().await;
        println!("flow-end delivery load: {n} messages per measurement, receiver on {target}");

        if modes.contains("ceiling") {
            let client = reqwest::Client::new();
            let url = format!("http://{target}/end");
            let (elapsed, _) = support::drive(n, 64, move |i| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    client.post(&url).header("content-type", "application/json")
                        .body(payload(&format!("ceiling-{i}"))).send().await.expect("send");
                }
            }).await;
            println!("ceiling            {:>8.0} msg/s (bare reqwest, 64 connections)", n as f64 / elapsed.as_secs_f64());
        }

        for backend in ["sqlite", "postgres"] {
            if !modes.contains(backend) {
                continue;
            }
            let pg = backend == "postgres";
            if modes.contains("drain") {
                let dir = tempfile::tempdir().expect("tempdir");
                let Some(db) = support::database(backend, dir.path()).await else {
                    println!("{backend}: skipped (set LOAD_POSTGRES_URL or FLOWHOOK_TEST_DATABASE_URL)");
                    continue;
                };
                fill_outbox(&db, target, n).await;
                arrivals.clear();
                let before_pg = support::postgres_cpu();
                let started = Instant::now();
                let server = Server::flowhook(&db, dir.path(), &[]);
                let last = arrivals.wait_for(n).await;
                let rate = n as f64 / last.duration_since(started).as_secs_f64();
                println!("drain {backend:<12} {rate:>8.0} msg/s ({n} queued before start, {} duplicates)", arrivals.duplicates());
                costs(&server, (0.0, before_pg), n, pg);
            }
            if modes.contains("saturated") {
                let dir = tempfile::tempdir().expect("tempdir");
                let Some(db) = support::database(backend, dir.path()).await else { continue };
                let server = Server::flowhook(&db, dir.path(), &[]);
                let (url, key) = flow_end_setup(&server, target).await;
                arrivals.clear();
                let sent: Sent = Arc::default();
                let before = (server.cpu(), support::postgres_cpu());
                let http = reqwest::Client::new();
                let started = Instant::now();
                let (elapsed, _) = support::drive(n, 64, {
                    let sent = sent.clone();
                    move |_| {
                        let (http, url, key, sent) = (http.clone(), url.clone(), key.clone(), sent.clone());
                        async move { execute(&http, &url, &key, &sent).await }
                    }
                }).await;
                let backlog = n - arrivals.len();
                let last = arrivals.wait_for(n).await;
                let lat = latencies(&sent, &arrivals);
                println!(
                    "saturated {backend:<8} in {:>6.0} exec/s, out {:>6.0} msg/s, backlog at the last answer {backlog}, send→receipt p50 {:.2} ms p99 {:.2} ms, {} duplicates",
                    n as f64 / elapsed.as_secs_f64(),
                    n as f64 / last.duration_since(started).as_secs_f64(),
                    percentile(&lat, 0.50),
                    percentile(&lat, 0.99),
                    arrivals.duplicates()
                );
                costs(&server, before, n, pg);
            }
            if modes.contains("paced") {
                let dir = tempfile::tempdir().expect("tempdir");
                let Some(db) = support::database(backend, dir.path()).await else { continue };
                let server = Server::flowhook(&db, dir.path(), &[]);
                let (url, key) = flow_end_setup(&server, target).await;
                arrivals.clear();
                let sent: Sent = Arc::default();
                let paced = n.min(5000);
                let http = reqwest::Client::new();
                let mut tick = tokio::time::interval(Duration::from_micros(2000));
                let mut calls = tokio::task::JoinSet::new();
                for _ in 0..paced {
                    tick.tick().await;
                    let (http, url, key, sent) = (http.clone(), url.clone(), key.clone(), sent.clone());
                    calls.spawn(async move { execute(&http, &url, &key, &sent).await });
                }
                while calls.join_next().await.is_some() {}
                arrivals.wait_for(paced).await;
                let lat = latencies(&sent, &arrivals);
                println!(
                    "paced {backend:<12} 500/s for {paced}: send→receipt p50 {:.2} ms p99 {:.2} ms",
                    percentile(&lat, 0.50),
                    percentile(&lat, 0.99)
                );
            }
        }
    });
}
