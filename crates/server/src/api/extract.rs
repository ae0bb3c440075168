//! Request extractors whose failures are problems, not axum's plain-text errors:
//! JSON bodies, path ids and query strings.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::problem::ApiError;

/// A JSON body. Malformed JSON is a 400 `INVALID_JSON`; JSON of the wrong shape
/// (missing or unknown fields, wrong types) is a 422 `INVALID_BODY` naming the
/// field; a body over the limit is a 413 `BODY_TOO_LARGE`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_problem(rejection)),
        }
    }
}

fn json_problem(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "INVALID_JSON",
            format!("the body is not valid JSON: {}", inner(&e)),
        ),
        JsonRejection::JsonDataError(e) => ApiError::unprocessable("INVALID_BODY", inner(&e)),
        JsonRejection::MissingJsonContentType(_) => not_json(),
        JsonRejection::BytesRejection(e) => bytes_problem(e),
        other => ApiError::bad_request("INVALID_BODY", other.body_text()),
    }
}

fn not_json() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
        "send the body with Content-Type: application/json",
    )
}

fn bytes_problem(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
            "the request body is larger than the server accepts",
        )
    } else {
        ApiError::bad_request("INVALID_BODY", e.body_text())
    }
}

/// Whether a body was sent as `Content-Type: application/json`.
pub fn sent_as_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// A JSON body kept as sent, for a handler that parses it itself (flow
/// documents keep their key order); the content type and size are checked with
/// the same problems as [`ApiJson`].
pub struct RawJson(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !sent_as_json(req.headers()) {
            return Err(not_json());
        }
        Bytes::from_request(req, state)
            .await
            .map(RawJson)
            .map_err(bytes_problem)
    }
}

/// serde's message without axum's prefix ("Failed to deserialize…").
fn inner(e: &dyn std::error::Error) -> String {
    let mut deepest = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        deepest = s.to_string();
        source = s.source();
    }
    deepest
}

/// A query string, with the same problem rendering.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request("INVALID_QUERY", inner(&e)))
    }
}

/// A time in a query or a body: RFC 3339 (`format: date-time`), held as Unix
/// milliseconds. Anything else is refused while the request is read.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339(pub i64);

impl<'de> serde::Deserialize<'de> for Rfc3339 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| Rfc3339(t.timestamp_millis()))
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{text}` is not an RFC 3339 time, like 2026-11-21T10:00:00+05:30"
                ))
            })
    }
}

/// The schema says what the deserializer takes: `format: date-time`.
impl utoipa::PartialSchema for Rfc3339 {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .examples(["2026-11-21T10:00:00+05:30"])
            .into()
    }
}

impl utoipa::ToSchema for Rfc3339 {}

/// How many items a list answers: 1–1000, 100 unless asked.
#[derive(Debug, Clone, Copy)]
pub struct Limit(pub i64);

impl Limit {
    pub const MAX: i64 = 1000;
}

/// The schema says what the deserializer takes: 1 to [`Limit::MAX`].
impl utoipa::PartialSchema for Limit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(Limit::MAX))
            .default(Some(Limit::default().0.into()))
            .into()
    }
}

impl utoipa::ToSchema for Limit {}

impl Default for Limit {
    fn default() -> Self {
        Limit(100)
    }
}

impl<'de> serde::Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match <i64 as serde::Deserialize>::deserialize(d)? {
            n @ 1..=Limit::MAX => Ok(Limit(n)),
            n => Err(serde::de::Error::custom(format!(
                "limit is 1–{}, not {n}",
                Limit::MAX
            ))),
        }
    }
}
