//! The webhook widget over HTTP against a recording receiver on loopback: every
//! method, body type and auth; JSON and XML mapping; every error_reason that can
//! be produced on loopback; timeout, no-wait, the 1 MiB cap, redaction; dry run.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::flows::post_flow;
use crate::helpers::{Account, Reply, TestApp, TestReceiver, refused_port, spawn_allowing};

const TRICKY: &str = "a\"b<c&d/e\nf";

async fn setup() -> (TestApp, Account, TestReceiver) {
    let receiver = TestReceiver::start().await;
    let app = spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    (app, acct, receiver)
}

/// A flow: `call` (the webhook) → `ok` on line 0, `failed` on line 1.
fn flow(request: Value, response: Value) -> String {
    json!({
        "name": "hook", "timezone": "Asia/Kolkata", "start": "call",
        "widgets": {
            "call": {"type": "webhook", "request": request, "response": response, "lines": ["ok", "failed"]},
            "ok": {"type": "store_variable", "assign": {"$flow.key.path": "ok"}, "lines": [null]},
            "failed": {"type": "store_variable", "assign": {"$flow.key.path": "failed"}, "lines": [null]}
        }
    })
    .to_string()
}

async fn run(app: &TestApp, acct: &Account, doc: &str, keys: Value) -> Value {
    let (status, saved) = post_flow(app, &acct.key, "/v1/flows", Method::POST, doc).await;
    assert_eq!(status, 201, "{saved}");
    let id = saved["id"].as_str().expect("id");
    let (status, exec) = app
        .call(Method::POST, &format!("/v1/flows/{id}/executions"), &acct.key,
              Some(json!({"contact": "918000374000", "call": {"cli.number": "918000374000"}, "keys": keys, "wait": true})))
        .await;
    assert_eq!(status, 200, "{exec}");
    // Each flow name must be unique per account: rename by deleting.
    let _ = app
        .call(Method::DELETE, &format!("/v1/flows/{id}"), &acct.key, None)
        .await;
    exec
}

fn var<'a>(exec: &'a Value, name: &str) -> &'a Value {
    &exec["variables"][format!("$flow.key.{name}")]
}

fn step(exec: &Value) -> &Value {
    &exec["trace"][0]
}

#[tokio::test]
async fn every_method_reaches_the_receiver() {
    let (app, acct, rx) = setup().await;
    for method in ["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "HEAD"] {
        let doc = flow(
            json!({"method": method, "url": rx.url(&format!("/m/{method}"))}),
            json!({}),
        );
        let exec = run(&app, &acct, &doc, json!({})).await;
        assert_eq!(var(&exec, "response_status"), "SUCCESS", "{method}: {exec}");
        assert_eq!(var(&exec, "path"), "ok");
        let seen = rx.requests_to(&format!("/m/{method}"));
        assert_eq!(seen.len(), 1, "{method}");
        assert_eq!(seen[0].method, method);
    }
}

#[tokio::test]
async fn body_types_and_escaping_in_every_context() {
    let (app, acct, rx) = setup().await;
    let keys = json!({"$flow.key.v": TRICKY, "$flow.key.id": "A/17 x"});
    let cases = [
        ("none", "", None),
        (
            "json",
            "{\"v\": \"$flow.key.v\", \"n\": 1}",
            Some("application/json"),
        ),
        (
            "xml",
            "<r a=\"$flow.key.v\">$flow.key.v</r>",
            Some("application/xml"),
        ),
        (
            "form",
            "v=$flow.key.v&n=1",
            Some("application/x-www-form-urlencoded"),
        ),
        (
            "text",
            "value: $flow.key.v",
            Some("text/plain; charset=utf-8"),
        ),
    ];
    for (body_type, body, content_type) in cases {
        let prefix = format!("/b/{body_type}");
        let doc = flow(
            json!({"method": "POST", "url": rx.url(&format!("{prefix}/$flow.key.id")), "body_type": body_type, "body": body,
                   "query": [{"key": "q", "value": "$flow.key.v"}]}),
            json!({}),
        );
        let exec = run(&app, &acct, &doc, keys.clone()).await;
        assert_eq!(
            var(&exec, "response_status"),
            "SUCCESS",
            "{body_type}: {exec}"
        );
        let seen = &rx.requests_to(&prefix)[0];
        assert_eq!(seen.header("content-type"), content_type, "{body_type}");
        // URL path and query values are percent-encoded.
        assert_eq!(
            seen.path,
            format!("{prefix}/A%2F17%20x?q=a%22b%3Cc%26d%2Fe%0Af")
        );
        let text = String::from_utf8(seen.body.clone()).expect("utf8");
        match body_type {
            "none" => assert!(text.is_empty()),
            "json" => {
                let parsed: Value =
                    serde_json::from_str(&text).expect("valid JSON at the receiver");
                assert_eq!(parsed["v"], TRICKY);
            }
            "xml" => assert_eq!(
                text,
                "<r a=\"a&quot;b&lt;c&amp;d/e\nf\">a&quot;b&lt;c&amp;d/e\nf</r>"
            ),
            "form" => {
                let pairs: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
                    .into_owned()
                    .collect();
                assert_eq!(pairs[0], ("v".to_owned(), TRICKY.to_owned()));
            }
            _ => assert_eq!(text, format!("value: {TRICKY}")),
        }
    }
    // A newline cannot enter a header: nothing is sent.
    let doc = flow(
        json!({"url": rx.url("/hdr"), "headers": [{"key": "X-V", "value": "$flow.key.v"}]}),
        json!({}),
    );
    let exec = run(&app, &acct, &doc, keys).await;
    assert_eq!(var(&exec, "error_reason"), "INVALID_REQUEST");
    assert_eq!(var(&exec, "path"), "failed");
    assert!(rx.requests_to("/hdr").is_empty());
}

#[tokio::test]
async fn basic_auth_is_sent_and_redacted_in_the_trace() {
    let (app, acct, rx) = setup().await;
    let doc = flow(
        json!({"url": rx.url("/auth"), "auth": {"type": "basic", "username": "$flow.key.user", "password": "$flow.key.pw"},
               "headers": [{"key": "X-Api-Key", "value": "k-$flow.key.pw"}, {"key": "X-Plain", "value": "visible"}],
               "query": [{"key": "api_key", "value": "$flow.key.pw"}, {"key": "page", "value": "2"}]}),
        json!({}),
    );
    let exec = run(
        &app,
        &acct,
        &doc,
        json!({"$flow.key.user": "flow", "$flow.key.pw": "s3cret-pw"}),
    )
    .await;
    assert_eq!(
        rx.requests_to("/auth")[0].header("authorization"),
        Some("Basic ZmxvdzpzM2NyZXQtcHc=")
    );
    assert_eq!(
        rx.requests_to("/auth")[0].header("x-api-key"),
        Some("k-s3cret-pw")
    );
    let trace = exec["trace"].to_string();
    assert!(
        !trace.contains("s3cret") && !trace.contains("ZmxvdzpzM2NyZXQtcHc"),
        "{trace}"
    );
    let headers = &step(&exec)["detail"]["request"]["headers"];
    assert!(
        headers
            .as_array()
            .expect("headers")
            .contains(&json!(["Authorization", "***"]))
    );
    assert!(
        headers
            .as_array()
            .expect("headers")
            .contains(&json!(["X-Plain", "visible"]))
    );
    let url = step(&exec)["detail"]["request"]["url"]
        .as_str()
        .expect("url");
    assert!(
        url.ends_with("/auth?api_key=***&page=2")
            || url.ends_with("/auth?api_key=%2A%2A%2A&page=2"),
        "{url}"
    );
    assert_eq!(
        rx.requests_to("/auth")[0].path,
        "/auth?api_key=s3cret-pw&page=2",
        "the real request is untouched"
    );
}

#[tokio::test]
async fn json_and_xml_responses_map_into_variables() {
    let (app, acct, rx) = setup().await;
    rx.on("/json", Reply::json(200, r#"{"order":{"id":"A-17","total":12.5,"paid":true,"items":[{"sku":"x1"},{"sku":"x2"}],"meta":{"a":1}}}"#));
    let doc = flow(
        json!({"url": rx.url("/json")}),
        json!({"type": "json", "persist_response": true, "mappings": [
            {"save_in": "$flow.key.id", "path": "$.order.id", "mandatory": true},
            {"save_in": "$flow.key.total", "path": "data.order.total"},
            {"save_in": "$flow.key.paid", "path": "x.order.paid"},
            {"save_in": "$flow.key.sku2", "path": "$.order.items[1].sku"},
            {"save_in": "$flow.key.items", "path": "$.order.items"},
            {"save_in": "$flow.key.meta", "path": "$.order.meta"},
            {"save_in": "$flow.key.absent", "path": "$.order.nothing"}
        ]}),
    );
    let exec = run(&app, &acct, &doc, json!({})).await;
    assert_eq!(var(&exec, "path"), "ok", "{exec}");
    assert_eq!(var(&exec, "id"), "A-17");
    assert_eq!(var(&exec, "total"), "12.5");
    assert_eq!(var(&exec, "paid"), "true");
    assert_eq!(var(&exec, "sku2"), "x2");
    assert_eq!(var(&exec, "items"), r#"[{"sku":"x1"},{"sku":"x2"}]"#);
    assert_eq!(var(&exec, "meta"), r#"{"a":1}"#);
    assert_eq!(
        var(&exec, "absent"),
        &Value::Null,
        "a missing optional path sets nothing"
    );
    assert_eq!(
        exec["persisted"]["$flow.key.id"], "A-17",
        "persist_response keeps mapped values"
    );

    rx.on("/xml", Reply::xml(r#"<order status="shipped"><id>B-9</id><items><item id="i1">one</item><item id="i2">two</item></items></order>"#));
    let doc = flow(
        json!({"url": rx.url("/xml")}),
        json!({"type": "xml", "mappings": [
            {"save_in": "$flow.key.id", "path": "/order/id", "mandatory": true},
            {"save_in": "$flow.key.status", "path": "/order/@status"},
            {"save_in": "$flow.key.second", "path": "//item[2]/@id"},
            {"save_in": "$flow.key.count", "path": "count(//item)"}
        ]}),
    );
    let exec = run(&app, &acct, &doc, json!({})).await;
    assert_eq!(var(&exec, "path"), "ok", "{exec}");
    assert_eq!(var(&exec, "id"), "B-9");
    assert_eq!(var(&exec, "status"), "shipped");
    assert_eq!(var(&exec, "second"), "i2");
    assert_eq!(var(&exec, "count"), "2");
    assert_eq!(
        exec["persisted"],
        json!({}),
        "not persisted without persist_response"
    );

    // 200 with a missing mandatory path: MAPPING_FAILED, line 1, status kept.
    let doc = flow(
        json!({"url": rx.url("/xml")}),
        json!({"type": "xml", "mappings": [{"save_in": "$flow.key.x", "path": "/order/nope", "mandatory": true}]}),
    );
    let exec = run(&app, &acct, &doc, json!({})).await;
    assert_eq!(var(&exec, "error_reason"), "MAPPING_FAILED");
    assert_eq!(var(&exec, "response_status_type"), "Mapping Error");
    assert_eq!(var(&exec, "response_status_code"), "200");
    assert_eq!(var(&exec, "path"), "failed");
}

#[tokio::test]
async fn result_variables_are_exact_on_success() {
    let (app, acct, rx) = setup().await;
    rx.on("/ok", Reply::json(200, "{\"a\":1}"));
    rx.on("/empty", Reply::json(204, ""));
    let exec = run(
        &app,
        &acct,
        &flow(json!({"url": rx.url("/ok")}), json!({})),
        json!({}),
    )
    .await;
    assert_eq!(var(&exec, "response_status"), "SUCCESS");
    assert_eq!(var(&exec, "response_status_code"), "200");
    assert_eq!(var(&exec, "response_raw"), "{\"a\":1}");
    assert_eq!(var(&exec, "response_error"), "false");
    let duration = var(&exec, "response_duration").as_str().expect("duration");
    assert!(
        duration.split_once('.').is_some_and(|(_, d)| d.len() == 2),
        "two decimals: {duration}"
    );
    let exec = run(
        &app,
        &acct,
        &flow(json!({"url": rx.url("/empty")}), json!({})),
        json!({}),
    )
    .await;
    assert_eq!(var(&exec, "response_status_code"), "204");
    assert_eq!(var(&exec, "response_raw"), "null", "an empty body is null");
    let response = &step(&exec)["detail"]["response"];
    assert_eq!(response["status"], 204);
    assert!(response["duration_ms"].as_f64().is_some());
    assert!(
        response["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .any(|h| h[0] == "content-type")
    );
}

#[tokio::test]
async fn every_error_reason_reachable_on_loopback() {
    let (app, acct, rx) = setup().await;
    rx.on("/404", Reply::json(404, "{\"error\":\"nope\"}"));
    rx.on("/500", Reply::json(500, "oops"));
    rx.on(
        "/302",
        Reply::json(302, "").header("location", "/elsewhere"),
    );
    rx.on("/text", Reply::json(200, "this is not json"));
    rx.on("/badxml", Reply::xml("<a><b></a>"));
    rx.on(
        "/slow",
        Reply::json(200, "{}").delayed(Duration::from_secs(3)),
    );
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    rx.on("/big", Reply::json(200, &big));
    let refused = refused_port().await;
    let mapping = json!({"mappings": [{"save_in": "$flow.key.x", "path": "$.x"}]});
    let cases: Vec<(Value, Value, &str, &str, &str)> = vec![
        (
            json!({"url": rx.url("/404")}),
            json!({}),
            "CLIENT_ERROR",
            "Client Error",
            "404",
        ),
        (
            json!({"url": rx.url("/500")}),
            json!({}),
            "SERVER_ERROR",
            "Server Error",
            "500",
        ),
        (
            json!({"url": rx.url("/302")}),
            json!({}),
            "REDIRECTION",
            "Redirection",
            "302",
        ),
        (
            json!({"url": rx.url("/slow")}),
            json!({"timeout_seconds": 1}),
            "TIMEOUT",
            "Timeout",
            "0",
        ),
        (
            json!({"url": format!("http://127.0.0.1:{refused}/")}),
            json!({}),
            "CONNECTION_FAILED",
            "Connection Error",
            "0",
        ),
        (
            json!({"url": rx.url("/text")}),
            mapping.clone(),
            "INVALID_RESPONSE",
            "Invalid Response",
            "200",
        ),
        (
            json!({"url": rx.url("/badxml")}),
            json!({"type": "xml", "mappings": [{"save_in": "$flow.key.x", "path": "/a"}]}),
            "INVALID_RESPONSE",
            "Invalid Response",
            "200",
        ),
        (
            json!({"url": rx.url("/big")}),
            json!({}),
            "RESPONSE_TOO_LARGE",
            "Invalid Response",
            "200",
        ),
        (
            json!({"url": rx.url("/m"), "query": [{"key": "id", "value": "$flow.key.none", "mandatory": true}]}),
            json!({}),
            "MANDATORY_PARAMETER_MISSING",
            "Rejected",
            "0",
        ),
        (
            json!({"url": format!("http://[::1]:{}/", rx.addr.port())}),
            json!({}),
            "DESTINATION_BLOCKED",
            "Rejected",
            "0",
        ),
        (
            json!({"url": rx.url("/j"), "body_type": "json", "body": "{\"n\": $flow.key.none}"}),
            json!({}),
            "INVALID_REQUEST",
            "Rejected",
            "0",
        ),
    ];
    for (request, response, reason, status_type, code) in cases {
        let exec = run(&app, &acct, &flow(request.clone(), response), json!({})).await;
        assert_eq!(
            var(&exec, "error_reason"),
            reason,
            "{request}: {}",
            exec["variables"]
        );
        assert_eq!(var(&exec, "response_status_type"), status_type, "{request}");
        assert_eq!(var(&exec, "response_status_code"), code, "{request}");
        assert_eq!(var(&exec, "response_status"), "FAILED");
        assert_eq!(var(&exec, "response_error"), "true");
        assert_eq!(var(&exec, "path"), "failed", "failure takes line 1");
        assert_eq!(step(&exec)["line"], 1);
        assert!(
            step(&exec)["detail"]["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{request}: a readable error"
        );
    }
    assert!(
        rx.requests_to("/m").is_empty() && rx.requests_to("/j").is_empty(),
        "refused requests were never sent"
    );
    assert_eq!(
        rx.requests_to("/302").len(),
        1,
        "redirects are not followed"
    );
    assert!(rx.requests_to("/elsewhere").is_empty());

    // An https-only account may not call http://.
    let strict = app.create_account(false).await;
    let exec = run(
        &app,
        &strict,
        &flow(json!({"url": rx.url("/h")}), json!({})),
        json!({}),
    )
    .await;
    assert_eq!(var(&exec, "error_reason"), "HTTP_NOT_ALLOWED");
    assert_eq!(var(&exec, "response_status_type"), "Rejected");
    assert!(rx.requests_to("/h").is_empty());
}

#[tokio::test]
async fn the_cap_keeps_the_first_mib_and_the_trace_keeps_64_kib() {
    let (app, acct, rx) = setup().await;
    let big = "y".repeat(2 * 1024 * 1024);
    rx.on("/big", Reply::json(200, &big));
    let exec = run(
        &app,
        &acct,
        &flow(json!({"url": rx.url("/big")}), json!({})),
        json!({}),
    )
    .await;
    assert_eq!(
        var(&exec, "response_raw").as_str().expect("raw").len(),
        1024 * 1024
    );
    let response = &step(&exec)["detail"]["response"];
    assert_eq!(response["body"].as_str().expect("body").len(), 64 * 1024);
    assert_eq!(response["body_truncated"], true);
    assert_eq!(response["body_bytes"], 1024 * 1024);
}

#[tokio::test]
async fn no_wait_sets_sent_ends_at_once_and_records_the_outcome_later() {
    let (app, acct, rx) = setup().await;
    rx.on(
        "/slow",
        Reply::json(201, "{\"late\":true}").delayed(Duration::from_secs(2)),
    );
    let doc = flow(
        json!({"url": rx.url("/slow")}),
        json!({"wait_for_response": false}),
    );
    let started = std::time::Instant::now();
    // An earlier call's results are in the keys: none may survive.
    let exec = run(
        &app,
        &acct,
        &doc,
        json!({"$flow.key.response_status_code": "500", "$flow.key.error_reason": "TIMEOUT"}),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the execution did not wait for the background request"
    );
    assert_eq!(exec["status"], "completed");
    assert_eq!(step(&exec)["line"], 0);
    assert_eq!(var(&exec, "path"), "ok");
    assert_eq!(var(&exec, "response_status"), "SENT");
    for cleared in [
        "response_status_code",
        "response_duration",
        "response_raw",
        "response_error",
        "response_status_type",
        "error_reason",
    ] {
        assert_eq!(var(&exec, cleared), "", "{cleared} is cleared");
    }
    assert!(
        step(&exec)["detail"]["outcome"].is_null(),
        "not arrived yet"
    );
    // The outcome is added to the stored trace when it arrives.
    let uuid = exec["uuid"].as_str().expect("uuid");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stored = loop {
        let (_, stored) = app
            .call(
                Method::GET,
                &format!("/v1/executions/{uuid}"),
                &acct.key,
                None,
            )
            .await;
        if !step(&stored)["detail"]["outcome"].is_null() {
            break stored;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no outcome recorded: {stored}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let outcome = &step(&stored)["detail"]["outcome"];
    assert_eq!(outcome["status"], 201, "{stored}");
    assert_eq!(outcome["response"]["body"], "{\"late\":true}");
}

#[tokio::test]
async fn hold_music_is_recorded_around_the_wait() {
    let (app, acct, rx) = setup().await;
    let doc = flow(json!({"url": rx.url("/hold")}), json!({"hold_music": true}));
    let exec = run(&app, &acct, &doc, json!({})).await;
    let events = step(&exec)["detail"]["events"]
        .as_array()
        .expect("events")
        .clone();
    assert_eq!(
        events
            .iter()
            .map(|e| e["event"].as_str().expect("event"))
            .collect::<Vec<_>>(),
        vec!["hold_music_start", "hold_music_stop"]
    );
}

#[tokio::test]
async fn a_widget_can_be_tested_from_the_editor() {
    let (app, acct, rx) = setup().await;
    rx.on("/lookup", Reply::json(200, "{\"status\":\"shipped\"}"));
    let doc = flow(
        json!({"method": "GET", "url": rx.url("/lookup/$flow.key.orderId"), "auth": {"type": "basic", "username": "u", "password": "$flow.key.pw"}}),
        json!({"mappings": [{"save_in": "$flow.key.status", "path": "$.status", "mandatory": true}]}),
    );
    let (_, saved) = post_flow(&app, &acct.key, "/v1/flows", Method::POST, &doc).await;
    let id = saved["id"].as_str().expect("id");
    let (status, result) = app
        .call(
            Method::POST,
            &format!("/v1/flows/{id}/widgets/call/test"),
            &acct.key,
            Some(json!({"variables": {"$flow.key.orderId": "A-17", "$flow.key.pw": "hunter2"}})),
        )
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["line"], 0);
    assert_eq!(result["next"], "ok");
    assert_eq!(result["variables"]["$flow.key.status"], "shipped");
    assert_eq!(result["variables"]["$flow.key.response_status"], "SUCCESS");
    assert_eq!(result["request"]["url"], rx.url("/lookup/A-17"));
    assert_eq!(result["response"]["status"], 200);
    assert!(
        !result.to_string().contains("hunter2"),
        "credentials are redacted"
    );
    assert_eq!(rx.requests_to("/lookup/A-17").len(), 1);
    let (_, list) = app
        .call(Method::GET, "/v1/executions", &acct.key, None)
        .await;
    assert_eq!(list, json!([]), "a dry run stores nothing");
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/flows/{id}/widgets/nope/test"),
            &acct.key,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn literal_credentials_in_a_flow_are_sealed_masked_and_still_sent() {
    let (app, acct, rx) = setup().await;
    let doc = flow(
        json!({"url": rx.url("/lit"), "auth": {"type": "basic", "username": "u", "password": "lit-pw"},
               "headers": [{"key": "X-Api-Key", "value": "k-1"}]}),
        json!({}),
    );
    let (status, saved) = post_flow(&app, &acct.key, "/v1/flows", Method::POST, &doc).await;
    assert_eq!(status, 201, "{saved}");
    let id = saved["id"].as_str().expect("id").to_owned();

    let (_, shown) = app
        .call(Method::GET, &format!("/v1/flows/{id}"), &acct.key, None)
        .await;
    let request = &shown["document"]["widgets"]["call"]["request"];
    assert_eq!(request["auth"]["password"], "***");
    assert_eq!(request["headers"][0]["value"], "***");
    let store = flowhook_storage::connect(&app.db_url).await.expect("store");
    let account = flowhook_core::ids::AccountId::parse(&acct.id).expect("id");
    let flow_id = flowhook_core::ids::FlowId::parse(&id).expect("id");
    let stored = store
        .flow(account, &flow_id)
        .await
        .expect("get")
        .expect("exists");
    assert!(
        !stored.document.contains("lit-pw") && !stored.document.contains("k-1"),
        "sealed at rest"
    );

    start_and_wait(&app, &acct.key, &id).await;
    // The editor saves back what it was shown: the masks keep the stored values.
    let (status, _) = post_flow(
        &app,
        &acct.key,
        &format!("/v1/flows/{id}"),
        Method::PUT,
        &shown["document"].to_string(),
    )
    .await;
    assert_eq!(status, 200);
    start_and_wait(&app, &acct.key, &id).await;
    let seen = rx.requests_to("/lit");
    assert_eq!(seen.len(), 2);
    for r in seen {
        assert_eq!(r.header("authorization"), Some("Basic dTpsaXQtcHc="));
        assert_eq!(r.header("x-api-key"), Some("k-1"));
    }
}

async fn start_and_wait(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, exec) = app
        .call(
            Method::POST,
            &format!("/v1/flows/{id}/executions"),
            key,
            Some(json!({"contact": "1", "wait": true})),
        )
        .await;
    assert_eq!(status, 200, "{exec}");
    exec
}

#[tokio::test]
async fn a_pathological_xpath_fails_at_the_mapping_deadline_while_the_server_serves() {
    let (app, acct, rx) = setup().await;
    // About 6,000 elements: the path below is cubic in that, hours to evaluate.
    let body = format!("<r>{}</r>", "<a><b/></a>".repeat(3_000));
    rx.on("/big", Reply::xml(&body));
    let doc = flow(
        json!({"method": "GET", "url": rx.url("/big")}),
        json!({"type": "xml", "mappings": [
            {"save_in": "$flow.key.n", "path": "count(//*[count(//*[count(//*) > 0]) > 0])"}]}),
    );
    let started = std::time::Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    let execution = async {
        let exec = run(&app, &acct, &doc, json!({})).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        exec
    };
    // Meanwhile the server keeps answering: mapping runs off the async threads
    // (this test's runtime has one thread, shared with the server).
    let other_requests = async {
        let mut slowest = Duration::ZERO;
        let mut served = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let asked = std::time::Instant::now();
            let health = app.get_json("/healthz").await;
            assert!(!health.is_null());
            slowest = slowest.max(asked.elapsed());
            served += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (served, slowest)
    };
    let (exec, (served, slowest)) = tokio::join!(execution, other_requests);
    let elapsed = started.elapsed();

    assert_eq!(var(&exec, "response_status"), "FAILED", "{exec}");
    assert_eq!(var(&exec, "error_reason"), "MAPPING_FAILED");
    assert_eq!(var(&exec, "response_status_type"), "Mapping Error");
    assert_eq!(var(&exec, "response_status_code"), "200");
    assert_eq!(var(&exec, "path"), "failed");
    assert!(var(&exec, "n").is_null(), "nothing mapped");
    let error = step(&exec)["detail"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("mapping deadline of 2 s"), "{error}");
    // The deadline is 2 s; the rest is the request and a loaded machine.
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    assert!(served >= 10, "only {served} other requests were served");
    assert!(slowest < Duration::from_secs(1), "one took {slowest:?}");
}

#[tokio::test]
async fn one_accounts_slow_mappings_leave_a_slot_for_another_account() {
    let (app, slow, rx) = setup().await;
    let quick = app.create_account(true).await;
    let body = format!("<r>{}</r>", "<a><b/></a>".repeat(3_000));
    rx.on("/big", Reply::xml(&body));
    rx.on("/small", Reply::xml("<r><id>A-17</id></r>"));
    // Two runaway mappings of one account, started together...
    let runaway = flow(
        json!({"method": "GET", "url": rx.url("/big")}),
        json!({"type": "xml", "mappings": [
            {"save_in": "$flow.key.n", "path": "count(//*[count(//*[count(//*) > 0]) > 0])"}]}),
    );
    let (status, saved) = post_flow(&app, &slow.key, "/v1/flows", Method::POST, &runaway).await;
    assert_eq!(status, 201, "{saved}");
    let runaway_id = saved["id"].as_str().expect("id");
    for _ in 0..2 {
        let (status, _) = app
            .call(
                Method::POST,
                &format!("/v1/flows/{runaway_id}/executions"),
                &slow.key,
                Some(json!({"contact": "1", "wait": false})),
            )
            .await;
        assert_eq!(status, 202);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... while another account's small mapping runs at once.
    let small = flow(
        json!({"method": "GET", "url": rx.url("/small")}),
        json!({"type": "xml", "mappings": [{"save_in": "$flow.key.id", "path": "/r/id", "mandatory": true}]}),
    );
    let started = std::time::Instant::now();
    let exec = run(&app, &quick, &small, json!({})).await;
    assert_eq!(var(&exec, "id"), "A-17", "{exec}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the other account waited {:?} for a mapping slot",
        started.elapsed()
    );
}
