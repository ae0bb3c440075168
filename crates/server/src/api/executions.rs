//! Executions: start one (waiting for it or not), read one with its trace, list
//! them by flow, status and time, and report a remote hangup to a running one.

use flowhook_core::webhook::redact_json;
use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use flowhook_core::contact::ContactNumber;
use flowhook_core::flow_end::Recording;
use flowhook_core::ids::{ExecutionId, FlowId};
use flowhook_core::json_text::JsonText;
use flowhook_core::vars::{CALL_NAMES, Namespace, VarName, Variables, known_call_name};
use flowhook_engine::executions::{ExecutionError, StartRequest};
use flowhook_storage::{ExecutionFilter, ExecutionRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::extract::{ApiJson, ApiQuery, Limit, Rfc3339};
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// `POST /v1/flows/{id}/executions`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartExecution {
    /// The contact (phone number, or address for email flows): no spaces, up
    /// to 128 characters.
    #[schema(min_length = 1, example = "+919876543210")]
    pub contact: String,
    /// Call details: `$call.` names without the prefix (`cli.number`, `incoming`, …).
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"cli.number": "919876543210", "dnis.number": "918000374000", "incoming": true, "start": "2026-11-21T10:00:00+05:30"}))]
    pub call: BTreeMap<String, serde_json::Value>,
    /// Initial `$flow.key.*` and `$flow.syskey.*` values.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"$flow.key.orderId": "A-17"}))]
    pub keys: BTreeMap<String, serde_json::Value>,
    /// Recordings of the call, passed on in the flow-end webhook.
    #[serde(default)]
    pub recordings: Vec<Recording>,
    /// Answer when the execution has finished (200), instead of at once (202).
    #[serde(default)]
    pub wait: bool,
    /// The remote party has already hung up: run `on_remote_hangup` instead of
    /// the main path.
    #[serde(default)]
    pub remote_hangup: bool,
}

/// An execution as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct ExecutionView {
    #[schema(value_type = flowhook_core::ids::ExecutionId)]
    pub uuid: String,
    #[schema(value_type = flowhook_core::ids::FlowId)]
    pub flow_id: String,
    pub flow_version: i64,
    #[schema(example = "+919876543210")]
    pub contact: String,
    #[schema(value_type = ExecutionStatus)]
    pub status: String,
    pub reason: Option<String>,
    /// The execution's `$flow.*` and `$user.*` variables.
    #[schema(value_type = Object, example = json!({
        "$flow.key.orderId": "A-17", "$flow.key.status": "shipped",
        "$flow.key.response_status": "SUCCESS", "$flow.key.response_status_code": "200"
    }))]
    pub variables: serde_json::Value,
    /// Values of `persist_response` mappings.
    #[schema(value_type = Object)]
    pub persisted: serde_json::Value,
    #[schema(value_type = Object)]
    pub call: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub recordings: serde_json::Value,
    /// Every step; left out of lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub trace: Option<JsonText>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

fn view(r: ExecutionRecord, with_trace: bool) -> ExecutionView {
    ExecutionView {
        uuid: r.id.to_string(),
        flow_id: r.flow_id,
        flow_version: r.flow_version,
        contact: r.contact,
        status: r.status,
        reason: r.reason,
        // Credential-named variables show as `***`, as in the trace.
        variables: redact_json(&r.variables),
        persisted: redact_json(&r.persisted),
        call: r.call,
        recordings: r.recordings,
        trace: with_trace.then_some(r.trace),
        started_at: rfc3339(r.started_at),
        finished_at: r.finished_at.map(rfc3339),
    }
}

/// A JSON scalar as a variable's text: strings as they are, numbers and booleans
/// as JSON text, objects and arrays as compact JSON; null is "unset".
pub(crate) fn text_of(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

pub(crate) fn bad(detail: String) -> ApiError {
    ApiError::unprocessable("INVALID_BODY", detail)
}

/// Checks a start request into what the engine takes.
fn start_request(input: StartExecution) -> Result<StartRequest, ApiError> {
    let contact = ContactNumber::parse(input.contact.trim())
        .map_err(|e| bad(format!("contact: {e}")))?
        .to_string();
    let call = call_details(input.call)?;
    let keys = variables(
        "keys",
        input.keys,
        &[Namespace::FlowKey, Namespace::FlowSyskey],
    )?;

    Ok(StartRequest {
        contact,
        call,
        keys,
        recordings: serde_json::to_value(&input.recordings).unwrap_or_default(),
        remote_hangup: input.remote_hangup,
    })
}

/// Checks `$call.*` details given by name without the prefix; an alias
/// (`cli`) is stored under the name it stands for.
pub(crate) fn call_details(
    given: BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut call = BTreeMap::new();
    for (name, value) in given {
        let Some(known) = known_call_name(&name) else {
            return Err(bad(format!(
                "call.{name} is not a call detail; known: {}",
                CALL_NAMES.join(", ")
            )));
        };
        if let Some(text) = text_of(value) {
            call.insert(known.to_owned(), text);
        }
    }
    Ok(call)
}

/// Checks variables given by full name, allowing only the `allowed` namespaces.
pub(crate) fn variables(
    field: &str,
    given: BTreeMap<String, serde_json::Value>,
    allowed: &[Namespace],
) -> Result<Variables, ApiError> {
    let mut vars = Variables::new();
    for (name, value) in given {
        let var = VarName::parse(&name).map_err(|e| bad(format!("{field}: `{name}`: {e}")))?;
        if !allowed.contains(&var.namespace()) {
            let names: Vec<String> = allowed
                .iter()
                .map(|n| format!("${}*", n.prefix()))
                .collect();
            return Err(bad(format!(
                "{field}: {var}: only {} can be given here",
                names.join(", ")
            )));
        }
        if let Some(text) = text_of(value) {
            vars.insert(var, text);
        }
    }
    Ok(vars)
}

pub(crate) fn engine_error(e: ExecutionError) -> ApiError {
    match e {
        ExecutionError::Store(s) => s.into(),
        ExecutionError::InvalidFlow(msg) => ApiError::internal(msg),
        ExecutionError::Busy(msg) => ApiError::too_many("TOO_MANY_EXECUTIONS", msg, 1),
        ExecutionError::AlreadyRunning(id) => {
            ApiError::internal(format!("execution {id} already runs here"))
        }
    }
}

/// The answer to a start without waiting.
#[derive(Serialize, ToSchema)]
pub struct Started {
    #[schema(value_type = flowhook_core::ids::ExecutionId)]
    pub uuid: String,
    pub status: &'static str,
}

#[utoipa::path(post, path = "/v1/flows/{id}/executions", tag = "executions",
    params(("id" = inline(flowhook_core::ids::FlowId), Path, description = "The flow")), request_body = StartExecution,
    security(("security_id" = [])),
    responses((status = 200, body = ExecutionView, description = "finished (wait: true)"),
               (status = 202, body = Started, description = "started (wait: false)"),
               (status = 404, body = Problem), (status = 422, body = Problem),
               (status = 429, body = Problem, description = "too many executions running; see Retry-After")))]
pub async fn start_execution(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<StartExecution>,
) -> Result<Response, ApiError> {
    let flow_id = FlowId::parse(&id).ok_or_else(|| ApiError::not_found("flow"))?;
    let wait = input.wait;
    let request = start_request(input)?;
    let flow = state
        .store
        .flow(me.id, &flow_id)
        .await?
        .ok_or_else(|| ApiError::not_found("flow"))?;
    // Start and run are one task of their own, so a caller that hangs up
    // cannot leave a stored execution that never runs, nor cut a running one
    // (and its flow-end message) in half.
    let executions = state.executions.clone();
    let (started, has_started) = tokio::sync::oneshot::channel();
    let run = tokio::spawn(async move {
        let prepared = match executions.prepare(&me, &flow, request).await {
            Ok(prepared) => prepared,
            Err(e) => {
                let _ = started.send(Err(e));
                return None;
            }
        };
        let _ = started.send(Ok(prepared.id()));
        Some(executions.run(prepared).await)
    });
    let uuid = has_started
        .await
        .map_err(|_| ApiError::internal("the execution task ended before it started"))?
        .map_err(engine_error)?;
    if wait {
        let record = run
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::internal("a started execution did not run"))?
            .map_err(engine_error)?;
        return Ok(axum::Json(view(record, true)).into_response());
    }
    tokio::spawn(async move {
        match run.await {
            Ok(Some(Ok(_)) | None) => {}
            Ok(Some(Err(e))) => {
                tracing::error!(execution = %uuid, error = %e, "execution could not be recorded")
            }
            Err(e) => tracing::error!(execution = %uuid, error = %e, "execution task failed"),
        }
    });

    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Started {
            uuid: uuid.to_string(),
            status: "running",
        }),
    )
        .into_response())
}

fn execution_id(id: &str) -> Result<ExecutionId, ApiError> {
    ExecutionId::parse(id).ok_or_else(|| ApiError::not_found("execution"))
}

#[utoipa::path(get, path = "/v1/executions/{uuid}", tag = "executions",
    params(("uuid" = inline(flowhook_core::ids::ExecutionId), Path, description = "The execution")), security(("security_id" = [])),
    responses((status = 200, body = ExecutionView), (status = 404, body = Problem)))]
pub async fn get_execution(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(uuid): Path<String>,
) -> Result<axum::Json<ExecutionView>, ApiError> {
    let record = state
        .store
        .execution(me.id, execution_id(&uuid)?)
        .await?
        .ok_or_else(|| ApiError::not_found("execution"))?;
    Ok(axum::Json(view(record, true)))
}

/// Filters of `GET /v1/executions`.
/// Where an execution stands.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    Running,
    Completed,
    Failed,
}

impl ExecutionStatus {
    fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "running",
            ExecutionStatus::Completed => "completed",
            ExecutionStatus::Failed => "failed",
        }
    }
}

/// Filters of `GET /v1/executions`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the executions of this flow.
    #[param(inline)]
    pub flow_id: Option<FlowId>,
    #[param(inline)]
    pub status: Option<ExecutionStatus>,
    /// Started at or after this time.
    #[param(inline)]
    pub from: Option<Rfc3339>,
    /// Started before this time.
    #[param(inline)]
    pub to: Option<Rfc3339>,
    /// At most this many, newest first.
    #[serde(default)]
    #[param(inline)]
    pub limit: Limit,
}

#[utoipa::path(get, path = "/v1/executions", tag = "executions", params(ListQuery),
    security(("security_id" = [])),
    responses((status = 200, body = Vec<ExecutionView>), (status = 400, body = Problem)))]
pub async fn list_executions(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<Vec<ExecutionView>>, ApiError> {
    let filter = ExecutionFilter {
        flow_id: q.flow_id.map(|f| f.as_str().to_owned()),
        status: q.status.map(|s| s.as_str().to_owned()),
        from: q.from.map(|t| t.0),
        to: q.to.map(|t| t.0),
        limit: q.limit.0,
    };
    let records = state.store.executions(me.id, &filter).await?;
    Ok(axum::Json(
        records.into_iter().map(|r| view(r, false)).collect(),
    ))
}

#[utoipa::path(post, path = "/v1/executions/{uuid}/hangup", tag = "executions",
    params(("uuid" = inline(flowhook_core::ids::ExecutionId), Path, description = "The execution")), security(("security_id" = [])),
    responses((status = 202, body = Started), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn report_hangup(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(uuid): Path<String>,
) -> Result<(StatusCode, axum::Json<Started>), ApiError> {
    let id = execution_id(&uuid)?;
    let record = state
        .store
        .execution(me.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("execution"))?;
    if record.status != "running" || !state.executions.hangup(id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "EXECUTION_NOT_RUNNING",
            format!(
                "execution {id} is {} (or runs on another server)",
                record.status
            ),
        ));
    }
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Started {
            uuid: id.to_string(),
            status: "running",
        }),
    ))
}
