//! Internal webhooks (SPEC §5): the `{method, keys}` envelope at `POST
//! /internal` and the seeds' aliases, and the `internal_webhook` widget, both
//! in process (a webhook registered with the server's own URL) and over real
//! HTTP to a service that speaks the envelope.

use reqwest::Method;
use serde_json::{Value, json};

use crate::flows::post_flow;
use crate::helpers::{
    Account, Reply, TestApp, TestReceiver, answered, assert_failed, run_flow, spawn_allowing,
    spawn_app,
};

async fn envelope(app: &TestApp, key: &str, path: &str, body: Value) -> (u16, Value) {
    app.call(Method::POST, path, key, Some(body)).await
}

#[tokio::test]
async fn preferences_are_stored_and_fetched_through_the_envelope_and_an_alias() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let contact = json!({"name": "$user.syskey.contactNumber", "value": "919876543210"});
    let (status, stored) = envelope(
        &app,
        &acct.key,
        "/internal",
        json!({"method": "updateUserPreferences", "keys": [contact, {"name": "$user.key.language", "value": "hi"}]}),
    )
    .await;
    assert_eq!(
        (status, &stored["status"]),
        (200, &json!("SUCCESS")),
        "{stored}"
    );

    let (status, fetched) = envelope(
        &app,
        &acct.key,
        "/centraloutboundwebhook-v1/prod/",
        json!({"method": "fetchUserPreferences", "keys": [contact]}),
    )
    .await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["status"], "SUCCESS", "{fetched}");
    assert_eq!(
        answered(&fetched, "$user.key.language"),
        Some("hi"),
        "{fetched}"
    );

    // Another account sees nothing of it.
    let other = app.create_account(false).await;
    let (_, theirs) = envelope(
        &app,
        &other.key,
        "/internal",
        json!({"method": "fetchUserPreferences", "keys": [contact]}),
    )
    .await;
    assert_eq!(theirs["keys"], json!([]), "{theirs}");
}

#[tokio::test]
async fn bad_envelopes_and_bad_keys_are_refused_clearly() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, unknown) = envelope(
        &app,
        &acct.key,
        "/internal",
        json!({"method": "teleport", "keys": []}),
    )
    .await;
    assert_eq!(status, 200);
    assert_failed(&unknown, "method: unknown method \"teleport\"");

    let (_, missing) = envelope(
        &app,
        &acct.key,
        "/internal",
        json!({"method": "fetchUserPreferences", "keys": []}),
    )
    .await;
    assert_failed(&missing, "contactNumber: missing");

    let (_, bad_date) = envelope(
        &app,
        &acct.key,
        "/internal",
        json!({"method": "validateDateTime", "keys": [{"name": "$flow.key.inputDate", "value": "31-02-2030"}]}),
    )
    .await;
    assert_failed(&bad_date, "inputDate: \"31-02-2030\" is not a date");

    let (_, nothing) = envelope(
        &app,
        &acct.key,
        "/internal",
        json!({"method": "updateUserPreferences", "keys": [{"name": "$user.syskey.contactNumber", "value": "9198"}]}),
    )
    .await;
    assert_failed(&nothing, "no $user.key.* value");

    let (status, problem) = envelope(
        &app,
        &acct.key,
        "/internal",
        json!({"method": "x", "keys": "no"}),
    )
    .await;
    assert_eq!(
        (status, &problem["code"]),
        (400, &json!("INVALID_ENVELOPE")),
        "{problem}"
    );
    let (status, _) = envelope(
        &app,
        "0".repeat(64).as_str(),
        "/internal",
        json!({"method": "x"}),
    )
    .await;
    assert_eq!(status, 401);
}

/// Registers a webhook at `url` for `acct`; its id.
pub(crate) async fn register(app: &TestApp, acct: &Account, url: &str) -> String {
    let (status, hook) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(json!({"name": format!("fn {}", url.len()), "url": url})),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    hook["id"].as_str().expect("id").to_owned()
}

/// A flow: set the date, call `method` through `webhook`, mark the line taken.
fn calling_flow(webhook: &str, method: &str) -> String {
    json!({
        "name": "calls_fn", "start": "set",
        "widgets": {
            "set": {"type": "store_variable", "assign": {"$flow.key.inputDate": "05-01-2030", "$flow.key.inputTime": "10:30", "$flow.key.apiKey": "AIzaSECRET"}, "lines": ["fn"]},
            "fn": {"type": "internal_webhook", "webhook": webhook, "method": method, "pass": ["flow.key"], "lines": ["ok", "failed"]},
            "ok": {"type": "store_variable", "assign": {"$flow.key.route": "ok"}, "lines": [null]},
            "failed": {"type": "store_variable", "assign": {"$flow.key.route": "failed"}, "lines": [null]}
        }
    })
    .to_string()
}

#[tokio::test]
async fn a_widget_naming_the_servers_own_url_runs_in_process() {
    // No loopback allowed in the egress policy, and an https-only account: the
    // server's own http endpoint is still accepted, since the call never
    // leaves the process.
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{}", acct.id),
            &acct.key,
            Some(json!({"calendar": {"weekdays": ["monday", "tuesday", "wednesday", "thursday", "friday"]}})),
        )
        .await;
    assert_eq!(status, 200);
    let hook = register(&app, &acct, &app.url("/reliance-nippon-v1/test/")).await;
    let exec = run_flow(&app, &acct, &calling_flow(&hook, "validateDateTime")).await;
    assert_eq!(exec["status"], "completed", "{exec}");
    let vars = &exec["variables"];
    // 5 January 2030 is a Saturday: the next working slot is Monday's, at the
    // same time (inside business hours), in the account's zone.
    assert_eq!(vars["$flow.key.dateIsValid"], "false", "{vars}");
    assert_eq!(vars["$flow.key.timeIsValid"], "true", "{vars}");
    assert_eq!(
        vars["$flow.key.outputDate"], "2030-01-07T10:30:00+05:30",
        "{vars}"
    );
    assert_eq!(vars["$flow.key.smsDate"], "7-1-2030", "{vars}");
    assert_eq!(vars["$flow.key.outputDay"], "Monday", "{vars}");
    assert_eq!(
        vars["$flow.key.outputTime"], "09:00 AM to 06:00 PM",
        "{vars}"
    );
    assert_eq!(vars["$flow.key.route"], "ok", "{vars}");
    let step = exec["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .find(|s| s["widget"] == "fn")
        .expect("the fn step")
        .clone();
    let detail = &step["detail"];
    assert_eq!(detail["via"], "in-process", "{step}");
    assert_eq!(detail["request"]["method"], "validateDateTime", "{step}");
    assert_eq!(detail["answer"]["status"], "SUCCESS", "{step}");
}

#[tokio::test]
async fn a_widget_calls_a_service_that_speaks_the_envelope_over_http() {
    let receiver = TestReceiver::start().await;
    receiver.on(
        "/fn",
        Reply::json(
            200,
            r#"{"status": "SUCCESS", "keys": [{"name": "$flow.key.intent", "value": "billing"}, {"name": "$call.cli.number", "value": "spoofed"}]}"#,
        ),
    );
    let app = spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    let hook = register(&app, &acct, &receiver.url("/fn")).await;
    let exec = run_flow(&app, &acct, &calling_flow(&hook, "speechprocessing")).await;
    assert_eq!(exec["variables"]["$flow.key.intent"], "billing", "{exec}");
    assert_eq!(exec["variables"]["$flow.key.route"], "ok", "{exec}");
    let sent = receiver.requests_to("/fn");
    assert_eq!(sent.len(), 1);
    let body: Value = serde_json::from_slice(&sent[0].body).expect("json");
    assert_eq!(body["method"], "speechprocessing");
    let names: Vec<&str> = body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert!(names.contains(&"$flow.key.inputDate"), "{names:?}");
    assert!(names.contains(&"$user.syskey.contactNumber"), "{names:?}");
    assert!(
        body.to_string().contains("AIzaSECRET"),
        "the service gets the key"
    );
    assert_eq!(sent[0].header("content-type"), Some("application/json"));
    // A key naming a read-only variable is ignored, and the trace says so.
    let step = exec["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .find(|s| s["widget"] == "fn")
        .expect("fn")
        .clone();
    assert_eq!(step["detail"]["via"], "http", "{step}");
    assert!(
        !step.to_string().contains("AIzaSECRET"),
        "the trace masks it: {step}"
    );
    assert_eq!(
        step["detail"]["ignored_keys"],
        json!(["$call.cli.number"]),
        "{step}"
    );

    // An answer too large to keep (over the response cap, and a value over the
    // variable budget) is a failure line too, not a failed execution.
    let huge = "x".repeat(flowhook_core::budget::MAX_VARIABLE_BYTES + 1);
    receiver.on(
        "/fn",
        Reply::json(
            200,
            &json!({"status": "SUCCESS", "keys": [{"name": "$flow.key.huge", "value": huge}]})
                .to_string(),
        ),
    );
    let exec = run_flow(
        &app,
        &acct,
        &calling_flow(&hook, "speechprocessing").replace("calls_fn", "calls_big"),
    )
    .await;
    assert_eq!(exec["status"], "completed", "{}", exec["reason"]);
    assert_eq!(exec["variables"]["$flow.key.route"], "failed");
    assert!(exec["variables"].get("$flow.key.huge").is_none());

    // A service that does not answer the envelope takes the failure line.
    receiver.on("/fn", Reply::json(200, r#"{"ok": true}"#));
    let exec = run_flow(
        &app,
        &acct,
        &calling_flow(&hook, "speechprocessing").replace("calls_fn", "calls_fn2"),
    )
    .await;
    assert_eq!(exec["status"], "completed", "{exec}");
    assert_eq!(exec["variables"]["$flow.key.route"], "failed", "{exec}");
}

#[tokio::test]
async fn flows_name_only_their_own_webhooks_and_keep_them_from_deletion() {
    let app = spawn_app().await;
    let acct = app.create_account(true).await;
    let other = app.create_account(true).await;
    let theirs = register(&app, &other, "https://fn.example.com/envelope").await;
    let (status, refused) = post_flow(
        &app,
        &acct.key,
        "/v1/flows",
        Method::POST,
        &calling_flow(&theirs, "validateDateTime"),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["errors"][0]["widget"], "fn", "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is not a webhook of this account"),
        "{refused}"
    );

    let mine = register(&app, &acct, "https://fn.example.com/envelope").await;
    let (status, saved) = post_flow(
        &app,
        &acct.key,
        "/v1/flows",
        Method::POST,
        &calling_flow(&mine, "validateDateTime"),
    )
    .await;
    assert_eq!(status, 201, "{saved}");
    let (status, in_use) = app
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/{mine}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(
        (status, &in_use["code"]),
        (409, &json!("WEBHOOK_IN_USE")),
        "{in_use}"
    );
    assert!(
        in_use["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("calls_fn"),
        "{in_use}"
    );

    let (status, unknown) = post_flow(
        &app,
        &acct.key,
        "/v1/flows/validate",
        Method::POST,
        &calling_flow(&mine, "teleport"),
    )
    .await;
    assert_eq!(status, 422, "{unknown}");
    assert!(unknown.to_string().contains("unknown method"), "{unknown}");
}

#[tokio::test]
async fn a_webhook_widget_naming_a_registered_webhook_sends_its_method_auth_and_headers() {
    let receiver = TestReceiver::start().await;
    receiver.on(
        "/orders",
        Reply::json(200, r#"{"data": {"status": "shipped"}}"#),
    );
    let app = spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    let (status, hook) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(json!({
                "name": "orders", "url": receiver.url("/orders"), "method": "PUT", "body_type": "json",
                "auth": {"type": "basic", "username": "svc", "password": "s3cret"},
                "headers": [{"key": "X-Tenant", "value": "acme"}, {"key": "X-Step", "value": "stored"}]
            })),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let hook = hook["id"].as_str().expect("id");
    let flow = json!({
        "name": "registered", "start": "set",
        "widgets": {
            "set": {"type": "store_variable", "assign": {"$flow.key.step": "lookup"}, "lines": ["call"]},
            "call": {"type": "webhook",
                     "request": {"webhook": hook,
                                 "headers": [{"key": "X-Step", "value": "$flow.key.step"}],
                                 "query": [{"key": "q", "value": "1"}],
                                 "body": "{\"step\": \"$flow.key.step\"}"},
                     "response": {"mappings": [{"save_in": "$flow.key.status", "path": "$.data.status", "mandatory": true}]},
                     "lines": [null, null]}
        }
    })
    .to_string();
    let exec = run_flow(&app, &acct, &flow).await;
    assert_eq!(exec["variables"]["$flow.key.status"], "shipped", "{exec}");

    let sent = receiver.requests_to("/orders");
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.method, "PUT");
    assert!(request.path.ends_with("?q=1"), "{}", request.path);
    // base64("svc:s3cret")
    assert_eq!(
        request.header("authorization"),
        Some("Basic c3ZjOnMzY3JldA==")
    );
    assert_eq!(request.header("x-tenant"), Some("acme"));
    assert_eq!(
        request.header("x-step"),
        Some("lookup"),
        "the widget's header wins"
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).expect("json body");
    assert_eq!(body, json!({"step": "lookup"}));

    // The trace shows the stored credentials masked.
    let step = exec["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .find(|s| s["widget"] == "call")
        .expect("call")
        .clone();
    let trace = step["detail"]["request"].to_string();
    assert!(
        !trace.contains("s3cret") && !trace.contains("c3ZjOnMzY3JldA"),
        "{trace}"
    );
    assert!(
        !trace.contains("acme"),
        "stored header values are masked: {trace}"
    );
    assert_eq!(step["detail"]["request"]["webhook"], hook, "{step}");
}

#[tokio::test]
async fn preferences_through_a_widget_belong_to_the_executions_contact() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let hook = register(&app, &acct, &app.url("/internal")).await;
    // A flow key named like the identity must not redirect the store.
    let flow = json!({
        "name": "prefs", "start": "set",
        "widgets": {
            "set": {"type": "store_variable", "assign": {"$flow.key.contactNumber": "910000000000", "$user.key.language": "hi"}, "lines": ["save"]},
            "save": {"type": "internal_webhook", "webhook": hook, "method": "updateUserPreferences", "pass": ["flow.key", "user.key"], "lines": ["fetch", null]},
            "fetch": {"type": "internal_webhook", "webhook": hook, "method": "fetchUserPreferences", "lines": [null, null]}
        }
    })
    .to_string();
    let exec = run_flow(&app, &acct, &flow).await;
    assert_eq!(exec["status"], "completed", "{exec}");
    let fetched = exec["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .find(|s| s["widget"] == "fetch")
        .expect("fetch")
        .clone();
    assert_eq!(
        fetched["detail"]["answer"]["status"], "SUCCESS",
        "{fetched}"
    );

    let mine = json!({"name": "$user.syskey.contactNumber", "value": "919876543210"});
    let (_, answer) = envelope(
        &app,
        &acct.key,
        "/internal",
        json!({"method": "fetchUserPreferences", "keys": [mine]}),
    )
    .await;
    assert_eq!(
        answered(&answer, "$user.key.language"),
        Some("hi"),
        "{answer}"
    );
    let theirs = json!({"name": "$user.syskey.contactNumber", "value": "910000000000"});
    let (_, answer) = envelope(
        &app,
        &acct.key,
        "/internal",
        json!({"method": "fetchUserPreferences", "keys": [theirs]}),
    )
    .await;
    assert_eq!(answer["keys"], json!([]), "{answer}");
}

#[tokio::test]
async fn the_calendar_is_checked_when_saved_and_used_by_validate_date_time() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let path = format!("/v1/accounts/{}", acct.id);
    let patch = |calendar: Value| {
        app.call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"calendar": calendar})),
        )
    };
    let (status, problem) = patch(json!({"business_hours": {"start": "25:00"}})).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("calendar.business_hours.start"),
        "{problem}"
    );
    let (status, saved) =
        patch(json!({"holidays": ["2030-01-07"], "business_hours": {"start": "10:00"}})).await;
    assert_eq!(status, 200, "{saved}");
    let (_, answer) = envelope(
        &app,
        &acct.key,
        "/internal",
        json!({"method": "validateDateTime", "keys": [{"name": "$flow.key.inputDate", "value": "2030-01-07"}, {"name": "$flow.key.inputTime", "value": "09:30 AM"}]}),
    )
    .await;
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
    // Monday 7 January 2030 is a holiday: the next slot is Tuesday's opening.
    assert_eq!(
        answered(&answer, "$flow.key.dateIsValid"),
        Some("false"),
        "{answer}"
    );
    assert_eq!(
        answered(&answer, "$flow.key.outputDate"),
        Some("2030-01-08T10:00:00+05:30"),
        "{answer}"
    );
    assert_eq!(
        answered(&answer, "$flow.key.outputTime"),
        Some("10:00 AM to 06:00 PM"),
        "{answer}"
    );
}
