//! Load harness for executions: a one-webhook flow (a POST with a templated
//! JSON body to a JSON API on loopback, then a mandatory JSONPath mapping)
//! driven closed-loop over many connections, beside baselines measured in the
//! same run:
//!
//! - `reqwest`: a bare client calling the receiver directly (the network floor);
//! - `runner`: flowhook's engine in-process (render, guarded egress, mapping,
//!   result variables, trace), no HTTP server and no storage;
//! - `relay`: a bare Rust relay in its own process — an axum handler making the
//!   same reqwest call and parsing the same answer, storing nothing;
//! - `nodered` (only when asked for, by `scripts/node-red-compare.sh`): Node-RED
//!   running the same flow (`http in` → change → `http request` → change →
//!   `http response`), storing nothing;
//! - `api sqlite` / `api postgres`: the real `flowhook serve` process,
//!   `POST /v1/flows/{id}/executions` with `wait: true`, durable (the execution
//!   stored when it starts and when it ends).
//!
//! For each server process it reports executions/s, p50/p99, its CPU per
//! execution, its RSS idle and under load, and for PostgreSQL the database's
//! own CPU per execution.
//!
//! Run: `cargo bench -p flowhook --bench webhook_load` (env `LOAD_N`,
//! `LOAD_CONCURRENCY`, `LOAD_MODES`=comma list of reqwest,runner,relay,sqlite,
//! postgres; PostgreSQL from `LOAD_POSTGRES_URL` or `FLOWHOOK_TEST_DATABASE_URL`).

mod support;

use std::sync::Arc;

use flowhook_core::flow::parse_flow;
use flowhook_core::ids::{AccountId, ExecutionId};
use flowhook_core::vars::{VarName, Variables};
use flowhook_engine::egress::{Egress, EgressConfig, EgressPolicy};
use flowhook_engine::runner::{AccountContext, ExecutionInput, Hangup, MemoryUserKeys, Runner};
use serde_json::json;
use support::{Server, drive, env_usize, report};

/// The receiver's answer.
const ANSWER: &str = r#"{"data":{"id":"A-17","status":"shipped"},"total":12.5}"#;

/// A receiver that answers every request with a small JSON document.
async fn receiver() -> std::net::SocketAddr {
    let app =
        axum::Router::new().fallback(|| async { ([("content-type", "application/json")], ANSWER) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    addr
}

fn flow_doc(target: &str) -> String {
    json!({
        "name": "load", "start": "lookup",
        "widgets": {
            "lookup": {"type": "webhook",
                "request": {"method": "POST", "url": format!("http://{target}/orders/$flow.key.orderId"),
                            "body_type": "json", "body": "{\"order\": \"$flow.key.orderId\", \"cli\": \"$call.cli.number\"}"},
                "response": {"mappings": [{"save_in": "$flow.key.id", "path": "$.data.id", "mandatory": true}]},
                "lines": [null, null]}
        }
    })
    .to_string()
}

/// The same flow for Node-RED: `http in` → change (JSONata builds the body) →
/// `http request` (parsed JSON) → change (the mapping) → `http response`.
fn node_red_flow(target: &str) -> String {
    json!([
        {"id": "tab", "type": "tab", "label": "load"},
        {"id": "in", "type": "http in", "z": "tab", "url": "/relay", "method": "post", "wires": [["body"]]},
        {"id": "body", "type": "change", "z": "tab", "rules": [
            {"t": "set", "p": "payload", "pt": "msg", "tot": "jsonata",
             "to": "{\"order\": payload.keys.`$flow.key.orderId`, \"cli\": payload.call.`cli.number`}"},
            {"t": "set", "p": "url", "pt": "msg", "tot": "jsonata",
             "to": format!("\"http://{target}/orders/\" & payload.order")}],
         "wires": [["call"]]},
        {"id": "call", "type": "http request", "z": "tab", "method": "POST", "ret": "obj", "url": "", "wires": [["map"]]},
        {"id": "map", "type": "change", "z": "tab", "rules": [
            {"t": "set", "p": "payload", "pt": "msg", "tot": "jsonata",
             "to": "{\"status\": \"completed\", \"variables\": {\"$flow.key.id\": payload.data.id}}"}],
         "wires": [["out"]]},
        {"id": "out", "type": "http response", "z": "tab", "statusCode": "200", "wires": []}
    ])
    .to_string()
}

/// The relay baseline, run as `LOAD_ROLE=relay LOAD_TARGET=ADDR <this bench>`:
/// takes the same request flowhook takes, makes the same call, parses the same
/// answer, and stores nothing.
fn relay_main(target: String) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let client = reqwest::Client::new();
        let app = axum::Router::new().fallback(move |axum::Json(req): axum::Json<serde_json::Value>| {
            let (client, target) = (client.clone(), target.clone());
            async move {
                let order = req["keys"]["$flow.key.orderId"].as_str().unwrap_or_default().to_owned();
                let body = json!({"order": order, "cli": req["call"]["cli.number"]});
                let answer: serde_json::Value = client
                    .post(format!("http://{target}/orders/{order}"))
                    .json(&body)
                    .send()
                    .await
                    .expect("send")
                    .json()
                    .await
                    .expect("json");
                axum::Json(json!({"status": "completed", "variables": {"$flow.key.id": answer["data"]["id"]}}))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        eprintln!("relay serving listen={}", listener.local_addr().expect("addr"));
        axum::serve(listener, app).await.expect("serve");
    });
}

/// What the load generator checks of an answer (flowhook's or the relay's).
#[derive(serde::Deserialize)]
struct Answer {
    variables: AnswerVariables,
}

#[derive(serde::Deserialize)]
struct AnswerVariables {
    #[serde(rename = "$flow.key.id")]
    id: String,
}

/// Drives `n` executions through `url` (flowhook's API or the relay) and reports.
async fn load(
    name: &str,
    server: &Server,
    url: String,
    key: Option<String>,
    n: usize,
    concurrency: usize,
) -> f64 {
    let http = reqwest::Client::new();
    let (rss_idle, _) = server.rss();
    let cpu = server.cpu();
    let harness = support::harness_cpu();
    let pg = support::postgres_cpu();
    let result = drive(n, concurrency, move |_| {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        async move {
            let mut req = http.post(&url).json(&json!({"contact": "918000374000",
                "call": {"cli.number": "918000374000"}, "keys": {"$flow.key.orderId": "A-17"}, "wait": true}));
            if let Some(key) = &key {
                req = req.bearer_auth(key);
            }
            // Only the checked variable is taken out of the answer: the load
            // generator should cost as little as it can (wrk checks nothing).
            let text = req.send().await.expect("send").text().await.expect("body");
            let exec: Answer = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert_eq!(exec.variables.id, "A-17");
        }
    })
    .await;
    let rate = report(name, n, result);
    let cpu_ms = (server.cpu() - cpu) * 1000.0 / n as f64;
    let harness_ms = (support::harness_cpu() - harness) * 1000.0 / n as f64;
    let (rss, peak) = server.rss();
    print!(
        "{:16} server CPU {cpu_ms:.3} ms/exec, harness CPU {harness_ms:.3} ms/exec, RSS idle {rss_idle:.1} MB, after {rss:.1} MB (peak {peak:.1} MB)",
        ""
    );
    if name.contains("postgres") {
        print!(
            ", PostgreSQL CPU {:.3} ms/exec",
            (support::postgres_cpu() - pg) * 1000.0 / n as f64
        );
    }
    println!();
    rate
}

fn main() {
    if std::env::var("LOAD_ROLE").as_deref() == Ok("relay") {
        return relay_main(std::env::var("LOAD_TARGET").expect("LOAD_TARGET"));
    }
    let n = env_usize("LOAD_N", 20_000);
    let concurrency = env_usize("LOAD_CONCURRENCY", 64);
    let modes =
        std::env::var("LOAD_MODES").unwrap_or("reqwest,runner,relay,sqlite,postgres".into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let target = receiver().await.to_string();
        println!("webhook widget load: {n} executions per mode, {concurrency} connections, receiver on {target}");
        let mut rates = std::collections::BTreeMap::new();

        if modes.contains("reqwest") {
            let client = reqwest::Client::new();
            let url = format!("http://{target}/orders/A-17");
            let rate = report("reqwest", n, drive(n, concurrency, move |_| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let body: serde_json::Value = client.post(&url).header("content-type", "application/json")
                        .body(r#"{"order": "A-17", "cli": "918000374000"}"#).send().await.expect("send")
                        .json().await.expect("json");
                    assert_eq!(body["data"]["id"], "A-17");
                }
            }).await);
            rates.insert("reqwest", rate);
        }

        if modes.contains("runner") {
            let flow = Arc::new(parse_flow(&flow_doc(&target)).expect("flow"));
            let egress = Egress::new(EgressConfig {
                policy: EgressPolicy::new(vec!["127.0.0.1/32".parse().expect("net")]),
                ..EgressConfig::default()
            })
            .expect("egress");
            let runner = Arc::new(Runner::new(egress));
            let rate = report("runner", n, drive(n, concurrency, move |_| {
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
                    assert_eq!(out.variables[&VarName::parse("$flow.key.id").expect("v")], "A-17");
                }
            }).await);
            rates.insert("runner", rate);
        }

        if modes.contains("relay") {
            let mut cmd = std::process::Command::new(std::env::current_exe().expect("exe"));
            cmd.env("LOAD_ROLE", "relay").env("LOAD_TARGET", &target);
            let relay = Server::spawn(cmd, "relay serving");
            let url = format!("http://{}/relay", relay.addr);
            let rate = load("relay", &relay, url, None, n, concurrency).await;
            rates.insert("relay", rate);
        }

        if modes.contains("nodered") {
            let node_red = std::env::var("LOAD_NODE_RED").expect("LOAD_NODE_RED: the node-red command");
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::write(dir.path().join("flows.json"), node_red_flow(&target)).expect("flows");
            let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr");
            let mut cmd = std::process::Command::new(node_red);
            cmd.arg("--userDir").arg(dir.path()).args(["--port", &port.port().to_string(), "flows.json"]);
            let server = Server::spawn_at(cmd, port);
            let url = format!("http://{port}/relay");
            let rate = load("nodered", &server, url, None, n, concurrency).await;
            rates.insert("nodered", rate);
        }

        for backend in ["sqlite", "postgres"] {
            if !modes.contains(backend) {
                continue;
            }
            let dir = tempfile::tempdir().expect("tempdir");
            let Some(db) = support::database(backend, dir.path()).await else {
                println!("api {backend}: skipped (set LOAD_POSTGRES_URL or FLOWHOOK_TEST_DATABASE_URL)");
                continue;
            };
            let server = Server::flowhook(&db, dir.path(), &[]);
            let http = reqwest::Client::new();
            let key = support::account(&http, &server.addr).await;
            let flow = support::flow(&http, &server.addr, &key, flow_doc(&target)).await;
            let url = format!("http://{}/v1/flows/{flow}/executions", server.addr);
            let rate = load(&format!("api {backend}"), &server, url, Some(key), n, concurrency).await;
            rates.insert(if backend == "sqlite" { "api sqlite" } else { "api postgres" }, rate);
        }

        let ratio = |a: &str, b: &str| {
            if let (Some(x), Some(y)) = (rates.get(a), rates.get(b)) {
                println!("ratio {a} / {b}: {:.2}", x / y);
            }
        };
        ratio("runner", "reqwest");
        ratio("api sqlite", "relay");
        ratio("api postgres", "relay");
        ratio("relay", "reqwest");
        ratio("api sqlite", "nodered");
    });
}
