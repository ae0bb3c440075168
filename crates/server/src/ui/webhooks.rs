//! The webhooks page ("Advanced → Webhook"): list, add, edit, the check
//! button (a green tick with status and latency, or the reason in words),
//! and the signing secret, shown once when made or rotated. Each action is
//! the API's own operation ([`crate::api::webhooks`]); its problems are shown
//! beside the field they concern.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use flowhook_core::http::{BodyType, HttpMethod};
use flowhook_core::webhook::HeaderPair;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::session::SignedIn;
use super::{Page, UiError, field_errors, render, value};
use crate::api::auth::AccountCaller;
use crate::api::extract::ApiJson;
use crate::api::problem::ApiError;
use crate::api::webhooks::{self as api, AuthInput, CheckInput, WebhookInput, WebhookView};
use crate::state::AppState;

/// The add/edit form as posted.
#[derive(Deserialize, Default, serde::Serialize, Clone)]
pub struct WebhookForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    auth: String,
    #[serde(default)]
    username: String,
    /// Never rendered back.
    #[serde(default, skip_serializing)]
    password: String,
    #[serde(default)]
    body_type: String,
    /// One `Name: value` per line.
    #[serde(default)]
    headers: String,
    #[serde(default)]
    is_default: Option<String>,
}

impl WebhookForm {
    fn of(w: &WebhookView) -> WebhookForm {
        WebhookForm {
            name: w.name.clone(),
            method: w.method.clone(),
            url: w.url.clone(),
            auth: w.auth.kind.to_owned(),
            username: w.auth.username.clone().unwrap_or_default(),
            password: String::new(),
            body_type: w.body_type.clone(),
            // Sensitive values are `***` here, as the API shows them; sent
            // back unchanged they keep the stored value.
            headers: w
                .headers
                .iter()
                .map(|h| format!("{}: {}", h.key, h.value))
                .collect::<Vec<_>>()
                .join("\n"),
            is_default: w.is_default.then(|| "on".to_owned()),
        }
    }

    /// The API's input, or the errors of the fields the form itself parses.
    fn input(&self) -> Result<WebhookInput, BTreeMap<String, Vec<String>>> {
        let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let method = HttpMethod::parse(&self.method).unwrap_or_else(|| {
            errors
                .entry("method".into())
                .or_default()
                .push("Pick a method.".into());
            HttpMethod::Post
        });
        let body_type = BodyType::parse(&self.body_type).unwrap_or_else(|| {
            errors
                .entry("body_type".into())
                .or_default()
                .push("Pick a body type.".into());
            BodyType::None
        });
        let mut headers = Vec::new();
        for (n, line) in self.headers.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match line.split_once(':') {
                Some((k, v)) => headers.push(HeaderPair {
                    key: k.trim().to_owned(),
                    value: v.trim().to_owned(),
                }),
                None => errors
                    .entry("headers".into())
                    .or_default()
                    .push(format!("Line {} is not `Name: value`.", n + 1)),
            }
        }
        let auth = match self.auth.as_str() {
            "basic" => AuthInput::Basic {
                username: self.username.clone(),
                password: (!self.password.is_empty()).then(|| self.password.clone()),
            },
            _ => AuthInput::None,
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(WebhookInput {
            name: self.name.clone(),
            method,
            url: self.url.clone(),
            auth,
            body_type,
            headers,
            is_default: self.is_default.is_some(),
        })
    }
}

/// Which form field a problem of the webhook operations concerns.
fn field_of(code: &str) -> &'static str {
    match code {
        "INVALID_NAME" | "CONFLICT" => "name",
        "INVALID_URL" | "HTTP_NOT_ALLOWED" => "url",
        "INVALID_HEADER" => "headers",
        "INVALID_AUTH" => "auth",
        _ => "",
    }
}

/// The problem's messages by form field (`headers.X-Key` → `headers`,
/// `auth.password` → `password`).
fn errors_of(e: &ApiError) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, messages) in field_errors(e, field_of) {
        let key = match key.as_str() {
            k if k.starts_with("headers") => "headers".to_owned(),
            "auth.password" => "password".to_owned(),
            k => k.to_owned(),
        };
        out.entry(key).or_default().extend(messages);
    }
    out
}

fn options() -> minijinja::Value {
    minijinja::context! {
        methods => HttpMethod::ALL.iter().map(|m| (m.as_str(), m.as_str())).collect::<Vec<_>>(),
        body_types => [BodyType::None, BodyType::Json, BodyType::Xml, BodyType::Form, BodyType::Text]
            .iter().map(|b| (b.as_str(), b.as_str())).collect::<Vec<_>>(),
    }
}

async fn list_page(
    state: &AppState,
    signed: &SignedIn,
    form: &WebhookForm,
    errors: BTreeMap<String, Vec<String>>,
) -> Result<Html<String>, UiError> {
    let me = signed.account()?.clone();
    let hooks = api::list_webhooks(axum::extract::State(state.clone()), AccountCaller(me))
        .await?
        .0;
    render(
        state,
        &Page::of(signed, "webhooks", "Webhooks"),
        "webhooks.html",
        minijinja::context! { hooks => value(&hooks), form => value(form), errors => errors, ..options() },
    )
}

/// `GET /ui/webhooks`.
pub async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Html<String>, UiError> {
    let form = WebhookForm {
        method: "POST".into(),
        auth: "none".into(),
        body_type: "json".into(),
        ..WebhookForm::default()
    };
    list_page(&state, &signed, &form, BTreeMap::new()).await
}

/// `POST /ui/webhooks`: create; the new signing secret is shown once.
pub async fn create(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<WebhookForm>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let input = match form.input() {
        Ok(i) => i,
        Err(errors) => {
            let page = list_page(&state, &signed, &form, errors).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    match api::create_webhook(
        State(state.clone()),
        AccountCaller(me.clone()),
        ApiJson(input),
    )
    .await
    {
        Ok((_, axum::Json(created))) => {
            let id = created.id.clone();
            Ok(webhook_page(
                &state,
                &signed,
                &id,
                Extra {
                    secret: created.signing_secret,
                    ..Extra::default()
                },
            )
            .await?
            .into_response())
        }
        Err(e) if e.status.is_client_error() => {
            let page = list_page(&state, &signed, &form, errors_of(&e)).await?;
            Ok((e.status, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// What a webhook's page shows beyond the webhook.
#[derive(Default)]
struct Extra {
    secret: Option<String>,
    form: Option<WebhookForm>,
    errors: BTreeMap<String, Vec<String>>,
    check: Option<crate::api::webhooks::CheckResult>,
    saved: bool,
}

async fn webhook_page(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    extra: Extra,
) -> Result<Html<String>, UiError> {
    let me = signed.account()?.clone();
    let hook = api::get_webhook(State(state.clone()), AccountCaller(me), Path(id.to_owned()))
        .await?
        .0;
    let form = extra.form.unwrap_or_else(|| WebhookForm::of(&hook));
    let title = format!("Webhook {}", hook.name);
    render(
        state,
        &Page::of(signed, "webhooks", &title),
        "webhook.html",
        minijinja::context! {
            hook => value(&hook),
            form => value(&form),
            errors => extra.errors,
            secret => extra.secret,
            check => extra.check.map(value),
            last_check => hook.last_check.clone().map(value),
            saved => extra.saved,
            ..options()
        },
    )
}

/// `GET /ui/webhooks/{id}`.
pub async fn show(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Html<String>, UiError> {
    webhook_page(&state, &signed, &id, Extra::default()).await
}

/// `POST /ui/webhooks/{id}`: save the edit form.
pub async fn update(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<WebhookForm>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let result = match form.input() {
        Ok(input) => api::update_webhook(
            State(state.clone()),
            AccountCaller(me),
            Path(id.clone()),
            ApiJson(input),
        )
        .await
        .map(|_| ())
        .map_err(|e| (e.status, errors_of(&e), Some(e))),
        Err(errors) => Err((StatusCode::UNPROCESSABLE_ENTITY, errors, None)),
    };
    match result {
        Ok(()) => Ok(webhook_page(
            &state,
            &signed,
            &id,
            Extra {
                saved: true,
                ..Extra::default()
            },
        )
        .await?
        .into_response()),
        Err((status, errors, _)) if status.is_client_error() && status != StatusCode::NOT_FOUND => {
            let page = webhook_page(
                &state,
                &signed,
                &id,
                Extra {
                    form: Some(form),
                    errors,
                    ..Extra::default()
                },
            )
            .await?;
            Ok((status, page).into_response())
        }
        Err((_, _, Some(e))) => Err(e.into()),
        Err((status, _, None)) => Err(UiError::Status(
            status,
            "The form could not be saved.".into(),
        )),
    }
}

/// `POST /ui/webhooks/{id}/check`: the check button.
pub async fn check(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<BTreeMap<String, String>>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let input = CheckInput {
        url: None,
        method: None,
        webhook_id: Some(id.clone()),
        timeout_seconds: None,
    };
    let result = api::check_webhook(State(state.clone()), AccountCaller(me), ApiJson(input))
        .await?
        .0;
    Ok(webhook_page(
        &state,
        &signed,
        &id,
        Extra {
            check: Some(result),
            ..Extra::default()
        },
    )
    .await?
    .into_response())
}

/// `POST /ui/webhooks/{id}/rotate`: a new signing secret, shown once.
pub async fn rotate(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    CsrfForm(_): CsrfForm<BTreeMap<String, String>>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let rotated = api::rotate_secret(State(state.clone()), AccountCaller(me), Path(id.clone()))
        .await?
        .0;
    Ok(webhook_page(
        &state,
        &signed,
        &id,
        Extra {
            secret: Some(rotated.signing_secret),
            ..Extra::default()
        },
    )
    .await?
    .into_response())
}
