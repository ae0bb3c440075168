//! Load harness for the webhook widget: many executions of a one-webhook flow
//! against a local receiver, next to a plain `reqwest` loop making the same
//! requests, in the same run, with the same concurrency.
//!
//! Three measurements:
//! - `reqwest`: the baseline, a bare client POSTing the same JSON body;
//! - `runner`: the engine executing the flow in-process (render, guarded egress,
//!   JSON mapping, result variables, trace), no storage;
//! - `api`: the full path, `POST /v1/flows/{id}/executions` with `wait: true` on
//!   the real server (embedded SQLite): auth, a stored execution before and after.
//!
//! Run: `cargo bench -p flowhook --bench webhook_load` (env `LOAD_N`,
//! `LOAD_CONCURRENCY` to change the size). Results go in BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowhook::config::{Config, RawSettings};
use flowhook::startup::Application;
use flowhook_core::flow::parse_flow;
use flowhook_core::ids::{AccountId, ExecutionId};
use flowhook_core::vars::{VarName, Variables};
use flowhook_engine::egress::{Egress, EgressConfig, EgressPolicy};
use flowhook_engine::runner::{AccountContext, ExecutionInput, Hangup, MemoryUserKeys, Runner};
use serde_json::json;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A receiver that answers every request with a small JSON document.
async fn receiver() -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(|| async {
        (
            [("content-type", "application/json")],
            r#"{"status":"shipped","order":{"id":"A-17","total":12.5}}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

fn flow_doc(target: std::net::SocketAddr) -> String {
    json!({
        "name": "load", "start": "lookup",
        "widgets": {
            "lookup": {"type": "webhook",
                "request": {"method": "POST", "url": format!("http://{target}/orders/$flow.key.orderId"),
                            "body_type": "json", "body": "{\"order\": \"$flow.key.orderId\", \"cli\": \"$call.cli.number\"}"},
                "response": {"mappings": [{"save_in": "$flow.key.status", "path": "$.status", "mandatory": true},
                                          {"save_in": "$flow.key.total", "path": "$.order.total"}]},
                "lines": [null, null]}
        }
    })
    .to_string()
}

/// Runs `n` jobs with `concurrency` workers; returns (elapsed, per-job latencies).
async fn drive<F, Fut>(n: usize, concurrency: usize, job: F) -> (Duration, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (job, next) = (job.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                job(i).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::with_capacity(n);
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    (started.elapsed(), all)
}

fn report(name: &str, n: usize, (elapsed, mut lat): (Duration, Vec<Duration>)) -> f64 {
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    let rate = n as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<8} {n:>6} calls in {:>6.2} s  {rate:>8.0}/s   p50 {:>6.2} ms  p99 {:>6.2} ms",
        elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
    rate
}

fn main() {
    let n = env_usize("LOAD_N", 5000);
    let concurrency = env_usize("LOAD_CONCURRENCY", 16);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let target = receiver().await;
        println!("webhook widget load: {n} calls per mode, {concurrency} concurrent, receiver on {target}");

        // Baseline: a bare client making the same request.
        let client = reqwest::Client::new();
        let url = format!("http://{target}/orders/A-17");
        let base = report(
            "reqwest",
            n,
            drive(n, concurrency, move |_| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(r#"{"order": "A-17", "cli": "918000374000"}"#)
                        .send()
                        .await
                        .expect("send");
                    let body: serde_json::Value = resp.json().await.expect("json");
                    assert_eq!(body["status"], "shipped");
                }
            })
            .await,
        );

        // The engine alone.
        let flow = Arc::new(parse_flow(&flow_doc(target)).expect("flow"));
        let egress = Egress::new(EgressConfig {
            policy: EgressPolicy::new(vec!["127.0.0.1/32".parse().expect("net")]),
            ..EgressConfig::default()
        })
        .expect("egress");
        let runner = Arc::new(Runner::new(egress));
        let runner_rate = report(
            "runner",
            n,
            drive(n, concurrency, move |_| {
                let (runner, flow) = (runner.clone(), flow.clone());
                async move {
                    let mut keys = Variables::new();
                    keys.insert(VarName::parse("$flow.key.orderId").expect("v"), "A-17".into());
                    let input = ExecutionInput {
                        id: ExecutionId::generate(),
                        account: AccountContext { id: AccountId::generate(), client_id: 1, allow_http: true },
                        flow_id: "Load0001".into(),
                        contact: "918000374000".into(),
                        call: [("cli.number".to_owned(), "918000374000".to_owned())].into_iter().collect(),
                        keys,
                    };
                    let out = runner.run(&flow, &input, &MemoryUserKeys::default(), &Hangup::default()).await;
                    assert_eq!(out.variables[&VarName::parse("$flow.key.status").expect("v")], "shipped");
                }
            })
            .await,
        );

        // The whole server.
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::validate(RawSettings {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_path_buf()),
            admin_token: Some("bench-admin-token-0123456789".into()),
            master_key: Some("ab".repeat(32)),
            egress_allow_cidrs: Some("127.0.0.1/32".into()),
            log_format: None,
            ..RawSettings::default()
        })
        .expect("config");
        let app = Application::build(config).await.expect("app");
        let addr = app.local_addr();
        tokio::spawn(app.run_until(std::future::pending()));
        let http = reqwest::Client::new();
        let account: serde_json::Value = http
            .post(format!("http://{addr}/v1/accounts"))
            .bearer_auth("bench-admin-token-0123456789")
            .json(&json!({"name": "bench", "allow_http": true}))
            .send().await.expect("send").json().await.expect("json");
        let key = account["security_id"].as_str().expect("key").to_owned();
        let saved: serde_json::Value = http
            .post(format!("http://{addr}/v1/flows"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(flow_doc(target))
            .send().await.expect("send").json().await.expect("json");
        let start_url = format!("http://{addr}/v1/flows/{}/executions", saved["id"].as_str().expect("id"));
        let api_rate = report(
            "api",
            n,
            drive(n, concurrency, move |_| {
                let (http, url, key) = (http.clone(), start_url.clone(), key.clone());
                async move {
                    let exec: serde_json::Value = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"contact": "918000374000", "call": {"cli.number": "918000374000"},
                                      "keys": {"$flow.key.orderId": "A-17"}, "wait": true}))
                        .send().await.expect("send").json().await.expect("json");
                    assert_eq!(exec["variables"]["$flow.key.status"], "shipped", "{exec}");
                }
            })
            .await,
        );
        println!("ratio runner/reqwest {:.2}   api/reqwest {:.2}", runner_rate / base, api_rate / base);
    });
}
