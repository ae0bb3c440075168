//! Health, readiness, metrics and the OpenAPI document.

use crate::helpers::spawn_app;

#[tokio::test]
async fn service_endpoints_answer() {
    let app = spawn_app().await;
    let health: serde_json::Value = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    let ready: serde_json::Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["database"], "sqlite");

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(
            "flowhook_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("flowhook_database_up 1"));

    let doc: serde_json::Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/accounts",
        "/v1/whitelist",
        "/v1/webhooks",
        "/v1/webhooks/{id}",
        "/v1/webhooks/check",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "openapi lacks {path}");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
}
