//! The account's own pages: settings (time zone, country code, business
//! calendar), the IP whitelist, and the providers' settings with their
//! secrets masked (as `GET /v1/accounts/{id}` shows them; a `***` sent back
//! keeps the stored secret). Saving goes through the API's
//! `PATCH /v1/accounts/{id}` and `PUT /v1/whitelist`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::session::SignedIn;
use super::{Page, UiError, field_errors, pretty, render, value};
use crate::api::accounts::{self as api, UpdateAccount, Whitelist};
use crate::api::auth::{AccountCaller, Caller};
use crate::api::extract::ApiJson;
use crate::state::AppState;

fn field_of(code: &str) -> &'static str {
    match code {
        "INVALID_TIMEZONE" => "timezone",
        "INVALID_COUNTRY_CODE" => "default_country_code",
        "INVALID_WHITELIST" => "whitelist",
        "INVALID_CALENDAR" => "calendar",
        _ => "",
    }
}

#[derive(Default)]
struct Shown {
    errors: BTreeMap<String, Vec<String>>,
    form: Option<SettingsForm>,
    whitelist: Option<String>,
    providers: Option<String>,
    saved: Option<&'static str>,
}

async fn page(state: &AppState, signed: &SignedIn, shown: Shown) -> Result<Html<String>, UiError> {
    // Read again: after a save, the session's copy is the account before it.
    let me = state
        .store
        .account(signed.account()?.id)
        .await
        .map_err(UiError::internal)?
        .ok_or(UiError::SignIn)?;
    let mut view = api::view(state, &me)?;
    // The short-link token is a credential (`custToken`): never on a page.
    view.short_token = view.short_token.map(|_| "***".to_owned());
    let form = shown.form.unwrap_or_else(|| SettingsForm {
        timezone: view.timezone.clone(),
        default_country_code: view.default_country_code.clone(),
        calendar: pretty(&view.calendar),
    });
    let whitelist = shown.whitelist.unwrap_or_else(|| view.whitelist.join("\n"));
    let providers = shown.providers.unwrap_or_else(|| pretty(&view.providers));
    render(
        state,
        &Page::of(signed, "account", "Account"),
        "account.html",
        minijinja::context! {
            account => value(&view),
            form => value(&form),
            whitelist => whitelist,
            providers => providers,
            errors => shown.errors,
            saved => shown.saved,
        },
    )
}

/// `GET /ui/account`.
pub async fn show(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Html<String>, UiError> {
    page(&state, &signed, Shown::default()).await
}

#[derive(Deserialize, serde::Serialize, Default)]
pub struct SettingsForm {
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    default_country_code: String,
    #[serde(default)]
    calendar: String,
}

/// Saves `patch` through the API's `PATCH /v1/accounts/{id}`: the page
/// saying `saved`, or a refusal's errors by field (`field_of` its code).
async fn save(
    state: &AppState,
    signed: &SignedIn,
    me: flowhook_storage::AccountRecord,
    patch: UpdateAccount,
    saved: &'static str,
    field_of: fn(&str) -> &'static str,
) -> Result<Result<Response, BTreeMap<String, Vec<String>>>, UiError> {
    let id = me.id.to_string();
    let answer = api::update_account(
        State(state.clone()),
        Caller::Account(Box::new(me)),
        Path(id),
        ApiJson(patch),
    )
    .await;
    match answer {
        Ok(_) => {
            let shown = Shown {
                saved: Some(saved),
                ..Shown::default()
            };
            Ok(Ok(page(state, signed, shown).await?.into_response()))
        }
        Err(e) if e.status.is_client_error() => Ok(Err(field_errors(&e, field_of))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/account/settings`.
pub async fn settings(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<SettingsForm>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let calendar = match serde_json::from_str::<serde_json::Value>(&form.calendar) {
        Ok(v) => Some(v),
        Err(e) => {
            errors.insert("calendar".into(), vec![format!("Not JSON: {e}.")]);
            None
        }
    };
    let patch = calendar.and_then(|calendar| {
        serde_json::from_value::<UpdateAccount>(serde_json::json!({
            "timezone": form.timezone.trim(),
            "default_country_code": form.default_country_code.trim(),
            "calendar": calendar,
        }))
        .map_err(|e| errors.insert("calendar".into(), vec![e.to_string()]))
        .ok()
    });
    if let Some(patch) = patch {
        match save(&state, &signed, me, patch, "Settings saved.", field_of).await? {
            Ok(saved) => return Ok(saved),
            Err(refused) => errors = refused,
        }
    }
    let html = page(
        &state,
        &signed,
        Shown {
            errors,
            form: Some(form),
            ..Shown::default()
        },
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
}

#[derive(Deserialize)]
pub struct ProvidersForm {
    #[serde(default)]
    providers: String,
}

/// `POST /ui/account/providers`: the settings as JSON, through the API's
/// `PATCH /v1/accounts/{id}` (which seals secrets and resolves `***`).
pub async fn providers(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<ProvidersForm>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let text = form.providers.trim();
    let parsed =
        serde_json::from_str::<serde_json::Value>(if text.is_empty() { "{}" } else { text })
            .map_err(|e| format!("Not JSON: {e}."))
            .and_then(|providers| {
                serde_json::from_value::<UpdateAccount>(
                    serde_json::json!({ "providers": providers }),
                )
                .map_err(|e| e.to_string())
            });
    let errors = match parsed {
        Err(message) => BTreeMap::from([("providers".to_owned(), vec![message])]),
        Ok(patch) => {
            match save(
                &state,
                &signed,
                me,
                patch,
                "Providers saved.",
                |_| "providers",
            )
            .await?
            {
                Ok(saved) => return Ok(saved),
                Err(refused) => refused,
            }
        }
    };
    let shown = Shown {
        errors,
        providers: Some(form.providers),
        ..Shown::default()
    };
    let html = page(&state, &signed, shown).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
}

#[derive(Deserialize)]
pub struct WhitelistForm {
    #[serde(default)]
    whitelist: String,
}

/// `POST /ui/account/whitelist`: one address or network per line.
pub async fn whitelist(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<WhitelistForm>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let entries = form
        .whitelist
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    match api::put_whitelist(
        State(state.clone()),
        AccountCaller(me),
        ApiJson(Whitelist { entries }),
    )
    .await
    {
        Ok(_) => Ok(page(
            &state,
            &signed,
            Shown {
                saved: Some("Whitelist saved."),
                ..Shown::default()
            },
        )
        .await?
        .into_response()),
        Err(e) if e.status.is_client_error() => {
            let errors = field_errors(&e, |_| "whitelist");
            let html = page(
                &state,
                &signed,
                Shown {
                    errors,
                    whitelist: Some(form.whitelist),
                    ..Shown::default()
                },
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
