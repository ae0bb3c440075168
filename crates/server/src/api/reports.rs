//! Executions reports: `POST /v1/reports` asks for one (the REST form of
//! `pullreport`; both go through `flowhook_engine::reports::Reports::request`),
//! `GET /v1/reports` and `GET /v1/reports/{id}` show reports and their
//! progress, and `GET /v1/reports/{id}/file` downloads a ready file, streamed
//! from the database a few chunks at a time.
//!
//! An account sees only its own reports; the IP whitelist applies through
//! [`AccountCaller`].

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flowhook_core::ids::{FlowId, ReportId, WebhookId};
use flowhook_core::report::ReportFormat;
use flowhook_engine::reports::{Field, Request, RequestError};
use flowhook_storage::{ReportRecord, Store};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::extract::{ApiJson, ApiQuery, Limit};
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// A report to build.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// The flow whose executions (of every version) it lists.
    pub flow_id: FlowId,
    /// Executions started at or after this: an ISO 8601 date (the start of
    /// that day in the account's time zone), a date-time with an offset, or
    /// one without (in the account's zone).
    #[schema(
        min_length = 10,
        max_length = 64,
        pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}",
        example = "2026-11-01"
    )]
    pub from: String,
    /// Executions started before this; a date includes its whole day.
    #[schema(
        min_length = 10,
        max_length = 64,
        pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}",
        example = "2026-11-30"
    )]
    pub to: String,
    /// `csv` unless asked.
    #[serde(default)]
    pub format: Option<Format>,
    /// A webhook of the account to deliver the ready file to, through the
    /// flow-end delivery engine (signed, retried), as a `report.ready`
    /// document; files over 8 MiB are not delivered, only downloaded.
    #[serde(default)]
    pub deliver_to: Option<WebhookId>,
}

/// A report's file format.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// Where a report stands.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Only the schema is used: statuses are stored as text.
pub enum ReportStatus {
    Queued,
    Building,
    Ready,
    Failed,
}

/// A report and its progress.
#[derive(Serialize, ToSchema)]
pub struct ReportView {
    pub id: ReportId,
    #[schema(value_type = FlowId)]
    pub flow_id: String,
    pub from: Timestamp,
    pub to: Timestamp,
    /// The zone the file's times are written in (the account's).
    #[schema(example = "Asia/Kolkata")]
    pub time_zone: String,
    #[schema(value_type = Format)]
    pub format: String,
    pub deliver_to: Option<WebhookId>,
    #[schema(value_type = ReportStatus)]
    pub status: String,
    /// Rows written so far.
    pub rows_done: i64,
    /// Executions the report covers, once counted.
    pub rows_total: Option<i64>,
    /// Bytes of the file written so far.
    pub size_bytes: i64,
    /// Why it failed, or why a ready file was not delivered.
    pub error: Option<String>,
    /// The delivery of the file to `deliver_to` (`GET /v1/deliveries/{id}`).
    pub delivery_id: Option<flowhook_core::ids::DeliveryId>,
    /// Where the ready file is downloaded.
    #[schema(
        example = "https://flowhook.example.in/v1/reports/01932c6e-8a4f-7d3a-9f1e-2b7c4d5e6f70/file"
    )]
    pub file_url: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

fn view(state: &AppState, r: ReportRecord) -> ReportView {
    let file_url = (r.status == "ready").then(|| {
        format!(
            "{}/v1/reports/{}/file",
            state.config.public_url.as_str().trim_end_matches('/'),
            r.id
        )
    });
    ReportView {
        id: r.id,
        flow_id: r.flow_id,
        from: rfc3339(r.from),
        to: rfc3339(r.to),
        time_zone: r.time_zone,
        format: r.format,
        deliver_to: r.deliver_to,
        status: r.status,
        rows_done: r.rows_done,
        rows_total: r.rows_total,
        size_bytes: r.size_bytes,
        error: r.error,
        delivery_id: r.delivery_id,
        file_url,
        created_at: rfc3339(r.created_at),
        finished_at: r.finished_at.map(rfc3339),
    }
}

#[utoipa::path(post, path = "/v1/reports", tag = "reports", security(("security_id" = [])),
    request_body(content = NewReport, example = json!({"flow_id": "Ab3dE6gH", "from": "2026-11-01", "to": "2026-11-30", "format": "csv"})),
    responses(
        (status = 202, body = ReportView, description = "Queued; it is built in the background",
         headers(("Location" = String, description = "The report"))),
        (status = 422, body = Problem, description = "`UNKNOWN_FLOW`: the account has no such flow; \
            `INVALID_RANGE`: `from` or `to` is not an ISO 8601 date or date-time, or `from` is not before `to`; \
            `UNKNOWN_WEBHOOK`: `deliver_to` is not a webhook of the account"),
        (status = 429, body = Problem, description = "`TOO_MANY_REPORTS`: the account has 5 reports waiting or being built; retry after `Retry-After` seconds")))]
pub async fn create_report(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiJson(input): ApiJson<NewReport>,
) -> Result<Response, ApiError> {
    let deliver_to = input.deliver_to.map(|w| w.to_string());
    let request = Request {
        flow_id: input.flow_id.as_str(),
        from: &input.from,
        to: &input.to,
        format: input.format.map(Format::as_str),
        deliver_to: deliver_to.as_deref(),
    };
    let report = state
        .reports
        .request(&me, request)
        .await
        .map_err(|e| match e {
            RequestError::Invalid { field, message } => {
                let code = match field {
                    Field::FlowId => "UNKNOWN_FLOW",
                    Field::From | Field::To => "INVALID_RANGE",
                    Field::Format => "INVALID_FORMAT",
                    Field::DeliverTo => "UNKNOWN_WEBHOOK",
                };
                ApiError::unprocessable(code, format!("{}: {message}", field.json_name()))
            }
            RequestError::TooMany(_) => ApiError::too_many("TOO_MANY_REPORTS", e.to_string(), 60),
            RequestError::Store(e) => e.into(),
        })?;
    let location =
        HeaderValue::from_str(&format!("/v1/reports/{}", report.id)).map_err(ApiError::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        axum::Json(view(&state, report)),
    )
        .into_response())
}

/// Filters of `GET /v1/reports`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many, newest first.
    #[serde(default)]
    #[param(inline)]
    pub limit: Limit,
}

#[utoipa::path(get, path = "/v1/reports", tag = "reports", params(ListQuery),
    security(("security_id" = [])),
    responses((status = 200, body = Vec<ReportView>)))]
pub async fn list_reports(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<axum::Json<Vec<ReportView>>, ApiError> {
    let reports = state.store.reports(me.id, q.limit.0).await?;
    Ok(axum::Json(
        reports.into_iter().map(|r| view(&state, r)).collect(),
    ))
}

async fn report_of(
    state: &AppState,
    me: &flowhook_storage::AccountRecord,
    id: &str,
) -> Result<ReportRecord, ApiError> {
    let id = ReportId::parse(id).ok_or_else(|| ApiError::not_found("report"))?;
    state
        .store
        .report(me.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("report"))
}

#[utoipa::path(get, path = "/v1/reports/{id}", tag = "reports",
    params(("id" = inline(ReportId), Path, description = "The report")), security(("security_id" = [])),
    responses((status = 200, body = ReportView), (status = 404, body = Problem)))]
pub async fn get_report(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<axum::Json<ReportView>, ApiError> {
    let report = report_of(&state, &me, &id).await?;
    Ok(axum::Json(view(&state, report)))
}

/// Chunks read from the database per step of a download.
const CHUNKS_PER_READ: i64 = 4;

#[utoipa::path(get, path = "/v1/reports/{id}/file", tag = "reports",
    params(("id" = inline(ReportId), Path, description = "The report")), security(("security_id" = [])),
    responses(
        (status = 200, description = "The file, as an attachment: CSV (RFC 4180, CRLF line ends) or a JSON array of objects with the CSV's columns",
         content((String = "text/csv"), (Vec<Object> = "application/json")),
         headers(("Content-Disposition" = String, description = "`attachment; filename=\"report-FLOW-ID.csv\"`"))),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "`REPORT_NOT_READY`: the report is still being built, or failed")))]
pub async fn download_report(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let report = report_of(&state, &me, &id).await?;
    if report.status != "ready" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "REPORT_NOT_READY",
            format!(
                "the report is {}{}; its file is there once it is ready",
                report.status,
                report
                    .error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
        ));
    }
    let format = ReportFormat::parse(&report.format).map_err(ApiError::internal)?;
    let disposition = format!(
        "attachment; filename=\"report-{}-{}.{}\"",
        report.flow_id,
        report.id,
        format.as_str()
    );
    let body = Body::from_stream(chunks(state.store.clone(), report.id));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).map_err(ApiError::internal)?,
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(report.size_bytes)),
        ],
        body,
    )
        .into_response())
}

/// The file's chunks in order, read a few at a time as the client takes them.
fn chunks(
    store: Arc<dyn Store>,
    id: ReportId,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::try_unfold(Some(0i64), move |next| {
        let store = store.clone();
        async move {
            let Some(seq) = next else {
                return Ok(None);
            };
            let read = store
                .report_chunks(id, seq, CHUNKS_PER_READ)
                .await
                .map_err(|e| {
                    tracing::error!(report = %id, error = %e, "cannot read a report's file");
                    std::io::Error::other(e.to_string())
                })?;
            let Some((last, _)) = read.last() else {
                return Ok(None);
            };
            let following = (read.len() as i64 == CHUNKS_PER_READ).then_some(last + 1);
            let bytes: String = read.into_iter().map(|(_, data)| data).collect();
            Ok(Some((Bytes::from(bytes), following)))
        }
    })
}
