//! The editor's "test this widget" button: `POST /v1/flows/{id}/widgets/{widget}/test`
//! performs one widget of a saved flow on sample variables and answers what it
//! did: the rendered request, the response, the variables it set and the line it
//! took. Nothing is stored.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use flowhook_core::ids::FlowId;
use flowhook_core::vars::Namespace;
use flowhook_engine::executions::StartRequest;
use flowhook_engine::runner::DryRun;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::executions::{call_details, engine_error, variables};
use super::extract::ApiJson;
use super::problem::{ApiError, Problem};
use crate::state::AppState;

/// Sample input of a widget test.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WidgetTest {
    /// Sample values: `$flow.key.*`, `$flow.syskey.*`, `$user.key.*`, `$user.syskey.*`.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"$flow.key.orderId": "A-17"}))]
    pub variables: BTreeMap<String, serde_json::Value>,
    /// Sample call details, as for an execution.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"cli.number": "919876543210", "incoming": true}))]
    pub call: BTreeMap<String, serde_json::Value>,
    /// The contact [default: `test`].
    pub contact: Option<String>,
}

/// What the widget did.
#[derive(serde::Serialize, ToSchema)]
pub struct WidgetTestResult {
    pub widget: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The line taken; null when the widget ends the path.
    pub line: Option<usize>,
    pub next: Option<String>,
    /// Variables the widget set, with their values.
    #[schema(value_type = Object)]
    pub variables: BTreeMap<String, String>,
    /// The rendered request (credentials redacted), or null if none was sent.
    #[schema(value_type = Option<Object>)]
    pub request: Option<serde_json::Value>,
    /// The response, or null if none came.
    #[schema(value_type = Option<Object>)]
    pub response: Option<serde_json::Value>,
    pub error_reason: Option<String>,
    pub error: Option<String>,
}

fn result(widget: String, run: DryRun) -> WidgetTestResult {
    let detail = run.detail.unwrap_or_default();
    let field = |name: &str| detail.get(name).filter(|v| !v.is_null()).cloned();
    WidgetTestResult {
        widget,
        kind: run.kind.to_owned(),
        line: run.line,
        next: run.next,
        variables: run.changed,
        request: field("request"),
        response: field("response").or_else(|| {
            detail
                .get("outcome")
                .and_then(|o| o.get("response"))
                .cloned()
        }),
        error_reason: field("error_reason").and_then(|v| v.as_str().map(str::to_owned)),
        error: run
            .error
            .or_else(|| field("error").and_then(|v| v.as_str().map(str::to_owned))),
    }
}

#[utoipa::path(post, path = "/v1/flows/{id}/widgets/{widget}/test", tag = "flows",
    params(("id" = inline(flowhook_core::ids::FlowId), Path, description = "The flow"),
           ("widget" = String, Path, description = "The widget id in the flow")), request_body = WidgetTest,
    security(("security_id" = [])),
    responses((status = 200, body = WidgetTestResult), (status = 404, body = Problem), (status = 422, body = Problem),
               (status = 429, body = Problem, description = "`TOO_MANY_EXECUTIONS`: the account or the server is at its limit of running executions; see Retry-After")))]
pub async fn test_widget(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path((id, widget)): Path<(String, String)>,
    ApiJson(input): ApiJson<WidgetTest>,
) -> Result<axum::Json<WidgetTestResult>, ApiError> {
    let flow_id = FlowId::parse(&id).ok_or_else(|| ApiError::not_found("flow"))?;
    let flow = state
        .store
        .flow(me.id, &flow_id)
        .await?
        .ok_or_else(|| ApiError::not_found("flow"))?;
    let request = StartRequest {
        contact: input.contact.unwrap_or_else(|| "test".into()),
        call: call_details(input.call)?,
        keys: variables(
            "variables",
            input.variables,
            &[
                Namespace::FlowKey,
                Namespace::FlowSyskey,
                Namespace::UserKey,
                Namespace::UserSyskey,
            ],
        )?,
        ..StartRequest::default()
    };
    let run = state
        .executions
        .dry_run(&me, &flow, &widget, request)
        .await
        .map_err(engine_error)?
        .ok_or_else(|| ApiError::not_found("widget"))?;
    Ok(axum::Json(result(widget, run)))
}
