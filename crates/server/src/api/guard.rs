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
