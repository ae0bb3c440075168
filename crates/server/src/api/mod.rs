//! The HTTP API: one file per resource, assembled here into one router whose
//! OpenAPI document ([`openapi`]) is generated from the handlers' annotations.
//!
//! Every handler returns `Result<_, ApiError>`, so every failure is a
//! problem+json with a stable code; extractors ([`extract`], [`auth`]) turn bad
//! input and bad credentials into problems before a handler runs.

pub mod accounts;
pub mod agents;
pub mod auth;
pub mod bots;
pub mod breaks;
pub mod contacts;
pub mod dashboard;
pub mod deliveries;
pub mod dry_run;
pub mod executions;
pub mod extract;
pub mod flows;
pub mod guard;
pub mod intents;
pub mod internal;
pub mod links;
pub mod openapi;
pub mod outbound;
pub mod problem;
pub mod rate;
pub mod reports;
pub mod service;
pub mod webhooks;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;
use problem::ApiError;

/// Largest request body the API reads (flows are the biggest documents).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// The whole API with its state.
pub fn router(state: AppState) -> axum::Router {
    let (router, openapi) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(accounts::create_account, accounts::list_accounts))
        .routes(routes!(accounts::get_account, accounts::update_account))
        .routes(routes!(accounts::get_whitelist, accounts::put_whitelist))
        .routes(routes!(agents::create_agent, agents::list_agents))
        .routes(routes!(breaks::list_breaks))
        .routes(routes!(
            agents::get_agent,
            agents::update_agent,
            agents::delete_agent
        ))
        .routes(routes!(
            contacts::get_preferences,
            contacts::put_preferences
        ))
        .routes(routes!(accounts::rotate_short_token))
        .routes(routes!(webhooks::create_webhook, webhooks::list_webhooks))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::update_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::check_webhook))
        .routes(routes!(flows::create_flow, flows::list_flows))
        .routes(routes!(flows::validate_flow))
        .routes(routes!(
            flows::get_flow,
            flows::update_flow,
            flows::delete_flow
        ))
        .routes(routes!(dry_run::test_widget))
        .routes(routes!(executions::start_execution))
        .routes(routes!(executions::list_executions))
        .routes(routes!(executions::get_execution))
        .routes(routes!(executions::report_hangup))
        .routes(routes!(dashboard::get_dashboard))
        .routes(routes!(deliveries::list_deliveries))
        .routes(routes!(deliveries::get_delivery))
        .routes(routes!(deliveries::resend_delivery))
        .routes(routes!(deliveries::recover_deliveries))
        .routes(routes!(internal::internal))
        .routes(routes!(links::shorten_url))
        .routes(routes!(links::shorten_url_phonon))
        .routes(routes!(links::list_links))
        .routes(routes!(links::follow_link))
        .routes(routes!(bots::create_bot, bots::list_bots))
        .routes(routes!(bots::get_bot, bots::update_bot, bots::delete_bot))
        .routes(routes!(outbound::create_outbound))
        .routes(routes!(outbound::get_outbound, outbound::cancel_outbound))
        .routes(routes!(intents::create_intent, intents::list_intents))
        .routes(routes!(
            intents::get_intent,
            intents::update_intent,
            intents::delete_intent
        ))
        .routes(routes!(reports::create_report, reports::list_reports))
        .routes(routes!(reports::get_report))
        .routes(routes!(reports::download_report))
        .routes(routes!(service::healthz))
        .routes(routes!(service::readyz))
        .routes(routes!(service::metrics))
        .split_for_parts();
    let router = router
        .merge(openapi::routes(&openapi::finish(openapi)))
        .merge(internal::aliases())
        .merge(crate::ui::router(&state))
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    guard::protect(router, &state)
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Counts every request by route template and logs it with its duration
/// (short-link redirects at debug level).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await.into_response();
    let status = response.status();
    state.metrics.inc(
        "flowhook_http_requests_total",
        &[
            ("route", &route),
            ("method", method.as_str()),
            ("status", status.as_str()),
        ],
    );
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // Short-link redirects are public, high-volume and counted per link:
    // their access lines would cost a third of a redirect (BENCHMARKS.md).
    if route == links::FOLLOW_ROUTE {
        tracing::debug!(%method, route, status = status.as_u16(), ms, "request");
    } else {
        tracing::info!(%method, route, status = status.as_u16(), ms, "request");
    }
    response
}

/// Unix milliseconds as RFC 3339 UTC, the time format of every answer.
pub fn rfc3339(millis: i64) -> Timestamp {
    Timestamp(
        chrono::DateTime::from_timestamp_millis(millis)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

/// A time in an answer: RFC 3339 UTC with milliseconds (`format: date-time`).
#[derive(serde::Serialize, Debug, Clone)]
#[serde(transparent)]
pub struct Timestamp(String);

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .examples(["2026-11-21T04:30:03.000Z"])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl From<Timestamp> for serde_json::Value {
    fn from(t: Timestamp) -> Self {
        serde_json::Value::String(t.0)
    }
}
