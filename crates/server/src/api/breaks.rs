//! The break report (the seeds' "reports for break visibility"):
//! `GET /v1/agents/breaks` lists every break of the account's agents that
//! overlaps a window, with what each counts inside it, and each agent's total.
//!
//! Promises: every interval is listed as stored (its true start and end; a
//! break that goes on has `ended_at: null`); `duration_seconds` counts only
//! the part inside the window, an open break up to the window's end or now,
//! whichever is earlier (`flowhook_core::agents::counted_millis`); a total is
//! the sum of its agent's rows. A window with more breaks than one answer
//! holds is refused (422), never cut short, so totals are always whole.

use std::time::Duration;

use axum::extract::State;
use flowhook_core::agents::{counted_millis, seconds, totals};
use flowhook_core::ids::AgentId;
use flowhook_storage::{BreakFilter, BreakRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::AccountCaller;
use super::extract::{ApiQuery, Rfc3339};
use super::problem::{ApiError, Problem};
use super::{Timestamp, rfc3339};
use crate::state::AppState;

/// The window when `from` is not given: this long before `to`.
const DEFAULT_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The most breaks one report lists.
pub const MAX_BREAKS: usize = 10_000;

/// Filters of `GET /v1/agents/breaks`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BreaksQuery {
    /// Start of the window (inclusive); default: 24 hours before `to`.
    #[param(inline)]
    pub from: Option<Rfc3339>,
    /// End of the window (exclusive); default: now (just after it, so a
    /// break that began now is in the window). Must be after `from`.
    #[param(inline)]
    pub to: Option<Rfc3339>,
    /// Only this agent's breaks.
    #[param(inline)]
    pub agent: Option<AgentId>,
}

/// One break.
#[derive(Serialize, ToSchema)]
pub struct BreakView {
    #[schema(value_type = flowhook_core::ids::AgentId)]
    pub agent_id: String,
    #[schema(example = "Priya, desk 4")]
    pub name: String,
    /// The agent's number in E.164.
    #[schema(example = "+918160712345")]
    pub cli: String,
    pub started_at: Timestamp,
    /// Null while the break goes on.
    pub ended_at: Option<Timestamp>,
    /// The part of the break inside the window, in seconds (to the
    /// millisecond); an open break counts up to the window's end or now.
    #[schema(minimum = 0, example = 754.213)]
    pub duration_seconds: f64,
}

/// One agent's breaks in the window.
#[derive(Serialize, ToSchema)]
pub struct BreakTotal {
    #[schema(value_type = flowhook_core::ids::AgentId)]
    pub agent_id: String,
    #[schema(example = "Priya, desk 4")]
    pub name: String,
    #[schema(example = "+918160712345")]
    pub cli: String,
    /// How many of its breaks overlap the window.
    #[schema(minimum = 1, example = 3)]
    pub breaks: u64,
    /// The sum of their `duration_seconds`.
    #[schema(minimum = 0, example = 1802.5)]
    pub duration_seconds: f64,
}

/// The report.
#[derive(Serialize, ToSchema)]
pub struct BreakReport {
    pub from: Timestamp,
    pub to: Timestamp,
    /// When the report was made: open breaks count up to it (or up to `to`,
    /// if that is earlier).
    pub generated_at: Timestamp,
    /// Every break overlapping the window, oldest first.
    pub breaks: Vec<BreakView>,
    /// Per agent with a break in the window, in the order agents were created.
    pub totals: Vec<BreakTotal>,
}

#[utoipa::path(get, path = "/v1/agents/breaks", tag = "agents", params(BreaksQuery),
    security(("security_id" = [])),
    responses((status = 200, body = BreakReport),
               (status = 400, body = Problem),
               (status = 422, body = Problem, description = "`INVALID_WINDOW`: `from` is not before `to`; `TOO_MANY_BREAKS`: over 10,000 breaks overlap the window (narrow it, or pick an `agent`)")))]
pub async fn list_breaks(
    State(state): State<AppState>,
    AccountCaller(me): AccountCaller,
    ApiQuery(q): ApiQuery<BreaksQuery>,
) -> Result<axum::Json<BreakReport>, ApiError> {
    let now = flowhook_storage::now_millis();
    // The window is half-open, so by default it ends just after now: a
    // break that began this millisecond is in it.
    let to = shown(q.to.map_or(now + 1, |t| t.0));
    let from = shown(
        q.from
            .map_or(to - DEFAULT_WINDOW.as_millis() as i64, |t| t.0),
    );
    if from >= to {
        return Err(ApiError::unprocessable(
            "INVALID_WINDOW",
            "`from` must be before `to`",
        ));
    }
    let filter = BreakFilter {
        from,
        to,
        agent: q.agent,
        limit: MAX_BREAKS as i64 + 1,
    };
    let records = state.store.agent_breaks(me.id, &filter).await?;
    if records.len() > MAX_BREAKS {
        return Err(ApiError::unprocessable(
            "TOO_MANY_BREAKS",
            format!("more than {MAX_BREAKS} breaks overlap the window; narrow it or pick an agent"),
        ));
    }
    Ok(axum::Json(report(&records, from, to, now)))
}

/// A time moved into the years RFC 3339 can write (0000–9999), so the
/// window an answer shows is a valid `date-time`.
fn shown(millis: i64) -> i64 {
    /// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z.
    const FIRST: i64 = -62_167_219_200_000;
    const LAST: i64 = 253_402_300_799_999;
    millis.clamp(FIRST, LAST)
}

/// The report of `records`, counted in `[from, to)` at `now`.
fn report(records: &[BreakRecord], from: i64, to: i64, now: i64) -> BreakReport {
    let counted: Vec<i64> = records
        .iter()
        .map(|b| counted_millis(b.started_at, b.ended_at, from, to, now))
        .collect();
    let sums = totals(
        records
            .iter()
            .zip(&counted)
            .map(|(b, ms)| (b.agent_id, *ms)),
    );
    let totals = sums
        .into_iter()
        .filter_map(|(agent, total)| {
            let any = records.iter().find(|b| b.agent_id == agent)?;
            Some(BreakTotal {
                agent_id: agent.to_string(),
                name: any.agent_name.clone(),
                cli: any.number.e164(),
                breaks: total.breaks,
                duration_seconds: seconds(total.millis),
            })
        })
        .collect();
    BreakReport {
        from: rfc3339(from),
        to: rfc3339(to),
        generated_at: rfc3339(now),
        breaks: records
            .iter()
            .zip(counted)
            .map(|(b, ms)| BreakView {
                agent_id: b.agent_id.to_string(),
                name: b.agent_name.clone(),
                cli: b.number.e164(),
                started_at: rfc3339(b.started_at),
                ended_at: b.ended_at.map(rfc3339),
                duration_seconds: seconds(ms),
            })
            .collect(),
        totals,
    }
}
