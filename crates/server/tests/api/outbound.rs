//! Outbound requests: `POST /v1/outbound` and `createOutbound`, every result
//! code of SPEC §5, the executions the scheduler starts, following and
//! cancelling a request.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::flows::post_flow;
use crate::helpers::*;
use crate::internal::register;

/// A flow that keeps what an outbound execution starts with.
const DIALLED: &str = r#"{"name": "dialled", "start": "keep", "widgets": {
    "keep": {"type": "store_variable", "assign": {
        "$flow.key.dialled": "$call.dnis.number", "$flow.key.incoming": "$call.incoming",
        "$flow.key.greeting": "Hello ${flow.key.Name}", "$flow.key.request": "$flow.syskey.outboundRequestID",
        "$flow.key.client": "$flow.syskey.clientID"}, "lines": [null]}}}"#;

async fn save_flow(app: &TestApp, acct: &Account, flow: &str) -> String {
    let (status, saved) = post_flow(app, &acct.key, "/v1/flows", Method::POST, flow).await;
    assert_eq!(status, 201, "{saved}");
    saved["id"].as_str().expect("id").to_owned()
}

/// `POST /v1/outbound` without a bearer token: the body names the caller.
async fn outbound(app: &TestApp, body: Value) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url("/v1/outbound"))
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn request(acct: &Account, flow: &str, numbers: &[&str], start: &str) -> Value {
    json!({"api-version": "1.0", "security-id": acct.key, "flow-id": flow,
           "calls": [{"client-identifier": "crm-1", "start-time": start, "contact-numbers": numbers,
                      "keys": [{"name": "$flow.key.Name", "value": "Asha"}]}]})
}

const PAST: &str = "2020-01-01T10:00:00+05:30";
/// Tomorrow, to the millisecond (a start must be within 30 days).
fn future() -> String {
    (chrono::Utc::now() + chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Waits until every call of the request has ended (done or failed).
async fn settled(app: &TestApp, acct: &Account, request_id: &str) -> Value {
    for _ in 0..200 {
        let (status, view) = app
            .call(
                Method::GET,
                &format!("/v1/outbound/{request_id}"),
                &acct.key,
                None,
            )
            .await;
        assert_eq!(status, 200, "{view}");
        let c = &view["counts"];
        if c["scheduled"] == 0 && c["running"] == 0 {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the outbound request did not finish");
}

fn code(answer: &Value) -> (u64, &str) {
    (
        answer["api-response-code"].as_u64().expect("code"),
        answer["api-response-message"].as_str().expect("message"),
    )
}

#[tokio::test]
async fn each_number_runs_once_as_an_outbound_execution() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save_flow(&app, &acct, DIALLED).await;
    let (status, answer) = outbound(
        &app,
        request(&acct, &flow, &["9979746666", "+91 80003 74000"], PAST),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(code(&answer), (200, "SUCCESS"));
    let request_id = answer["request-id"].as_str().expect("request id");
    let uuids = answer["phonon-uuids"].as_array().expect("uuids").clone();
    assert_eq!(uuids.len(), 2);

    let view = settled(&app, &acct, request_id).await;
    assert_eq!(view["counts"]["done"], 2, "{view}");
    let calls = view["calls"].as_array().expect("calls");
    let contacts: Vec<&str> = calls
        .iter()
        .map(|c| c["contact"].as_str().expect("c"))
        .collect();
    assert!(
        contacts.contains(&"919979746666") && contacts.contains(&"918000374000"),
        "normalised: {contacts:?}"
    );
    for call in calls {
        assert_eq!(call["state"], "done");
        assert!(
            uuids.contains(&call["execution-id"]),
            "the answered uuid is the execution's"
        );
        let (status, exec) = app
            .call(
                Method::GET,
                &format!(
                    "/v1/executions/{}",
                    call["execution-id"].as_str().expect("id")
                ),
                &acct.key,
                None,
            )
            .await;
        assert_eq!(status, 200, "{exec}");
        let vars = &exec["variables"];
        assert_eq!(vars["$flow.key.dialled"], call["contact"], "{exec}");
        assert_eq!(vars["$flow.key.incoming"], "false");
        assert_eq!(vars["$flow.key.greeting"], "Hello Asha");
        assert_eq!(vars["$flow.key.request"], request_id);
        assert_eq!(vars["$flow.key.client"], "crm-1");
        assert_eq!(exec["contact"], call["contact"]);
    }
}

#[tokio::test]
async fn an_identical_request_within_a_day_is_checksum_repeated() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save_flow(&app, &acct, DIALLED).await;
    let start = future();
    let body = request(&acct, &flow, &["9979746666"], &start);
    let (_, first) = outbound(&app, body.clone()).await;
    assert_eq!(code(&first), (200, "SUCCESS"));
    // The same request, written differently: another key order and spacing,
    // the number with its country code and separators.
    let text = format!(
        r#"{{ "calls": [ {{ "keys": [{{"value": "Asha", "name": "$flow.key.Name"}}],
              "contact-numbers": ["+91 99797-46666"], "start-time": "{start}",
              "client-identifier": "crm-1" }} ],
           "flow-id": "{flow}",   "security-id": "{}", "api-version": "1.0" }}"#,
        acct.key
    );
    let resp = app
        .http
        .post(app.url("/v1/outbound"))
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let again: Value = resp.json().await.expect("json");
    assert_eq!(status, 200, "{again}");
    assert_eq!(code(&again), (201, "CHECKSUM_REPEATED"));
    assert_eq!(again["request-id"], first["request-id"]);
    assert_eq!(
        again["phonon-uuids"], first["phonon-uuids"],
        "nothing new is scheduled: the first request's executions"
    );
    // Anything that changes what runs is a new request.
    let mut other = body.clone();
    other["calls"][0]["keys"][0]["value"] = json!("Ravi");
    let (_, other) = outbound(&app, other).await;
    assert_eq!(code(&other), (200, "SUCCESS"));
    // And the first one still has its one call.
    let (_, view) = app
        .call(
            Method::GET,
            &format!("/v1/outbound/{}", first["request-id"].as_str().expect("id")),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(view["calls"].as_array().map(Vec::len), Some(1), "{view}");
}

#[tokio::test]
async fn invalid_numbers_make_a_partial_success_that_lists_them() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save_flow(&app, &acct, DIALLED).await;
    let (status, answer) = outbound(
        &app,
        request(&acct, &flow, &["9979746666", "12ab", "123"], PAST),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(code(&answer), (209, "PARTIAL_SUCCESS"));
    let invalid = answer["invalid-numbers"].as_array().expect("listed");
    let numbers: Vec<&str> = invalid
        .iter()
        .map(|i| i["number"].as_str().expect("n"))
        .collect();
    assert_eq!(numbers, ["12ab", "123"]);
    assert!(
        invalid
            .iter()
            .all(|i| !i["reason"].as_str().unwrap_or("").is_empty())
    );
    let view = settled(&app, &acct, answer["request-id"].as_str().expect("id")).await;
    assert_eq!(view["counts"]["done"], 1, "{view}");
    assert_eq!(view["api-response-code"], 209);
    assert_eq!(view["invalid-numbers"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn every_refusal_has_its_result_code() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save_flow(&app, &acct, DIALLED).await;
    let ok = request(&acct, &flow, &["9979746666"], &future());
    let with = |path: &str, value: Value| {
        let mut body = ok.clone();
        let mut at = &mut body;
        let parts: Vec<&str> = path.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        at[parts[parts.len() - 1]] = value;
        body
    };
    let many: Vec<String> = (0..501).map(|i| format!("99797{i:05}")).collect();
    let cases = [
        (
            with("security-id", json!("sk_nobody")),
            401,
            202,
            "INVALID_SECURITY_ID",
        ),
        (
            with("api-version", json!("2.0")),
            422,
            203,
            "INVALID_API_VERSION",
        ),
        (
            with("calls/0/contact-numbers", json!(["12ab"])),
            422,
            205,
            "INVALID_CONTACT_NUMBER",
        ),
        (
            with("flow-id", json!(null)),
            422,
            210,
            "INVALID_MANDATORY_PARAMETERS",
        ),
        (
            with("flow-id", json!("Zz9Zz9Zz")),
            404,
            301,
            "INVALID_FLOW_ID",
        ),
        (
            with("calls/0/contact-numbers", json!([])),
            422,
            302,
            "EMPTY_CALL_LIST",
        ),
        (with("calls", json!([])), 422, 302, "EMPTY_CALL_LIST"),
        (
            with("calls/0/contact-numbers", json!(many)),
            422,
            303,
            "MAX_DATA_LIST_SIZE_EXCEEDED",
        ),
        (
            with("flow-version", json!(7)),
            422,
            304,
            "INVALID_FLOW_VERSION",
        ),
        (
            with("calls/0/start-time", json!("tomorrow")),
            400,
            400,
            "INVALID_FORMAT",
        ),
        (
            with("calls/0/keys", json!([{"name": "$call.cli", "value": "1"}])),
            400,
            400,
            "INVALID_FORMAT",
        ),
        (
            with("calls/0/colour", json!("red")),
            400,
            400,
            "INVALID_FORMAT",
        ),
    ];
    for (body, status, expected, message) in cases {
        let (got, answer) = outbound(&app, body).await;
        assert_eq!(
            (got, code(&answer)),
            (status, (expected, message)),
            "{answer}"
        );
        assert!(
            answer["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{answer}"
        );
    }
    // Not JSON at all.
    let resp = app
        .http
        .post(app.url("/v1/outbound"))
        .header("content-type", "application/json")
        .body("{\"api-version\":")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 400);
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(code(&answer), (400, "INVALID_FORMAT"));
    // Not sent as JSON: the same answer document, not a problem.
    let resp = app
        .http
        .post(app.url("/v1/outbound"))
        .body(ok.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 400);
    let answer: Value = resp.json().await.expect("json");
    assert_eq!(code(&answer), (400, "INVALID_FORMAT"), "{answer}");
    // A start more than 30 days ahead, and keys too large to copy per call.
    let (status, answer) = outbound(
        &app,
        with("calls/0/start-time", json!("2099-01-01T00:00:00Z")),
    )
    .await;
    assert_eq!(
        (status, code(&answer)),
        (400, (400, "INVALID_FORMAT")),
        "{answer}"
    );
    let big = json!([{"name": "$flow.key.blob", "value": "x".repeat(20_000)}]);
    let (status, answer) = outbound(&app, with("calls/0/keys", big)).await;
    assert_eq!(
        (status, code(&answer)),
        (422, (303, "MAX_DATA_LIST_SIZE_EXCEEDED")),
        "{answer}"
    );

    // IP_NOT_WHITELISTED: the account allows another loopback address only.
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/whitelist",
            &acct.key,
            Some(json!({"entries": ["127.0.0.2/32"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = outbound(&app, ok.clone()).await;
    assert_eq!(
        (status, code(&answer)),
        (403, (401, "IP_NOT_WHITELISTED")),
        "{answer}"
    );
    // The internal form is refused by the same whitelist.
    let (status, answer) = app
        .call(
            Method::POST,
            "/internal",
            &acct.key,
            Some(json!({"method": "createOutbound", "keys": []})),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("IP_NOT_WHITELISTED"))
    );
}

#[tokio::test]
async fn a_database_failure_is_failure_500() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save_flow(&app, &acct, DIALLED).await;
    // Break the schema behind the server's back.
    let path = app.db_url.trim_start_matches("sqlite://").to_owned();
    let db = rusqlite::Connection::open(path).expect("open");
    db.execute_batch("DROP TABLE outbound_checksums")
        .expect("drop");
    let (status, answer) = outbound(&app, request(&acct, &flow, &["9979746666"], PAST)).await;
    assert_eq!((status, code(&answer)), (500, (500, "FAILURE")), "{answer}");
}

#[tokio::test]
async fn create_outbound_schedules_through_the_same_path() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let other = app.create_account(false).await;
    let flow = save_flow(&app, &acct, DIALLED).await;
    let keys = |security: &str, numbers: &str| {
        json!([
            {"name": "$flow.syskey.apiVersion", "value": "1.0"},
            {"name": "$flow.syskey.securityID", "value": security},
            {"name": "$flow.syskey.flowID", "value": flow},
            {"name": "$flow.syskey.clientID", "value": "123123123"},
            {"name": "$flow.syskey.delayMinutes", "value": "0"},
            {"name": "$flow.syskey.contactNumbers", "value": numbers},
            {"name": "$flow.key.Name", "value": "Meera"}
        ])
    };
    let answer = internal(
        &app,
        &acct,
        "createOutbound",
        keys(&acct.key, "919979746666 918000374000,x1"),
    )
    .await;
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
    assert_eq!(answered(&answer, "$flow.key.obdResponseCode"), Some("209"));
    assert_eq!(answered(&answer, "$flow.key.obdInvalidNumbers"), Some("x1"));
    let request_id = answered(&answer, "$flow.key.obdReqID")
        .expect("request id")
        .to_owned();
    let first = answered(&answer, "$flow.key.obdPhononUUID")
        .expect("uuid")
        .to_owned();
    let view = settled(&app, &acct, &request_id).await;
    assert_eq!(view["source"], "internal");
    assert_eq!(view["counts"]["done"], 2, "{view}");
    let (_, exec) = app
        .call(
            Method::GET,
            &format!("/v1/executions/{first}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(
        exec["variables"]["$flow.key.greeting"], "Hello Meera",
        "{exec}"
    );
    assert_eq!(exec["variables"]["$flow.key.client"], "123123123");

    // Repeated within the day: 201, the same request.
    let again = internal(
        &app,
        &acct,
        "createOutbound",
        keys(&acct.key, "919979746666 918000374000,x1"),
    )
    .await;
    assert_eq!(
        answered(&again, "$flow.key.obdResponseCode"),
        Some("201"),
        "{again}"
    );
    assert_eq!(
        answered(&again, "$flow.key.obdReqID"),
        Some(request_id.as_str())
    );

    // Another account's security id, or none that exists, is 202; refusals
    // are FAILED with the code still set.
    let answer = internal(
        &app,
        &acct,
        "createOutbound",
        keys(&other.key, "919979746666"),
    )
    .await;
    assert_eq!(
        answered(&answer, "$flow.key.obdResponseCode"),
        Some("202"),
        "{answer}"
    );
    assert_failed(&answer, "INVALID_SECURITY_ID");
    let mut bad = keys(&acct.key, "919979746666");
    bad[4]["value"] = json!("soon");
    let answer = internal(&app, &acct, "createOutbound", bad).await;
    assert_eq!(
        answered(&answer, "$flow.key.obdResponseCode"),
        Some("400"),
        "{answer}"
    );
    assert_failed(&answer, "delayMinutes");
}

#[tokio::test]
async fn a_flow_schedules_an_outbound_flow_through_its_widget() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let target = save_flow(&app, &acct, DIALLED).await;
    let hook = register(&app, &acct, &app.url("/centraloutboundwebhook-v1/prod/")).await;
    let caller = json!({
        "name": "schedules", "start": "set",
        "widgets": {
            "set": {"type": "store_variable", "assign": {
                "$flow.syskey.apiVersion": "1.0", "$flow.syskey.securityID": acct.key,
                "$flow.syskey.flowID": target, "$flow.syskey.delayMinutes": "0",
                "$flow.syskey.contactNumbers": "$call.cli.number"}, "lines": ["fn"]},
            "fn": {"type": "internal_webhook", "webhook": hook, "method": "createOutbound", "pass": ["flow.syskey"], "lines": [null, null]}
        }
    })
    .to_string();
    let exec = run_flow_with(
        &app,
        &acct,
        &caller,
        json!({"contact": "919876543210", "call": {"cli.number": "9876543210"}}),
    )
    .await;
    let vars = &exec["variables"];
    assert_eq!(vars["$flow.key.obdResponseCode"], "200", "{exec}");
    // The security id is the account's API key: the trace shows it as ***.
    let trace = exec["trace"].to_string();
    assert!(!trace.contains(&acct.key), "{trace}");
    let request_id = vars["$flow.key.obdReqID"].as_str().expect("request id");
    let view = settled(&app, &acct, request_id).await;
    assert_eq!(view["calls"][0]["contact"], "919876543210", "{view}");
    assert_eq!(view["calls"][0]["state"], "done");
}

#[tokio::test]
async fn cancelling_stops_what_has_not_started() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save_flow(&app, &acct, DIALLED).await;
    let start = future();
    let (_, answer) = outbound(
        &app,
        request(&acct, &flow, &["9979746666", "8000374000"], &start),
    )
    .await;
    let id = answer["request-id"].as_str().expect("id");
    let (status, view) = app
        .call(Method::GET, &format!("/v1/outbound/{id}"), &acct.key, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["counts"]["scheduled"], 2, "{view}");
    assert_eq!(view["calls"][0]["due-at"], start.as_str());
    let (status, view) = app
        .call(
            Method::DELETE,
            &format!("/v1/outbound/{id}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["counts"]["cancelled"], 2, "{view}");
    // A cancelled request may be sent again at once: a new request.
    let (_, again) = outbound(
        &app,
        request(&acct, &flow, &["9979746666", "8000374000"], &start),
    )
    .await;
    assert_eq!(code(&again), (200, "SUCCESS"), "{again}");
    assert_ne!(again["request-id"], answer["request-id"]);
    // Another account sees nothing.
    let other = app.create_account(false).await;
    let (status, _) = app
        .call(Method::GET, &format!("/v1/outbound/{id}"), &other.key, None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/outbound/{id}"),
            &other.key,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(Method::GET, "/v1/outbound/not-a-uuid", &acct.key, None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_call_whose_flow_was_deleted_fails_with_the_reason() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save_flow(&app, &acct, DIALLED).await;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let (_, answer) = outbound(&app, request(&acct, &flow, &["9979746666"], &soon)).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/flows/{flow}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let view = settled(&app, &acct, answer["request-id"].as_str().expect("id")).await;
    assert_eq!(view["calls"][0]["state"], "failed", "{view}");
    assert!(
        view["calls"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("no longer exists")),
        "{view}"
    );
}

#[tokio::test]
async fn numbers_are_read_under_the_accounts_country_code() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{}", acct.id),
            &acct.key,
            Some(json!({"default_country_code": "44"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let flow = save_flow(&app, &acct, DIALLED).await;
    let (_, answer) = outbound(
        &app,
        request(
            &acct,
            &flow,
            &["020 7946 0000", "+91 99797 46666"],
            &future(),
        ),
    )
    .await;
    assert_eq!(code(&answer), (200, "SUCCESS"), "{answer}");
    let (_, view) = app
        .call(
            Method::GET,
            &format!(
                "/v1/outbound/{}",
                answer["request-id"].as_str().expect("id")
            ),
            &acct.key,
            None,
        )
        .await;
    let contacts: Vec<&str> = view["calls"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| c["contact"].as_str().expect("c"))
        .collect();
    assert_eq!(contacts, ["442079460000", "919979746666"]);
}

#[tokio::test]
async fn metrics_show_the_backlog_and_the_lag() {
    let app = spawn_app().await;
    let text = app.get_text("/metrics").await;
    assert!(text.contains("flowhook_outbound_due 0"), "{text}");
    assert!(text.contains("flowhook_outbound_lag_seconds 0"), "{text}");
    let acct = app.create_account(false).await;
    let flow = save_flow(&app, &acct, DIALLED).await;
    let (_, answer) = outbound(&app, request(&acct, &flow, &["9979746666"], PAST)).await;
    settled(&app, &acct, answer["request-id"].as_str().expect("id")).await;
    let text = app.get_text("/metrics").await;
    assert!(
        text.contains("flowhook_outbound_calls_total{outcome=\"started\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn the_bearer_token_may_name_the_caller_instead() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let other = app.create_account(false).await;
    let flow = save_flow(&app, &acct, DIALLED).await;
    let mut body = request(&acct, &flow, &["9979746666"], &future());
    body.as_object_mut().expect("object").remove("security-id");
    let (status, answer) = app
        .call(Method::POST, "/v1/outbound", &acct.key, Some(body.clone()))
        .await;
    assert_eq!((status, code(&answer)), (200, (200, "SUCCESS")), "{answer}");
    // Both, disagreeing: refused.
    body["security-id"] = json!(acct.key);
    let (status, answer) = app
        .call(Method::POST, "/v1/outbound", &other.key, Some(body))
        .await;
    assert_eq!(
        (status, code(&answer)),
        (401, (202, "INVALID_SECURITY_ID")),
        "{answer}"
    );
}
