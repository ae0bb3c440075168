//! The one API error type, rendered as `application/problem+json` (RFC 9457) with a
//! stable `code` that clients can branch on.
//!
//! 4xx problems are the caller's doing and are not logged as errors; a 5xx is
//! logged once, here, with its cause, and the caller gets a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to an API caller.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Per-item errors, e.g. flow validation `[{widget, message}]`.
    pub errors: Option<Box<serde_json::Value>>,
    /// Seconds after which a retry may succeed (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

/// The problem document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `IP_NOT_WHITELISTED`.
    pub code: String,
    /// Every mistake at once, where there can be several (a flow's widgets,
    /// a webhook's fields): `{"message", "widget"?, "field"?}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<ProblemItem>>)]
    pub errors: Option<serde_json::Value>,
}

/// One item of a problem's `errors`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Only the schema is used: `errors` is built as JSON.
pub struct ProblemItem {
    pub message: String,
    /// The widget the mistake is in; null for the document itself.
    pub widget: Option<String>,
    /// The field the mistake is in.
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            errors: None,
            retry_after: None,
        }
    }

    /// 429: the caller (or the server) is over a limit; retry after `seconds`.
    pub fn too_many(code: &'static str, detail: impl Into<String>, seconds: u64) -> ApiError {
        ApiError {
            retry_after: Some(seconds),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, detail)
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no such {what}"),
        )
    }

    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "CONFLICT", detail)
    }

    /// A failure of ours. The cause is logged; the caller sees only that it happened.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "an internal error occurred; it has been logged",
        )
    }

    pub fn with_errors(mut self, errors: serde_json::Value) -> ApiError {
        self.errors = Some(Box::new(errors));
        self
    }
}

impl From<flowhook_storage::StoreError> for ApiError {
    fn from(e: flowhook_storage::StoreError) -> ApiError {
        match e {
            flowhook_storage::StoreError::Conflict(msg) => ApiError::conflict(msg),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: format!(
                "https://flowhook.dev/problems/{}",
                self.code.to_ascii_lowercase().replace('_', "-")
            ),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            errors: self.errors.map(|e| *e),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
