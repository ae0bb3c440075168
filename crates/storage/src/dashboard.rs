//! An account's recent activity at a glance, counted by the database: the
//! executions started per minute by status, the flow-end deliveries by
//! outcome, the outbox backlog and the latency of each webhook destination.
//!
//! Counting happens in SQL (one `GROUP BY` each); only the latency percentile
//! is computed here, over at most [`LATENCY_SAMPLE`] recent attempts per query.

use flowhook_core::ids::AccountId;

use crate::db::{Conn, Database, params};
use crate::{StoreError, corrupt};

/// The most recent attempts whose durations feed the latency percentiles.
pub const LATENCY_SAMPLE: i64 = 50_000;

/// One minute's executions of one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteCount {
    /// Start of the minute (unix ms).
    pub minute: i64,
    pub status: String,
    pub count: i64,
}

/// The latency of one webhook's flow-end attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationLatency {
    pub webhook_id: String,
    pub attempts: i64,
    /// 95th percentile of the attempts' durations, in milliseconds.
    pub p95_ms: f64,
}

/// What the dashboard shows, for one account since a time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DashboardCounts {
    pub executions_per_minute: Vec<MinuteCount>,
    /// Deliveries created since then, by status (`pending`, `delivered`, `failed`).
    pub deliveries_by_status: Vec<(String, i64)>,
    /// Deliveries of the account not yet delivered or failed (any age).
    pub backlog: i64,
    /// Creation time of the oldest of them (unix ms).
    pub oldest_pending_at: Option<i64>,
    /// Slowest first.
    pub destinations: Vec<DestinationLatency>,
}

/// Storage of the dashboard's numbers.
#[async_trait::async_trait]
pub trait DashboardStore {
    /// The account's numbers since `since` (unix ms).
    async fn dashboard(
        &self,
        account: AccountId,
        since: i64,
    ) -> Result<DashboardCounts, StoreError>;
}

#[async_trait::async_trait]
impl<D: Database> DashboardStore for D {
    async fn dashboard(
        &self,
        account: AccountId,
        since: i64,
    ) -> Result<DashboardCounts, StoreError> {
        let query = params![account.to_string(), since];
        self.read(move |c| {
            Box::pin(async move {
                let mut out = DashboardCounts::default();
                for row in c
                    .query(
                        "SELECT (started_at / 60000) * 60000 AS minute, status, COUNT(*) AS n
                         FROM executions WHERE account_id = $1 AND started_at >= $2
                         GROUP BY 1, 2 ORDER BY 1, 2",
                        &query,
                    )
                    .await?
                {
                    out.executions_per_minute.push(MinuteCount {
                        minute: row.get("minute")?,
                        status: row.get("status")?,
                        count: row.get("n")?,
                    });
                }
                for row in c
                    .query(
                        "SELECT status, COUNT(*) AS n FROM deliveries
                         WHERE account_id = $1 AND created_at >= $2 GROUP BY status ORDER BY status",
                        &query,
                    )
                    .await?
                {
                    out.deliveries_by_status
                        .push((row.get("status")?, row.get("n")?));
                }
                let backlog = c
                    .query_opt(
                        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM deliveries
                         WHERE account_id = $1 AND status = 'pending'",
                        &query[..1],
                    )
                    .await?
                    .ok_or_else(|| corrupt("dashboard backlog", "no row"))?;
                out.backlog = backlog.get("n")?;
                out.oldest_pending_at = backlog.get("oldest")?;
                let sample = params![account.to_string(), since, LATENCY_SAMPLE];
                let mut durations: std::collections::BTreeMap<String, Vec<i64>> =
                    Default::default();
                for row in c
                    .query(
                        "SELECT d.webhook_id AS webhook_id, a.duration_us AS duration_us
                         FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
                         WHERE d.account_id = $1 AND a.at >= $2
                         ORDER BY a.at DESC LIMIT $3",
                        &sample,
                    )
                    .await?
                {
                    durations
                        .entry(row.get("webhook_id")?)
                        .or_default()
                        .push(row.get("duration_us")?);
                }
                out.destinations = durations
                    .into_iter()
                    .map(|(webhook_id, mut us)| DestinationLatency {
                        webhook_id,
                        attempts: us.len() as i64,
                        p95_ms: percentile(&mut us, 95) as f64 / 1000.0,
                    })
                    .collect();
                out.destinations
                    .sort_by(|a, b| b.p95_ms.total_cmp(&a.p95_ms));
                Ok(out)
            })
        })
        .await
    }
}

/// The nearest-rank `p`th percentile of `values` (sorted in place); 0 when empty.
pub fn percentile(values: &mut [i64], p: usize) -> i64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    let rank = (p * values.len()).div_ceil(100).max(1);
    values[rank.min(values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentile() {
        assert_eq!(percentile(&mut [], 95), 0);
        assert_eq!(percentile(&mut [7], 95), 7);
        let mut hundred: Vec<i64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut hundred, 95), 95);
        assert_eq!(percentile(&mut [1, 2, 3, 1000], 95), 1000);
    }
}
