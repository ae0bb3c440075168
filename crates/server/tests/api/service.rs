//! Health, readiness, metrics and the OpenAPI document.

use crate::helpers::spawn_app;

#[tokio::test]
async fn service_endpoints_answer() {
    let app = spawn_app().await;
    let health = app.get_json("/healthz").await;
    assert_eq!(health["status"], "ok");
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["database"], "sqlite");

    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains(
            "flowhook_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("flowhook_database_up 1"));

    let doc = app.get_json("/openapi.json").await;
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
