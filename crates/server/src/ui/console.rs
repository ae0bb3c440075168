//! The internal-webhook console: pick a method, fill its keys (the form
//! lists each method's inputs from [`Method::inputs`], the one place they are
//! written down), send, and see the answer — `POST /internal`'s own
//! operation, as the account.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::Html;
use flowhook_core::internal::{Answer, Envelope, Key, Method};
use flowhook_core::webhook::is_sensitive_name;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::session::SignedIn;
use super::{Page, UiError, render, value};
use crate::api::auth::AccountCaller;
use crate::api::extract::RawJson;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct Pick {
    #[serde(default)]
    method: String,
}

fn methods() -> Vec<minijinja::Value> {
    Method::ALL
        .iter()
        .map(|m| {
            minijinja::context! {
                name => m.as_str(),
                inputs => m.inputs().iter().map(|i| minijinja::context! {
                    name => i.name, required => i.required, about => i.about,
                }).collect::<Vec<_>>(),
                open => m.open_keys(),
            }
        })
        .collect()
}

fn page(
    state: &AppState,
    signed: &SignedIn,
    method: Method,
    values: &std::collections::HashMap<String, String>,
    answer: Option<minijinja::Value>,
    error: Option<String>,
) -> Result<Html<String>, UiError> {
    signed.account()?;
    render(
        state,
        &Page::of(signed, "console", "Internal webhooks"),
        "console.html",
        minijinja::context! {
            methods => methods(),
            method => method.as_str(),
            inputs => method.inputs().iter().map(|i| {
                // A credential (a bot's token) is never written back into the page.
                let secret = is_sensitive_name(i.name);
                minijinja::context! {
                    name => i.name, required => i.required, about => i.about, secret => secret,
                    value => if secret { String::new() } else {
                        values.get(&format!("key:{}", i.name)).cloned().unwrap_or_default()
                    },
                }
            }).collect::<Vec<_>>(),
            open => method.open_keys(),
            extra => values.get("extra").cloned().unwrap_or_default(),
            answer => answer,
            error => error,
        },
    )
}

/// `GET /ui/console?method=…`: the form of one method (the first by default).
pub async fn form(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(pick): Query<Pick>,
) -> Result<Html<String>, UiError> {
    let method = Method::parse(&pick.method).unwrap_or(Method::ALL[0]);
    page(&state, &signed, method, &Default::default(), None, None)
}

/// `POST /ui/console`: send the envelope.
pub async fn send(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(values): CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let me = signed.account()?.clone();
    let Some(method) = values.get("method").and_then(|m| Method::parse(m)) else {
        return Err(UiError::Status(
            axum::http::StatusCode::BAD_REQUEST,
            "Pick a method.".into(),
        ));
    };
    let mut keys: Vec<Key> = method
        .inputs()
        .iter()
        .filter_map(|i| {
            let v = values.get(&format!("key:{}", i.name))?.trim();
            (!v.is_empty()).then(|| Key::new(i.name, v))
        })
        .collect();
    for (n, line) in values
        .get("extra")
        .map(String::as_str)
        .unwrap_or_default()
        .lines()
        .enumerate()
    {
        if line.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            let error = format!("Extra keys, line {}: write `name = value`.", n + 1);
            return page(&state, &signed, method, &values, None, Some(error));
        };
        keys.push(Key::new(k.trim(), v.trim()));
    }
    let envelope = Envelope {
        method: method.as_str().to_owned(),
        keys,
    };
    let body = serde_json::to_vec(&envelope).map_err(UiError::internal)?;
    let answer = crate::api::internal::internal(
        State(state.clone()),
        AccountCaller(me),
        RawJson(Bytes::from(body)),
    )
    .await?
    .0;
    // Credentials in the answer show as `***`, as traces show them.
    let shown = Answer {
        keys: answer.keys.iter().map(Key::redacted).collect(),
        ..answer
    };
    page(&state, &signed, method, &values, Some(value(&shown)), None)
}
