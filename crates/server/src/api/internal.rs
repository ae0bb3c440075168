//! `POST /internal` and the seeds' path aliases (SPEC §5): the `{method, keys}`
//! envelope in, `{status, keys, error}` out, for the calling account. The same
//! [`Functions::dispatch_for`](flowhook_engine::internal::Functions::dispatch_for)
//! runs here and behind an `internal_webhook` widget whose webhook is this
//! server's own URL.
//!
//! A function's failure (unknown method, missing key, bad value) is a `200`
//! with `status: FAILED`, as the envelope's callers expect; only an envelope
//! that is not one is a `400` problem.

use axum::extract::State;
use flowhook_core::internal::{Answer, Envelope};

use super::auth::AccountCaller;
use super::extract::RawJson;
use super::problem::{ApiError, Problem};
use crate::state::AppState;

#[utoipa::path(post, path = "/internal", tag = "internal",
    request_body(content = Envelope, example = json!({
        "method": "fetchUserPreferences",
        "keys": [{"name": "$user.syskey.contactNumber", "value": "919876543210"}]
    })),
    security(("security_id" = [])),
    responses(
        (status = 200, body = Answer, description = "The function ran (`SUCCESS`) or refused the keys (`FAILED`, with `error` naming the key)",
         example = json!({"status": "SUCCESS", "keys": [{"name": "$user.key.language", "value": "hi"}]})),
        (status = 400, body = Problem, description = "`INVALID_ENVELOPE`: the body is not a `{method, keys}` envelope")))]
pub async fn internal(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    RawJson(body): RawJson,
) -> Result<axum::Json<Answer>, ApiError> {
    let envelope: Envelope = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "INVALID_ENVELOPE",
            format!("the body is not a {{\"method\", \"keys\": [{{\"name\", \"value\"}}]}} envelope: {e}"),
        )
    })?;
    Ok(axum::Json(
        state.functions.dispatch_for(&me, &envelope).await,
    ))
}

/// The seeds' endpoints in the OpenAPI document: `POST /internal` again at
/// `/<alias>/{stage}/`, each its own operation (`internal_<alias>`). The
/// forms without the trailing slash, and `/internal/`, are served too.
pub fn document_aliases(doc: &mut serde_json::Value) {
    let Some(operation) = doc["paths"]["/internal"]["post"].as_object().cloned() else {
        return;
    };
    for alias in flowhook_core::internal::PATH_ALIASES {
        let mut op = serde_json::Value::Object(operation.clone());
        op["operationId"] = format!("internal_{}", alias.replace('-', "_")).into();
        op["summary"] = format!("The envelope endpoint at the seeds' `/{alias}/{{stage}}/`").into();
        op["parameters"] = serde_json::json!([{
            "name": "stage", "in": "path", "required": true,
            "description": "Any stage name (`prod`, `test`, …); it does not change the call",
            "schema": {"type": "string", "minLength": 1, "example": "prod"}
        }]);
        doc["paths"][format!("/{alias}/{{stage}}/")] = serde_json::json!({"post": op});
    }
}

/// The seeds' endpoints, `/<alias>/{stage}` with and without a trailing slash:
/// the same handler as `/internal`.
pub fn aliases() -> axum::Router<AppState> {
    let mut router = axum::Router::new();
    for alias in flowhook_core::internal::PATH_ALIASES {
        for path in [
            format!("/{alias}/{{stage}}"),
            format!("/{alias}/{{stage}}/"),
        ] {
            router = router.route(&path, axum::routing::post(internal));
        }
    }
    router.route("/internal/", axum::routing::post(internal))
}
