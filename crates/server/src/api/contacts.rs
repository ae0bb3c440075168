//! A contact's preferences: its `$user.key.*` values, at
//! `/v1/contacts/{number}/preferences`. They are the values flows read and
//! write and that `updateUserPreferences` and `fetchUserPreferences` store and
//! answer: one store (`ExecutionStore::user_keys`), so whatever one of them
//! writes, the others read.
//!
//! `GET` answers `{"$user.key.NAME": "value", …}`. `PUT` takes the same shape
//! (a name may also be sent bare: `NAME`) and replaces every preference of the
//! contact, in one transaction: a name left out is deleted, and `{}` clears
//! them all. What `GET` answers can be sent back unchanged.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use flowhook_core::contact::ContactNumber;
use flowhook_core::vars::{Namespace, VarName};
use serde::{Deserialize, Serialize};

use super::auth::AccountCaller;
use super::extract::ApiJson;
use super::problem::{ApiError, Problem};
use crate::state::AppState;

/// The most preferences a contact may have through `PUT`.
const MAX_KEYS: usize = 100;
/// The longest value, in characters (at most 1 MiB, a variable's limit).
const MAX_VALUE_CHARS: usize = flowhook_core::budget::MAX_VARIABLE_BYTES / 4;

/// `$user.key.` and a name, or a bare name that does not start with `$`;
/// neither has control characters.
const NAME_PATTERN: &str = "^(\\$user\\.key\\.[^\\x00-\\x1f\\x7f-\\x9f]+|[^$\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*)$";

/// A contact's preferences: `$user.key.` names (or bare names, when sent) to
/// text values.
#[derive(Deserialize, Serialize)]
#[serde(transparent)]
pub struct Preferences(BTreeMap<String, String>);

impl utoipa::PartialSchema for Preferences {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let value = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(MAX_VALUE_CHARS));
        let name = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(NAME_PATTERN));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(value))
            .property_names(Some(name))
            .max_properties(Some(MAX_KEYS))
            .description(Some(
                "`$user.key.NAME` (or, when sent, a bare `NAME`) to the value; a name is \
                 not blank and has no control characters, and is given once",
            ))
            .examples([serde_json::json!({"$user.key.language": "hi", "$user.key.tier": "gold"})])
            .into()
    }
}

impl utoipa::ToSchema for Preferences {}

fn contact(number: &str) -> Result<ContactNumber, ApiError> {
    ContactNumber::parse(number)
        .map_err(|e| ApiError::new(axum::http::StatusCode::NOT_FOUND, "NOT_FOUND", e))
}

/// The stored keys as the API shows them.
fn shown(stored: Vec<(String, String)>) -> Preferences {
    Preferences(
        stored
            .into_iter()
            .filter_map(|(name, value)| {
                let var = VarName::new(Namespace::UserKey, name).ok()?;
                Some((var.to_string(), value))
            })
            .collect(),
    )
}

/// The sent preferences as stored `(NAME, value)`: each name once, prefixed or
/// bare.
fn parsed(sent: Preferences) -> Result<Vec<(String, String)>, ApiError> {
    let bad = |detail: String| ApiError::unprocessable("INVALID_PREFERENCES", detail);
    if sent.0.len() > MAX_KEYS {
        return Err(bad(format!("at most {MAX_KEYS} preferences")));
    }
    let mut keys: BTreeMap<String, String> = BTreeMap::new();
    for (sent_name, value) in sent.0 {
        let name = match sent_name.strip_prefix('$') {
            Some(_) => match VarName::parse(&sent_name) {
                Ok(var) if var.namespace() == Namespace::UserKey => var.name().to_owned(),
                _ => {
                    return Err(bad(format!(
                        "{sent_name:?}: a preference is named $user.key.NAME or NAME"
                    )));
                }
            },
            None => VarName::new(Namespace::UserKey, sent_name.as_str())
                .map_err(|e| bad(format!("{sent_name:?}: {e}")))?
                .name()
                .to_owned(),
        };
        if value.chars().count() > MAX_VALUE_CHARS {
            return Err(bad(format!(
                "{sent_name:?}: a value has at most {MAX_VALUE_CHARS} characters"
            )));
        }
        if keys.insert(name.clone(), value).is_some() {
            return Err(bad(format!(
                "$user.key.{name} is given twice (bare and with its prefix)"
            )));
        }
    }
    Ok(keys.into_iter().collect())
}

#[utoipa::path(get, path = "/v1/contacts/{number}/preferences", tag = "contacts",
    params(("number" = inline(ContactNumber), Path, description = "The contact, as flows see it in `$user.syskey.contactNumber`")),
    security(("security_id" = [])),
    responses((status = 200, body = Preferences, description = "Every `$user.key` of the contact; `{}` for a contact without any"),
               (status = 404, body = Problem, description = "`NOT_FOUND`: the number is not a contact (it has spaces, or is longer than 128 characters)")))]
pub async fn get_preferences(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(number): Path<String>,
) -> Result<axum::Json<Preferences>, ApiError> {
    let contact = contact(&number)?;
    let stored = state.store.user_keys(me.id, contact.as_str()).await?;
    Ok(axum::Json(shown(stored)))
}

#[utoipa::path(put, path = "/v1/contacts/{number}/preferences", tag = "contacts",
    params(("number" = inline(ContactNumber), Path, description = "The contact, as flows see it in `$user.syskey.contactNumber`")),
    request_body = Preferences, security(("security_id" = [])),
    responses((status = 200, body = Preferences, description = "The contact's preferences, now exactly those sent"),
               (status = 404, body = Problem, description = "`NOT_FOUND`: the number is not a contact (it has spaces, or is longer than 128 characters)"),
               (status = 422, body = Problem, description = "`INVALID_PREFERENCES`: a name is not `$user.key.NAME` or `NAME`, or is given twice (bare and with its prefix)")))]
pub async fn put_preferences(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(number): Path<String>,
    ApiJson(sent): ApiJson<Preferences>,
) -> Result<axum::Json<Preferences>, ApiError> {
    let contact = contact(&number)?;
    let keys = parsed(sent)?;
    state
        .store
        .replace_user_keys(me.id, contact.as_str(), &keys)
        .await?;
    tracing::info!(account = %me.id, keys = keys.len(), "contact preferences replaced");
    let stored = state.store.user_keys(me.id, contact.as_str()).await?;
    Ok(axum::Json(shown(stored)))
}
