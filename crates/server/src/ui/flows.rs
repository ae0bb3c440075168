//! Flows: the list, uploading and editing a document (validation errors
//! shown beside the widget they name, in the list and on the picture), the
//! picture of a flow, its Details (the `webhook_on_complete` toggle), the test
//! button of a webhook widget and starting a test execution. Every action is
//! the API's operation ([`crate::api::flows`], [`crate::api::dry_run`],
//! [`crate::api::executions`]).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::session::SignedIn;
use super::svg::{self, Path as Highlight};
use super::{Page, UiError, pretty, render, trusted_svg, value};
use crate::api::auth::AccountCaller;
use crate::api::dry_run::{self, WidgetTest};
use crate::api::executions::{self, StartExecution};
use crate::api::extract::{ApiJson, RawJson};
use crate::api::flows::{self as api, FlowView};
use crate::api::problem::ApiError;
use crate::state::AppState;

/// A flow problem's messages by widget (`""` for the document itself).
fn widget_errors(e: &ApiError) -> BTreeMap<String, Vec<String>> {
    super::field_errors(e, |_| "")
}

/// Each widget's first error message, for the picture.
fn first_messages(errors: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, String> {
    errors
        .iter()
        .filter_map(|(w, m)| Some((w.clone(), m.first()?.clone())))
        .collect()
}

/// The picture of `document` text, if it is JSON, with `invalid` widgets marked.
fn picture_of(text: &str, path: &Highlight) -> Option<minijinja::Value> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    doc["widgets"].as_object()?;
    Some(trusted_svg(svg::flow_picture(&doc, path)))
}

/// What pages show of a stored flow besides its document.
fn summary(f: &FlowView) -> minijinja::Value {
    value(serde_json::json!({
        "id": f.id, "name": f.name, "version": f.version,
        "created_at": f.created_at, "updated_at": f.updated_at,
    }))
}

#[derive(Deserialize, Default)]
pub struct DocumentForm {
    #[serde(default)]
    document: String,
}

async fn list_page(
    state: &AppState,
    signed: &SignedIn,
    document: &str,
    errors: BTreeMap<String, Vec<String>>,
) -> Result<Html<String>, UiError> {
    let me = signed.account()?.clone();
    let flows = api::list_flows(State(state.clone()), AccountCaller(me))
        .await?
        .0;
    let invalid = Highlight {
        invalid: first_messages(&errors),
        ..Highlight::default()
    };
    render(
        state,
        &Page::of(signed, "flows", "Flows"),
        "flows.html",
        minijinja::context! {
            flows => flows.iter().map(summary).collect::<Vec<_>>(),
            document => document,
            errors => errors,
            picture => if document.is_empty() { None } else { picture_of(document, &invalid) },
        },
    )
}

/// `GET /ui/flows`.
pub async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
) -> Result<Html<String>, UiError> {
    list_page(&state, &signed, "", BTreeMap::new()).await
}

/// `POST /ui/flows`: upload a new flow.
pub async fn create(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<DocumentForm>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let body = RawJson(Bytes::from(form.document.clone()));
    match api::create_flow(State(state.clone()), AccountCaller(me), body).await {
        Ok((_, axum::Json(saved))) => {
            Ok(Redirect::to(&format!("/ui/flows/{}", saved.id)).into_response())
        }
        Err(e) if e.status.is_client_error() => {
            let html = list_page(&state, &signed, &form.document, widget_errors(&e)).await?;
            Ok((e.status, html).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// What a flow's page shows beyond the flow.
#[derive(Default)]
struct Shown {
    document: Option<String>,
    errors: BTreeMap<String, Vec<String>>,
    notice: Option<String>,
    test: Option<(String, dry_run::WidgetTestResult)>,
    test_error: Option<(String, String)>,
    run_error: Option<String>,
}

async fn load(state: &AppState, signed: &SignedIn, id: &str) -> Result<FlowView, UiError> {
    let me = signed.account()?.clone();
    Ok(
        api::get_flow(State(state.clone()), AccountCaller(me), Path(id.to_owned()))
            .await?
            .0,
    )
}

async fn flow_page(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    shown: Shown,
) -> Result<Html<String>, UiError> {
    let flow = load(state, signed, id).await?;
    let doc: serde_json::Value =
        serde_json::from_str(flow.document.get()).map_err(UiError::internal)?;
    let testable: Vec<(String, String)> = doc["widgets"]
        .as_object()
        .map(|w| {
            w.iter()
                .filter_map(|(id, w)| {
                    let kind = w["type"].as_str()?;
                    matches!(kind, "webhook" | "internal_webhook")
                        .then(|| (id.clone(), kind.to_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let invalid = Highlight {
        invalid: first_messages(&shown.errors),
        ..Highlight::default()
    };
    let title = format!("Flow {}", flow.name);
    render(
        state,
        &Page::of(signed, "flows", &title),
        "flow.html",
        minijinja::context! {
            flow => summary(&flow),
            details => minijinja::context! {
                channel => doc["channel"].as_str().unwrap_or("voice"),
                timezone => doc["timezone"].as_str().unwrap_or("UTC"),
                start => doc["start"].as_str(),
                on_complete => doc["on_complete"].as_str(),
                on_remote_hangup => doc["on_remote_hangup"].as_str(),
                webhook_on_complete => doc["webhook_on_complete"].as_bool().unwrap_or(false),
                description => doc["description"].as_str(),
            },
            picture => trusted_svg(svg::flow_picture(&doc, &invalid)),
            document => shown.document.unwrap_or_else(|| pretty(&doc)),
            errors => shown.errors,
            notice => shown.notice,
            testable => testable,
            test => shown.test.map(|(w, r)| minijinja::context! {
                widget => w,
                result => value(&r),
                request => r.request.as_ref().map(pretty),
                response => r.response.as_ref().map(pretty),
            }),
            test_error => shown.test_error,
            run_error => shown.run_error,
        },
    )
}

/// `GET /ui/flows/{id}`.
pub async fn show(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
) -> Result<Html<String>, UiError> {
    flow_page(&state, &signed, &id, Shown::default()).await
}

/// Saves `document` over flow `id`, showing problems beside their widgets.
async fn save(
    state: &AppState,
    signed: &SignedIn,
    id: &str,
    document: String,
    notice: &str,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let body = RawJson(Bytes::from(document.clone()));
    match api::update_flow(
        State(state.clone()),
        AccountCaller(me),
        Path(id.to_owned()),
        body,
    )
    .await
    {
        Ok(axum::Json(saved)) => Ok(flow_page(
            state,
            signed,
            id,
            Shown {
                notice: Some(format!("{notice} Version {}.", saved.version)),
                ..Shown::default()
            },
        )
        .await?
        .into_response()),
        Err(e) if e.status.is_client_error() && e.status != StatusCode::NOT_FOUND => {
            let shown = Shown {
                document: Some(document),
                errors: widget_errors(&e),
                ..Shown::default()
            };
            let html = flow_page(state, signed, id, shown).await?;
            Ok((e.status, html).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/flows/{id}`: save an edited document.
pub async fn update(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<DocumentForm>,
) -> Result<Response, UiError> {
    save(&state, &signed, &id, form.document, "Saved.").await
}

#[derive(Deserialize)]
pub struct ToggleForm {
    #[serde(default)]
    webhook_on_complete: Option<String>,
}

/// `POST /ui/flows/{id}/on-complete`: the Details section's toggle, saved as
/// a new version of the document with only that setting changed.
pub async fn on_complete(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<ToggleForm>,
) -> Result<Response, UiError> {
    let flow = load(&state, &signed, &id).await?;
    let mut doc: serde_json::Value =
        serde_json::from_str(flow.document.get()).map_err(UiError::internal)?;
    let on = form.webhook_on_complete.is_some();
    doc["webhook_on_complete"] = on.into();
    let notice = if on {
        "The flow-end webhook is on."
    } else {
        "The flow-end webhook is off."
    };
    save(&state, &signed, &id, doc.to_string(), notice).await
}

/// `name = value` lines as a map of JSON strings.
fn pairs(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut out = serde_json::Map::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {} is not `name = value`", n + 1))?;
        out.insert(k.trim().to_owned(), v.trim().into());
    }
    Ok(out)
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(default)]
    variables: String,
    #[serde(default)]
    contact: String,
}

/// `POST /ui/flows/{id}/widgets/{widget}/test`: the widget test button.
pub async fn test_widget(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((id, widget)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<TestForm>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let input = pairs(&form.variables).and_then(|variables| {
        let mut body = serde_json::json!({ "variables": variables });
        if !form.contact.trim().is_empty() {
            body["contact"] = form.contact.trim().into();
        }
        serde_json::from_value::<WidgetTest>(body).map_err(|e| e.to_string())
    });
    let shown = match input {
        Err(message) => Shown {
            test_error: Some((widget, message)),
            ..Shown::default()
        },
        Ok(input) => match dry_run::test_widget(
            State(state.clone()),
            AccountCaller(me),
            Path((id.clone(), widget.clone())),
            ApiJson(input),
        )
        .await
        {
            Ok(axum::Json(result)) => Shown {
                test: Some((widget, result)),
                ..Shown::default()
            },
            Err(e) if e.status.is_client_error() => Shown {
                test_error: Some((widget, e.detail)),
                ..Shown::default()
            },
            Err(e) => return Err(e.into()),
        },
    };
    Ok(flow_page(&state, &signed, &id, shown)
        .await?
        .into_response())
}

#[derive(Deserialize)]
pub struct RunForm {
    #[serde(default)]
    contact: String,
    #[serde(default)]
    keys: String,
}

/// `POST /ui/flows/{id}/executions`: a test execution, run to its end, then
/// its page.
pub async fn start_execution(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<RunForm>,
) -> Result<Response, UiError> {
    let me = signed.account()?.clone();
    let input = pairs(&form.keys).and_then(|keys| {
        serde_json::from_value::<StartExecution>(serde_json::json!({
            "contact": form.contact.trim(),
            "keys": keys,
            "wait": true,
        }))
        .map_err(|e| e.to_string())
    });
    let failed = |message: String| Shown {
        run_error: Some(message),
        ..Shown::default()
    };
    let shown = match input {
        Err(message) => failed(message),
        Ok(input) => match executions::start_execution(
            State(state.clone()),
            AccountCaller(me),
            Path(id.clone()),
            ApiJson(input),
        )
        .await
        {
            Ok(response) => {
                let body = axum::body::to_bytes(response.into_body(), 16 << 20)
                    .await
                    .map_err(UiError::internal)?;
                let run: serde_json::Value =
                    serde_json::from_slice(&body).map_err(UiError::internal)?;
                let uuid = run["uuid"].as_str().unwrap_or_default();
                return Ok(Redirect::to(&format!("/ui/executions/{uuid}")).into_response());
            }
            Err(e) if e.status.is_client_error() => failed(e.detail),
            Err(e) => return Err(e.into()),
        },
    };
    let html = flow_page(&state, &signed, &id, shown).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
}
