//! An account's chat bots, for `linkcreation` (SPEC §5): CRUD under
//! `/v1/bots`. A bot is named by the id its flows send as `$flow.key.botid`
//! (`123` in the seeds), has the base URL of its personalised links and a
//! token the flow must send as `$flow.key.token`.
//!
//! Promise: the token is a credential: sealed before it reaches storage
//! (`Purpose::BotToken`), shown as `***` in every answer; an update that sends
//! no token, or `***`, keeps the stored one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flowhook_core::bots::{BotId, BotToken, parse_base};
use flowhook_core::secret::{Binding, Purpose};
use flowhook_storage::{AccountRecord, BotRecord, Sealed};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::extract::ApiJson;
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// How answers show a bot's token.
const MASK: &str = "***";

/// `POST /v1/bots`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBot {
    /// The id flows send as `$flow.key.botid`; unique in the account.
    #[schema(value_type = BotId)]
    pub id: String,
    /// A name for people; default the id. Up to 100 characters, no control
    /// characters.
    #[schema(max_length = 100, example = "Order bot")]
    pub name: Option<String>,
    /// The start of the bot's personalised links: an `http(s)` URL with a
    /// host and no credentials, at most 2048 bytes; it may hold a query.
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^\\s*[Hh][Tt][Tt][Pp][Ss]?://",
        example = "https://bot.example.com/chat?src=ivr"
    )]
    pub base_url: String,
    /// The bot's token (its "cust token"): 1–256 bytes, no control
    /// characters, not `***`.
    #[schema(min_length = 1, max_length = 256, example = "bt_9f8e7d6c5b4a")]
    pub token: String,
}

/// `PUT /v1/bots/{id}`: the bot's settings; the id stays.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotInput {
    /// Default the id.
    #[schema(max_length = 100, example = "Order bot")]
    pub name: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 2048,
        pattern = "^\\s*[Hh][Tt][Tt][Pp][Ss]?://",
        example = "https://bot.example.com/chat?src=ivr"
    )]
    pub base_url: String,
    /// A new token; omit it (or send `***`) to keep the stored one.
    #[schema(min_length = 1, max_length = 256, example = "***")]
    pub token: Option<String>,
}

/// A bot as answers show it.
#[derive(Serialize, ToSchema)]
pub struct BotView {
    #[schema(value_type = BotId)]
    pub id: String,
    #[schema(example = "Order bot")]
    pub name: String,
    #[schema(example = "https://bot.example.com/chat?src=ivr")]
    pub base_url: String,
    /// Always `***`: the token is never shown.
    #[schema(example = "***")]
    pub token: &'static str,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn view(b: &BotRecord) -> BotView {
    BotView {
        id: b.id.to_string(),
        name: b.name.clone(),
        base_url: b.base_url.as_str().to_owned(),
        token: MASK,
        created_at: rfc3339(b.created_at),
        updated_at: rfc3339(b.updated_at),
    }
}

fn bot_id(id: &str) -> Result<BotId, ApiError> {
    BotId::parse(id).ok_or_else(|| ApiError::not_found("bot"))
}

fn name(name: Option<String>, id: &BotId) -> Result<String, ApiError> {
    let Some(name) = name else {
        return Ok(id.to_string());
    };
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "INVALID_NAME",
            "name: 1–100 characters, not blank, without control characters",
        ));
    }
    Ok(name)
}

fn seal(state: &AppState, me: &AccountRecord, token: &str) -> Result<Sealed, ApiError> {
    let token = BotToken::parse(token)
        .map_err(|e| ApiError::unprocessable("INVALID_TOKEN", format!("token: {e}")))?;
    Ok(Sealed(state.master_key.seal(
        Binding::new(me.id, Purpose::BotToken),
        token.expose(),
    )))
}

fn base(url: &str) -> Result<flowhook_core::links::LongUrl, ApiError> {
    parse_base(url).map_err(|e| ApiError::unprocessable("INVALID_URL", format!("base_url: {e}")))
}

async fn load(state: &AppState, me: &AccountRecord, id: &str) -> Result<BotRecord, ApiError> {
    state
        .store
        .bot(me.id, &bot_id(id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("bot"))
}

#[utoipa::path(post, path = "/v1/bots", tag = "bots", request_body = NewBot,
    security(("security_id" = [])),
    responses((status = 201, body = BotView),
              (status = 409, body = Problem, description = "`CONFLICT`: the account has a bot with this id"),
              (status = 422, body = Problem, description = "`INVALID_BOT_ID`, `INVALID_NAME`, `INVALID_URL` (base_url) or `INVALID_TOKEN`")))]
pub async fn create_bot(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(input): ApiJson<NewBot>,
) -> Result<(StatusCode, axum::Json<BotView>), ApiError> {
    let id = BotId::parse(&input.id).ok_or_else(|| {
        ApiError::unprocessable(
            "INVALID_BOT_ID",
            "id: 1–64 characters of A–Z, a–z, 0–9, _ and -",
        )
    })?;
    let bot = BotRecord {
        account_id: me.id,
        name: name(input.name, &id)?,
        id,
        base_url: base(&input.base_url)?,
        token: seal(&state, &me, &input.token)?,
        created_at: 0,
        updated_at: 0,
    };
    state.store.insert_bot(&bot).await?;
    tracing::info!(account = %me.id, bot = %bot.id, "bot created");
    let stored = load(&state, &me, bot.id.as_str()).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&stored))))
}

#[utoipa::path(get, path = "/v1/bots", tag = "bots", security(("security_id" = [])),
    responses((status = 200, body = Vec<BotView>)))]
pub async fn list_bots(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
) -> Result<axum::Json<Vec<BotView>>, ApiError> {
    let bots = state.store.bots(me.id).await?;
    Ok(axum::Json(bots.iter().map(view).collect()))
}

#[utoipa::path(get, path = "/v1/bots/{id}", tag = "bots",
    params(("id" = inline(BotId), Path, description = "The bot")), security(("security_id" = [])),
    responses((status = 200, body = BotView), (status = 404, body = Problem)))]
pub async fn get_bot(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<BotView>, ApiError> {
    Ok(axum::Json(view(&load(&state, &me, &id).await?)))
}

#[utoipa::path(put, path = "/v1/bots/{id}", tag = "bots",
    params(("id" = inline(BotId), Path, description = "The bot")), request_body = BotInput,
    security(("security_id" = [])),
    responses((status = 200, body = BotView), (status = 404, body = Problem),
              (status = 422, body = Problem, description = "`INVALID_NAME`, `INVALID_URL` (base_url) or `INVALID_TOKEN`")))]
pub async fn update_bot(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<BotInput>,
) -> Result<axum::Json<BotView>, ApiError> {
    let existing = load(&state, &me, &id).await?;
    let token = match input.token.as_deref() {
        None | Some(MASK) => existing.token.clone(),
        Some(token) => seal(&state, &me, token)?,
    };
    let bot = BotRecord {
        name: name(input.name, &existing.id)?,
        base_url: base(&input.base_url)?,
        token,
        ..existing
    };
    if !state.store.update_bot(&bot).await? {
        return Err(ApiError::not_found("bot"));
    }
    Ok(axum::Json(view(&load(&state, &me, &id).await?)))
}

#[utoipa::path(delete, path = "/v1/bots/{id}", tag = "bots",
    params(("id" = inline(BotId), Path, description = "The bot")), security(("security_id" = [])),
    responses((status = 204, description = "Deleted, with the `botUniqueID`s of its callers"), (status = 404, body = Problem)))]
pub async fn delete_bot(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_bot(me.id, &bot_id(&id)?).await? {
        tracing::info!(account = %me.id, bot = %id, "bot deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("bot"))
    }
}
