//! Flow documents over HTTP: save, version, read back in order, validate.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestReceiver, spawn_allowing, spawn_app};

/// Posts a flow document given as text (so that key order is what we wrote).
pub async fn post_flow(
    app: &TestApp,
    key: &str,
    path: &str,
    method: Method,
    text: &str,
) -> (u16, Value) {
    let resp = app
        .http
        .request(method, app.url(path))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(text.to_owned())
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub const GREETING: &str = include_str!("../../../../examples/greeting.flow.json");

#[tokio::test]
async fn flows_are_saved_versioned_and_read_back_in_order() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, saved) = post_flow(&app, &acct.key, "/v1/flows", Method::POST, GREETING).await;
    assert_eq!(status, 201, "{saved}");
    let id = saved["id"].as_str().expect("id").to_owned();
    assert_eq!(id.len(), 8);
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(saved["version"], 1);

    let resp = app
        .http
        .get(app.url(&format!("/v1/flows/{id}")))
        .bearer_auth(&acct.key)
        .send()
        .await
        .expect("send");
    let text = resp.text().await.expect("text");
    let cli = text.find("\"$flow.key.cli\"").expect("first assignment");
    let calls = text.find("\"$user.key.calls\"").expect("second assignment");
    let greeting = text
        .find("\"$flow.key.greeting\"")
        .expect("third assignment");
    assert!(
        cli < calls && calls < greeting,
        "assignment order is kept: {text}"
    );

    let changed = GREETING.replace("\"priority\"", "\"vip-desk\"");
    let (status, saved) = post_flow(
        &app,
        &acct.key,
        &format!("/v1/flows/{id}"),
        Method::PUT,
        &changed,
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 2);
    let (_, got) = app
        .call(Method::GET, &format!("/v1/flows/{id}"), &acct.key, None)
        .await;
    assert_eq!(got["version"], 2);
    assert_eq!(
        got["document"]["widgets"]["gold"]["assign"]["$flow.key.route"],
        "vip-desk"
    );

    let (status, dup) = post_flow(&app, &acct.key, "/v1/flows", Method::POST, GREETING).await;
    assert_eq!(
        (status, dup["code"].as_str()),
        (409, Some("CONFLICT")),
        "names are unique per account"
    );

    let (status, list) = app.call(Method::GET, "/v1/flows", &acct.key, None).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (200, Some(1)));
    let other = app.create_account(false).await;
    let (status, _) = app
        .call(Method::GET, &format!("/v1/flows/{id}"), &other.key, None)
        .await;
    assert_eq!(status, 404, "flows belong to their account");
    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/flows/{id}"), &acct.key, None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .call(Method::GET, &format!("/v1/flows/{id}"), &acct.key, None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn invalid_flows_get_422_naming_each_widget() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let bad = json!({
        "name": "broken",
        "start": "a",
        "widgets": {
            "a": {"type": "store_variable", "assign": {"$flow.key.x": "hello ${flow.key.oops"}, "lines": ["nowhere"]},
            "b": {"type": "condition", "cases": [{"when": {"var": "$flow.key.x", "op": "approx", "value": "1"}}], "lines": [null, null]},
            "c": {"type": "store_variable", "assign": {"$flow.key.y": "1"}, "lines": ["d"]},
            "d": {"type": "store_variable", "assign": {"$flow.key.y": "2"}, "lines": ["c"]}
        }
    });
    for path in ["/v1/flows", "/v1/flows/validate"] {
        let (status, problem) =
            post_flow(&app, &acct.key, path, Method::POST, &bad.to_string()).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["code"], "INVALID_FLOW");
        let errors = problem["errors"].as_array().expect("errors");
        let about = |w: &str, text: &str| {
            errors
                .iter()
                .any(|e| e["widget"] == w && e["message"].as_str().expect("message").contains(text))
        };
        assert!(about("a", "position 6"), "template position: {errors:?}");
        assert!(about("a", "nowhere"), "unknown widget id: {errors:?}");
        assert!(about("b", "approx"), "bad operator: {errors:?}");
        assert!(
            errors.iter().any(
                |e| e["message"].as_str().expect("m").contains("unreachable")
                    || e["message"].as_str().expect("m").contains("not reachable")
            ),
            "unreachable: {errors:?}"
        );
    }
    let (status, ok) = post_flow(
        &app,
        &acct.key,
        "/v1/flows/validate",
        Method::POST,
        GREETING,
    )
    .await;
    assert_eq!((status, &ok["valid"]), (200, &json!(true)));
    let (status, problem) =
        post_flow(&app, &acct.key, "/v1/flows", Method::POST, "{\"name\": ").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("INVALID_FLOW")),
        "{problem}"
    );
    let resp = app
        .http
        .post(app.url("/v1/flows"))
        .bearer_auth(&acct.key)
        .body(GREETING)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 415);
}

#[tokio::test]
async fn flows_over_a_shape_limit_get_422_naming_the_widget() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let headers: Vec<Value> = (0..51)
        .map(|i| json!({"key": format!("X-H{i}"), "value": "v"}))
        .collect();
    let doc = json!({
        "name": "wide", "start": "call",
        "widgets": {
            "call": {"type": "webhook",
                     "request": {"method": "get", "url": "https://hooks.invalid/x", "headers": headers},
                     "lines": [null, null]}
        }
    });
    let (status, problem) =
        post_flow(&app, &acct.key, "/v1/flows", Method::POST, &doc.to_string()).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "INVALID_FLOW");
    assert_eq!(
        problem["errors"],
        json!([{"widget": "call", "message": "request.headers: 51 entries; at most 50 are allowed"}])
    );
}

#[tokio::test]
async fn a_masked_credential_is_not_kept_across_a_change_of_destination() {
    let (rx, other) = (TestReceiver::start().await, TestReceiver::start().await);
    let app = spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    let doc = json!({
        "name": "creds", "start": "call",
        "widgets": {"call": {"type": "webhook", "lines": [null, null], "request": {
            "url": rx.url("/lit"),
            "auth": {"type": "basic", "username": "u", "password": "lit-pw"},
            "headers": [{"key": "X-Api-Key", "value": "k-1"}]}}}
    });
    let (status, saved) =
        post_flow(&app, &acct.key, "/v1/flows", Method::POST, &doc.to_string()).await;
    assert_eq!(status, 201, "{saved}");
    let path = format!("/v1/flows/{}", saved["id"].as_str().expect("id"));
    let (_, shown) = app.call(Method::GET, &path, &acct.key, None).await;
    let mut edited = shown["document"].clone();

    // The editor points the widget at another port and sends the masks back.
    edited["widgets"]["call"]["request"]["url"] = json!(other.url("/lit"));
    let (status, problem) =
        post_flow(&app, &acct.key, &path, Method::PUT, &edited.to_string()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("INVALID_FLOW")),
        "{problem}"
    );
    let detail = problem.to_string();
    assert!(
        detail.contains("auth.password") && detail.contains("headers.x-api-key"),
        "{detail}"
    );
    let (_, current) = app.call(Method::GET, &path, &acct.key, None).await;
    assert_eq!(current["version"], 1, "nothing was saved");

    // With the credentials written again, the change is saved.
    edited["widgets"]["call"]["request"]["auth"]["password"] = json!("other-pw");
    edited["widgets"]["call"]["request"]["headers"][0]["value"] = json!("k-2");
    let (status, saved) = post_flow(&app, &acct.key, &path, Method::PUT, &edited.to_string()).await;
    assert_eq!(status, 200, "{saved}");
    let (status, exec) = app
        .call(
            Method::POST,
            &format!("{path}/executions"),
            &acct.key,
            Some(json!({"contact": "1", "wait": true})),
        )
        .await;
    assert_eq!(status, 200, "{exec}");
    let seen = other.requests_to("/lit");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-api-key"), Some("k-2"));
    assert!(rx.requests().is_empty(), "the old destination got nothing");
}
