//! What stands between the network and every handler, so that no single
//! request or caller can take the server down:
//!
//! - a **deadline** per request (`request_timeout_seconds`): past it the caller
//!   gets a 408 problem (an execution it started keeps running and is stored);
//! - a cap on **requests in flight** ([`MAX_IN_FLIGHT`]): past it, a 503
//!   problem with `Retry-After` instead of an ever-growing queue;
//! - **panics** in a handler become a 500 problem, logged once, instead of a
//!   dropped connection.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::problem::ApiError;
use crate::state::AppState;

/// Requests handled at once; more are refused with 503.
pub const MAX_IN_FLIGHT: usize = 8192;

/// Wraps `router` in the guards.
pub fn protect(router: axum::Router<AppState>, state: &AppState) -> axum::Router<AppState> {
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            move |state: State<AppState>, request: Request, next: Next| {
                let permits = permits.clone();
                async move { bounded(state, permits, request, next).await }
            },
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |panic: Box<dyn std::any::Any + Send>| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                ApiError::internal(format!("a handler panicked: {what}")).into_response()
            },
        ))
}

async fn bounded(
    State(state): State<AppState>,
    permits: Arc<Semaphore>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = permits.try_acquire() else {
        let mut busy = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BUSY",
            "the server is handling as many requests as it can; try again shortly",
        );
        busy.retry_after = Some(1);
        return busy.into_response();
    };
    match tokio::time::timeout(state.config.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            format!(
                "the request took longer than {} s; an execution it started goes on and can be read later",
                state.config.request_timeout.as_secs()
            ),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use crate::config::{Config, RawSettings};

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::validate(RawSettings {
            data_dir: Some(dir.path().to_path_buf()),
            admin_token: Some("guard-test-admin-token".into()),
            master_key: Some("ab".repeat(32)),
            ..RawSettings::default()
        })
        .expect("config");
        let store = flowhook_storage::connect(&config.database_url)
            .await
            .expect("store");
        let egress = flowhook_engine::egress::Egress::new(Default::default()).expect("egress");
        let state = crate::state::AppState::new(store, egress, std::sync::Arc::new(config));
        let router = axum::Router::new().route(
            "/boom",
            axum::routing::get(|| async {
                if true {
                    panic!("a bug");
                }
                "never"
            }),
        );
        let app = super::protect(router, &state).with_state(state);
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).expect("request"))
            .await
            .expect("answered");
        assert_eq!(response.status(), 500);
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let problem: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(problem["code"], "INTERNAL");
        assert!(
            !problem["detail"]
                .as_str()
                .expect("detail")
                .contains("a bug"),
            "the cause is logged, not shown"
        );
    }
}
