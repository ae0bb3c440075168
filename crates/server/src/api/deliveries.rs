//! Flow-end deliveries: list them (by status, webhook and time), read one with
//! its attempts, send one again, and queue again the failed ones of a window.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flowhook_core::ids::{DeliveryId, WebhookId};
use flowhook_storage::{AttemptRecord, DeliveryFilter, DeliveryRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::extract::{ApiJson, ApiQuery, Limit, Rfc3339};
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// One attempt.
#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    #[schema(example = 1)]
    pub attempt: i64,
    pub at: Timestamp,
    /// The HTTP status, null when no response came.
    #[schema(example = 200)]
    pub status: Option<i64>,
    #[schema(example = 41.7)]
    pub duration_ms: f64,
    /// Up to 4 KiB of the response body.
    #[schema(example = "{\"received\":true}")]
    pub response: Option<String>,
    /// Why no response came (connection refused, timeout, …).
    pub error: Option<String>,
}

/// A delivery as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    #[schema(value_type = flowhook_core::ids::DeliveryId)]
    pub id: String,
    /// The `webhook-id` header, the same on every attempt.
    #[schema(example = "msg_01932c6e8a4f7d3a9f1e2b7c4d5e6f70")]
    pub msg_id: String,
    #[schema(value_type = flowhook_core::ids::WebhookId)]
    pub webhook_id: String,
    #[schema(value_type = flowhook_core::ids::ExecutionId)]
    pub execution_id: String,
    #[schema(value_type = DeliveryStatus)]
    pub status: String,
    pub attempt_count: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    /// The body sent (the flow-end document, SPEC §6), only on a single delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, example = json!({
        "callDetails": [{"calleeNumber": "918000374000", "connectTime": "2026-11-21T10:00:03+05:30",
                         "didNumber": "912243692987", "duration": "57", "endTime": "2026-11-21T10:01:00+05:30",
                         "hangupCause": "16", "incoming": true, "startTime": "2026-11-21T10:00:00+05:30"}],
        "keys": [{"name": "$flow.key.orderId", "value": "A-17"}],
        "phonon-uuid": "01932c6e-8a4f-7d3a-9f1e-2b7c4d5e6f70",
        "recordingUrls": []
    }))]
    pub payload: Option<serde_json::Value>,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

/// `with_payload`: a single delivery shows the body it sends; lists do not.
fn view(d: DeliveryRecord, attempts: Vec<AttemptRecord>, with_payload: bool) -> DeliveryView {
    DeliveryView {
        id: d.id.to_string(),
        msg_id: d.msg_id,
        webhook_id: d.webhook_id.to_string(),
        execution_id: d.execution_id.to_string(),
        next_attempt_at: (d.status == "pending").then(|| rfc3339(d.next_attempt_at)),
        status: d.status,
        attempt_count: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error,
        created_at: rfc3339(d.created_at),
        delivered_at: d.delivered_at.map(rfc3339),
        payload: with_payload.then(|| serde_json::from_str(&d.payload).unwrap_or_default()),
        attempts: attempts
            .into_iter()
            .map(|a| AttemptView {
                attempt: a.attempt,
                at: rfc3339(a.at),
                status: a.status,
                duration_ms: a.duration_us as f64 / 1000.0,
                response: a.response,
                error: a.error,
            })
            .collect(),
    }
}

/// Where a delivery stands.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// Filters of `GET /v1/deliveries`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(inline)]
    pub status: Option<DeliveryStatus>,
    /// Only the deliveries to this webhook.
    #[param(inline)]
    pub webhook_id: Option<WebhookId>,
    /// Created at or after this time.
    #[param(inline)]
    pub from: Option<Rfc3339>,
    /// Created before this time.
    #[param(inline)]
    pub to: Option<Rfc3339>,
    /// At most this many, newest first.
    #[serde(default)]
    #[param(inline)]
    pub limit: Limit,
}

#[utoipa::path(get, path = "/v1/deliveries", tag = "deliveries", params(ListQuery),
    security(("security_id" = [])),
    responses((status = 200, body = Vec<DeliveryView>), (status = 400, body = Problem)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<Vec<DeliveryView>>, ApiError> {
    let filter = DeliveryFilter {
        status: q.status.map(|s| s.as_str().to_owned()),
        webhook_id: q.webhook_id.map(|w| w.to_string()),
        from: q.from.map(|t| t.0),
        to: q.to.map(|t| t.0),
        limit: q.limit.0,
    };
    let list = state.store.deliveries(me.id, &filter).await?;
    let ids: Vec<DeliveryId> = list.iter().map(|d| d.id).collect();
    let mut attempts: HashMap<DeliveryId, Vec<AttemptRecord>> = HashMap::new();
    for a in state.store.attempts_of(&ids).await? {
        attempts.entry(a.delivery_id).or_default().push(a);
    }
    Ok(axum::Json(
        list.into_iter()
            .map(|d| {
                let mine = attempts.remove(&d.id).unwrap_or_default();
                view(d, mine, false)
            })
            .collect(),
    ))
}

fn delivery_id(id: &str) -> Result<DeliveryId, ApiError> {
    DeliveryId::parse(id).ok_or_else(|| ApiError::not_found("delivery"))
}

#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "deliveries",
    params(("id" = inline(flowhook_core::ids::DeliveryId), Path, description = "The delivery")), security(("security_id" = [])),
    responses((status = 200, body = DeliveryView), (status = 404, body = Problem)))]
pub async fn get_delivery(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<DeliveryView>, ApiError> {
    let (d, attempts) = state
        .store
        .delivery(me.id, delivery_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    Ok(axum::Json(view(d, attempts, true)))
}

#[utoipa::path(post, path = "/v1/deliveries/{id}/resend", tag = "deliveries",
    params(("id" = inline(flowhook_core::ids::DeliveryId), Path, description = "The delivery")), security(("security_id" = [])),
    responses((status = 202, body = DeliveryView), (status = 404, body = Problem),
               (status = 409, body = Problem, description = "`CONFLICT`: an attempt is in flight")))]
pub async fn resend_delivery(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<(StatusCode, axum::Json<DeliveryView>), ApiError> {
    let id = delivery_id(&id)?;
    if !state.store.requeue(me.id, id).await? {
        return Err(match state.store.delivery(me.id, id).await? {
            Some(_) => ApiError::conflict(
                "an attempt of this delivery is in flight; resend it when it ends",
            ),
            None => ApiError::not_found("delivery"),
        });
    }

    state.executions.wake_deliveries();
    let (d, attempts) = state
        .store
        .delivery(me.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    tracing::info!(account = %me.id, delivery = %id, "delivery queued again");
    Ok((StatusCode::ACCEPTED, axum::Json(view(d, attempts, true))))
}

/// `POST /v1/deliveries/recover`: a time window of creation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverWindow {
    /// Created at or after this time.
    #[schema(value_type = String, format = DateTime, example = "2026-11-21T00:00:00Z")]
    pub from: Rfc3339,
    /// Created before this time; after `from`.
    #[schema(value_type = String, format = DateTime, example = "2026-11-22T00:00:00Z")]
    pub to: Rfc3339,
}

/// How many failed deliveries were queued again.
#[derive(Serialize, ToSchema)]
pub struct Recovered {
    pub requeued: u64,
}

#[utoipa::path(post, path = "/v1/deliveries/recover", tag = "deliveries", request_body = RecoverWindow,
    security(("security_id" = [])),
    responses((status = 202, body = Recovered), (status = 422, body = Problem)))]
pub async fn recover_deliveries(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(window): ApiJson<RecoverWindow>,
) -> Result<(StatusCode, axum::Json<Recovered>), ApiError> {
    let (from, to) = (window.from.0, window.to.0);
    if from >= to {
        return Err(ApiError::unprocessable(
            "INVALID_BODY",
            "from must be before to",
        ));
    }
    let requeued = state.store.requeue_failed(me.id, from, to).await?;
    state.executions.wake_deliveries();
    tracing::info!(account = %me.id, requeued, "failed deliveries queued again");
    Ok((StatusCode::ACCEPTED, axum::Json(Recovered { requeued })))
}
