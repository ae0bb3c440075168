//! The flow-end webhook over HTTP with a recording receiver: the exact payload,
//! Standard Webhooks signatures checked by the reference library, retries with
//! one webhook-id, Retry-After, exhaustion, resend and recovery.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::flows::post_flow;
use crate::helpers::{Account, Db, Options, Reply, TestApp, TestReceiver, spawn_with};

/// Runs each test of this file on SQLite and on PostgreSQL (which says SKIPPED
/// without `FLOWHOOK_TEST_DATABASE_URL`).
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(crate::helpers::Db::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(crate::helpers::Db::Postgres).await;
            }
        }
    )*};
}

on_both!(
    the_payload_is_exactly_the_spec_document,
    signatures_verify_with_the_reference_library_also_during_rotation,
    two_failures_then_success_is_three_attempts_with_one_webhook_id,
    retry_after_is_honoured_and_exhaustion_fails_then_resend_delivers,
    failed_deliveries_of_a_window_are_recovered,
    revoking_allow_http_stops_http_deliveries,
);

async fn setup(db: Db, schedule: &str) -> Option<(TestApp, Account, TestReceiver)> {
    let receiver = TestReceiver::start().await;
    let app = spawn_with(
        db,
        Options {
            allow_cidrs: Some("127.0.0.1/32".into()),
            retry_schedule: Some(schedule.into()),
            ..Options::default()
        },
    )
    .await?;
    let acct = app.create_account(true).await;
    Some((app, acct, receiver))
}

/// Registers the default webhook; returns its signing secret.
async fn default_webhook(app: &TestApp, acct: &Account, url: &str) -> (String, String) {
    let (status, hook) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(json!({
                "name": "flow-end", "method": "POST", "url": url, "is_default": true,
                "auth": {"type": "basic", "username": "crm", "password": "pw-1"}
            })),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    (
        hook["id"].as_str().expect("id").to_owned(),
        hook["signing_secret"].as_str().expect("secret").to_owned(),
    )
}

const FLOW: &str = r#"{
  "name": "order_status", "timezone": "Asia/Kolkata", "webhook_on_complete": true,
  "start": "greet", "on_complete": "notify",
  "widgets": {
    "greet":  {"type": "store_variable", "assign": {"$flow.key.cli": "$call.cli.number"}, "lines": [null]},
    "notify": {"type": "store_variable", "assign": {"$flow.key.completed": "yes"}, "lines": [null]}
  }
}"#;

/// Saves FLOW and runs it once; returns the execution.
async fn run_once(app: &TestApp, acct: &Account, flow_id: Option<&str>) -> (String, Value) {
    let id = match flow_id {
        Some(id) => id.to_owned(),
        None => {
            let (status, saved) = post_flow(app, &acct.key, "/v1/flows", Method::POST, FLOW).await;
            assert_eq!(status, 201, "{saved}");
            saved["id"].as_str().expect("id").to_owned()
        }
    };
    let (status, exec) = app
        .call(Method::POST, &format!("/v1/flows/{id}/executions"), &acct.key, Some(json!({
            "contact": "918000374000",
            "call": {"cli.number": "918000374000", "dnis.number": "912243692987", "start": "2026-11-21T10:00:00+05:30",
                     "connect": "2026-11-21T10:00:03+05:30", "hangup": "2026-11-21T10:01:00+05:30",
                     "duration": "57", "isdn": "16", "incoming": true},
            "keys": {"$flow.key.orderId": "A-17"},
            "recordings": [{"recordedFileName": "call.wav", "recordedFilePublicPath": "https://rec.invalid/call.wav"}],
            "wait": true
        })))
        .await;
    assert_eq!(status, 200, "{exec}");
    (id, exec)
}

async fn delivery_of(app: &TestApp, acct: &Account) -> Value {
    let (_, list) = app
        .call(Method::GET, "/v1/deliveries", &acct.key, None)
        .await;
    let id = list[0]["id"].as_str().expect("a delivery").to_owned();
    let (_, d) = app
        .call(
            Method::GET,
            &format!("/v1/deliveries/{id}"),
            &acct.key,
            None,
        )
        .await;
    d
}

async fn wait_status(app: &TestApp, acct: &Account, status: &str) -> Value {
    for _ in 0..300 {
        let d = delivery_of(app, acct).await;
        if d["status"] == status {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "delivery never became {status}: {}",
        delivery_of(app, acct).await
    );
}

async fn the_payload_is_exactly_the_spec_document(db: Db) {
    let Some((app, acct, rx)) = setup(db, "1").await else {
        return;
    };
    default_webhook(&app, &acct, &rx.url("/end")).await;
    let (_, exec) = run_once(&app, &acct, None).await;
    let got = rx.wait_for("/end", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_slice(&got[0].body).expect("json");
    let uuid = exec["uuid"].as_str().expect("uuid");
    assert_eq!(
        body,
        json!({
            "callDetails": [{"calleeNumber": "912243692987", "connectTime": "2026-11-21T10:00:03+05:30",
                             "didNumber": "912243692987", "duration": "57", "endTime": "2026-11-21T10:01:00+05:30",
                             "hangupCause": "16", "incoming": true, "startTime": "2026-11-21T10:00:00+05:30"}],
            "keys": [{"name": "$flow.key.cli", "value": "918000374000"},
                     {"name": "$flow.key.completed", "value": "yes"},
                     {"name": "$flow.key.orderId", "value": "A-17"}],
            "phonon-uuid": uuid,
            "recordingUrls": [{"recordedFileName": "call.wav", "recordedFilePublicPath": "https://rec.invalid/call.wav"}]
        })
    );
    let text = String::from_utf8(got[0].body.clone()).expect("utf8");
    assert!(
        text.starts_with("{\"callDetails\":[{\"calleeNumber\""),
        "field order as the SPEC shows: {text}"
    );
    assert!(text.contains("\"incoming\":true"), "a JSON boolean");
    let r = &got[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("authorization"), Some("Basic Y3JtOnB3LTE="));
    assert!(r.header("webhook-id").expect("id").starts_with("msg_"));
    assert!(
        r.header("webhook-timestamp")
            .expect("ts")
            .parse::<i64>()
            .is_ok()
    );
    assert!(
        r.header("webhook-signature")
            .expect("sig")
            .starts_with("v1,")
    );
    let d = wait_status(&app, &acct, "delivered").await;
    assert_eq!(d["attempt_count"], 1);
    assert_eq!(d["attempts"].as_array().map(Vec::len), Some(1));
    assert_eq!(d["payload"], body);
    assert_eq!(d["msg_id"], r.header("webhook-id").expect("id"));

    // No default webhook or webhook_on_complete false: nothing is sent.
    let quiet = FLOW
        .replace(
            "\"webhook_on_complete\": true",
            "\"webhook_on_complete\": false",
        )
        .replace("order_status", "quiet");
    let (_, saved) = post_flow(&app, &acct.key, "/v1/flows", Method::POST, &quiet).await;
    let (_, quiet_exec) = run_once(&app, &acct, saved["id"].as_str()).await;
    // The outbox row is written with the execution's end, which the answer
    // follows: the deliveries list is already final, no need to wait.
    let (_, list) = app
        .call(Method::GET, "/v1/deliveries", &acct.key, None)
        .await;
    let list = list.as_array().expect("a list");
    assert_eq!(
        list.len(),
        1,
        "only the first execution's message: {list:?}"
    );
    assert_eq!(list[0]["execution_id"], exec["uuid"]);
    assert_ne!(list[0]["execution_id"], quiet_exec["uuid"]);

    // An account without a default webhook: its execution enqueues nothing.
    let other = app.create_account(true).await;
    let (_, other_exec) = run_once(&app, &other, None).await;
    assert_eq!(other_exec["status"], "completed", "{other_exec}");
    let (_, list) = app
        .call(Method::GET, "/v1/deliveries", &other.key, None)
        .await;
    assert_eq!(list, json!([]), "no default webhook, no delivery");
}

/// Verifies with the reference `standardwebhooks` library (PyPI); `None` if
/// Python or the library is missing (the caller reports the skip).
fn verify_with_reference(secret: &str, r: &crate::helpers::Received) -> Option<Result<(), String>> {
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
data = json.load(sys.stdin)
Webhook(data["secret"]).verify(data["body"], data["headers"])
print("verified")
"#;
    let input = json!({
        "secret": secret,
        "body": String::from_utf8_lossy(&r.body),
        "headers": {
            "webhook-id": r.header("webhook-id"),
            "webhook-timestamp": r.header("webhook-timestamp"),
            "webhook-signature": r.header("webhook-signature"),
        }
    });
    let probe = std::process::Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output()
        .ok()?;
    if !probe.status.success() {
        return None;
    }
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python");
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

async fn signatures_verify_with_the_reference_library_also_during_rotation(db: Db) {
    let Some((app, acct, rx)) = setup(db, "1").await else {
        return;
    };
    let (hook_id, old_secret) = default_webhook(&app, &acct, &rx.url("/end")).await;
    let (flow, _) = run_once(&app, &acct, None).await;
    let first = rx.wait_for("/end", 1, Duration::from_secs(10)).await;
    let Some(result) = verify_with_reference(&old_secret, &first[0]) else {
        flowhook_storage::testing::skip_or_fail(
            "SKIPPED: the standardwebhooks Python library is not installed (`pip install standardwebhooks`; .ci/run installs it)",
        );
        return;
    };
    result.expect("flowhook's signature verifies with the reference library");

    let (_, rotated) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{hook_id}/rotate-secret"),
            &acct.key,
            None,
        )
        .await;
    let new_secret = rotated["signing_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    run_once(&app, &acct, Some(&flow)).await;
    let second = rx.wait_for("/end", 2, Duration::from_secs(10)).await;
    let r = &second[1];
    assert_eq!(
        r.header("webhook-signature")
            .expect("sig")
            .split(' ')
            .count(),
        2,
        "both signatures during the rotation"
    );
    verify_with_reference(&new_secret, r)
        .expect("python")
        .expect("the new secret verifies");
    verify_with_reference(&old_secret, r)
        .expect("python")
        .expect("the old secret still verifies");
    let wrong = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(
        verify_with_reference(wrong, r).expect("python").is_err(),
        "a wrong secret does not verify"
    );
}

async fn two_failures_then_success_is_three_attempts_with_one_webhook_id(db: Db) {
    let Some((app, acct, rx)) = setup(db, "0,0,0").await else {
        return;
    };
    default_webhook(&app, &acct, &rx.url("/end")).await;
    rx.on_sequence(
        "/end",
        vec![
            Reply::json(500, "down"),
            Reply::json(503, "still down"),
            Reply::json(200, "ok"),
        ],
    );
    run_once(&app, &acct, None).await;
    let got = rx.wait_for("/end", 3, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 3);
    let ids: std::collections::HashSet<_> = got
        .iter()
        .map(|r| r.header("webhook-id").expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "the webhook-id is stable across retries");
    let d = wait_status(&app, &acct, "delivered").await;
    let log = d["attempts"].as_array().expect("attempts");
    assert_eq!(
        log.iter().map(|a| a["status"].clone()).collect::<Vec<_>>(),
        vec![json!(500), json!(503), json!(200)]
    );
    assert_eq!(log[0]["response"], "down");
    assert!(log[0]["error"].as_str().expect("error").contains("500"));
    assert!(
        log.iter()
            .all(|a| a["duration_ms"].as_f64().is_some() && a["at"].is_string())
    );

    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains("flowhook_delivery_attempts_total{outcome=\"delivered\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flowhook_delivery_attempts_total{outcome=\"retried\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("flowhook_delivery_queue_depth 0"),
        "{metrics}"
    );
}

async fn retry_after_is_honoured_and_exhaustion_fails_then_resend_delivers(db: Db) {
    let Some((app, acct, rx)) = setup(db, "0,2,0").await else {
        return;
    };
    default_webhook(&app, &acct, &rx.url("/end")).await;
    // The first answer asks for 1 s (under the next-but-one delay of 2 s).
    rx.on_sequence(
        "/end",
        vec![
            Reply::json(429, "slow down").header("retry-after", "1"),
            Reply::json(500, "no"),
        ],
    );
    run_once(&app, &acct, None).await;
    let got = rx.wait_for("/end", 2, Duration::from_secs(10)).await;
    let d = wait_status(&app, &acct, "failed").await;
    let log = d["attempts"].as_array().expect("attempts").clone();
    assert_eq!(log.len(), 4, "first try plus one per scheduled delay");
    let at = |i: usize| {
        chrono::DateTime::parse_from_rfc3339(log[i]["at"].as_str().expect("at")).expect("time")
    };
    let gap = (at(1) - at(0)).num_milliseconds();
    assert!(
        (900..3000).contains(&gap),
        "Retry-After: 1 was honoured, not the 0 s schedule: {gap} ms"
    );
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));

    let (_, failed) = app
        .call(Method::GET, "/v1/deliveries?status=failed", &acct.key, None)
        .await;
    assert_eq!(failed.as_array().map(Vec::len), Some(1));
    rx.on("/end", Reply::json(200, "ok"));
    let id = d["id"].as_str().expect("id");
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/deliveries/{id}/resend"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let d = wait_status(&app, &acct, "delivered").await;
    assert_eq!(d["attempt_count"], 5);
    assert_eq!(
        rx.requests_to("/end")
            .iter()
            .map(|r| r.header("webhook-id").expect("id").to_owned())
            .collect::<std::collections::HashSet<_>>()
            .len(),
        1
    );
}

async fn failed_deliveries_of_a_window_are_recovered(db: Db) {
    let Some((app, acct, rx)) = setup(db, "0").await else {
        return;
    };
    default_webhook(&app, &acct, &rx.url("/end")).await;
    rx.on("/end", Reply::json(500, "no"));
    let (flow, _) = run_once(&app, &acct, None).await;
    run_once(&app, &acct, Some(&flow)).await;
    for _ in 0..300 {
        let (_, failed) = app
            .call(Method::GET, "/v1/deliveries?status=failed", &acct.key, None)
            .await;
        if failed.as_array().map(Vec::len) == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rx.on("/end", Reply::json(200, "ok"));
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/deliveries/recover",
            &acct.key,
            Some(json!({"from": "2000-01-01T00:00:00Z", "to": "2999-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!((status, &body["requeued"]), (202, &json!(2)), "{body}");
    for _ in 0..300 {
        let (_, done) = app
            .call(
                Method::GET,
                "/v1/deliveries?status=delivered",
                &acct.key,
                None,
            )
            .await;
        if done.as_array().map(Vec::len) == Some(2) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("recovered deliveries were not delivered");
}

async fn revoking_allow_http_stops_http_deliveries(db: Db) {
    let Some((app, acct, rx)) = setup(db, "3600").await else {
        return;
    };
    default_webhook(&app, &acct, &rx.url("/end")).await;
    let (status, body) = app
        .admin(
            Method::PATCH,
            &format!("/v1/accounts/{}", acct.id),
            Some(json!({"allow_http": false})),
        )
        .await;
    assert_eq!(
        (status, &body["allow_http"]),
        (200, &json!(false)),
        "{body}"
    );
    run_once(&app, &acct, None).await;
    let mut d = delivery_of(&app, &acct).await;
    for _ in 0..300 {
        if d["attempt_count"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        d = delivery_of(&app, &acct).await;
    }
    assert_eq!(d["attempt_count"], 1, "{d}");
    let error = d["attempts"][0]["error"].as_str().expect("an error");
    assert!(
        error.contains("allow_http"),
        "the attempt says why: {error}"
    );
    assert_eq!(
        d["attempts"][0]["status"],
        Value::Null,
        "no response: nothing was sent"
    );
    assert!(
        rx.requests_to("/end").is_empty(),
        "the receiver got nothing"
    );
}
