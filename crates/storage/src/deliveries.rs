//! The flow-end webhook outbox: deliveries, their attempts, and the lease-based
//! claiming that lets several workers (and several servers) share them.
//!
//! Promises:
//! - a delivery is inserted in the transaction that finishes its execution
//!   ([`crate::ExecutionStore::finish_execution`]), so a finished execution never
//!   lacks its message and a crash between the two cannot happen;
//! - a worker owns a claimed delivery until its lease expires; a crashed worker's
//!   deliveries are claimed again after that. On PostgreSQL claiming uses
//!   `FOR UPDATE SKIP LOCKED`, so concurrent servers do not claim the same row;
//! - an attempt is recorded, and the delivery rescheduled, in one transaction,
//!   and only by the worker that still holds the lease;
//! - nothing is deleted: a delivery ends `delivered` or `failed`, and a failed one
//!   can be queued again.

use std::sync::LazyLock;

use flowhook_core::ids::{AccountId, DeliveryId, ExecutionId, WebhookId};

use crate::row_write::{RowWrite, Then, placeholders_from};

use crate::db::{Conn, Database, Row, Value, params, write_one};
use crate::{StoreError, corrupt, leases, now_millis};

/// A stored delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub account_id: AccountId,
    pub webhook_id: WebhookId,
    /// The execution whose end this announces; `ExecutionId::nil()` for the
    /// delivery of a report's file (the report names it: `reports.delivery_id`).
    pub execution_id: ExecutionId,
    /// The `webhook-id` header.
    pub msg_id: String,
    /// The exact body sent.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// Attempts since the delivery was last queued (the retry schedule's index).
    pub round_attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

impl DeliveryRecord {
    /// A new pending delivery, due now.
    pub fn new(
        account_id: AccountId,
        webhook_id: WebhookId,
        execution_id: ExecutionId,
        payload: String,
    ) -> DeliveryRecord {
        let id = DeliveryId::generate();
        let now = now_millis();
        DeliveryRecord {
            msg_id: format!("msg_{}", id.as_uuid().simple()),
            id,
            account_id,
            webhook_id,
            execution_id,
            payload,
            status: "pending".into(),
            attempts: 0,
            round_attempts: 0,
            next_attempt_at: now,
            last_status: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            delivered_at: None,
        }
    }
}

/// One attempt to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub delivery_id: DeliveryId,
    /// 1-based, over the delivery's whole life.
    pub attempt: i64,
    pub at: i64,
    pub status: Option<i64>,
    pub duration_us: i64,
    /// At most 4 KiB of the response body.
    pub response: Option<String>,
    pub error: Option<String>,
}

/// What an attempt decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at this time (unix ms).
    Retry {
        at: i64,
    },
    /// No attempts left.
    Failed,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<String>,
    pub webhook_id: Option<String>,
    /// Created at or after (unix ms).
    pub from: Option<i64>,
    /// Created before (unix ms).
    pub to: Option<i64>,
    pub limit: i64,
}

/// The queue as metrics show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Deliveries not yet delivered or failed.
    pub pending: i64,
    /// Creation time of the oldest pending delivery (unix ms).
    pub oldest_pending_at: Option<i64>,
}

/// Storage of the outbox.
#[async_trait::async_trait]
pub trait DeliveryStore {
    /// Leases up to `limit` due deliveries until `now + lease_ms`. `lease` names
    /// this one claim (`<worker>:<n>`): only it may record their attempts, so a
    /// task whose lease expired and was claimed again cannot record twice.
    async fn claim_deliveries(
        &self,
        lease: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Records an attempt and its outcome; false (and nothing written) if `lease`
    /// no longer holds the delivery.
    async fn record_attempt(
        &self,
        lease: &str,
        attempt: &AttemptRecord,
        outcome: AttemptOutcome,
    ) -> Result<bool, StoreError>;
    /// Gives up leases: those of every claim of `worker`, or every lease when
    /// `None` (at the start of an embedded server, which owns its database alone).
    async fn release_leases(&self, worker: Option<&str>) -> Result<u64, StoreError>;
    async fn delivery(
        &self,
        account: AccountId,
        id: DeliveryId,
    ) -> Result<Option<(DeliveryRecord, Vec<AttemptRecord>)>, StoreError>;
    /// The attempts of several deliveries, in delivery then attempt order.
    async fn attempts_of(&self, ids: &[DeliveryId]) -> Result<Vec<AttemptRecord>, StoreError>;
    /// Newest first.
    async fn deliveries(
        &self,
        account: AccountId,
        filter: &DeliveryFilter,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Queues a delivery again for a new round of attempts, due now (same
    /// `webhook-id`); false if there is no such delivery or an attempt is in
    /// flight (its lease is live), since queueing it then would send it twice.
    async fn requeue(&self, account: AccountId, id: DeliveryId) -> Result<bool, StoreError>;
    /// Queues again every failed delivery created in `[from, to)`; how many.
    async fn requeue_failed(
        &self,
        account: AccountId,
        from: i64,
        to: i64,
    ) -> Result<u64, StoreError>;
    async fn queue_stats(&self) -> Result<QueueStats, StoreError>;
}

/// The columns of a delivery, as [`delivery_from_row`] reads them.
pub(crate) const COLUMNS: &str = "id, account_id, webhook_id, execution_id, msg_id, payload, status, attempts, round_attempts, next_attempt_at, last_status, last_error, created_at, updated_at, delivered_at";

fn delivery_from_row(row: &Row) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        id: row.get("id")?,
        account_id: row.get("account_id")?,
        webhook_id: row.get("webhook_id")?,
        execution_id: row.get("execution_id")?,
        msg_id: row.get("msg_id")?,
        payload: row.get("payload")?,
        status: row.get("status")?,
        attempts: row.get("attempts")?,
        round_attempts: row.get("round_attempts")?,
        next_attempt_at: row.get("next_attempt_at")?,
        last_status: row.get("last_status")?,
        last_error: row.get("last_error")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        delivered_at: row.get("delivered_at")?,
    })
}

/// Records an attempt's outcome on its delivery, only while `$2` holds its
/// lease, then the attempt's row (with its number `$9`, duration `$10` and
/// response `$11`) if it was recorded.
static RECORD: LazyLock<RowWrite> = LazyLock::new(|| {
    RowWrite::update(
        "delivery attempt",
        "UPDATE deliveries SET status = $3, attempts = attempts + 1, round_attempts = round_attempts + 1,
            next_attempt_at = $4, last_status = $5, last_error = $6, delivered_at = $7, updated_at = $8,
            lease_owner = NULL, lease_until = NULL",
        "id = $1 AND lease_owner = $2",
        Some(Then {
            into: "INSERT INTO delivery_attempts (delivery_id, attempt, at, status, duration_us, response, error)".into(),
            values: "$1, $9, $8, $5, $10, $11, $6".into(),
            when_set: None,
        }),
        0,
    )
});

/// `INSERT INTO deliveries (…)`, the columns [`insert_params`] fills.
pub(crate) fn insert_into() -> String {
    format!("INSERT INTO deliveries ({COLUMNS})")
}

/// Inserts a delivery with [`insert_params`] (a finished report's message;
/// an execution's end inserts its own with the end's `RowWrite`).
pub(crate) static INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} VALUES ({})",
        insert_into(),
        placeholders_from(1, COLUMNS.split(", ").count())
    )
});

/// [`insert_params`] all NULL, each of its own type (a row of a PostgreSQL
/// batch types its columns by its values); worked out once, as every
/// execution without a flow-end message needs them.
pub(crate) static INSERT_NULLS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    insert_params(&DeliveryRecord {
        id: DeliveryId::nil(),
        account_id: AccountId::nil(),
        webhook_id: WebhookId::nil(),
        execution_id: ExecutionId::nil(),
        msg_id: String::new(),
        payload: String::new(),
        status: String::new(),
        attempts: 0,
        round_attempts: 0,
        next_attempt_at: 0,
        last_status: None,
        last_error: None,
        created_at: 0,
        updated_at: 0,
        delivered_at: None,
    })
    .iter()
    .map(Value::null_like)
    .collect()
});

pub(crate) fn insert_params(d: &DeliveryRecord) -> Vec<Value> {
    params![
        d.id.to_string(),
        d.account_id.to_string(),
        d.webhook_id.to_string(),
        d.execution_id.to_string(),
        &d.msg_id,
        &d.payload,
        &d.status,
        d.attempts,
        d.round_attempts,
        d.next_attempt_at,
        d.last_status,
        &d.last_error,
        d.created_at,
        d.updated_at,
        d.delivered_at
    ]
}

#[async_trait::async_trait]
impl<D: Database> DeliveryStore for D {
    async fn claim_deliveries(
        &self,
        lease: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let claim = params![lease, now + lease_ms, now, limit];
        let sql = leases::claim_sql(
            D::KIND,
            "deliveries",
            "status = 'pending' AND next_attempt_at <= $3",
            "next_attempt_at",
            COLUMNS,
        );
        self.write_statement(sql, claim, true)
            .await?
            .rows
            .iter()
            .map(delivery_from_row)
            .collect()
    }

    async fn record_attempt(
        &self,
        lease: &str,
        a: &AttemptRecord,
        outcome: AttemptOutcome,
    ) -> Result<bool, StoreError> {
        let (status, next_at, delivered_at) = match outcome {
            AttemptOutcome::Delivered => ("delivered", a.at, Some(a.at)),
            AttemptOutcome::Retry { at } => ("pending", at, None),
            AttemptOutcome::Failed => ("failed", a.at, None),
        };
        let row = params![
            a.delivery_id.to_string(),
            lease,
            status,
            next_at,
            a.status,
            &a.error,
            delivered_at,
            a.at,
            a.attempt,
            a.duration_us,
            &a.response
        ];
        Ok(self.write_row(&RECORD, row).await? == 1)
    }

    async fn release_leases(&self, worker: Option<&str>) -> Result<u64, StoreError> {
        leases::release(self, "deliveries", worker).await
    }

    async fn delivery(
        &self,
        account: AccountId,
        id: DeliveryId,
    ) -> Result<Option<(DeliveryRecord, Vec<AttemptRecord>)>, StoreError> {
        let query = params![account.to_string(), id.to_string()];
        self.read(move |c| {
            Box::pin(async move {
                let sql =
                    format!("SELECT {COLUMNS} FROM deliveries WHERE account_id = $1 AND id = $2");
                let Some(row) = c.query_opt(&sql, &query).await? else {
                    return Ok(None);
                };
                let delivery = delivery_from_row(&row)?;
                let attempts = attempts_of(c, &[id]).await?;
                Ok(Some((delivery, attempts)))
            })
        })
        .await
    }

    async fn attempts_of(&self, ids: &[DeliveryId]) -> Result<Vec<AttemptRecord>, StoreError> {
        let ids = ids.to_vec();
        self.read(move |c| Box::pin(async move { attempts_of(c, &ids).await }))
            .await
    }

    async fn deliveries(
        &self,
        account: AccountId,
        f: &DeliveryFilter,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let query = params![
            account.to_string(),
            &f.status,
            &f.webhook_id,
            f.from,
            f.to,
            f.limit
        ];
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {COLUMNS} FROM deliveries WHERE account_id = $1
                       AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR webhook_id = $3)
                       AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR created_at < $5)
                     ORDER BY created_at DESC, id DESC LIMIT $6"
                );
                c.query(&sql, &query)
                    .await?
                    .iter()
                    .map(delivery_from_row)
                    .collect()
            })
        })
        .await
    }

    async fn requeue(&self, account: AccountId, id: DeliveryId) -> Result<bool, StoreError> {
        Ok(write_one(
            self,
            "UPDATE deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = $3,
                lease_owner = NULL, lease_until = NULL, updated_at = $3
             WHERE account_id = $1 AND id = $2 AND (lease_until IS NULL OR lease_until < $3)",
            params![account.to_string(), id.to_string(), now_millis()],
        )
        .await?
            == 1)
    }

    async fn requeue_failed(
        &self,
        account: AccountId,
        from: i64,
        to: i64,
    ) -> Result<u64, StoreError> {
        write_one(
            self,
            "UPDATE deliveries SET status = 'pending', round_attempts = 0, next_attempt_at = $4,
                lease_owner = NULL, lease_until = NULL, updated_at = $4
             WHERE account_id = $1 AND status = 'failed' AND created_at >= $2 AND created_at < $3",
            params![account.to_string(), from, to, now_millis()],
        )
        .await
    }

    async fn queue_stats(&self) -> Result<QueueStats, StoreError> {
        self.read(|c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM deliveries WHERE status = 'pending'",
                        &[],
                    )
                    .await?
                    .ok_or_else(|| corrupt("queue stats", "no row"))?;
                Ok(QueueStats {
                    pending: row.get("n")?,
                    oldest_pending_at: row.get("oldest")?,
                })
            })
        })
        .await
    }
}

/// The attempts of several deliveries, in delivery then attempt order.
async fn attempts_of<C: Conn>(
    c: &mut C,
    ids: &[DeliveryId],
) -> Result<Vec<AttemptRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT delivery_id, attempt, at, status, duration_us, response, error FROM delivery_attempts
         WHERE delivery_id IN ({}) ORDER BY delivery_id, attempt",
        placeholders.join(", ")
    );
    let query: Vec<Value> = ids.iter().map(|id| Value::from(id.to_string())).collect();
    c.query(&sql, &query)
        .await?
        .iter()
        .map(|r| {
            Ok(AttemptRecord {
                delivery_id: r.get("delivery_id")?,
                attempt: r.get("attempt")?,
                at: r.get("at")?,
                status: r.get("status")?,
                duration_us: r.get("duration_us")?,
                response: r.get("response")?,
                error: r.get("error")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row_write::tests::squeezed;

    /// PostgreSQL's batch of attempts, as made from the one statement: each
    /// attempt's row is inserted only for deliveries whose lease held.
    #[test]
    fn the_attempt_batch_is_the_statement_over_the_rows() {
        assert_eq!(RECORD.width, 11);
        assert_eq!(
            squeezed(&RECORD.batch),
            squeezed(
                "WITH w AS (UPDATE deliveries SET status = b.p3, attempts = attempts + 1,
                    round_attempts = round_attempts + 1, next_attempt_at = b.p4, last_status = b.p5,
                    last_error = b.p6, delivered_at = b.p7, updated_at = b.p8,
                    lease_owner = NULL, lease_until = NULL
                 FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                   WITH ORDINALITY AS b(p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, n)
                 WHERE id = b.p1 AND lease_owner = b.p2 RETURNING b.*),
                 then_insert AS (INSERT INTO delivery_attempts (delivery_id, attempt, at, status, duration_us, response, error)
                   SELECT w.p1, w.p9, w.p8, w.p5, w.p10, w.p11, w.p6 FROM w)
                 SELECT n FROM w"
            )
        );
    }
}
