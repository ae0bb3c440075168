//! Flows: save (validated, versioned), read, list, delete, validate without
//! saving.
//!
//! Flow bodies are read as text, not through a JSON value, because assignment
//! order inside a widget is meaning and a JSON map would sort it; validation
//! errors come back as a 422 whose `errors` name each widget.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use flowhook_core::flow::{Flow, FlowError, parse_flow, secrets};
use flowhook_core::ids::{AccountId, FlowId};
use flowhook_storage::FlowRecord;
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::extract::RawJson;
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// The answer to a save.
#[derive(Serialize, ToSchema)]
pub struct Saved {
    #[schema(value_type = flowhook_core::ids::FlowId)]
    pub id: String,
    pub version: i64,
    pub name: String,
}

/// A stored flow.
#[derive(Serialize, ToSchema)]
pub struct FlowView {
    #[schema(value_type = flowhook_core::ids::FlowId)]
    pub id: String,
    pub version: i64,
    pub name: String,
    /// The flow document, in the order it was saved.
    #[schema(value_type = flowhook_core::flow::FlowDocument)]
    pub document: Box<RawValue>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The answer to a successful validation.
#[derive(Serialize, ToSchema)]
pub struct Valid {
    pub valid: bool,
    pub name: String,
}

/// The document to store: literal credentials sealed (see `flow::secrets`);
/// `previous` is the stored document it replaces.
fn sealed(
    state: &AppState,
    account: AccountId,
    document: &str,
    previous: Option<&str>,
) -> Result<String, ApiError> {
    let mut doc: serde_json::Value = serde_json::from_str(document).map_err(ApiError::internal)?;
    let previous = previous
        .map(serde_json::from_str::<serde_json::Value>)
        .transpose()
        .map_err(ApiError::internal)?;
    secrets::seal(&mut doc, &state.master_key, account, previous.as_ref())
        .map_err(|e| ApiError::unprocessable("INVALID_FLOW", e))?;
    Ok(doc.to_string())
}

fn view(r: &FlowRecord) -> Result<FlowView, ApiError> {
    let mut doc: serde_json::Value =
        serde_json::from_str(&r.document).map_err(ApiError::internal)?;
    secrets::mask(&mut doc);
    Ok(FlowView {
        id: r.id.to_string(),
        version: r.version,
        name: r.name.clone(),
        document: RawValue::from_string(doc.to_string()).map_err(ApiError::internal)?,
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    })
}

/// Reads and validates a flow body for `account`; a 422 `INVALID_FLOW` lists
/// every error, a registered webhook that is not the account's included.
async fn checked(
    state: &AppState,
    account: AccountId,
    body: &Bytes,
) -> Result<(Flow, String), ApiError> {
    let (flow, document) = validated(body)?;
    let mut errors = Vec::new();
    for (widget, webhook) in flow.webhook_references() {
        if state.store.webhook(account, webhook).await?.is_none() {
            errors.push(FlowError {
                widget: Some(widget.to_string()),
                message: format!("webhook: {webhook} is not a webhook of this account"),
            });
        }
    }
    if errors.is_empty() {
        Ok((flow, document))
    } else {
        Err(invalid(errors))
    }
}

/// Reads and validates a flow body; a 422 `INVALID_FLOW` lists every error.
fn validated(body: &Bytes) -> Result<(Flow, String), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("INVALID_JSON", "the body is not UTF-8"))?;
    let flow = parse_flow(text).map_err(invalid)?;
    let canonical = serde_json::to_string(&flow).map_err(ApiError::internal)?;
    Ok((flow, canonical))
}

fn invalid(errors: Vec<FlowError>) -> ApiError {
    let summary = match errors.as_slice() {
        [one] => one.to_string(),
        many => format!("{} problems; see `errors`", many.len()),
    };
    ApiError::unprocessable("INVALID_FLOW", summary)
        .with_errors(serde_json::to_value(&errors).unwrap_or_default())
}

fn flow_id(id: &str) -> Result<FlowId, ApiError> {
    FlowId::parse(id).ok_or_else(|| ApiError::not_found("flow"))
}

#[utoipa::path(post, path = "/v1/flows", tag = "flows", security(("security_id" = [])),
    request_body(content = flowhook_core::flow::FlowDocument, description = "A flow document (SPEC §3)",
        example = super::openapi::flow_example),
    responses((status = 201, body = Saved), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_flow(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    RawJson(body): RawJson,
) -> Result<(StatusCode, axum::Json<Saved>), ApiError> {
    let (flow, document) = checked(&state, me.id, &body).await?;
    let document = sealed(&state, me.id, &document, None)?;
    let name = &flow.settings().name;
    // Flow ids are 8 random characters of 62 (about 2·10^14 values): a collision
    // is not worth a retry, and would surface as a 409 like a taken name.
    let record = state
        .store
        .insert_flow(me.id, &FlowId::generate(), name, &document)
        .await?;
    tracing::info!(account = %me.id, flow = %record.id, name, "flow created");
    Ok((
        StatusCode::CREATED,
        axum::Json(Saved {
            id: record.id.to_string(),
            version: record.version,
            name: record.name,
        }),
    ))
}

#[utoipa::path(put, path = "/v1/flows/{id}", tag = "flows",
    params(("id" = inline(flowhook_core::ids::FlowId), Path, description = "The flow")), security(("security_id" = [])),
    request_body(content = flowhook_core::flow::FlowDocument, description = "A flow document (SPEC §3)",
        example = super::openapi::flow_example),
    responses((status = 200, body = Saved), (status = 404, body = Problem), (status = 422, body = Problem),
               (status = 409, body = Problem, description = "`CONFLICT`: another flow has this name")))]
pub async fn update_flow(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
    RawJson(body): RawJson,
) -> Result<axum::Json<Saved>, ApiError> {
    let id = flow_id(&id)?;
    let (flow, document) = checked(&state, me.id, &body).await?;
    let current = state
        .store
        .flow(me.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("flow"))?;
    let document = sealed(&state, me.id, &document, Some(&current.document))?;
    let record = state
        .store
        .update_flow(me.id, &id, &flow.settings().name, &document)
        .await?
        .ok_or_else(|| ApiError::not_found("flow"))?;
    Ok(axum::Json(Saved {
        id: record.id.to_string(),
        version: record.version,
        name: record.name,
    }))
}

#[utoipa::path(post, path = "/v1/flows/validate", tag = "flows", security(("security_id" = [])),
    request_body(content = flowhook_core::flow::FlowDocument, description = "A flow document (SPEC §3)",
        example = super::openapi::flow_example),
    responses((status = 200, body = Valid), (status = 422, body = Problem)))]
pub async fn validate_flow(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    RawJson(body): RawJson,
) -> Result<axum::Json<Valid>, ApiError> {
    let (flow, _) = checked(&state, me.id, &body).await?;
    Ok(axum::Json(Valid {
        valid: true,
        name: flow.settings().name.clone(),
    }))
}

#[utoipa::path(get, path = "/v1/flows/{id}", tag = "flows",
    params(("id" = inline(flowhook_core::ids::FlowId), Path, description = "The flow")), security(("security_id" = [])),
    responses((status = 200, body = FlowView), (status = 404, body = Problem)))]
pub async fn get_flow(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<FlowView>, ApiError> {
    let record = state
        .store
        .flow(me.id, &flow_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("flow"))?;
    Ok(axum::Json(view(&record)?))
}

#[utoipa::path(get, path = "/v1/flows", tag = "flows", security(("security_id" = [])),
    responses((status = 200, body = Vec<FlowView>)))]
pub async fn list_flows(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
) -> Result<axum::Json<Vec<FlowView>>, ApiError> {
    let records = state.store.flows(me.id).await?;
    Ok(axum::Json(
        records.iter().map(view).collect::<Result<_, _>>()?,
    ))
}

#[utoipa::path(delete, path = "/v1/flows/{id}", tag = "flows",
    params(("id" = inline(flowhook_core::ids::FlowId), Path, description = "The flow")), security(("security_id" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_flow(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_flow(me.id, &flow_id(&id)?).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("flow"))
    }
}
