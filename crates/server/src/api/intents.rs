//! An account's built-in intent rules, for `speechprocessing` (SPEC §5):
//! CRUD under `/v1/intents`. A rule is named (unique in the account) and has
//! phrases, keywords, an optional regex and a priority; how they are matched
//! is `flowhook_core::intents`.
//!
//! Promises: a rule is checked whole before it is stored (a bad regex is a
//! 422 `INVALID_REGEX` naming `regex`; every problem names its field in
//! `errors`); an account has at most 500 rules (409 `TOO_MANY_INTENTS`), each
//! at most 100 phrases and 100 keywords of at most 200 characters and a regex
//! of at most 500 bytes; an account sees and changes only its own rules.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flowhook_core::intents::{IntentName, IntentRule, MAX_INTENTS, RuleError};
use flowhook_storage::{AccountRecord, IntentRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::extract::ApiJson;
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// A phrase or keyword: 1–200 characters, with a letter or digit and no
/// control characters.
pub struct Phrase;

impl utoipa::PartialSchema for Phrase {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(200))
            .examples(["pay my bill"])
            .into()
    }
}

impl ToSchema for Phrase {}

/// `POST /v1/intents`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIntent {
    /// The intent `speechprocessing` answers as `$flow.key.intent`.
    #[schema(value_type = IntentName)]
    pub name: String,
    /// As in [`IntentInput`].
    #[serde(default)]
    #[schema(value_type = Vec<Phrase>, max_items = 100, example = json!(["pay my bill", "मेरा बिल"]))]
    pub phrases: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Vec<Phrase>, max_items = 100, example = json!(["bill", "payment", "बिल"]))]
    pub keywords: Vec<String>,
    #[schema(max_length = 500, example = "order (no|number) \\d{4,}")]
    pub regex: Option<String>,
    #[serde(default)]
    #[schema(minimum = -1000000, maximum = 1000000, example = 10)]
    pub priority: i64,
}

/// `PUT /v1/intents/{name}`: the whole rule; the name stays.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentInput {
    /// Phrases matched as whole words in sequence, after normalisation (case,
    /// punctuation, spacing, Unicode NFKC); the whole text scores highest.
    /// Each 1–200 characters with a letter or digit.
    #[serde(default)]
    #[schema(value_type = Vec<Phrase>, max_items = 100, example = json!(["pay my bill", "मेरा बिल"]))]
    pub phrases: Vec<String>,
    /// Words (or short word sequences) whose presence counts toward the rule,
    /// scored by the share of them present. Each 1–200 characters.
    #[serde(default)]
    #[schema(value_type = Vec<Phrase>, max_items = 100, example = json!(["bill", "payment", "बिल"]))]
    pub keywords: Vec<String>,
    /// A regular expression (Rust `regex` syntax) matched case-insensitively
    /// against the text with its whitespace collapsed; at most 500 bytes.
    #[schema(max_length = 500, example = "order (no|number) \\d{4,}")]
    pub regex: Option<String>,
    /// Breaks ties between rules with equal scores: higher wins. Default 0.
    #[serde(default)]
    #[schema(minimum = -1000000, maximum = 1000000, example = 10)]
    pub priority: i64,
}

/// A rule as answers show it.
#[derive(Serialize, ToSchema)]
pub struct IntentView {
    #[schema(value_type = IntentName)]
    pub name: String,
    pub phrases: Vec<String>,
    pub keywords: Vec<String>,
    pub regex: Option<String>,
    pub priority: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn view(r: &IntentRecord) -> IntentView {
    IntentView {
        name: r.rule.name.to_string(),
        phrases: r.rule.phrases.clone(),
        keywords: r.rule.keywords.clone(),
        regex: r.rule.regex.clone(),
        priority: r.rule.priority,
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

fn intent_name(name: &str) -> Result<IntentName, ApiError> {
    IntentName::parse(name).ok_or_else(|| ApiError::not_found("intent"))
}

fn checked(name: IntentName, input: IntentInput) -> Result<IntentRule, ApiError> {
    IntentRule::new(
        name,
        input.phrases,
        input.keywords,
        input.regex,
        input.priority,
    )
    .map_err(|e: RuleError| {
        let code = match e.field {
            "regex" => "INVALID_REGEX",
            "keywords" => "INVALID_KEYWORDS",
            "priority" => "INVALID_PRIORITY",
            _ => "INVALID_PHRASES",
        };
        ApiError::unprocessable(code, e.to_string())
            .with_errors(json!([{"field": e.field, "message": e.message}]))
    })
}

async fn load(state: &AppState, me: &AccountRecord, name: &str) -> Result<IntentRecord, ApiError> {
    state
        .store
        .intent(me.id, &intent_name(name)?)
        .await?
        .ok_or_else(|| ApiError::not_found("intent"))
}

#[utoipa::path(post, path = "/v1/intents", tag = "intents", request_body = NewIntent,
    security(("security_id" = [])),
    responses((status = 201, body = IntentView),
              (status = 409, body = Problem, description = "`CONFLICT`: the account has an intent with this name; `TOO_MANY_INTENTS`: it has 500"),
              (status = 422, body = Problem, description = "`INVALID_INTENT_NAME`, `INVALID_PHRASES`, `INVALID_KEYWORDS`, `INVALID_REGEX` or `INVALID_PRIORITY`; `errors` names the field")))]
pub async fn create_intent(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(input): ApiJson<NewIntent>,
) -> Result<(StatusCode, axum::Json<IntentView>), ApiError> {
    let name = IntentName::parse(&input.name).ok_or_else(|| {
        ApiError::unprocessable(
            "INVALID_INTENT_NAME",
            "name: 1–64 characters of A–Z, a–z, 0–9, _, - and .",
        )
        .with_errors(
            json!([{"field": "name", "message": "1–64 characters of A–Z, a–z, 0–9, _, - and ."}]),
        )
    })?;
    let rule = checked(
        name,
        IntentInput {
            phrases: input.phrases,
            keywords: input.keywords,
            regex: input.regex,
            priority: input.priority,
        },
    )?;
    if !state.store.insert_intent(me.id, &rule, MAX_INTENTS).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "TOO_MANY_INTENTS",
            format!(
                "this account has {MAX_INTENTS} intents, the most it may have; delete one first"
            ),
        ));
    }
    tracing::info!(account = %me.id, intent = %rule.name, "intent created");
    let stored = load(&state, &me, rule.name.as_str()).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&stored))))
}

#[utoipa::path(get, path = "/v1/intents", tag = "intents", security(("security_id" = [])),
    responses((status = 200, body = Vec<IntentView>, description = "Every rule of the account, by name")))]
pub async fn list_intents(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
) -> Result<axum::Json<Vec<IntentView>>, ApiError> {
    let rules = state.store.intents(me.id).await?;
    Ok(axum::Json(rules.iter().map(view).collect()))
}

#[utoipa::path(get, path = "/v1/intents/{name}", tag = "intents",
    params(("name" = inline(IntentName), Path, description = "The intent")), security(("security_id" = [])),
    responses((status = 200, body = IntentView), (status = 404, body = Problem)))]
pub async fn get_intent(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(name): Path<String>,
) -> Result<axum::Json<IntentView>, ApiError> {
    Ok(axum::Json(view(&load(&state, &me, &name).await?)))
}

#[utoipa::path(put, path = "/v1/intents/{name}", tag = "intents",
    params(("name" = inline(IntentName), Path, description = "The intent")), request_body = IntentInput,
    security(("security_id" = [])),
    responses((status = 200, body = IntentView), (status = 404, body = Problem),
              (status = 422, body = Problem, description = "`INVALID_PHRASES`, `INVALID_KEYWORDS`, `INVALID_REGEX` or `INVALID_PRIORITY`; `errors` names the field")))]
pub async fn update_intent(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(name): Path<String>,
    ApiJson(input): ApiJson<IntentInput>,
) -> Result<axum::Json<IntentView>, ApiError> {
    let rule = checked(intent_name(&name)?, input)?;
    if !state.store.update_intent(me.id, &rule).await? {
        return Err(ApiError::not_found("intent"));
    }
    Ok(axum::Json(view(&load(&state, &me, &name).await?)))
}

#[utoipa::path(delete, path = "/v1/intents/{name}", tag = "intents",
    params(("name" = inline(IntentName), Path, description = "The intent")), security(("security_id" = [])),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
pub async fn delete_intent(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_intent(me.id, &intent_name(&name)?)
        .await?
    {
        tracing::info!(account = %me.id, intent = %name, "intent deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("intent"))
    }
}
