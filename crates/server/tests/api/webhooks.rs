//! The webhook registry and the check button.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Db, Options, TestApp, TestReceiver, refused_port, spawn_allowing, spawn_app, spawn_with,
};

fn hook(name: &str, url: &str, is_default: bool) -> Value {
    json!({
        "name": name, "method": "POST", "url": url,
        "auth": {"type": "basic", "username": "flow", "password": "s3cret-pw"},
        "body_type": "json", "headers": [{"key": "X-Tenant", "value": "acme"}],
        "is_default": is_default
    })
}

async fn crud_default_flip_and_restart(db: Db) {
    let Some(app) = spawn_with(db, Options::default()).await else {
        return;
    };
    let acct = app.create_account(false).await;
    let (status, a) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(hook("crm", "https://hooks.invalid/a", true)),
        )
        .await;
    assert_eq!(status, 201, "{a}");
    assert!(
        a["signing_secret"]
            .as_str()
            .expect("secret")
            .starts_with("whsec_")
    );
    assert_eq!(a["auth"], json!({"type": "basic", "username": "flow"}));
    assert!(
        !a.to_string().contains("s3cret-pw"),
        "the password is never echoed"
    );
    let a_id = a["id"].as_str().expect("id").to_owned();

    let (status, b) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(hook("erp", "https://hooks.invalid/b", true)),
        )
        .await;
    assert_eq!(status, 201, "{b}");
    let b_id = b["id"].as_str().expect("id").to_owned();

    // Setting a new default clears the old one.
    let (_, list) = app.call(Method::GET, "/v1/webhooks", &acct.key, None).await;
    let defaults: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter(|w| w["is_default"] == true)
        .map(|w| w["name"].as_str().expect("name"))
        .collect();
    assert_eq!(defaults, vec!["erp"]);
    assert!(
        list.as_array()
            .expect("list")
            .iter()
            .all(|w| w.get("signing_secret").is_none())
    );
    assert!(!list.to_string().contains("s3cret-pw"));

    // Update: flip the default back, keep the stored password by omitting it.
    let mut update = hook("crm-renamed", "https://hooks.invalid/a2", true);
    update["auth"] = json!({"type": "basic", "username": "flow"});
    let (status, a2) = app
        .call(
            Method::PUT,
            &format!("/v1/webhooks/{a_id}"),
            &acct.key,
            Some(update),
        )
        .await;
    assert_eq!(status, 200, "{a2}");
    assert_eq!(a2["name"], "crm-renamed");
    assert_eq!(a2["is_default"], true);
    let (_, b_now) = app
        .call(
            Method::GET,
            &format!("/v1/webhooks/{b_id}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(b_now["is_default"], false);

    // Same name twice is a conflict.
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(hook("erp", "https://hooks.invalid/c", false)),
        )
        .await;
    assert_eq!(status, 409, "{problem}");

    // Rotation gives a new secret.
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{a_id}/rotate-secret"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_ne!(rotated["signing_secret"], a["signing_secret"]);

    // Another account cannot see or delete these.
    let other = app.create_account(false).await;
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1/webhooks/{a_id}"),
            &other.key,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/{a_id}"),
            &other.key,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Everything survives a restart.
    let app = app.restart().await;
    let (status, list) = app.call(Method::GET, "/v1/webhooks", &acct.key, None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().expect("list").len(), 2);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/webhooks/{b_id}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1/webhooks/{b_id}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn crud_default_flip_and_restart_on_sqlite() {
    crud_default_flip_and_restart(Db::Sqlite).await;
}

#[tokio::test]
async fn crud_default_flip_and_restart_on_postgres() {
    crud_default_flip_and_restart(Db::Postgres).await;
}

#[tokio::test]
async fn http_urls_need_allow_http() {
    let app = spawn_app().await;
    let https_only = app.create_account(false).await;
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &https_only.key,
            Some(hook("h", "http://hooks.invalid/x", false)),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["code"], "HTTP_NOT_ALLOWED");
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/webhooks/check",
            &https_only.key,
            Some(json!({"url": "http://hooks.invalid/x"})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["code"], "HTTP_NOT_ALLOWED");
    let http_ok = app.create_account(true).await;
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &http_ok.key,
            Some(hook("h", "http://hooks.invalid/x", false)),
        )
        .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn methods_are_read_in_any_case_and_option_is_options() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    for (written, stored) in [("get", "GET"), ("Patch", "PATCH"), ("OPTION", "OPTIONS")] {
        let mut body = hook(written, "https://hooks.invalid/m", false);
        body["method"] = json!(written);
        let (status, created) = app
            .call(Method::POST, "/v1/webhooks", &acct.key, Some(body))
            .await;
        assert_eq!(status, 201, "{written}: {created}");
        assert_eq!(created["method"], stored, "{written}");
    }
    let mut body = hook("bad", "https://hooks.invalid/m", false);
    body["method"] = json!("FETCH");
    let (status, problem) = app
        .call(Method::POST, "/v1/webhooks", &acct.key, Some(body))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown method `FETCH`"),
        "{problem}"
    );
}

async fn check(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, result) = app
        .call(Method::POST, "/v1/webhooks/check", key, Some(body))
        .await;
    assert_eq!(status, 200, "{result}");
    result
}

#[tokio::test]
async fn check_button_reports_each_failure_distinctly() {
    let receiver = TestReceiver::start().await;
    let app = spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;

    let ok = check(&app, &acct.key, json!({"url": receiver.url("/hook")})).await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["status"], 200);
    assert!(ok["latency_ms"].as_f64().expect("latency") >= 0.0);
    assert_eq!(ok["error"], Value::Null);
    assert_eq!(receiver.requests().len(), 1);

    receiver.answer_with(503);
    let bad_status = check(&app, &acct.key, json!({"url": receiver.url("/hook")})).await;
    assert_eq!(bad_status["ok"], false);
    assert_eq!(bad_status["status"], 503);
    assert_eq!(bad_status["code"], "HTTP_STATUS");

    let port = refused_port().await;
    let refused = check(
        &app,
        &acct.key,
        json!({"url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["status"], Value::Null);
    assert_eq!(refused["code"], "CONNECTION_REFUSED", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .expect("error")
            .contains("refused")
    );

    // The receiver speaks plain HTTP, so a TLS handshake with it fails.
    let tls = check(
        &app,
        &acct.key,
        json!({"url": format!("https://127.0.0.1:{}/", receiver.addr.port())}),
    )
    .await;
    assert_eq!(tls["code"], "TLS_FAILURE", "{tls}");

    let dns = check(
        &app,
        &acct.key,
        json!({"url": "https://no-such-host.invalid/"}),
    )
    .await;
    assert_eq!(dns["code"], "DNS_FAILURE", "{dns}");

    // A listener that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let timeout = check(
        &app,
        &acct.key,
        json!({"url": format!("http://127.0.0.1:{silent_port}/"), "timeout_seconds": 1}),
    )
    .await;
    assert_eq!(timeout["code"], "TIMEOUT", "{timeout}");

    // ::1 is not in the allowed networks, so it stays blocked.
    let blocked = check(
        &app,
        &acct.key,
        json!({"url": format!("http://[::1]:{}/", receiver.addr.port())}),
    )
    .await;
    assert_eq!(blocked["code"], "DESTINATION_BLOCKED", "{blocked}");

    let errors: std::collections::HashSet<String> = [&refused, &tls, &dns, &timeout, &blocked]
        .iter()
        .map(|r| r["error"].as_str().expect("error").to_owned())
        .collect();
    assert_eq!(
        errors.len(),
        5,
        "each failure reads differently: {errors:?}"
    );
}

#[tokio::test]
async fn loopback_is_blocked_unless_allowed() {
    let receiver = TestReceiver::start().await;
    let app = spawn_app().await;
    let acct = app.create_account(true).await;
    for url in [
        receiver.url("/x"),
        format!("http://localhost:{}/x", receiver.addr.port()),
    ] {
        let result = check(&app, &acct.key, json!({"url": url})).await;
        assert_eq!(result["ok"], false);
        assert_eq!(result["code"], "DESTINATION_BLOCKED", "{result}");
        assert!(
            result["error"]
                .as_str()
                .expect("error")
                .contains("FLOWHOOK_EGRESS_ALLOW_CIDRS")
        );
    }
    assert!(
        receiver.requests().is_empty(),
        "nothing reached the receiver"
    );
}

#[tokio::test]
async fn checking_a_stored_webhook_uses_its_auth_and_remembers_the_result() {
    let receiver = TestReceiver::start().await;
    let app = spawn_allowing("127.0.0.0/8").await;
    let acct = app.create_account(true).await;
    let (_, created) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(hook("crm", &receiver.url("/in"), true)),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    let result = check(&app, &acct.key, json!({"webhook_id": id})).await;
    assert_eq!(result["ok"], true, "{result}");
    let seen = receiver.requests();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/in");
    assert_eq!(seen[0].body, br#"{"type":"flowhook.check"}"#);
    assert_eq!(
        seen[0].header("authorization"),
        Some("Basic ZmxvdzpzM2NyZXQtcHc=")
    );
    assert_eq!(seen[0].header("x-tenant"), Some("acme"));
    let (_, stored) = app
        .call(Method::GET, &format!("/v1/webhooks/{id}"), &acct.key, None)
        .await;
    assert_eq!(stored["last_check"]["ok"], true);
    assert_eq!(stored["last_check"]["status"], 200);
}

#[tokio::test]
async fn credential_headers_are_sealed_masked_and_kept() {
    let receiver = TestReceiver::start().await;
    let app = spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    let mut body = hook("crm", &receiver.url("/in"), false);
    body["auth"] = json!({"type": "none"});
    body["headers"] =
        json!([{"key": "X-Api-Key", "value": "k-live-123"}, {"key": "X-Tenant", "value": "acme"}]);
    let (status, created) = app
        .call(Method::POST, "/v1/webhooks", &acct.key, Some(body.clone()))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["headers"],
        json!([{"key": "X-Api-Key", "value": "***"}, {"key": "X-Tenant", "value": "acme"}])
    );
    let id = created["id"].as_str().expect("id").to_owned();

    // At rest the value is sealed.
    let store = flowhook_storage::connect(&app.db_url).await.expect("store");
    let account = flowhook_core::ids::AccountId::parse(&acct.id).expect("id");
    let record = store
        .webhook(
            account,
            flowhook_core::ids::WebhookId::parse(&id).expect("id"),
        )
        .await
        .expect("get")
        .expect("exists");
    assert!(
        record.headers[0].value.starts_with("sealed:v2:")
            && !record.headers[0].value.contains("k-live")
    );

    // Sending `***` back keeps it; the check sends the real value.
    body["headers"][0]["value"] = json!("***");
    body["name"] = json!("crm2");
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/webhooks/{id}"),
            &acct.key,
            Some(body),
        )
        .await;
    assert_eq!(status, 200);
    let result = check(&app, &acct.key, json!({"webhook_id": id})).await;
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        receiver.requests()[0].header("x-api-key"),
        Some("k-live-123")
    );
}

#[tokio::test]
async fn a_stored_webhooks_credentials_never_go_to_another_url() {
    let receiver = TestReceiver::start().await;
    let app = spawn_allowing("127.0.0.0/8").await;
    let acct = app.create_account(true).await;
    let (_, created) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(hook("crm", "https://hooks.invalid/in", false)),
        )
        .await;
    let id = created["id"].as_str().expect("id");
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/webhooks/check",
            &acct.key,
            Some(json!({"webhook_id": id, "url": receiver.url("/steal")})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("INVALID_BODY"))
    );
    assert!(receiver.requests().is_empty());
}

#[tokio::test]
async fn a_new_destination_needs_the_credentials_again() {
    let (old, new) = (TestReceiver::start().await, TestReceiver::start().await);
    let app = spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    let mut body = hook("crm", &old.url("/in"), false);
    body["headers"] =
        json!([{"key": "X-Api-Key", "value": "k-live-123"}, {"key": "X-Tenant", "value": "acme"}]);
    let (status, created) = app
        .call(Method::POST, "/v1/webhooks", &acct.key, Some(body.clone()))
        .await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/v1/webhooks/{}", created["id"].as_str().expect("id"));

    // The form as the API shows it: no password, the key as `***`.
    let mut shown = body.clone();
    shown["auth"] = json!({"type": "basic", "username": "flow"});
    shown["headers"][0]["value"] = json!("***");

    // Another path on the same origin keeps the stored credentials.
    shown["url"] = json!(old.url("/other"));
    let (status, kept) = app
        .call(Method::PUT, &path, &acct.key, Some(shown.clone()))
        .await;
    assert_eq!(status, 200, "{kept}");

    // Another port (another destination): refused, naming both fields.
    shown["url"] = json!(new.url("/in"));
    let (status, problem) = app
        .call(Method::PUT, &path, &acct.key, Some(shown.clone()))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "CREDENTIALS_REQUIRED");
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains("auth.password") && detail.contains("headers.X-Api-Key"),
        "{detail}"
    );
    assert_eq!(
        problem["errors"].as_array().map(Vec::len),
        Some(2),
        "{problem}"
    );
    // Only the password missing is refused just the same.
    let mut no_password = shown.clone();
    no_password["headers"][0]["value"] = json!("k-new-456");
    let (status, problem) = app
        .call(Method::PUT, &path, &acct.key, Some(no_password))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("CREDENTIALS_REQUIRED"))
    );
    let (_, stored) = app.call(Method::GET, &path, &acct.key, None).await;
    assert_eq!(
        stored["url"],
        old.url("/other"),
        "a refused update changes nothing"
    );

    // Sent again, they go to the new destination, and only there.
    shown["auth"]["password"] = json!("new-pw");
    shown["headers"][0]["value"] = json!("k-new-456");
    let (status, moved) = app.call(Method::PUT, &path, &acct.key, Some(shown)).await;
    assert_eq!(status, 200, "{moved}");
    let result = check(&app, &acct.key, json!({"webhook_id": created["id"]})).await;
    assert_eq!(result["ok"], true, "{result}");
    let seen = new.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-api-key"), Some("k-new-456"));
    assert_eq!(
        seen[0].header("authorization"),
        Some("Basic ZmxvdzpuZXctcHc=")
    );
    assert!(old.requests().is_empty(), "the old destination got nothing");
}

#[tokio::test]
async fn the_check_button_is_rate_limited_per_account() {
    let receiver = TestReceiver::start().await;
    let app = spawn_allowing("127.0.0.1/32").await;
    let busy = app.create_account(true).await;
    let other = app.create_account(true).await;
    let body = json!({"url": receiver.url("/hook")});
    for _ in 0..10 {
        check(&app, &busy.key, body.clone()).await;
    }
    let refused = app
        .http
        .post(app.url("/v1/webhooks/check"))
        .bearer_auth(&busy.key)
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=6).contains(&wait), "{wait}");
    let problem: Value = refused.json().await.expect("problem");
    assert_eq!(problem["code"], "TOO_MANY_CHECKS");
    assert_eq!(
        receiver.requests_to("/hook").len(),
        10,
        "the refused check sent nothing"
    );
    check(&app, &other.key, body).await;
}
