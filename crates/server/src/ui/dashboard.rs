//! Home: the account's last 24 hours — drawn from the very answer of
//! `GET /v1/dashboard` ([`crate::api::dashboard::dashboard_of`]). The
//! operator's home is the accounts page.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::session::{Me, SignedIn};
use super::svg::{self, status_colour};
use super::{Page, UiError, render, trusted_svg, value};
use crate::api::dashboard::{WINDOW_MS, dashboard_of};
use crate::state::AppState;

/// `GET /ui/`.
pub async fn home(State(state): State<AppState>, signed: SignedIn) -> Result<Response, UiError> {
    if let Me::Operator = signed.me {
        return Ok(Redirect::to("/ui/accounts").into_response());
    }
    let me = signed.account()?;
    let d = dashboard_of(&state, me).await?;
    let end = flowhook_storage::now_millis();
    let start = (end - WINDOW_MS) / 60_000 * 60_000;
    let minutes: Vec<(i64, String, i64)> = d
        .executions_per_minute
        .iter()
        .filter_map(|m| {
            let at = serde_json::Value::from(m.minute.clone());
            chrono::DateTime::parse_from_rfc3339(at.as_str()?)
                .ok()
                .map(|t| (t.timestamp_millis(), m.status.clone(), m.count))
        })
        .collect();
    let mut totals: std::collections::BTreeMap<String, i64> = Default::default();
    for (_, status, n) in &minutes {
        *totals.entry(status.clone()).or_default() += n;
    }
    let per_minute = svg::per_minute_chart(
        "Executions started per minute over the last 24 hours, by status",
        start,
        24 * 60 + 1,
        &minutes,
    );
    let outcomes = svg::bar_chart(
        "outcomes",
        "Flow-end deliveries by outcome",
        &[
            (
                "delivered".to_owned(),
                d.deliveries.delivered as f64,
                status_colour("delivered"),
            ),
            (
                "failed".to_owned(),
                d.deliveries.failed as f64,
                status_colour("failed"),
            ),
            (
                "pending".to_owned(),
                d.deliveries.pending as f64,
                status_colour("pending"),
            ),
        ],
        "",
    );
    let slowest = svg::bar_chart(
        "slowest",
        "Slowest webhook destinations, p95 latency",
        &d.slowest_destinations
            .iter()
            .map(|s| {
                (
                    s.name.clone().unwrap_or_else(|| s.webhook_id.clone()),
                    s.p95_ms,
                    "#6b3fa0",
                )
            })
            .collect::<Vec<_>>(),
        "ms",
    );
    Ok(render(
        &state,
        &Page::of(&signed, "home", "Dashboard"),
        "dashboard.html",
        minijinja::context! {
            d => value(&d),
            totals => totals,
            per_minute => trusted_svg(per_minute),
            outcomes => trusted_svg(outcomes),
            slowest => trusted_svg(slowest),
        },
    )?
    .into_response())
}
