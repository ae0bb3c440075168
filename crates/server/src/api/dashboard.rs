//! `GET /v1/dashboard`: an account's last 24 hours at a glance, in one call —
//! executions per minute by status, flow-end deliveries by outcome, the
//! outbox backlog and its oldest age, and the slowest webhook destinations
//! (p95 latency of their delivery attempts). The admin UI's home page draws
//! exactly this answer.

use axum::extract::State;
use flowhook_storage::now_millis;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::problem::ApiError;
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// The window the dashboard covers.
pub const WINDOW_MS: i64 = 24 * 3600 * 1000;
/// How many destinations the answer lists, slowest first.
const DESTINATIONS: usize = 10;

/// Executions started in one minute with one status.
#[derive(Serialize, ToSchema)]
pub struct MinuteView {
    /// The minute's start.
    pub minute: Timestamp,
    #[schema(example = "completed")]
    pub status: String,
    pub count: i64,
}

/// Flow-end deliveries created in the window, by where they stand.
#[derive(Serialize, ToSchema, Default)]
pub struct Outcomes {
    pub delivered: i64,
    pub failed: i64,
    pub pending: i64,
}

/// The account's outbox right now.
#[derive(Serialize, ToSchema)]
pub struct Outbox {
    /// Deliveries waiting to be delivered (of any age).
    pub backlog: i64,
    /// Age of the oldest of them in seconds; null when there is none.
    pub oldest_age_seconds: Option<f64>,
}

/// One webhook destination's latency.
#[derive(Serialize, ToSchema)]
pub struct Destination {
    #[schema(value_type = flowhook_core::ids::WebhookId)]
    pub webhook_id: String,
    /// The webhook's name; null when it was deleted since.
    pub name: Option<String>,
    /// Attempts in the window.
    pub attempts: i64,
    /// 95th percentile of their durations.
    pub p95_ms: f64,
}

/// The dashboard's numbers.
#[derive(Serialize, ToSchema)]
pub struct Dashboard {
    pub from: Timestamp,
    pub to: Timestamp,
    /// Only minutes with executions, oldest first.
    pub executions_per_minute: Vec<MinuteView>,
    pub deliveries: Outcomes,
    pub outbox: Outbox,
    /// Slowest first, at most 10.
    pub slowest_destinations: Vec<Destination>,
}

/// The dashboard of `account` now: the one computation behind the API and
/// the UI's home page.
pub async fn dashboard_of(
    state: &AppState,
    account: &flowhook_storage::AccountRecord,
) -> Result<Dashboard, ApiError> {
    let now = now_millis();
    let from = now - WINDOW_MS;
    let counts = state.store.dashboard(account.id, from).await?;
    let mut deliveries = Outcomes::default();
    for (status, n) in &counts.deliveries_by_status {
        match status.as_str() {
            "delivered" => deliveries.delivered += n,
            "failed" => deliveries.failed += n,
            _ => deliveries.pending += n,
        }
    }
    let names: std::collections::HashMap<String, String> = state
        .store
        .webhooks(account.id)
        .await?
        .into_iter()
        .map(|w| (w.id.to_string(), w.name))
        .collect();
    Ok(Dashboard {
        from: rfc3339(from),
        to: rfc3339(now),
        executions_per_minute: counts
            .executions_per_minute
            .into_iter()
            .map(|m| MinuteView {
                minute: rfc3339(m.minute),
                status: m.status,
                count: m.count,
            })
            .collect(),
        deliveries,
        outbox: Outbox {
            backlog: counts.backlog,
            oldest_age_seconds: counts
                .oldest_pending_at
                .map(|t| ((now - t).max(0) as f64) / 1000.0),
        },
        slowest_destinations: counts
            .destinations
            .into_iter()
            .take(DESTINATIONS)
            .map(|d| Destination {
                name: names.get(&d.webhook_id).cloned(),
                webhook_id: d.webhook_id,
                attempts: d.attempts,
                p95_ms: d.p95_ms,
            })
            .collect(),
    })
}

#[utoipa::path(get, path = "/v1/dashboard", tag = "dashboard", security(("security_id" = [])),
    responses((status = 200, body = Dashboard, description = "The account's last 24 hours")))]
pub async fn get_dashboard(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
) -> Result<axum::Json<Dashboard>, ApiError> {
    Ok(axum::Json(dashboard_of(&state, &me).await?))
}
