//! Executions: the list, filtered by flow, status and time, and one
//! execution — its variables, its trace step by step, and its path
//! highlighted on the picture of its flow. Reads go through the API's
//! `GET /v1/executions` and `GET /v1/executions/{uuid}`.

use axum::extract::{Path, Query, State};
use axum::response::Html;
use flowhook_core::json_text::JsonText;
use serde::{Deserialize, Serialize};

use super::session::SignedIn;
use super::svg::{self, Path as Highlight};
use super::{Page, UiError, pretty, render, trusted_svg, value};
use crate::api::auth::AccountCaller;
use crate::api::executions::{self as api, ListQuery};
use crate::api::extract::ApiQuery;
use crate::api::flows;
use crate::state::AppState;

/// The filter form, as the browser sends it (empty fields are "any").
#[derive(Deserialize, Serialize, Default)]
pub struct Filters {
    #[serde(default)]
    flow_id: String,
    #[serde(default)]
    status: String,
    /// `datetime-local`, read as UTC.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A `datetime-local` value (`2026-12-01T10:00`) as RFC 3339 UTC.
pub fn utc(local: &str) -> Option<String> {
    let t = local.trim();
    if t.is_empty() {
        return None;
    }
    Some(match t.len() {
        16 => format!("{t}:00Z"),
        _ if t.ends_with('Z') || t.contains('+') => t.to_owned(),
        _ => format!("{t}Z"),
    })
}

/// `GET /ui/executions`.
pub async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(filters): Query<Filters>,
) -> Result<Html<String>, UiError> {
    let me = signed.account()?.clone();
    let mut query = serde_json::Map::new();
    for (key, v) in [
        (
            "flow_id",
            Some(filters.flow_id.trim().to_owned()).filter(|s| !s.is_empty()),
        ),
        (
            "status",
            Some(filters.status.clone()).filter(|s| !s.is_empty()),
        ),
        ("from", utc(&filters.from)),
        ("to", utc(&filters.to)),
    ] {
        if let Some(v) = v {
            query.insert(key.to_owned(), v.into());
        }
    }
    let (executions, error) = match serde_json::from_value::<ListQuery>(query.into()) {
        Ok(q) => {
            match api::list_executions(State(state.clone()), AccountCaller(me.clone()), ApiQuery(q))
                .await
            {
                Ok(axum::Json(list)) => (list, None),
                Err(e) if e.status.is_client_error() => (Vec::new(), Some(e.detail)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => (Vec::new(), Some(format!("The filter is not valid: {e}."))),
    };
    let flows = flows::list_flows(State(state.clone()), AccountCaller(me))
        .await?
        .0;
    let flow_options: Vec<(String, String)> = flows
        .iter()
        .map(|f| (f.id.clone(), f.name.clone()))
        .collect();
    render(
        &state,
        &Page::of(&signed, "executions", "Executions"),
        "executions.html",
        minijinja::context! {
            executions => value(&executions),
            filters => value(&filters),
            flows => flow_options,
            error => error,
        },
    )
}

/// `GET /ui/executions/{uuid}`.
pub async fn show(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(uuid): Path<String>,
) -> Result<Html<String>, UiError> {
    let me = signed.account()?.clone();
    let mut run = api::get_execution(State(state.clone()), AccountCaller(me.clone()), Path(uuid))
        .await?
        .0;
    // The page reads the trace's values; minijinja cannot read its raw text.
    let trace = run
        .trace
        .take()
        .as_ref()
        .map(JsonText::to_value)
        .unwrap_or_default();
    // The flow as it is now; the page says when the execution ran another version.
    let flow = flows::get_flow(
        State(state.clone()),
        AccountCaller(me),
        Path(run.flow_id.clone()),
    )
    .await
    .ok()
    .map(|f| f.0);
    let picture = flow.as_ref().and_then(|f| {
        let doc: serde_json::Value = serde_json::from_str(f.document.get()).ok()?;
        Some(trusted_svg(svg::flow_picture(
            &doc,
            &Highlight::of_trace(&trace),
        )))
    });
    let steps: Vec<serde_json::Value> = trace
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut step| {
            let detail = step
                .as_object_mut()
                .map(|o| {
                    for k in ["step", "root", "widget", "type", "line", "next", "started_at", "duration_ms"] {
                        o.remove(k);
                    }
                    serde_json::Value::Object(o.clone())
                })
                .unwrap_or_default();
            serde_json::json!({ "detail": if detail.as_object().is_some_and(|o| o.is_empty()) { String::new() } else { pretty(&detail) } })
        })
        .collect();
    let title = format!("Execution {}", run.uuid);
    render(
        &state,
        &Page::of(&signed, "executions", &title),
        "execution.html",
        minijinja::context! {
            run => value(&run),
            trace => value(&trace),
            details => steps,
            variables => pretty(&run.variables),
            call => pretty(&run.call),
            flow => flow.map(|f| minijinja::context! { name => f.name, version => f.version }),
            picture => picture,
        },
    )
}
