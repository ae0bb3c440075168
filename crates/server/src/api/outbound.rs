//! `POST /v1/outbound`, the REST form of an outbound request (SPEC §5), and
//! `GET`/`DELETE /v1/outbound/{request_id}` to follow and cancel one.
//!
//! The request goes through the same `Outbound::create` as the
//! `createOutbound` internal method. Its caller is named by the body's
//! `security-id`, as on the platform's outbound API (or by the bearer token,
//! as on the rest of the API), and must call from an address the account's IP
//! whitelist allows. Every answer to the `POST`,
//! refusals included, is the platform's `{"api-response-code",
//! "api-response-message", …}` document, with an HTTP status that agrees
//! (200 for the accepted codes 200, 201 and 209).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use flowhook_core::ids::{ExecutionId, OutboundRequestId};
use flowhook_core::internal::Key;
use flowhook_core::outbound::{CallRequest, InvalidNumber, Refusal, Request, ResultCode, Start};
use flowhook_core::vars::{Namespace, VarName};
use flowhook_engine::outbound::{Created, Source};
use flowhook_storage::{OutboundCallView, OutboundRequestRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{AccountCaller, admit, bearer_token};
use super::extract::sent_as_json;
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// `POST /v1/outbound`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboundInput {
    /// `1.0`.
    #[serde(rename = "api-version")]
    #[schema(example = "1.0")]
    pub api_version: Option<String>,
    /// The account's security id: it names the caller. It may instead come
    /// as `Authorization: Bearer`, like the rest of the API.
    #[serde(rename = "security-id")]
    #[schema(example = "sk_2b7c4d5e6f708a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b")]
    pub security_id: Option<String>,
    #[serde(rename = "flow-id")]
    #[schema(example = "Ab3dE6gH")]
    pub flow_id: Option<String>,
    /// The flow version to run; default the current one when each call starts.
    #[serde(rename = "flow-version")]
    #[schema(minimum = 1, example = 3)]
    pub flow_version: Option<i64>,
    /// At most 500 calls, and 500 contact numbers in all.
    #[serde(default)]
    pub calls: Vec<CallInput>,
}

/// Numbers called at one time with one set of keys.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallInput {
    #[serde(rename = "client-identifier")]
    #[schema(example = "crm-4711")]
    pub client_identifier: Option<String>,
    /// When to call (RFC 3339 with offset); a time in the past, or none, is
    /// now.
    #[serde(rename = "start-time")]
    #[schema(example = "2026-11-21T10:00:00+05:30")]
    pub start_time: Option<String>,
    /// Phone numbers, with or without the country code (the account's
    /// `default_country_code` is assumed without one).
    #[serde(rename = "contact-numbers", default)]
    #[schema(example = json!(["918000000000"]))]
    pub contact_numbers: Vec<String>,
    /// `$flow.key.*` values of the executions.
    #[serde(default)]
    #[schema(example = json!([{"name": "$flow.key.Name", "value": "Asha"}]))]
    pub keys: Vec<Key>,
}

/// The answer of `POST /v1/outbound`, refusals included.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OutboundAnswer {
    /// The SPEC's result code: 200, 201, 202, 203, 205, 209, 210, 301, 302,
    /// 303, 304, 400, 401 or 500.
    #[serde(rename = "api-response-code")]
    #[schema(example = 200)]
    pub code: u16,
    #[serde(rename = "api-response-message")]
    #[schema(example = "SUCCESS")]
    pub message: String,
    /// The request scheduled; for `CHECKSUM_REPEATED`, the identical
    /// earlier one.
    #[serde(rename = "request-id", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<OutboundRequestId>,
    /// The uuid each scheduled execution will have, in the order of the
    /// numbers (for `CHECKSUM_REPEATED`, the earlier request's).
    #[serde(
        rename = "phonon-uuids",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub phonon_uuids: Vec<ExecutionId>,
    /// Numbers not scheduled, and why (`PARTIAL_SUCCESS`).
    #[serde(
        rename = "invalid-numbers",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub invalid_numbers: Vec<InvalidNumber>,
    /// Why the request was refused, naming the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<Created> for OutboundAnswer {
    fn from(c: Created) -> OutboundAnswer {
        OutboundAnswer {
            code: c.code.code(),
            message: c.code.message().to_owned(),
            request_id: c.request_id,
            phonon_uuids: c.execution_ids,
            invalid_numbers: c.invalid,
            detail: c.detail,
        }
    }
}

/// The HTTP status that goes with a result code.
fn http_status(code: ResultCode) -> StatusCode {
    match code {
        ResultCode::Success | ResultCode::ChecksumRepeated | ResultCode::PartialSuccess => {
            StatusCode::OK
        }
        ResultCode::InvalidSecurityId => StatusCode::UNAUTHORIZED,
        ResultCode::IpNotWhitelisted => StatusCode::FORBIDDEN,
        ResultCode::InvalidFlowId => StatusCode::NOT_FOUND,
        ResultCode::InvalidFormat => StatusCode::BAD_REQUEST,
        ResultCode::Failure => StatusCode::INTERNAL_SERVER_ERROR,
        ResultCode::InvalidApiVersion
        | ResultCode::InvalidContactNumber
        | ResultCode::InvalidMandatoryParameters
        | ResultCode::EmptyCallList
        | ResultCode::MaxDataListSizeExceeded
        | ResultCode::InvalidFlowVersion => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The body, if it is one: a body that is not JSON, or over the size limit,
/// is `INVALID_FORMAT` too, in the answer document like every refusal.
fn json_body(parts: &Parts, body: Result<Bytes, BytesRejection>) -> Result<Bytes, Refusal> {
    let bad = |detail: String| Refusal::new(ResultCode::InvalidFormat, detail);
    if !sent_as_json(&parts.headers) {
        return Err(bad("send the body as Content-Type: application/json".into()));
    }
    body.map_err(|e| bad(format!("the body cannot be read: {e}")))
}

/// The body as the shared request, or `INVALID_FORMAT` naming what is wrong.
fn request(body: &[u8]) -> Result<Request, Refusal> {
    let bad = |detail: String| Refusal::new(ResultCode::InvalidFormat, detail);
    let input: OutboundInput = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the body is not an outbound request: {e}")))?;
    let mut calls = Vec::with_capacity(input.calls.len());
    for (i, call) in input.calls.into_iter().enumerate() {
        let start = match call.start_time.as_deref().map(str::trim) {
            None | Some("") => Start::Delay(0),
            Some(t) => Start::At(chrono::DateTime::parse_from_rfc3339(t).map_err(|e| {
                bad(format!(
                    "calls[{i}].start-time: {t:?} is not an RFC 3339 time with offset: {e}"
                ))
            })?),
        };
        let mut keys = std::collections::BTreeMap::new();
        for key in call.keys {
            match VarName::parse(&key.name) {
                Ok(name) if name.namespace() == Namespace::FlowKey => {
                    keys.insert(name.name().to_owned(), key.value);
                }
                _ => {
                    return Err(bad(format!(
                        "calls[{i}].keys: {:?} is not a $flow.key.NAME variable",
                        key.name
                    )));
                }
            }
        }
        calls.push(CallRequest {
            client_id: call.client_identifier,
            start,
            numbers: call.contact_numbers,
            keys,
        });
    }
    Ok(Request {
        api_version: input.api_version,
        security_id: input.security_id,
        flow_id: input.flow_id,
        flow_version: input.flow_version,
        calls,
    })
}

/// The caller's security id: the body's `security-id`, or else the bearer
/// token; both may be sent only if they agree.
fn with_bearer(mut request: Request, bearer: Option<&str>) -> Result<Request, Refusal> {
    match (request.security_id.as_deref(), bearer) {
        (Some(body), Some(header)) if body.trim() != header.trim() => Err(Refusal::new(
            ResultCode::InvalidSecurityId,
            "security-id: it differs from the Authorization header's token; send one of them",
        )),
        (None, Some(header)) => {
            request.security_id = Some(header.to_owned());
            Ok(request)
        }
        _ => Ok(request),
    }
}

/// Schedules one execution of a flow per contact number.
#[utoipa::path(post, path = "/v1/outbound", tag = "outbound",
    request_body(content = OutboundInput, example = json!({
        "api-version": "1.0",
        "security-id": "sk_2b7c4d5e6f708a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b",
        "flow-id": "Ab3dE6gH",
        "calls": [{"client-identifier": "crm-4711", "start-time": "2026-11-21T10:00:00+05:30",
                   "contact-numbers": ["918000000000"],
                   "keys": [{"name": "$flow.key.Name", "value": "Asha"}]}]
    })),
    security(("security_id" = []), ()),
    responses(
        (status = 200, body = OutboundAnswer, description = "`200 SUCCESS`; `209 PARTIAL_SUCCESS` (some numbers invalid, listed in `invalid-numbers`); `201 CHECKSUM_REPEATED` (an identical request in the last 24 hours: nothing new is scheduled, `request-id` is the earlier one)",
         example = json!({"api-response-code": 200, "api-response-message": "SUCCESS", "request-id": "01932c6e-8a4f-7d3a-9f1e-2b7c4d5e6f70", "phonon-uuids": ["01932c6e-8a4f-7d3a-9f1e-2b7c4d5e6f71"]})),
        (status = 400, body = OutboundAnswer, description = "`400 INVALID_FORMAT`: the body is not an outbound request (not JSON or not sent as `application/json`, over 2 MiB, a wrong type, an unknown field, a bad `start-time`, a key that is not `$flow.key.*`)"),
        (status = 401, body = OutboundAnswer, description = "`202 INVALID_SECURITY_ID`: no account has this `security-id` (or bearer token), or the two differ"),
        (status = 403, body = OutboundAnswer, description = "`401 IP_NOT_WHITELISTED`: the caller's address is not on the account's whitelist"),
        (status = 404, body = OutboundAnswer, description = "`301 INVALID_FLOW_ID`: the account has no such flow"),
        (status = 422, body = OutboundAnswer, description = "`203 INVALID_API_VERSION`, `205 INVALID_CONTACT_NUMBER` (no number is valid), `210 INVALID_MANDATORY_PARAMETERS`, `302 EMPTY_CALL_LIST`, `303 MAX_DATA_LIST_SIZE_EXCEEDED` (over 500), `304 INVALID_FLOW_VERSION`"),
        (status = 500, body = OutboundAnswer, description = "`500 FAILURE`: the request could not be stored")))]
pub async fn create_outbound(
    State(state): State<AppState>,
    parts: Parts,
    body: Result<Bytes, BytesRejection>,
) -> (StatusCode, axum::Json<OutboundAnswer>) {
    let created = match json_body(&parts, body)
        .and_then(|body| request(&body))
        .and_then(|r| with_bearer(r, bearer_token(&parts)))
    {
        Err(r) => Created::refused(r),
        Ok(request) => match state
            .outbound
            .account_for(request.security_id.as_deref())
            .await
        {
            Err(created) => created,
            Ok(account) => match admit(&state, &parts, account) {
                Err(e) => Created::refused(Refusal::new(ResultCode::IpNotWhitelisted, e.detail)),
                Ok(account) => state.outbound.create(&account, &request, Source::Api).await,
            },
        },
    };
    (http_status(created.code), axum::Json(created.into()))
}

/// An outbound request and the state of each of its calls.
#[derive(Serialize, ToSchema)]
pub struct OutboundView {
    #[serde(rename = "request-id")]
    pub request_id: OutboundRequestId,
    #[serde(rename = "flow-id")]
    #[schema(example = "Ab3dE6gH")]
    pub flow_id: String,
    /// The version asked for; absent: the current one at each start.
    #[serde(rename = "flow-version", skip_serializing_if = "Option::is_none")]
    pub flow_version: Option<i64>,
    /// `api` or `internal` (`createOutbound`).
    #[schema(example = "api")]
    pub source: String,
    /// The result code it was accepted with (200 or 209).
    #[serde(rename = "api-response-code")]
    #[schema(example = 200)]
    pub code: i64,
    #[serde(rename = "invalid-numbers")]
    pub invalid_numbers: Vec<InvalidNumber>,
    #[serde(rename = "created-at")]
    pub created_at: Timestamp,
    /// How many calls are in each state.
    pub counts: StateCounts,
    pub calls: Vec<CallView>,
}

/// Calls by state.
#[derive(Serialize, ToSchema, Default)]
pub struct StateCounts {
    pub scheduled: usize,
    pub running: usize,
    pub done: usize,
    pub failed: usize,
    pub cancelled: usize,
}

/// One scheduled call.
#[derive(Serialize, ToSchema)]
pub struct CallView {
    /// E.164 digits.
    #[schema(example = "918000000000")]
    pub contact: String,
    #[serde(rename = "client-identifier", skip_serializing_if = "Option::is_none")]
    pub client_identifier: Option<String>,
    /// When it is (or was) due.
    #[serde(rename = "due-at")]
    pub due_at: Timestamp,
    /// `scheduled` (not started), `running`, `done` (the execution
    /// completed), `failed` (it ended failed, or could not start) or
    /// `cancelled`.
    #[schema(example = "done")]
    pub state: &'static str,
    /// The uuid of its execution (`GET /v1/executions/{id}` once started).
    #[serde(rename = "execution-id")]
    pub execution_id: ExecutionId,
    #[serde(rename = "started-at", skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn call_view(v: &OutboundCallView) -> CallView {
    let c = &v.call;
    let (state, error) = match (c.status.as_str(), v.execution_status.as_deref()) {
        ("scheduled", _) => ("scheduled", None),
        ("cancelled", _) => ("cancelled", None),
        ("failed", _) => ("failed", c.error.clone()),
        (_, Some("running")) => ("running", None),
        (_, Some("completed")) => ("done", None),
        (_, Some(_)) => ("failed", v.execution_reason.clone()),
        // Started, but its execution is gone (the account deleted it).
        (_, None) => ("done", None),
    };
    CallView {
        contact: c.contact.clone(),
        client_identifier: c.client_id.clone(),
        due_at: rfc3339(c.due_at),
        state,
        execution_id: c.execution_id,
        started_at: c.started_at.map(rfc3339),
        error,
    }
}

fn view(r: &OutboundRequestRecord, calls: &[OutboundCallView]) -> OutboundView {
    let calls: Vec<CallView> = calls.iter().map(call_view).collect();
    let mut counts = StateCounts::default();
    for c in &calls {
        *match c.state {
            "scheduled" => &mut counts.scheduled,
            "running" => &mut counts.running,
            "done" => &mut counts.done,
            "cancelled" => &mut counts.cancelled,
            _ => &mut counts.failed,
        } += 1;
    }
    OutboundView {
        request_id: r.id,
        flow_id: r.flow_id.clone(),
        flow_version: r.flow_version,
        source: r.source.clone(),
        code: r.result_code,
        invalid_numbers: serde_json::from_value(r.invalid.clone()).unwrap_or_default(),
        created_at: rfc3339(r.created_at),
        counts,
        calls,
    }
}

async fn load(
    state: &AppState,
    me: &flowhook_storage::AccountRecord,
    id: &str,
) -> Result<OutboundView, ApiError> {
    let id = OutboundRequestId::parse(id).ok_or_else(|| ApiError::not_found("outbound request"))?;
    let (request, calls) = state
        .store
        .outbound_request(me.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("outbound request"))?;
    Ok(view(&request, &calls))
}

/// An outbound request with the state and execution of each number.
#[utoipa::path(get, path = "/v1/outbound/{request_id}", tag = "outbound",
    params(("request_id" = OutboundRequestId, Path, description = "The `request-id` of `POST /v1/outbound` (or `obdReqID`)")),
    security(("security_id" = [])),
    responses((status = 200, body = OutboundView)))]
pub async fn get_outbound(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(request_id): Path<String>,
) -> Result<axum::Json<OutboundView>, ApiError> {
    Ok(axum::Json(load(&state, &me, &request_id).await?))
}

/// Cancels the request's calls that have not started; started ones run on.
#[utoipa::path(delete, path = "/v1/outbound/{request_id}", tag = "outbound",
    params(("request_id" = OutboundRequestId, Path, description = "The `request-id` of `POST /v1/outbound` (or `obdReqID`)")),
    security(("security_id" = [])),
    responses((status = 200, body = OutboundView, description = "The request after cancelling: every call not started is `cancelled`"),
              (status = 404, body = Problem)))]
pub async fn cancel_outbound(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(request_id): Path<String>,
) -> Result<axum::Json<OutboundView>, ApiError> {
    let id = OutboundRequestId::parse(&request_id)
        .ok_or_else(|| ApiError::not_found("outbound request"))?;
    let cancelled = state.store.cancel_outbound(me.id, id).await?;
    let view = load(&state, &me, &request_id).await?;
    tracing::info!(account = %me.id, request = %id, cancelled, "outbound request cancelled");
    Ok(axum::Json(view))
}
