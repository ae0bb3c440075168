//! Load harness for the flow-end delivery engine against a local receiver.
//!
//! Three measurements in one run:
//! - `receiver ceiling`: a bare `reqwest` client POSTing the same payload to the
//!   same receiver with the same concurrency as the worker (32) — the most any
//!   sender could deliver here;
//! - `backlog drain`: N deliveries already in the outbox (written through the
//!   storage layer, exactly as finished executions write them), then the server
//!   starts: delivered messages per second until the last is received;
//! - `steady state`: executions started through the API one after another by 8
//!   callers while the worker delivers: latency from enqueue (the execution's
//!   answer, after its outbox row committed) to receipt, p50 and p99.
//!
//! Run: `cargo bench -p flowhook --bench delivery_load` (env `LOAD_N`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowhook::config::{Config, RawSettings};
use flowhook::startup::Application;
use flowhook_core::account::{AccountName, SecurityId, TimeZone};
use flowhook_core::http::{BodyType, HttpMethod};
use flowhook_core::ids::{AccountId, ExecutionId, WebhookId};
use flowhook_core::secret::{MasterKey, SigningSecret};
use flowhook_core::webhook::WebhookUrl;
use flowhook_storage::{
    DeliveryRecord, ExecutionRecord, NewAccount, Sealed, StoredAuth, WebhookRecord,
};
use serde_json::json;

const ADMIN: &str = "bench-admin-token-0123456789";

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// Records when each message (by phonon-uuid) arrived.
async fn receiver() -> (std::net::SocketAddr, Arrivals) {
    let arrivals: Arrivals = Arc::new(Mutex::new(HashMap::new()));
    let seen = arrivals.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let seen = seen.clone();
        async move {
            let at = Instant::now();
            if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&body)
                && let Some(uuid) = doc["phonon-uuid"].as_str()
            {
                seen.lock()
                    .expect("lock")
                    .entry(uuid.to_owned())
                    .or_insert(at);
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

fn config(dir: &std::path::Path, master: &str) -> Config {
    Config::validate(RawSettings {
        listen: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        admin_token: Some(ADMIN.into()),
        master_key: Some(master.into()),
        egress_allow_cidrs: Some("127.0.0.1/32".into()),
        ..RawSettings::default()
    })
    .expect("config")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn wait_for(arrivals: &Arrivals, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while arrivals.lock().expect("lock").len() < n {
        assert!(Instant::now() < deadline, "not all messages arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn main() {
    let n: usize = std::env::var("LOAD_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let (target, arrivals) = receiver().await;
        println!("flow-end delivery load: {n} messages, receiver on {target}");

        // 1. The receiver's ceiling.
        let client = reqwest::Client::new();
        let started = Instant::now();
        let mut tasks = Vec::new();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..32 {
            let (client, next) = (client.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    client.post(format!("http://{target}/end")).header("content-type", "application/json")
                        .body(payload(&format!("ceiling-{i}"))).send().await.expect("send");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let ceiling = n as f64 / started.elapsed().as_secs_f64();
        println!("receiver ceiling   {ceiling:>8.0} msg/s  (bare reqwest, 32 concurrent)");

        // 2. Drain a backlog written as finished executions write it.
        let dir = tempfile::tempdir().expect("tempdir");
        let master_text = "ef".repeat(32);
        let master = MasterKey::parse(&master_text).expect("key");
        let db = format!("sqlite://{}", dir.path().join("flowhook.db").display());
        {
            let store = flowhook_storage::connect(&db).await.expect("store");
            let account = AccountId::generate();
            store.create_account(&NewAccount {
                id: account, name: AccountName::parse("bench").expect("name"), client_id: 123_456_789,
                security_hash: SecurityId::generate().lookup_hash(), allow_http: true, timezone: TimeZone::UTC,
            }).await.expect("account");
            let hook = WebhookRecord {
                id: WebhookId::generate(), account_id: account, name: "end".into(), method: HttpMethod::Post,
                url: WebhookUrl::parse(&format!("http://{target}/end")).expect("url"), auth: StoredAuth::None,
                body_type: BodyType::Json, headers: vec![], is_default: true,
                signing_secret: Sealed(master.seal(SigningSecret::generate().expose())),
                previous_secret: None, previous_until: None, last_check: None, created_at: 0, updated_at: 0,
            };
            store.insert_webhook(&hook).await.expect("hook");
            for i in 0..n {
                let exec = ExecutionRecord::running(ExecutionId::generate(), account, "Bench001", 1, "918000374000");
                store.insert_execution(&exec).await.expect("insert");
                let d = DeliveryRecord::new(account, hook.id, exec.id, payload(&format!("drain-{i}")));
                store.finish_execution(&exec, Some(&d)).await.expect("finish");
            }
        }
        arrivals.lock().expect("lock").clear();
        let app = Application::build(config(dir.path(), &master_text)).await.expect("app");
        let started = Instant::now();
        tokio::spawn(app.run_until(std::future::pending()));
        wait_for(&arrivals, n).await;
        let drain = n as f64 / started.elapsed().as_secs_f64();
        println!("backlog drain      {drain:>8.0} msg/s  ({:.2} of the receiver ceiling)", drain / ceiling);

        // 3. Steady state through the API: enqueue-to-receipt latency.
        let dir = tempfile::tempdir().expect("tempdir");
        arrivals.lock().expect("lock").clear();
        let app = Application::build(config(dir.path(), &master_text)).await.expect("app");
        let addr = app.local_addr();
        tokio::spawn(app.run_until(std::future::pending()));
        let http = reqwest::Client::new();
        let acct: serde_json::Value = http.post(format!("http://{addr}/v1/accounts")).bearer_auth(ADMIN)
            .json(&json!({"name": "bench", "allow_http": true})).send().await.expect("send").json().await.expect("json");
        let key = acct["security_id"].as_str().expect("key").to_owned();
        http.post(format!("http://{addr}/v1/webhooks")).bearer_auth(&key)
            .json(&json!({"name": "end", "url": format!("http://{target}/end"), "is_default": true}))
            .send().await.expect("send");
        let flow: serde_json::Value = http.post(format!("http://{addr}/v1/flows")).bearer_auth(&key)
            .header("content-type", "application/json")
            .body(r#"{"name": "bench", "webhook_on_complete": true, "start": "a",
                      "widgets": {"a": {"type": "store_variable", "assign": {"$flow.key.orderId": "A-17"}, "lines": [null]}}}"#)
            .send().await.expect("send").json().await.expect("json");
        let url = format!("http://{addr}/v1/flows/{}/executions", flow["id"].as_str().expect("id"));
        let enqueued: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
        let steady_n = n.min(3000);
        let started = Instant::now();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (http, url, key, next, enqueued) = (http.clone(), url.clone(), key.clone(), next.clone(), enqueued.clone());
            tasks.push(tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < steady_n {
                    let exec: serde_json::Value = http.post(&url).bearer_auth(&key)
                        .json(&json!({"contact": "918000374000", "wait": true}))
                        .send().await.expect("send").json().await.expect("json");
                    let at = Instant::now();
                    enqueued.lock().expect("lock").insert(exec["uuid"].as_str().expect("uuid").to_owned(), at);
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        wait_for(&arrivals, steady_n).await;
        let elapsed = started.elapsed();
        let arrived = arrivals.lock().expect("lock").clone();
        let mut latencies: Vec<Duration> = enqueued
            .lock()
            .expect("lock")
            .iter()
            .map(|(uuid, at)| arrived.get(uuid).map(|r| r.saturating_duration_since(*at)).expect("arrived"))
            .collect();
        latencies.sort();
        println!(
            "steady state       {:>8.0} msg/s  enqueue→receipt p50 {:.2} ms  p99 {:.2} ms  ({steady_n} via the API, 8 callers)",
            steady_n as f64 / elapsed.as_secs_f64(),
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99)
        );
    });
}
