//! The operator's pages: every account, creating one (its security id is
//! shown once), and enabling or disabling HTTP destinations for one — the
//! API's `POST /v1/accounts` and `PATCH /v1/accounts/{id}` as the admin.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::session::SignedIn;
use super::{Page, UiError, field_errors, render, value};
use crate::api::accounts::{self as api, CreateAccount, UpdateAccount};
use crate::api::auth::{Admin, Caller};
use crate::api::extract::ApiJson;
use crate::state::AppState;

#[derive(Deserialize, serde::Serialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    allow_http: Option<String>,
}

#[derive(Default)]
struct Shown {
    form: CreateForm,
    errors: BTreeMap<String, Vec<String>>,
    created: Option<(String, String)>,
    notice: Option<String>,
}

async fn page(state: &AppState, signed: &SignedIn, shown: Shown) -> Result<Html<String>, UiError> {
    signed.operator()?;
    let mut accounts = api::list_accounts(State(state.clone()), Admin).await?.0;
    // Short-link tokens are credentials: never on a page.
    for a in &mut accounts {
        a.short_token = None;
    }
    render(
        state,
        &Page::of(signed, "accounts", "Accounts"),
        "operator.html",
        minijinja::context! {
            accounts => value(&accounts),
            form => value(&shown.form),
            errors => shown.errors,
            created => shown.created,
            notice => shown.notice,
        },
    )
}

/// `GET /ui/accounts`.
pub async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Html<String>, UiError> {
    page(&state, &signed, Shown::default()).await
}

/// `POST /ui/accounts`: create one; its security id is shown only now.
pub async fn create(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> Result<Response, UiError> {
    signed.operator()?;
    let input = CreateAccount {
        name: form.name.clone(),
        allow_http: form.allow_http.is_some(),
        timezone: Some(form.timezone.trim().to_owned()).filter(|t| !t.is_empty()),
    };
    match api::create_account(State(state.clone()), Admin, ApiJson(input)).await {
        Ok((_, axum::Json(created))) => Ok(page(
            &state,
            &signed,
            Shown {
                created: Some((created.account.name, created.security_id)),
                ..Shown::default()
            },
        )
        .await?
        .into_response()),
        Err(e) if e.status.is_client_error() => {
            let errors = field_errors(&e, |code| match code {
                "INVALID_TIMEZONE" => "timezone",
                _ => "name",
            });
            let html = page(
                &state,
                &signed,
                Shown {
                    form,
                    errors,
                    ..Shown::default()
                },
            )
            .await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct HttpForm {
    allow_http: String,
}

/// `POST /ui/accounts/{id}/http`: enable (`allow_http=true`) or disable HTTP.
pub async fn set_http(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<HttpForm>,
) -> Result<Response, UiError> {
    signed.operator()?;
    let allow = form.allow_http == "true";
    let patch: UpdateAccount = serde_json::from_value(serde_json::json!({ "allow_http": allow }))
        .map_err(UiError::internal)?;
    let updated = api::update_account(
        State(state.clone()),
        Caller::Admin,
        Path(id),
        ApiJson(patch),
    )
    .await?
    .0;
    let notice = format!(
        "HTTP destinations are now {} for {}.",
        if allow { "allowed" } else { "not allowed" },
        updated.name
    );
    Ok(page(
        &state,
        &signed,
        Shown {
            notice: Some(notice),
            ..Shown::default()
        },
    )
    .await?
    .into_response())
}
