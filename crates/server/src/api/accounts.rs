//! Accounts (admin token) and an account's own settings and IP whitelist.
//!
//! `allow_http` is the operator's decision (accounts ask for it, as on the original
//! platform), so only the admin token may change it. Provider settings may hold API
//! keys: string values under keys that name a secret are sealed before storage and
//! shown as `***`; array entries carry an `id` so a `***` stays with its entry
//! (see `flowhook_core::providers`).
//!
//! Short links: every account gets a short-link token (`custToken`) when it is
//! made; the settings show it (the seeds' customers read it there) and
//! `POST /v1/accounts/{id}/short-token` replaces it. It is stored as a hash to
//! look up plus a sealed copy to show. `short_base_url` is the account's own
//! short domain (null: the server's `FLOWHOOK_SHORT_BASE_URL`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flowhook_core::account::{AccountName, IpWhitelist, SecurityId, TimeZone};
use flowhook_core::agents::CountryCode;
use flowhook_core::ids::AccountId;
use flowhook_core::links::ShortBase;
use flowhook_core::providers;
use flowhook_storage::{AccountPatch, AccountRecord, NewAccount};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{AccountCaller, Admin, Caller};
use super::extract::ApiJson;
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// `POST /v1/accounts`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Display name: up to 100 characters, not blank, no control characters.
    #[schema(min_length = 1, max_length = 100, example = "Acme Support")]
    pub name: String,
    /// May webhooks use `http://`? Default false: `https://` only.
    #[serde(default)]
    pub allow_http: bool,
    /// The account's time zone, default `UTC`.
    #[schema(value_type = Option<flowhook_core::account::TimeZone>)]
    pub timezone: Option<String>,
}

/// An account as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct AccountView {
    #[schema(value_type = flowhook_core::ids::AccountId)]
    pub id: String,
    pub name: String,
    pub client_id: i64,
    pub allow_http: bool,
    #[schema(value_type = flowhook_core::account::TimeZone)]
    pub timezone: String,
    /// Addresses and networks allowed to call with the account's key; empty
    /// allows every address.
    #[schema(example = json!(["203.0.113.0/24"]))]
    pub whitelist: Vec<String>,
    /// The business calendar of `validateDateTime`.
    #[schema(value_type = flowhook_core::calendar::Calendar)]
    pub calendar: serde_json::Value,
    /// Provider settings; secret values are shown as `***`, and every object
    /// in an array has an `id` (send it back to keep that entry's `***`).
    #[schema(value_type = Object)]
    pub providers: serde_json::Value,
    /// The country code of a cli written without one, for matching agents
    /// (`updatePauseStatusForCLI`) and as new agents' default.
    #[schema(value_type = flowhook_core::agents::CountryCode)]
    pub default_country_code: String,
    /// The short-link token: the `custToken` of `POST /UrlShortner/shortUrl`.
    /// Replace it with `POST /v1/accounts/{id}/short-token`.
    #[schema(example = "q3VtR8fL2xZ0aB7cD9eF1gH4iJ6kM5nP")]
    pub short_token: Option<String>,
    /// The account's own short domain (short links are this + `/` + code);
    /// null: the server's default (`FLOWHOOK_SHORT_BASE_URL`).
    #[schema(example = "https://go.acme.example")]
    pub short_base_url: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The answer to account creation: the only time the API key is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedAccount {
    #[serde(flatten)]
    pub account: AccountView,
    /// The account's API key (64 characters). Store it now: flowhook keeps only a hash.
    #[schema(
        pattern = "^[0-9a-f]{64}$",
        example = "5f0c9d1e2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5"
    )]
    pub security_id: String,
}

/// `PATCH /v1/accounts/{id}`: any subset of the fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    /// Admin token only.
    pub allow_http: Option<bool>,
    #[schema(value_type = Option<flowhook_core::account::TimeZone>)]
    pub timezone: Option<String>,
    /// Replaces the business calendar (working weekdays, business and
    /// callback hours, holidays, time zone); `{}` is the default one.
    pub calendar: Option<flowhook_core::calendar::Calendar>,
    #[schema(value_type = Option<Object>)]
    pub providers: Option<serde_json::Value>,
    /// Replaces the IP whitelist (lets the operator undo a lock-out).
    pub whitelist: Option<Vec<String>>,
    /// The country code of a cli written without one (default `91`): how
    /// `updatePauseStatusForCLI` reads `9876543210`, and new agents' default.
    /// Agents already saved keep their own.
    #[schema(value_type = Option<flowhook_core::agents::CountryCode>)]
    pub default_country_code: Option<String>,
    /// The account's own short domain: an `http(s)` base URL with a host,
    /// maybe a path, no query, fragment or credentials; null goes back to the
    /// server's default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 256, pattern = "^\\s*[Hh][Tt][Tt][Pp][Ss]?://",
        example = "https://go.acme.example")]
    pub short_base_url: Option<Option<String>>,
}

/// A field that was sent, as `Some` (null included), apart from one that was not.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The answer to a short-link token rotation.
#[derive(Serialize, ToSchema)]
pub struct RotatedShortToken {
    /// The new `custToken`; the old one no longer works.
    #[schema(example = "q3VtR8fL2xZ0aB7cD9eF1gH4iJ6kM5nP")]
    pub short_token: String,
}

/// `PUT /v1/whitelist` and its answer.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Whitelist {
    /// Addresses or CIDR networks (at most 256); empty allows every address.
    #[schema(max_items = 256, example = json!(["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"]))]
    pub entries: Vec<String>,
}

pub fn view(state: &AppState, a: &AccountRecord) -> Result<AccountView, ApiError> {
    Ok(AccountView {
        id: a.id.to_string(),
        name: a.name.clone(),
        client_id: a.client_id,
        allow_http: a.allow_http,
        timezone: a.timezone.name().to_owned(),
        whitelist: a
            .whitelist
            .entries()
            .iter()
            .map(ToString::to_string)
            .collect(),
        calendar: a.calendar.clone(),
        providers: providers::mask(&a.providers),
        default_country_code: a.default_country_code.to_string(),
        short_token: flowhook_engine::links::open_token(&state.master_key, a)
            .map_err(ApiError::internal)?,
        short_base_url: a.short_base_url.as_ref().map(|b| b.as_str().to_owned()),
        created_at: rfc3339(a.created_at),
        updated_at: rfc3339(a.updated_at),
    })
}

fn parse_timezone(tz: Option<&str>) -> Result<Option<TimeZone>, ApiError> {
    tz.map(|t| TimeZone::parse(t).map_err(|e| ApiError::unprocessable("INVALID_TIMEZONE", e)))
        .transpose()
}

fn parse_whitelist(entries: &[String]) -> Result<IpWhitelist, ApiError> {
    IpWhitelist::parse(entries).map_err(|e| ApiError::unprocessable("INVALID_WHITELIST", e))
}

#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", request_body = CreateAccount,
    security(("admin_token" = [])),
    responses((status = 201, body = CreatedAccount), (status = 401, body = Problem), (status = 422, body = Problem)))]
pub async fn create_account(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(input): ApiJson<CreateAccount>,
) -> Result<(StatusCode, axum::Json<CreatedAccount>), ApiError> {
    let name =
        AccountName::parse(&input.name).map_err(|e| ApiError::unprocessable("INVALID_NAME", e))?;
    let timezone = parse_timezone(input.timezone.as_deref())?.unwrap_or_default();
    // Client ids are random 9-digit numbers, like the original platform's; a
    // collision is astronomically rare and simply retried.
    for _ in 0..5 {
        let key = SecurityId::generate();
        let id = AccountId::generate();
        let new = NewAccount {
            id,
            name: name.clone(),
            client_id: 100_000_000
                + (u64::from_le_bytes(flowhook_core::secret::random_bytes::<8>()) % 900_000_000)
                    as i64,
            security_hash: key.lookup_hash(),
            allow_http: input.allow_http,
            timezone,
            short_token: flowhook_engine::links::issue_token(&state.master_key, id).1,
        };
        match state.store.create_account(&new).await {
            Ok(record) => {
                tracing::info!(account = %record.id, client_id = record.client_id, "account created");
                return Ok((
                    StatusCode::CREATED,
                    axum::Json(CreatedAccount {
                        account: view(&state, &record)?,
                        security_id: key.expose().to_owned(),
                    }),
                ));
            }
            Err(flowhook_storage::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("could not find a free client id"))
}

#[utoipa::path(get, path = "/v1/accounts", tag = "accounts", security(("admin_token" = [])),
    responses((status = 200, body = Vec<AccountView>), (status = 401, body = Problem)))]
pub async fn list_accounts(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<axum::Json<Vec<AccountView>>, ApiError> {
    let accounts = state.store.accounts().await?;
    let views = accounts
        .iter()
        .map(|a| view(&state, a))
        .collect::<Result<_, _>>()?;
    Ok(axum::Json(views))
}

/// Resolves `{id}` for a caller: the admin sees any account, an account only itself.
async fn target(state: &AppState, caller: Caller, id: &str) -> Result<AccountRecord, ApiError> {
    let id = AccountId::parse(id).ok_or_else(|| ApiError::not_found("account"))?;
    match caller {
        Caller::Account(me) if me.id == id => Ok(*me),
        Caller::Account(_) => Err(ApiError::not_found("account")),
        Caller::Admin => state
            .store
            .account(id)
            .await?
            .ok_or_else(|| ApiError::not_found("account")),
    }
}

#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "accounts",
    params(("id" = inline(flowhook_core::ids::AccountId), Path, description = "The account")),
    security(("admin_token" = []), ("security_id" = [])),
    responses((status = 200, body = AccountView), (status = 404, body = Problem)))]
pub async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let account = target(&state, caller, &id).await?;
    Ok(axum::Json(view(&state, &account)?))
}

#[utoipa::path(patch, path = "/v1/accounts/{id}", tag = "accounts",
    params(("id" = inline(flowhook_core::ids::AccountId), Path, description = "The account")), request_body = UpdateAccount,
    security(("admin_token" = []), ("security_id" = [])),
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<UpdateAccount>,
) -> Result<axum::Json<AccountView>, ApiError> {
    let is_admin = matches!(caller, Caller::Admin);
    let account = target(&state, caller, &id).await?;
    if input.allow_http.is_some() && !is_admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "ADMIN_ONLY",
            "allow_http is set by the operator; ask them to enable HTTP for this account",
        ));
    }
    if input.providers.as_ref().is_some_and(|v| !v.is_object()) {
        return Err(ApiError::unprocessable(
            "INVALID_BODY",
            "providers must be a JSON object",
        ));
    }
    // Everything is checked before anything is written, so a 422 changes nothing.
    let whitelist = input
        .whitelist
        .as_deref()
        .map(parse_whitelist)
        .transpose()?;
    let patch = AccountPatch {
        allow_http: input.allow_http,
        timezone: parse_timezone(input.timezone.as_deref())?,
        calendar: input
            .calendar
            .map(|c| serde_json::to_value(c).map_err(ApiError::internal))
            .transpose()?,
        providers: input
            .providers
            .map(|p| {
                providers::seal(&p, &account.providers, &state.master_key, account.id)
                    .map_err(|e| ApiError::unprocessable("INVALID_BODY", e))
            })
            .transpose()?,
        default_country_code: input
            .default_country_code
            .as_deref()
            .map(|c| {
                CountryCode::parse(c)
                    .map_err(|e| ApiError::unprocessable("INVALID_COUNTRY_CODE", e))
            })
            .transpose()?,
        short_base_url: input
            .short_base_url
            .map(|base| {
                base.map(|b| {
                    ShortBase::parse(&b).map_err(|e| {
                        ApiError::unprocessable("INVALID_URL", format!("short_base_url: {e}"))
                    })
                })
                .transpose()
            })
            .transpose()?,
    };
    if let Some(list) = &whitelist {
        state.store.set_whitelist(account.id, list).await?;
    }
    let updated = state
        .store
        .update_account(account.id, &patch)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(axum::Json(view(&state, &updated)?))
}

#[utoipa::path(post, path = "/v1/accounts/{id}/short-token", tag = "accounts",
    params(("id" = inline(flowhook_core::ids::AccountId), Path, description = "The account")),
    security(("admin_token" = []), ("security_id" = [])),
    responses((status = 200, body = RotatedShortToken, description = "The new short-link token; the old one stops working at once"),
              (status = 404, body = Problem)))]
pub async fn rotate_short_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<RotatedShortToken>, ApiError> {
    let account = target(&state, caller, &id).await?;
    // A new token that happens to be taken (never, in practice) is drawn again.
    for _ in 0..5 {
        let (token, record) = flowhook_engine::links::issue_token(&state.master_key, account.id);
        match state
            .store
            .set_short_token(account.id, &record, false)
            .await
        {
            Ok(true) => {
                tracing::info!(account = %account.id, "short-link token rotated");
                return Ok(axum::Json(RotatedShortToken {
                    short_token: token.expose().to_owned(),
                }));
            }
            Ok(false) => return Err(ApiError::not_found("account")),
            Err(flowhook_storage::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal("could not find a free short-link token"))
}

#[utoipa::path(get, path = "/v1/whitelist", tag = "accounts", security(("security_id" = [])),
    responses((status = 200, body = Whitelist), (status = 403, body = Problem)))]
pub async fn get_whitelist(AccountCaller(me): AccountCaller) -> axum::Json<Whitelist> {
    axum::Json(Whitelist {
        entries: me
            .whitelist
            .entries()
            .iter()
            .map(ToString::to_string)
            .collect(),
    })
}

#[utoipa::path(put, path = "/v1/whitelist", tag = "accounts", request_body = Whitelist,
    security(("security_id" = [])),
    responses((status = 200, body = Whitelist), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_whitelist(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(input): ApiJson<Whitelist>,
) -> Result<axum::Json<Whitelist>, ApiError> {
    let list = parse_whitelist(&input.entries)?;
    state.store.set_whitelist(me.id, &list).await?;
    tracing::info!(account = %me.id, entries = list.entries().len(), "whitelist replaced");
    Ok(axum::Json(Whitelist {
        entries: list.entries().iter().map(ToString::to_string).collect(),
    }))
}
