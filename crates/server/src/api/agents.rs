//! Direct-dial agents (SPEC §5, `updatePauseStatusForCLI`): the account's
//! agents at `/v1/agents`, each a name and a number. The break report is
//! `breaks.rs`; putting an agent on or off break is the internal methods'.
//!
//! Promises: a number is read once, when saved, with or without its country
//! code (`flowhook_core::agents`), and shown in E.164 (`+918160712345`); it is
//! unique per account (409); `country_code` defaults to the account's
//! `default_country_code`. Deleting an agent deletes its breaks.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flowhook_core::agents::{AgentName, AgentNumber, CountryCode};
use flowhook_core::ids::AgentId;
use flowhook_storage::{AccountRecord, AgentRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::extract::ApiJson;
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// `POST /v1/agents` and `PUT /v1/agents/{id}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    /// Up to 100 characters, not blank, no control characters.
    #[schema(min_length = 1, max_length = 100, example = "Priya, desk 4")]
    pub name: String,
    /// The agent's number, with or without its country code: `+91 81607 12345`,
    /// `918160712345`, `08160712345` and `8160712345` are one number. Without
    /// `+` or `00`, a number that starts with the country code and has more
    /// than 10 digits is read as carrying it.
    #[schema(value_type = flowhook_core::agents::Cli)]
    pub cli: String,
    /// The agent's country calling code; default: the account's
    /// `default_country_code`.
    #[schema(value_type = Option<CountryCode>)]
    pub country_code: Option<String>,
}

/// An agent as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct AgentView {
    #[schema(value_type = flowhook_core::ids::AgentId)]
    pub id: String,
    #[schema(example = "Priya, desk 4")]
    pub name: String,
    /// The number in E.164: `+`, the country code, the national number.
    #[schema(pattern = "^\\+[1-9][0-9]{4,14}$", example = "+918160712345")]
    pub cli: String,
    #[schema(value_type = CountryCode)]
    pub country_code: String,
    /// Whether the agent is on break.
    pub paused: bool,
    /// When the break it is on began; null when it is not on break.
    pub paused_since: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

pub(crate) fn view(a: &AgentRecord) -> AgentView {
    AgentView {
        id: a.id.to_string(),
        name: a.name.clone(),
        cli: a.number.e164(),
        country_code: a.number.country_code.to_string(),
        paused: a.paused_since.is_some(),
        paused_since: a.paused_since.map(rfc3339),
        created_at: rfc3339(a.created_at),
        updated_at: rfc3339(a.updated_at),
    }
}

/// Checks input into a record; `existing` supplies what an update keeps.
fn record(
    account: &AccountRecord,
    input: AgentInput,
    existing: Option<&AgentRecord>,
) -> Result<AgentRecord, ApiError> {
    let name =
        AgentName::parse(&input.name).map_err(|e| ApiError::unprocessable("INVALID_NAME", e))?;
    let code = match input.country_code.as_deref() {
        Some(code) => CountryCode::parse(code)
            .map_err(|e| ApiError::unprocessable("INVALID_COUNTRY_CODE", e))?,
        None => account.default_country_code.clone(),
    };
    let number = AgentNumber::parse(&input.cli, &code)
        .map_err(|e| ApiError::unprocessable("INVALID_CLI", e.to_string()))?;
    Ok(AgentRecord {
        id: existing.map_or_else(AgentId::generate, |a| a.id),
        account_id: account.id,
        name: name.as_str().to_owned(),
        number,
        paused_since: existing.and_then(|a| a.paused_since),
        created_at: existing.map_or(0, |a| a.created_at),
        updated_at: existing.map_or(0, |a| a.updated_at),
    })
}

fn agent_id(id: &str) -> Result<AgentId, ApiError> {
    AgentId::parse(id).ok_or_else(|| ApiError::not_found("agent"))
}

async fn load(state: &AppState, me: &AccountRecord, id: AgentId) -> Result<AgentRecord, ApiError> {
    state
        .store
        .agent(me.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))
}

#[utoipa::path(post, path = "/v1/agents", tag = "agents", request_body = AgentInput,
    security(("security_id" = [])),
    responses((status = 201, body = AgentView),
               (status = 409, body = Problem, description = "`CONFLICT`: the account has an agent with this number"),
               (status = 422, body = Problem, description = "`INVALID_CLI`: the number has too few or too many digits, or is international in another country code; `INVALID_NAME`: the name is blank")))]
pub async fn create_agent(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(input): ApiJson<AgentInput>,
) -> Result<(StatusCode, axum::Json<AgentView>), ApiError> {
    let agent = record(&me, input, None)?;
    state.store.insert_agent(&agent).await?;
    let stored = load(&state, &me, agent.id).await?;
    tracing::info!(account = %me.id, agent = %agent.id, "agent created");
    Ok((StatusCode::CREATED, axum::Json(view(&stored))))
}

#[utoipa::path(get, path = "/v1/agents", tag = "agents", security(("security_id" = [])),
    responses((status = 200, body = Vec<AgentView>, description = "Every agent of the account, oldest first")))]
pub async fn list_agents(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
) -> Result<axum::Json<Vec<AgentView>>, ApiError> {
    let agents = state.store.agents(me.id).await?;
    Ok(axum::Json(agents.iter().map(view).collect()))
}

#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = inline(flowhook_core::ids::AgentId), Path, description = "The agent")),
    security(("security_id" = [])),
    responses((status = 200, body = AgentView), (status = 404, body = Problem)))]
pub async fn get_agent(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<AgentView>, ApiError> {
    Ok(axum::Json(view(&load(&state, &me, agent_id(&id)?).await?)))
}

#[utoipa::path(put, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = inline(flowhook_core::ids::AgentId), Path, description = "The agent")),
    request_body = AgentInput, security(("security_id" = [])),
    responses((status = 200, body = AgentView, description = "The agent, its breaks kept"),
               (status = 404, body = Problem),
               (status = 409, body = Problem, description = "`CONFLICT`: another agent has this number"),
               (status = 422, body = Problem, description = "`INVALID_CLI`, `INVALID_NAME`: as at creation")))]
pub async fn update_agent(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AgentInput>,
) -> Result<axum::Json<AgentView>, ApiError> {
    let existing = load(&state, &me, agent_id(&id)?).await?;
    let agent = record(&me, input, Some(&existing))?;
    if !state.store.update_agent(&agent).await? {
        return Err(ApiError::not_found("agent"));
    }
    Ok(axum::Json(view(&load(&state, &me, agent.id).await?)))
}

#[utoipa::path(delete, path = "/v1/agents/{id}", tag = "agents",
    params(("id" = inline(flowhook_core::ids::AgentId), Path, description = "The agent")),
    security(("security_id" = [])),
    responses((status = 204, description = "Deleted, with its breaks"), (status = 404, body = Problem)))]
pub async fn delete_agent(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_agent(me.id, agent_id(&id)?).await? {
        tracing::info!(account = %me.id, agent = %id, "agent deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("agent"))
    }
}
