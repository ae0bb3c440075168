//! Bad input gets a 4xx problem with a clear message, never a 500.

use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn malformed_and_invalid_bodies_are_clear_problems() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;

    let resp = app
        .http
        .post(app.url("/v1/webhooks"))
        .bearer_auth(&acct.key)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(problem["code"], "INVALID_JSON");
    assert_eq!(problem["status"], 400);

    let cases = [
        (
            json!({"name": "a", "url": "https://hooks.invalid/", "colour": "red"}),
            "INVALID_BODY",
            "colour",
        ),
        (
            json!({"url": "https://hooks.invalid/"}),
            "INVALID_BODY",
            "name",
        ),
        (
            json!({"name": "x".repeat(101), "url": "https://hooks.invalid/"}),
            "INVALID_NAME",
            "100",
        ),
        (
            json!({"name": "a", "url": "not a url"}),
            "INVALID_URL",
            "not a url",
        ),
        (
            json!({"name": "a", "url": "ftp://hooks.invalid/"}),
            "INVALID_URL",
            "http",
        ),
        (
            json!({"name": "a", "url": "https://hooks.invalid/", "method": "TRACE"}),
            "INVALID_BODY",
            "TRACE",
        ),
        (
            json!({"name": "a", "url": "https://hooks.invalid/", "headers": [{"key": "X", "value": "a\r\nb"}]}),
            "INVALID_HEADER",
            "CR",
        ),
        (
            json!({"name": "a", "url": "https://hooks.invalid/", "auth": {"type": "basic", "username": "u"}}),
            "INVALID_AUTH",
            "password",
        ),
    ];
    for (body, code, mentions) in cases {
        let (status, problem) = app
            .call(Method::POST, "/v1/webhooks", &acct.key, Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body} → {problem}");
        assert_eq!(problem["code"], code, "{body} → {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains(mentions),
            "{problem} should mention {mentions}"
        );
    }

    let (status, problem) = app
        .admin(
            Method::POST,
            "/v1/accounts",
            Some(json!({"name": "a", "timezone": "Mars/Base"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("INVALID_TIMEZONE"))
    );
    let (status, problem) = app
        .call(
            Method::PUT,
            "/v1/whitelist",
            &acct.key,
            Some(json!({"entries": ["nope"]})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("INVALID_WHITELIST"))
    );

    let resp = app
        .http
        .post(app.url("/v1/webhooks"))
        .bearer_auth(&acct.key)
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 415);

    let big = "x".repeat(3 * 1024 * 1024);
    let resp = app
        .http
        .post(app.url("/v1/webhooks"))
        .bearer_auth(&acct.key)
        .header("content-type", "application/json")
        .body(format!("{{\"name\":\"{big}\"}}"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 413);

    let (status, problem) = app
        .call(Method::GET, "/v1/webhooks/not-a-uuid", &acct.key, None)
        .await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("NOT_FOUND")));
    let (status, problem) = app
        .call(Method::GET, "/v1/nothing-here", &acct.key, None)
        .await;
    assert_eq!((status, problem["code"].as_str()), (404, Some("NOT_FOUND")));
}
