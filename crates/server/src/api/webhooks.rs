//! The webhook registry ("Advanced → Webhook"): CRUD, the default toggle, signing
//! secret rotation and the check button.
//!
//! Promises: a password is sealed before it reaches storage and never appears in
//! an answer; the signing secret is shown at creation and rotation only; an
//! `http://` URL needs the account's `allow_http`. Credentials stay with their
//! destination: an update that moves the URL to another scheme, host or port
//! must send the password and credential headers again (they are not kept),
//! and the check button sends a stored webhook's credentials only to its
//! stored URL.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flowhook_core::http::{BodyType, HttpMethod};
use flowhook_core::ids::{AccountId, WebhookId};
use flowhook_core::secret::{Binding, Purpose, SigningSecret};
use flowhook_core::webhook::{HeaderPair, WebhookName, WebhookUrl};
use flowhook_engine::egress::OutboundRequest;
use flowhook_engine::internal::Platform;
use flowhook_storage::{AccountRecord, Sealed, StoredAuth, WebhookRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::extract::ApiJson;
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// How long a rotated-out secret keeps signing, so receivers can switch over.
const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// Authentication of a webhook as sent to the API.
#[derive(Deserialize, ToSchema, Default)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthInput {
    #[default]
    None,
    Basic {
        username: String,
        /// Required on creation; on update, omit it to keep the stored one.
        password: Option<String>,
    },
}

/// `POST /v1/webhooks` and `PUT /v1/webhooks/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Up to 100 characters, not blank, no control characters.
    #[schema(min_length = 1, max_length = 100, example = "CRM")]
    pub name: String,
    /// Default POST.
    #[serde(default)]
    pub method: HttpMethod,
    /// An `https://` URL with a host and no credentials (`http://` too when the
    /// account allows it).
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^\\s*[Hh][Tt][Tt][Pp][Ss]?://",
        example = "https://crm.example.com/hooks/flow-end"
    )]
    pub url: String,
    #[serde(default)]
    pub auth: AuthInput,
    /// Default none.
    #[serde(default)]
    pub body_type: BodyType,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub headers: Vec<HeaderPair>,
    #[serde(default)]
    pub is_default: bool,
}

/// Authentication as the API shows it: never the password.
#[derive(Serialize, ToSchema)]
pub struct AuthView {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// A webhook as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct WebhookView {
    #[schema(value_type = flowhook_core::ids::WebhookId)]
    pub id: String,
    #[schema(example = "CRM")]
    pub name: String,
    #[schema(example = "POST")]
    pub method: String,
    #[schema(example = "https://crm.example.com/hooks/flow-end")]
    pub url: String,
    pub auth: AuthView,
    #[schema(value_type = flowhook_core::http::BodyType)]
    pub body_type: String,
    #[schema(value_type = Vec<Object>)]
    pub headers: Vec<HeaderPair>,
    pub is_default: bool,
    /// Present only when the secret was just made (creation, rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub signing_secret: Option<String>,
    /// The last check-button result.
    #[schema(value_type = Option<Object>)]
    pub last_check: Option<serde_json::Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn view(w: &WebhookRecord, signing_secret: Option<String>) -> WebhookView {
    WebhookView {
        id: w.id.to_string(),
        name: w.name.clone(),
        method: w.method.as_str().to_owned(),
        url: w.url.to_string(),
        auth: match &w.auth {
            StoredAuth::None => AuthView {
                kind: "none",
                username: None,
            },
            StoredAuth::Basic { username, .. } => AuthView {
                kind: "basic",
                username: Some(username.clone()),
            },
        },
        body_type: w.body_type.as_str().to_owned(),
        headers: w.headers.iter().map(HeaderPair::masked).collect(),
        is_default: w.is_default,
        signing_secret,
        last_check: w.last_check.clone(),
        created_at: rfc3339(w.created_at),
        updated_at: rfc3339(w.updated_at),
    }
}

/// Parses a destination URL under the account's scheme policy. This server's
/// own internal endpoint is exempt: calls to it never leave the process (SPEC
/// §5), so a default installation needs no `allow_http` for it.
fn parse_url(state: &AppState, account: &AccountRecord, url: &str) -> Result<WebhookUrl, ApiError> {
    let url =
        WebhookUrl::parse(url).map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
    if state.functions.is_internal(url.as_url()) {
        return Ok(url);
    }
    url.check_scheme(account.allow_http)
        .map_err(|e| ApiError::unprocessable(e.code(), e.to_string()))?;
    Ok(url)
}

/// Validates input into the record's settings; `existing` supplies what an update
/// keeps (id, secrets, stored password).
fn settings(
    state: &AppState,
    account: &AccountRecord,
    input: WebhookInput,
    existing: Option<&WebhookRecord>,
) -> Result<WebhookRecord, ApiError> {
    let name =
        WebhookName::parse(&input.name).map_err(|e| ApiError::unprocessable("INVALID_NAME", e))?;
    let url = parse_url(state, account, &input.url)?;
    if input.headers.len() > flowhook_core::budget::MAX_HEADERS {
        return Err(ApiError::unprocessable(
            "INVALID_HEADER",
            format!(
                "at most {} headers are allowed",
                flowhook_core::budget::MAX_HEADERS
            ),
        ));
    }
    for h in &input.headers {
        h.validate()
            .map_err(|e| ApiError::unprocessable("INVALID_HEADER", e))?;
    }
    // Stored credentials are kept only while the destination stays the same;
    // `moved` holds the old and new destinations when it changed.
    let moved = existing
        .map(|w| (w.url.destination(), url.destination()))
        .filter(|(old, new)| old != new);
    let mut not_kept: Vec<String> = Vec::new();
    // Sensitive values are sealed; one sent back as `***` (as answers show it)
    // keeps the value already stored under that name.
    let headers = input
        .headers
        .iter()
        .map(|h| {
            if h.value != "***" {
                return Ok(h.sealed(&state.master_key, account.id));
            }
            if moved.is_some() {
                not_kept.push(format!("headers.{}", h.key));
                return Ok(h.clone());
            }
            existing
                .and_then(|w| {
                    w.headers
                        .iter()
                        .find(|old| old.key.eq_ignore_ascii_case(&h.key))
                })
                .cloned()
                .ok_or_else(|| {
                    ApiError::unprocessable(
                        "INVALID_HEADER",
                        format!(
                            "header `{}` is `***` but no value is stored for it; send the value itself",
                            h.key
                        ),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let auth = match input.auth {
        AuthInput::None => StoredAuth::None,
        AuthInput::Basic { username, password } => {
            if username.is_empty()
                || username.len() > 256
                || username.contains(':')
                || username.chars().any(char::is_control)
            {
                return Err(ApiError::unprocessable(
                    "INVALID_AUTH",
                    "a basic-auth username is 1–256 characters without `:` or control characters",
                ));
            }
            let kept = existing.and_then(|w| match &w.auth {
                StoredAuth::Basic { password, .. } => Some(password.clone()),
                StoredAuth::None => None,
            });
            let password = match (password, kept) {
                (Some(p), _) if p.len() > 1024 => {
                    return Err(ApiError::unprocessable(
                        "INVALID_AUTH",
                        "the password is longer than 1024 bytes",
                    ));
                }
                (Some(p), _) => Sealed(
                    state
                        .master_key
                        .seal(Binding::new(account.id, Purpose::WebhookPassword), &p),
                ),
                (None, Some(kept)) if moved.is_some() => {
                    not_kept.push("auth.password".to_owned());
                    kept
                }
                (None, Some(kept)) => kept,
                (None, None) => {
                    return Err(ApiError::unprocessable(
                        "INVALID_AUTH",
                        "basic auth needs a password",
                    ));
                }
            };
            StoredAuth::Basic { username, password }
        }
    };
    if let Some((old, new)) = moved.filter(|_| !not_kept.is_empty()) {
        return Err(ApiError::unprocessable(
            "CREDENTIALS_REQUIRED",
            format!(
                "the URL now goes to {new} instead of {old}, and stored credentials are not sent to a new destination: send {} again",
                not_kept.join(", ")
            ),
        )
        .with_errors(serde_json::json!(
            not_kept
                .iter()
                .map(|field| serde_json::json!({"field": field, "message": "send the value again for the new destination"}))
                .collect::<Vec<_>>()
        )));
    }
    Ok(WebhookRecord {
        id: existing.map(|w| w.id).unwrap_or_else(WebhookId::generate),
        account_id: account.id,
        name: name.as_str().to_owned(),
        method: input.method,
        url,
        auth,
        body_type: input.body_type,
        headers,
        is_default: input.is_default,
        signing_secret: existing
            .map(|w| w.signing_secret.clone())
            .unwrap_or_else(|| Sealed(String::new())),
        previous_secret: existing.and_then(|w| w.previous_secret.clone()),
        previous_until: existing.and_then(|w| w.previous_until),
        last_check: existing.and_then(|w| w.last_check.clone()),
        created_at: existing.map(|w| w.created_at).unwrap_or_default(),
        updated_at: existing.map(|w| w.updated_at).unwrap_or_default(),
    })
}

fn webhook_id(id: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(id).ok_or_else(|| ApiError::not_found("webhook"))
}

async fn load(state: &AppState, me: &AccountRecord, id: &str) -> Result<WebhookRecord, ApiError> {
    state
        .store
        .webhook(me.id, webhook_id(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = WebhookInput,
    security(("security_id" = [])),
    responses((status = 201, body = WebhookView), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_webhook(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(input): ApiJson<WebhookInput>,
) -> Result<(StatusCode, axum::Json<WebhookView>), ApiError> {
    let mut hook = settings(&state, &me, input, None)?;
    let secret = SigningSecret::generate();
    hook.signing_secret = Sealed(
        state
            .master_key
            .seal(Binding::new(me.id, Purpose::SigningSecret), secret.expose()),
    );
    state.store.insert_webhook(&hook).await?;
    let stored = load(&state, &me, &hook.id.to_string()).await?;
    tracing::info!(account = %me.id, webhook = %hook.id, is_default = hook.is_default, "webhook created");
    Ok((
        StatusCode::CREATED,
        axum::Json(view(&stored, Some(secret.expose().to_owned()))),
    ))
}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks", security(("security_id" = [])),
    responses((status = 200, body = Vec<WebhookView>)))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
) -> Result<axum::Json<Vec<WebhookView>>, ApiError> {
    let hooks = state.store.webhooks(me.id).await?;
    Ok(axum::Json(hooks.iter().map(|w| view(w, None)).collect()))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = inline(flowhook_core::ids::WebhookId), Path, description = "The webhook")), security(("security_id" = [])),
    responses((status = 200, body = WebhookView), (status = 404, body = Problem)))]
pub async fn get_webhook(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    Ok(axum::Json(view(&load(&state, &me, &id).await?, None)))
}

#[utoipa::path(put, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = inline(flowhook_core::ids::WebhookId), Path, description = "The webhook")), request_body = WebhookInput,
    security(("security_id" = [])),
    responses((status = 200, body = WebhookView), (status = 404, body = Problem), (status = 422, body = Problem),
               (status = 409, body = Problem, description = "`CONFLICT`: another webhook has this name")))]
pub async fn update_webhook(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<WebhookInput>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    let existing = load(&state, &me, &id).await?;
    let hook = settings(&state, &me, input, Some(&existing))?;
    if !state.store.update_webhook(&hook).await? {
        return Err(ApiError::not_found("webhook"));
    }
    Ok(axum::Json(view(&load(&state, &me, &id).await?, None)))
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = inline(flowhook_core::ids::WebhookId), Path, description = "The webhook")), security(("security_id" = [])),
    responses((status = 204), (status = 404, body = Problem),
               (status = 409, body = Problem, description = "`WEBHOOK_IN_USE`: flows name this webhook; the detail lists them")))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = webhook_id(&id)?;
    let users = flows_naming(&state, me.id, id).await?;
    if !users.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "WEBHOOK_IN_USE",
            format!(
                "flows name this webhook: {}; change them first",
                users.join(", ")
            ),
        ));
    }
    if state.store.delete_webhook(me.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook"))
    }
}

/// The names of the account's flows that name webhook `id`.
async fn flows_naming(
    state: &AppState,
    account: AccountId,
    id: WebhookId,
) -> Result<Vec<String>, ApiError> {
    let flows = state.store.flows(account).await?;
    Ok(flows
        .iter()
        .filter(|f| {
            flowhook_core::flow::parse_flow(&f.document)
                .is_ok_and(|flow| flow.webhook_references().any(|(_, w)| w == id))
        })
        .map(|f| f.name.clone())
        .collect())
}

/// The answer to a rotation.
#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new `whsec_…` secret; shown only now.
    pub signing_secret: String,
    /// Until then, deliveries carry a signature with the previous secret too.
    pub previous_valid_until: Timestamp,
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = inline(flowhook_core::ids::WebhookId), Path, description = "The webhook")), security(("security_id" = [])),
    responses((status = 200, body = RotatedSecret), (status = 404, body = Problem)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<RotatedSecret>, ApiError> {
    let id = webhook_id(&id)?;
    let secret = SigningSecret::generate();
    let until = flowhook_storage::now_millis() + ROTATION_OVERLAP.as_millis() as i64;
    let sealed = Sealed(
        state
            .master_key
            .seal(Binding::new(me.id, Purpose::SigningSecret), secret.expose()),
    );
    if !state.store.rotate_secret(me.id, id, &sealed, until).await? {
        return Err(ApiError::not_found("webhook"));
    }
    tracing::info!(account = %me.id, webhook = %id, "signing secret rotated");
    Ok(axum::Json(RotatedSecret {
        signing_secret: secret.expose().to_owned(),
        previous_valid_until: rfc3339(until),
    }))
}

/// `POST /v1/webhooks/check`: probe a URL, or a stored webhook with its auth and
/// headers (and remember the result on it).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    /// The URL to check; give it or `webhook_id`, not both.
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^\\s*[Hh][Tt][Tt][Pp][Ss]?://",
        example = "https://crm.example.com/hooks/flow-end"
    )]
    pub url: Option<String>,
    pub method: Option<HttpMethod>,
    /// Check this stored webhook (at its own URL) instead of a bare URL.
    #[schema(value_type = Option<flowhook_core::ids::WebhookId>)]
    pub webhook_id: Option<String>,
    /// How long to wait, in seconds; default 10.
    #[schema(minimum = 1, maximum = 30)]
    pub timeout_seconds: Option<u64>,
}

/// The check button's verdict.
#[derive(Serialize, ToSchema, Clone)]
pub struct CheckResult {
    /// True when the destination answered 2xx.
    pub ok: bool,
    /// The HTTP status, or null when no response came.
    #[schema(example = 200)]
    pub status: Option<u16>,
    #[schema(example = 38.2)]
    pub latency_ms: f64,
    /// Why the check failed, for a person to read; null when ok.
    pub error: Option<String>,
    /// A stable code for the failure: DESTINATION_BLOCKED, DNS_FAILURE,
    /// CONNECTION_REFUSED, TLS_FAILURE, TIMEOUT, CONNECTION_FAILED, HTTP_STATUS.
    pub code: Option<String>,
}

/// How long the check button waits unless told otherwise.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

#[utoipa::path(post, path = "/v1/webhooks/check", tag = "webhooks", request_body = CheckInput,
    security(("security_id" = [])),
    responses((status = 200, body = CheckResult), (status = 422, body = Problem),
               (status = 404, body = Problem, description = "`NOT_FOUND`: no such `webhook_id`"),
               (status = 429, body = Problem, description = "too many checks by this account; see Retry-After")))]
pub async fn check_webhook(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(input): ApiJson<CheckInput>,
) -> Result<axum::Json<CheckResult>, ApiError> {
    state.check_limit.take(me.id).map_err(|wait| {
        ApiError::too_many(
            "TOO_MANY_CHECKS",
            "this account checked webhooks too often; try again shortly",
            wait,
        )
    })?;
    let stored = match &input.webhook_id {
        Some(id) => Some(load(&state, &me, id).await?),
        None => None,
    };
    // A stored webhook is only ever checked at its own URL: its credentials and
    // headers must not be sent to a URL the caller chooses.
    let url = match (&input.url, &stored) {
        (Some(u), None) => parse_url(&state, &me, u)?,
        (None, Some(w)) => parse_url(&state, &me, w.url.as_str())?,
        (Some(_), Some(_)) | (None, None) => {
            return Err(ApiError::unprocessable(
                "INVALID_BODY",
                "give either `url` or `webhook_id`, not both",
            ));
        }
    };

    let timeout = match input.timeout_seconds {
        None => CHECK_TIMEOUT,
        Some(s @ 1..=30) => Duration::from_secs(s),
        Some(_) => {
            return Err(ApiError::unprocessable(
                "INVALID_BODY",
                "timeout_seconds must be 1–30",
            ));
        }
    };
    let method = input
        .method
        .or(stored.as_ref().map(|w| w.method))
        .unwrap_or(HttpMethod::Post);
    let mut request = OutboundRequest::new(method, url.as_url().clone());
    request.timeout = timeout;
    request.max_response_bytes = 4096;
    if let Some(w) = &stored {
        request.headers = flowhook_engine::credentials::stored_headers(w, &state.master_key)
            .map_err(ApiError::internal)?;
    }
    if !matches!(
        method,
        HttpMethod::Get | HttpMethod::Head | HttpMethod::Options
    ) {
        request
            .headers
            .push(("Content-Type".into(), "application/json".into()));
        request.body = Some(br#"{"type":"flowhook.check"}"#.to_vec());
    }
    let started = std::time::Instant::now();
    let result = match state.egress.send(request).await {
        Ok(resp) => {
            let ok = (200..300).contains(&resp.status);
            CheckResult {
                ok,
                status: Some(resp.status),
                latency_ms: millis(resp.duration),
                error: (!ok).then(|| format!("the destination answered HTTP {}", resp.status)),
                code: (!ok).then(|| "HTTP_STATUS".to_owned()),
            }
        }
        Err(e) => CheckResult {
            ok: false,
            status: None,
            latency_ms: millis(started.elapsed()),
            error: Some(e.to_string()),
            code: Some(e.code().to_owned()),
        },
    };
    state.metrics.inc(
        "flowhook_webhook_checks_total",
        &[("outcome", result.code.as_deref().unwrap_or("OK"))],
    );
    if let Some(w) = &stored {
        let mut recorded = serde_json::to_value(&result).map_err(ApiError::internal)?;
        recorded["checked_at"] = rfc3339(flowhook_storage::now_millis()).into();
        state.store.record_check(me.id, w.id, &recorded).await?;
    }
    Ok(axum::Json(result))
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}
