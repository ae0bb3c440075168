//! Service endpoints for operators and orchestrators: liveness, readiness (the
//! database answers), Prometheus metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use std::sync::atomic::Ordering;

use super::problem::{ApiError, Problem};
use crate::metrics::External;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub version: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    pub status: &'static str,
    pub database: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// The process can serve: its database answers.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, body = Ready), (status = 503, body = Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<axum::Json<Ready>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(axum::Json(Ready {
            status: "ready",
            database: state.store.backend().as_str(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "DATABASE_UNAVAILABLE",
                "the database does not answer",
            ))
        }
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.store.queue_stats().await;
    let up = if stats.is_ok() { 1.0 } else { 0.0 };
    let stats = stats.unwrap_or_default();
    let age = stats
        .oldest_pending_at
        .map(|t| (flowhook_storage::now_millis() - t).max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    let now = flowhook_storage::now_millis();
    let backlog = state.store.outbound_backlog(now).await.unwrap_or_default();
    let lag = backlog
        .oldest_due_at
        .map(|t| (now - t).max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    let o = &state.scheduler.counters;
    let calls = [
        ("started", o.started.load(Ordering::Relaxed)),
        ("failed", o.failed.load(Ordering::Relaxed)),
        ("deferred", o.deferred.load(Ordering::Relaxed)),
        ("lost", o.lost.load(Ordering::Relaxed)),
    ];
    let lag_sum = [("started", o.lag_ms_sum.load(Ordering::Relaxed))];
    let c = &state.deliveries.counters;
    let outcomes = [
        ("delivered", c.delivered.load(Ordering::Relaxed)),
        ("retried", c.retried.load(Ordering::Relaxed)),
        ("failed", c.failed.load(Ordering::Relaxed)),
        ("lost_lease", c.lost_lease.load(Ordering::Relaxed)),
    ];
    let text = state.metrics.render(
        &[
            (
                "flowhook_database_up",
                "1 when the database answered this scrape.",
                up,
            ),
            (
                "flowhook_delivery_queue_depth",
                "Flow-end deliveries not yet delivered or failed.",
                stats.pending as f64,
            ),
            (
                "flowhook_delivery_queue_oldest_seconds",
                "Age of the oldest pending flow-end delivery.",
                age,
            ),
            (
                "flowhook_outbound_due",
                "Outbound calls due and not started (the scheduler's backlog).",
                backlog.due as f64,
            ),
            (
                "flowhook_outbound_lag_seconds",
                "How far the scheduler is behind: the age of the oldest due call not started.",
                lag,
            ),
        ],
        &[
            External {
                name: "flowhook_delivery_attempts_total",
                help: "Flow-end delivery attempts by this server, by outcome.",
                label: "outcome",
                values: &outcomes,
            },
            External {
                name: "flowhook_outbound_calls_total",
                help: "Outbound calls claimed by this server's scheduler, by outcome.",
                label: "outcome",
                values: &calls,
            },
            External {
                name: "flowhook_outbound_start_lag_milliseconds_total",
                help: "Sum of due time to start over the calls this server started (divide by flowhook_outbound_calls_total{outcome=\"started\"} for the mean).",
                label: "outcome",
                values: &lag_sum,
            },
        ],
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
