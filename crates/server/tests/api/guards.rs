//! Bounded work through the API: admission limits on running executions and
//! the deadline of a request.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Account, Db, Options, Reply, TestApp, TestReceiver, spawn_with};

/// A flow whose only widget waits on `url`.
fn slow_flow(url: &str) -> serde_json::Value {
    json!({"name": "slow", "start": "wait",
        "widgets": {"wait": {"type": "webhook", "request": {"method": "GET", "url": url},
                             "response": {"timeout_seconds": 30}, "lines": [null, null]}}})
}

async fn slow_setup(options: Options) -> (TestApp, TestReceiver) {
    let rx = TestReceiver::start().await;
    rx.on(
        "/slow",
        Reply::json(200, "{}").delayed(Duration::from_secs(3)),
    );
    let app = spawn_with(
        Db::Sqlite,
        Options {
            allow_cidrs: Some("127.0.0.1/32".into()),
            ..options
        },
    )
    .await
    .expect("sqlite");
    (app, rx)
}

/// Two accounts, each with a [`slow_flow`] saved; each account with its flow id.
async fn two_accounts_with_slow_flows(app: &TestApp, rx: &TestReceiver) -> [(Account, String); 2] {
    let mut made = Vec::new();
    for _ in 0..2 {
        let acct = app.create_account(true).await;
        let (status, saved) = app
            .call(
                Method::POST,
                "/v1/flows",
                &acct.key,
                Some(slow_flow(&rx.url("/slow"))),
            )
            .await;
        assert_eq!(status, 201, "{saved}");
        let flow = saved["id"].as_str().expect("id").to_owned();
        made.push((acct, flow));
    }
    made.try_into()
        .unwrap_or_else(|_| unreachable!("two were made"))
}

async fn start(app: &TestApp, key: &str, flow: &str, wait: bool) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/v1/flows/{flow}/executions")))
        .bearer_auth(key)
        .json(&json!({"contact": "918000374000", "wait": wait}))
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn an_account_over_its_running_limit_gets_429_with_retry_after() {
    let (app, rx) = slow_setup(Options {
        max_running_per_account: Some(1),
        ..Options::default()
    })
    .await;
    let [(busy, busy_flow), (other, other_flow)] = two_accounts_with_slow_flows(&app, &rx).await;
    let flows = [busy_flow, other_flow];
    assert_eq!(start(&app, &busy.key, &flows[0], false).await.status(), 202);
    let refused = start(&app, &busy.key, &flows[0], false).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(
        refused
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let problem: serde_json::Value = refused.json().await.expect("problem");
    assert_eq!(problem["code"], "TOO_MANY_EXECUTIONS", "{problem}");
    // Nothing was stored for the refused start.
    let (_, listed) = app
        .call(Method::GET, "/v1/executions", &busy.key, None)
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    // Another account is not held back by this one.
    assert_eq!(
        start(&app, &other.key, &flows[1], false).await.status(),
        202
    );
}

#[tokio::test]
async fn a_request_past_its_deadline_is_a_408_problem_and_the_execution_goes_on() {
    let (app, rx) = slow_setup(Options {
        request_timeout_seconds: Some(1),
        ..Options::default()
    })
    .await;
    let acct = app.create_account(true).await;
    let (_, saved) = app
        .call(
            Method::POST,
            "/v1/flows",
            &acct.key,
            Some(slow_flow(&rx.url("/slow"))),
        )
        .await;
    let flow = saved["id"].as_str().expect("id");
    let answer = start(&app, &acct.key, flow, true).await;
    assert_eq!(answer.status(), 408);
    let problem: serde_json::Value = answer.json().await.expect("problem");
    assert_eq!(problem["code"], "REQUEST_TIMEOUT", "{problem}");
    // The execution was not cut: it completes and is stored.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, listed) = app
            .call(Method::GET, "/v1/executions", &acct.key, None)
            .await;
        if listed[0]["status"] == "completed" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{listed}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A flow of `n` webhook widgets in a row, each sent without waiting.
fn fire_and_forget(url: &str, n: usize) -> serde_json::Value {
    let mut widgets = serde_json::Map::new();
    for i in 0..n {
        let next = if i + 1 < n {
            json!(format!("w{}", i + 1))
        } else {
            json!(null)
        };
        widgets.insert(
            format!("w{i}"),
            json!({"type": "webhook", "request": {"method": "GET", "url": url},
                   "response": {"wait_for_response": false}, "lines": [next, null]}),
        );
    }
    json!({"name": format!("fire{n}"), "start": "w0", "widgets": widgets})
}

#[tokio::test]
async fn one_execution_has_at_most_8_requests_in_flight_without_waiting() {
    let (app, rx) = slow_setup(Options::default()).await;
    let acct = app.create_account(true).await;
    let mut elapsed = Vec::new();
    for n in [8, 9] {
        let (status, saved) = app
            .call(
                Method::POST,
                "/v1/flows",
                &acct.key,
                Some(fire_and_forget(&rx.url("/slow"), n)),
            )
            .await;
        assert_eq!(status, 201, "{saved}");
        let started = std::time::Instant::now();
        let answer = start(&app, &acct.key, saved["id"].as_str().expect("id"), true).await;
        assert_eq!(answer.status(), 200);
        elapsed.push(started.elapsed());
    }
    assert!(
        elapsed[0] < Duration::from_secs(2),
        "8 fit at once: {elapsed:?}"
    );
    assert!(
        elapsed[1] >= Duration::from_millis(2500),
        "the 9th waited for one of the 8 (3 s each) to end: {elapsed:?}"
    );
}

#[tokio::test]
async fn connections_past_the_limit_wait_until_one_closes() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = spawn_with(
        Db::Sqlite,
        Options {
            max_connections: Some(2),
            ..Options::default()
        },
    )
    .await
    .expect("sqlite");
    let ask = "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        c.write_all(ask.as_bytes()).await.expect("write");
        let mut buf = [0u8; 12];
        c.read_exact(&mut buf).await.expect("answered");
        assert_eq!(&buf, b"HTTP/1.1 200");
        open.push(c);
    }
    // A third connection is accepted by the kernel but not served...
    let mut third = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    third.write_all(ask.as_bytes()).await.expect("write");
    let mut buf = [0u8; 12];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut buf))
            .await
            .is_err(),
        "served past the limit"
    );
    // ... until one of the two closes.
    drop(open.pop());
    tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut buf))
        .await
        .expect("served after a close")
        .expect("read");
    assert_eq!(&buf, b"HTTP/1.1 200");
}

#[tokio::test]
async fn the_server_over_its_running_limit_gets_429() {
    let (app, rx) = slow_setup(Options {
        max_running: Some(1),
        ..Options::default()
    })
    .await;
    let [(a, a_flow), (b, b_flow)] = two_accounts_with_slow_flows(&app, &rx).await;
    let flows = [a_flow, b_flow];
    assert_eq!(start(&app, &a.key, &flows[0], false).await.status(), 202);
    let refused = start(&app, &b.key, &flows[1], false).await;
    assert_eq!(
        refused.status(),
        429,
        "another account, but the server is full"
    );
    let problem: serde_json::Value = refused.json().await.expect("problem");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("this server"),
        "{problem}"
    );
}
