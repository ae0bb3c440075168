//! Short links (SPEC §5): `POST /UrlShortner/shortUrl` (and the seeds' path,
//! `/UrlShortner/phonon/shortUrl`) makes one for the account whose
//! `custToken` is sent; `GET /{code}` follows one with a 302 and counts the
//! click; `GET /v1/links` lists an account's links with their clicks. The
//! links themselves are `flowhook_engine::links::Links`', the same code the
//! `shortURL` and `linkcreation` internal methods use.
//!
//! `custToken` names the account, as in the seeds (no bearer token), and the
//! account's IP whitelist applies as for every other call it makes.
//!
//! `GET /{code}` sits at the root beside `/docs`, `/openapi.json`,
//! `/healthz`, …: the router prefers those literal paths, and a path that
//! does not have a code's shape (ten base62 characters) is answered exactly
//! as any unknown route is, a JSON `NOT_FOUND` problem. Only a code-shaped
//! path naming no link gets the HTML page a person's browser shows. The host
//! is not checked: codes are unique across accounts, so a link works on
//! whichever short domain (default or custom) points at this server.

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use flowhook_core::links::{LongUrl, ShortCode, ShortToken};
use flowhook_storage::{LinkFilter, LinkRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{AccountCaller, admit};
use super::extract::{ApiJson, ApiQuery, Limit, Rfc3339};
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// `POST /UrlShortner/shortUrl`, with the seeds' field names.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ShortenInput {
    /// The account's short-link token (its `short_token` setting).
    #[schema(
        min_length = 1,
        max_length = 128,
        example = "q3VtR8fL2xZ0aB7cD9eF1gH4iJ6kM5nP"
    )]
    pub cust_token: String,
    /// The URL to shorten: `http(s)` with a host, no credentials, at most
    /// 4096 bytes.
    #[schema(
        min_length = 1,
        max_length = 4096,
        pattern = "^\\s*[Hh][Tt][Tt][Pp][Ss]?://",
        example = "https://google.co.in"
    )]
    pub long_url: String,
}

/// The short link, as the seeds answer it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Shortened {
    /// The account's short base URL, `/`, and a new 10-character code.
    #[schema(example = "https://s.example.in/BEK4YYnx7q")]
    pub short_url: String,
}

async fn shorten(
    state: &AppState,
    parts: &Parts,
    input: ShortenInput,
) -> Result<Shortened, ApiError> {
    let unknown = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "unknown custToken: send the short_token of your account's settings",
        )
    };
    let account = state
        .links
        .account_by_token(&input.cust_token)
        .await?
        .ok_or_else(unknown)?;
    let account = admit(state, parts, account)?;
    let long = LongUrl::parse(&input.long_url)
        .map_err(|e| ApiError::unprocessable("INVALID_URL", format!("longUrl: {e}")))?;
    let link = state.links.shorten(&account, &long).await?;
    tracing::debug!(account = %account.id, code = %link.code, "short link made");
    Ok(Shortened {
        short_url: link.short_url,
    })
}

#[utoipa::path(post, path = "/UrlShortner/shortUrl", tag = "links",
    request_body(content = ShortenInput, example = json!({"custToken": "q3VtR8fL2xZ0aB7cD9eF1gH4iJ6kM5nP", "longUrl": "https://google.co.in"})),
    responses(
        (status = 200, body = Shortened),
        (status = 401, body = Problem, description = "`UNAUTHORIZED`: no account has this `custToken`"),
        (status = 403, body = Problem, description = "`IP_NOT_WHITELISTED`: the caller's address is not on the account's whitelist"),
        (status = 422, body = Problem, description = "`INVALID_URL`: `longUrl` is not an http(s) URL with a host and without credentials, or is over 4096 bytes")))]
pub async fn shorten_url(
    State(state): State<AppState>,
    parts: Parts,
    ApiJson(input): ApiJson<ShortenInput>,
) -> Result<axum::Json<Shortened>, ApiError> {
    Ok(axum::Json(shorten(&state, &parts, input).await?))
}

/// The seeds' path of the same call.
#[utoipa::path(post, path = "/UrlShortner/phonon/shortUrl", tag = "links",
    request_body(content = ShortenInput, example = json!({"custToken": "q3VtR8fL2xZ0aB7cD9eF1gH4iJ6kM5nP", "longUrl": "https://google.co.in"})),
    responses(
        (status = 200, body = Shortened),
        (status = 401, body = Problem, description = "`UNAUTHORIZED`: no account has this `custToken`"),
        (status = 403, body = Problem, description = "`IP_NOT_WHITELISTED`: the caller's address is not on the account's whitelist"),
        (status = 422, body = Problem, description = "`INVALID_URL`: `longUrl` is not an http(s) URL with a host and without credentials, or is over 4096 bytes")))]
pub async fn shorten_url_phonon(
    State(state): State<AppState>,
    parts: Parts,
    ApiJson(input): ApiJson<ShortenInput>,
) -> Result<axum::Json<Shortened>, ApiError> {
    Ok(axum::Json(shorten(&state, &parts, input).await?))
}

/// The route template of [`follow_link`], as metrics and logs name it.
pub const FOLLOW_ROUTE: &str = "/{code}";

/// What a browser shows for a code that names no link.
const NOT_FOUND_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Link not found</title>
</head>
<body>
<h1>Link not found</h1>
<p>This short link does not exist. Check that it was copied completely.</p>
</body>
</html>
"#;

#[utoipa::path(get, path = "/{code}", tag = "links",
    params(("code" = inline(ShortCode), Path, description = "The short link's code: 10 characters of `[0-9A-Za-z]`")),
    responses(
        (status = 302, description = "Redirects to the long URL; the click is counted (a `HEAD` is answered the same and not counted)",
         headers(("Location" = String, description = "The long URL"))),
        (status = 404, description = "A code-shaped path that names no link: an HTML page for a person (`text/html`); any other path: the `NOT_FOUND` problem of an unknown route",
         content((String = "text/html"), (Problem = "application/problem+json")))))]
pub async fn follow_link(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
) -> Result<Response, ApiError> {
    // The path, not a `Path` extractor: a malformed one is a JSON 404 here,
    // never a plain-text rejection.
    let code = uri
        .path()
        .strip_prefix('/')
        .and_then(ShortCode::parse)
        .ok_or_else(|| ApiError::not_found("route"))?;
    match state.links.follow(&code, method != Method::HEAD).await? {
        Some(target) => {
            let location = HeaderValue::from_str(&target).map_err(ApiError::internal)?;
            Ok((
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    // Every click reaches the server, to be counted.
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response())
        }
        None => Ok((
            StatusCode::NOT_FOUND,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
            ],
            NOT_FOUND_HTML,
        )
            .into_response()),
    }
}

/// Filters of `GET /v1/links`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Made at or after this time.
    #[param(inline)]
    pub from: Option<Rfc3339>,
    /// Made before this time.
    #[param(inline)]
    pub to: Option<Rfc3339>,
    /// At most this many, newest first.
    #[serde(default)]
    #[param(inline)]
    pub limit: Limit,
}

/// A short link with its clicks.
#[derive(Serialize, ToSchema)]
pub struct LinkView {
    #[schema(value_type = ShortCode)]
    pub code: String,
    /// The link as it was answered.
    #[schema(example = "https://s.example.in/BEK4YYnx7q")]
    pub short_url: String,
    #[schema(example = "https://google.co.in/")]
    pub long_url: String,
    /// Redirects so far (counted clicks are written every second).
    #[schema(example = 3)]
    pub clicks: i64,
    /// The last redirect, if any.
    pub last_click_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

fn view(l: LinkRecord) -> LinkView {
    LinkView {
        code: l.code.to_string(),
        short_url: l.short_url,
        long_url: l.long_url,
        clicks: l.clicks,
        last_click_at: l.last_click_at.map(rfc3339),
        created_at: rfc3339(l.created_at),
    }
}

#[utoipa::path(get, path = "/v1/links", tag = "links", params(ListQuery),
    security(("security_id" = [])),
    responses((status = 200, body = Vec<LinkView>)))]
pub async fn list_links(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<Vec<LinkView>>, ApiError> {
    // This server's clicks so far are written first, so the counts include
    // every redirect it answered before this call.
    if let Err(e) = state.links.flush().await {
        tracing::warn!(error = %e, "short links: clicks not written before a list");
    }
    let filter = LinkFilter {
        from: q.from.map(|t| t.0),
        to: q.to.map(|t| t.0),
        limit: q.limit.0,
    };
    let links = state.store.links(me.id, &filter).await?;
    Ok(axum::Json(links.into_iter().map(view).collect()))
}

/// Keeps [`ShortToken`]'s bound and the schema's in step.
const _: () = assert!(ShortToken::MAX_SENT == 128 && LongUrl::MAX_LEN == 4096);
