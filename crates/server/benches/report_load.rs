//! Load harness for executions reports: how long the real `flowhook serve`
//! process takes to build a report over `LOAD_N` executions (100,000 by
//! default), and whether its memory stays flat, by comparing its peak RSS
//! while building a report over `LOAD_SMALL` (10,000) executions and over
//! `LOAD_N`, against its idle RSS in the same run.
//!
//! The executions are written beforehand straight through the store (as the
//! engine writes finished ones), with eight `$flow.key` values (some with
//! commas, quotes and line breaks) and two persisted values each, spread over
//! one day. RSS is sampled from `/proc/<pid>/status` every 5 ms while each
//! report builds and while its file is downloaded.
//!
//! Run: `cargo bench -p flowhook --bench report_load` (env `LOAD_N`,
//! `LOAD_SMALL`, `LOAD_MODES`=comma list of sqlite,postgres).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use flowhook_core::ids::{AccountId, ExecutionId};
use flowhook_storage::{ExecutionRecord, Store};
use serde_json::{Value, json};
use support::{ADMIN, Server, env_usize};

const FLOW: &str = r#"{"name": "NAME", "start": "s",
  "widgets": {"s": {"type": "store_variable", "assign": {"$flow.key.x": "1"}, "lines": [null]}}}"#;

/// 2026-11-21T00:00:00+05:30.
const DAY_START: i64 = 1_795_199_400_000;

/// Writes `n` finished executions of `flow`, 64 at a time.
async fn fill(store: &Arc<dyn Store>, account: AccountId, flow: &str, n: usize) -> Duration {
    let (store, flow) = (store.clone(), flow.to_owned());
    let (elapsed, _) = support::drive(n, 64, move |i| {
        let (store, flow) = (store.clone(), flow.clone());
        async move {
            let mut e = ExecutionRecord::running(
                ExecutionId::generate(),
                account,
                &flow,
                1,
                &format!("9198{:08}", i),
            );
            e.started_at = DAY_START + (i as i64 * 86_400_000 / n as i64);
            e.finished_at = Some(e.started_at + 30_000 + (i as i64 % 90_000));
            e.status = if i % 10 == 0 { "failed" } else { "completed" }.into();
            e.variables = json!({
                "$flow.key.orderId": format!("A-{i}"),
                "$flow.key.customer": format!("Customer, number {i}"),
                "$flow.key.note": "said \"call me later\"\nthen hung up",
                "$flow.key.language": "hi",
                "$flow.key.amount": format!("{}.{:02}", i % 5000, i % 100),
                "$flow.key.city": "Mumbai",
                "$flow.key.agent": format!("agent-{}", i % 40),
                "$flow.key.rating": format!("{}", i % 5 + 1),
                "$flow.syskey.apiVersion": "1.0",
                "$user.key.tier": "gold",
            });
            e.persisted = json!({
                "$flow.key.orderStatus": if i % 3 == 0 { "shipped" } else { "pending" },
                "$flow.key.eta": "2026-11-25",
            });
            store.insert_execution(&e).await.expect("insert");
        }
    })
    .await;
    elapsed
}

/// Samples the server's RSS until `done`; the highest seen, in MB.
fn sample_rss(server_pid: u32, done: Arc<AtomicBool>) -> std::thread::JoinHandle<f64> {
    std::thread::spawn(move || {
        let mut peak: f64 = 0.0;
        while !done.load(Ordering::Relaxed) {
            let status =
                std::fs::read_to_string(format!("/proc/{server_pid}/status")).unwrap_or_default();
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<f64>().ok())
            {
                peak = peak.max(kb / 1024.0);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    })
}

struct Measured {
    rows: i64,
    bytes: i64,
    build: Duration,
    build_peak_mb: f64,
    download: Duration,
    download_peak_mb: f64,
}

/// Asks for a report of `flow` over the whole day and waits for it, then
/// downloads it.
async fn measure(
    server: &Server,
    http: &reqwest::Client,
    key: &str,
    flow: &str,
    format: &str,
) -> Measured {
    let base = format!("http://{}", server.addr);
    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(server.pid(), done.clone());
    let started = Instant::now();
    let asked: Value = http
        .post(format!("{base}/v1/reports"))
        .bearer_auth(key)
        .json(&json!({"flow_id": flow, "from": "2026-11-21", "to": "2026-11-21", "format": format}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let id = asked["id"]
        .as_str()
        .unwrap_or_else(|| panic!("asked: {asked}"))
        .to_owned();
    let report = loop {
        let report: Value = http
            .get(format!("{base}/v1/reports/{id}"))
            .bearer_auth(key)
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        if report["status"] == "ready" || report["status"] == "failed" {
            break report;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let build = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let build_peak_mb = sampler.join().expect("sampler");
    assert_eq!(report["status"], "ready", "{report}");

    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(server.pid(), done.clone());
    let started = Instant::now();
    let mut resp = http
        .get(format!("{base}/v1/reports/{id}/file"))
        .bearer_auth(key)
        .send()
        .await
        .expect("download");
    let mut received = 0i64;
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        received += chunk.len() as i64;
    }
    let download = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let download_peak_mb = sampler.join().expect("sampler");
    assert_eq!(Some(received), report["size_bytes"].as_i64());
    Measured {
        rows: report["rows_done"].as_i64().unwrap_or(0),
        bytes: received,
        build,
        build_peak_mb,
        download,
        download_peak_mb,
    }
}

fn main() {
    let n = env_usize("LOAD_N", 100_000);
    let small = env_usize("LOAD_SMALL", 10_000);
    let modes = std::env::var("LOAD_MODES").unwrap_or("sqlite,postgres".into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        println!("executions reports: {small} and {n} executions of one flow");
        for backend in ["sqlite", "postgres"] {
            if !modes.contains(backend) {
                continue;
            }
            let dir = tempfile::tempdir().expect("tempdir");
            let Some(db) = support::database(backend, dir.path()).await else {
                println!("{backend}: skipped (set LOAD_POSTGRES_URL or FLOWHOOK_TEST_DATABASE_URL)");
                continue;
            };
            let server = Server::flowhook(&db, dir.path(), &[]);
            let http = reqwest::Client::new();
            let base = format!("http://{}", server.addr);
            let account: Value = http
                .post(format!("{base}/v1/accounts"))
                .bearer_auth(ADMIN)
                .json(&json!({"name": "bench", "timezone": "Asia/Kolkata"}))
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            let key = account["security_id"].as_str().expect("key").to_owned();
            let account_id = AccountId::parse(account["id"].as_str().expect("id")).expect("id");
            let small_flow = support::flow(&http, &server.addr, &key, FLOW.replace("NAME", "small")).await;
            let large_flow = support::flow(&http, &server.addr, &key, FLOW.replace("NAME", "large")).await;

            let store = flowhook_storage::connect(&db).await.expect("store");
            let filled = fill(&store, account_id, &small_flow, small).await
                + fill(&store, account_id, &large_flow, n).await;
            drop(store);
            println!(
                "{backend}: wrote {} executions in {:.1} s ({:.0}/s)",
                small + n,
                filled.as_secs_f64(),
                (small + n) as f64 / filled.as_secs_f64()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            let (idle, _) = server.rss();

            let mut lines = Vec::new();
            for (label, flow, format) in [
                ("small csv", &small_flow, "csv"),
                ("large csv", &large_flow, "csv"),
                ("large json", &large_flow, "json"),
            ] {
                let m = measure(&server, &http, &key, flow, format).await;
                println!(
                    "{backend} {label:<10} {:>7} rows {:>7.1} MB  build {:>6.2} s ({:>6.0} rows/s) peak RSS {:>6.1} MB  download {:>5.2} s peak RSS {:>6.1} MB",
                    m.rows,
                    m.bytes as f64 / 1e6,
                    m.build.as_secs_f64(),
                    m.rows as f64 / m.build.as_secs_f64(),
                    m.build_peak_mb,
                    m.download.as_secs_f64(),
                    m.download_peak_mb,
                );
                lines.push((label, m));
            }
            let (_, hwm) = server.rss();
            let peak = |label: &str| {
                lines
                    .iter()
                    .find(|(l, _)| *l == label)
                    .map(|(_, m)| m.build_peak_mb.max(m.download_peak_mb))
                    .unwrap_or(0.0)
            };
            println!(
                "{backend}: idle RSS {idle:.1} MB; peak while building/downloading: {small} rows {:.1} MB ({:.2}× idle), {n} rows {:.1} MB ({:.2}× idle, {:.2}× the {small}-row peak); VmHWM {hwm:.1} MB",
                peak("small csv"),
                peak("small csv") / idle,
                peak("large csv"),
                peak("large csv") / idle,
                peak("large csv") / peak("small csv"),
            );
        }
    });
}
