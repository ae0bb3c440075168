//! Load harness for the outbound scheduler: calls fall due at a steady rate
//! (1,000 a second by default), each starting a one-`store_variable` flow, on
//! the real `flowhook serve` process. It reports the lag from each call's due
//! time to its execution's start (p50, p99, max, from `GET /v1/outbound/{id}`),
//! the rate of starts achieved and the server's CPU per call.
//!
//! The baseline, measured in the same run: `timers`, a bare tokio loop in
//! this process sleeping until each of the same due times — the lag any
//! timer-driven scheduler has on this machine before it does any work.
//!
//! Run: `cargo bench -p flowhook --bench outbound_load` (env `LOAD_N` calls,
//! default 30,000; `LOAD_RATE` due per second, default 1,000; `LOAD_MODES`
//! = comma list of timers,sqlite,postgres; PostgreSQL from
//! `LOAD_POSTGRES_URL` or `FLOWHOOK_TEST_DATABASE_URL`).

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Server, env_usize};

/// Lags in ms: p50, p99, max.
fn summary(mut lags: Vec<f64>) -> (f64, f64, f64) {
    lags.sort_by(f64::total_cmp);
    let at = |p: f64| lags[((lags.len() as f64 * p) as usize).min(lags.len() - 1)];
    (at(0.50), at(0.99), *lags.last().unwrap_or(&f64::NAN))
}

fn print(name: &str, n: usize, lags: Vec<f64>, extra: &str) -> (f64, f64) {
    let (p50, p99, max) = summary(lags);
    println!(
        "{name:<10} {n:>6} calls  lag p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  max {max:>8.2} ms  {extra}"
    );
    (p50, p99)
}

/// The floor: a tokio task per due time, each measuring how late it woke.
async fn timers(n: usize, rate: usize) -> Vec<f64> {
    let start = Instant::now() + Duration::from_secs(1);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due = start + Duration::from_micros((i as u64 * 1_000_000) / rate as u64);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            due.elapsed().as_secs_f64() * 1000.0
        }));
    }
    let mut lags = Vec::with_capacity(n);
    for t in tasks {
        lags.push(t.await.expect("timer"));
    }
    lags
}

/// `n` calls due at `rate` per second on a real server; their lags, the
/// starts per second achieved and the server's CPU per call.
async fn scheduler(backend: &str, n: usize, rate: usize) -> Option<(Vec<f64>, f64, f64)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = support::database(backend, dir.path()).await?;
    let server = Server::flowhook(&db, dir.path(), &[]);
    let http = reqwest::Client::new();
    let key = support::account(&http, &server.addr).await;
    let doc = json!({"name": "dial", "start": "a", "widgets": {
        "a": {"type": "store_variable", "assign": {"$flow.key.n": "$call.dnis.number"}, "lines": [null]}}});
    let flow = support::flow(&http, &server.addr, &key, doc.to_string()).await;

    // Everything is scheduled before the first call falls due.
    let per_request = 500;
    let lead = Duration::from_secs(5 + (n / 20_000) as u64);
    let first = chrono::Utc::now() + chrono::Duration::from_std(lead).expect("lead");
    let mut requests = Vec::new();
    for chunk in 0..n.div_ceil(per_request) {
        let calls: Vec<Value> = (chunk * per_request..((chunk + 1) * per_request).min(n))
            .map(|i| {
                let due =
                    first + chrono::Duration::microseconds((i as i64 * 1_000_000) / rate as i64);
                json!({"start-time": due.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                       "contact-numbers": [format!("9{:09}", i)]})
            })
            .collect();
        let answer: Value = http
            .post(format!("http://{}/v1/outbound", server.addr))
            .json(
                &json!({"api-version": "1.0", "security-id": key, "flow-id": flow, "calls": calls}),
            )
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        assert_eq!(answer["api-response-code"], 200, "{answer}");
        requests.push(answer["request-id"].as_str().expect("id").to_owned());
    }
    let scheduled_in =
        chrono::Utc::now() - (first - chrono::Duration::from_std(lead).expect("lead"));
    assert!(
        chrono::Utc::now() < first,
        "scheduling took {scheduled_in}, longer than the lead; lower LOAD_N"
    );
    let cpu_before = server.cpu();
    let span = Duration::from_secs_f64(n as f64 / rate as f64);
    tokio::time::sleep(lead + span).await;

    // Read every call back once none is scheduled.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut lags = Vec::with_capacity(n);
    let mut last_start = 0i64;
    for id in &requests {
        loop {
            let view: Value = http
                .get(format!("http://{}/v1/outbound/{id}", server.addr))
                .bearer_auth(&key)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            if view["counts"]["scheduled"] == 0 {
                for c in view["calls"].as_array().expect("calls") {
                    let at = |f: &str| {
                        chrono::DateTime::parse_from_rfc3339(c[f].as_str().expect("time"))
                            .expect("rfc3339")
                            .timestamp_micros()
                    };
                    let started = at("started-at");
                    last_start = last_start.max(started);
                    lags.push((started - at("due-at")) as f64 / 1000.0);
                }
                break;
            }
            assert!(Instant::now() < deadline, "calls still scheduled");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let cpu = server.cpu() - cpu_before;
    let achieved =
        n as f64 / ((last_start - first.timestamp_micros()) as f64 / 1e6).max(span.as_secs_f64());
    Some((lags, achieved, cpu / n as f64 * 1e6))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_usize("LOAD_N", 30_000);
    let rate = env_usize("LOAD_RATE", 1_000);
    let modes = std::env::var("LOAD_MODES").unwrap_or("timers,sqlite,postgres".into());
    println!("outbound scheduler: {n} calls due at {rate}/s");
    let mut floor = None;
    if modes.contains("timers") {
        floor = Some(print("timers", n, timers(n, rate).await, "(baseline)"));
    }
    for backend in ["sqlite", "postgres"] {
        if !modes.contains(backend) {
            continue;
        }
        let Some((lags, achieved, cpu_us)) = scheduler(backend, n, rate).await else {
            println!("{backend:<10} skipped: no PostgreSQL (LOAD_POSTGRES_URL)");
            continue;
        };
        let (p50, p99) = print(
            backend,
            n,
            lags,
            &format!("{achieved:>6.0} starts/s  {cpu_us:>5.0} µs CPU/call"),
        );
        if let Some((f50, f99)) = floor {
            println!(
                "{:<10} lag vs timers: p50 {:.1}×, p99 {:.1}×",
                "",
                p50 / f50.max(0.001),
                p99 / f99.max(0.001)
            );
        }
    }
}
