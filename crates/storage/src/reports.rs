//! Executions reports: the request and progress of each report, its file as
//! ordered text chunks, and the keyset pages of executions a build reads.
//!
//! Promises:
//! - a report is built by one server at a time: it is claimed with a lease
//!   (`leases::claim_sql`: `FOR UPDATE SKIP LOCKED` on PostgreSQL), every write of its progress and
//!   chunks is made only while that lease holds, and the lease is renewed by
//!   each of them. A build whose server died is claimed again once its lease
//!   has expired (at once on an embedded server's next start) and starts over:
//!   the claim deletes the chunks of the attempt before;
//! - a report ends `ready` or `failed` once; its delivery (`deliver_to`), if
//!   any, is inserted into the outbox in the same transaction as the end;
//! - executions are read in pages ordered by `(started_at, id)`, each page
//!   after the last key of the one before, so a build never holds more than
//!   one page however many executions the report covers.

use flowhook_core::ids::{AccountId, DeliveryId, ExecutionId, ReportId, WebhookId};

use crate::db::{Conn, Database, Row, Value, params, write_one};
use crate::deliveries::DeliveryRecord;
use crate::{StoreError, corrupt, now_millis};

/// A stored report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRecord {
    pub id: ReportId,
    pub account_id: AccountId,
    pub flow_id: String,
    /// Executions started at or after (unix ms) …
    pub from: i64,
    /// … and before (unix ms).
    pub to: i64,
    /// The IANA zone its times are shown in (the account's when it was asked).
    pub time_zone: String,
    /// `csv` or `json`.
    pub format: String,
    pub deliver_to: Option<WebhookId>,
    /// `queued`, `building`, `ready` or `failed`.
    pub status: String,
    pub rows_done: i64,
    /// Known once the first pass has counted them.
    pub rows_total: Option<i64>,
    pub size_bytes: i64,
    pub error: Option<String>,
    /// The outbox message carrying the file to `deliver_to`.
    pub delivery_id: Option<DeliveryId>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

impl ReportRecord {
    /// A report asked for now, waiting to be built.
    #[allow(clippy::too_many_arguments)]
    pub fn queued(
        account_id: AccountId,
        flow_id: &str,
        from: i64,
        to: i64,
        time_zone: &str,
        format: &str,
        deliver_to: Option<WebhookId>,
    ) -> ReportRecord {
        let now = now_millis();
        ReportRecord {
            id: ReportId::generate(),
            account_id,
            flow_id: flow_id.to_owned(),
            from,
            to,
            time_zone: time_zone.to_owned(),
            format: format.to_owned(),
            deliver_to,
            status: "queued".into(),
            rows_done: 0,
            rows_total: None,
            size_bytes: 0,
            error: None,
            delivery_id: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        }
    }
}

/// How a build ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportEnd {
    /// The file is complete: its rows and size, and why it was not
    /// delivered to `deliver_to` if it was not (kept as the report's error).
    Ready {
        rows: i64,
        size_bytes: i64,
        undelivered: Option<String>,
    },
    Failed {
        error: String,
    },
}

/// What a report shows of one execution.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    pub id: ExecutionId,
    pub contact: String,
    pub status: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// The execution's variables, as stored (a JSON object of full names).
    pub variables: String,
    /// Its persisted response values, as stored (a JSON object).
    pub persisted: String,
}

impl ReportRow {
    /// The key the next page starts after.
    pub fn key(&self) -> (i64, ExecutionId) {
        (self.started_at, self.id)
    }
}

/// One page of a report's executions.
#[derive(Debug, Clone)]
pub struct ReportPage<'a> {
    pub account: AccountId,
    pub flow_id: &'a str,
    pub from: i64,
    pub to: i64,
    /// The last `(started_at, id)` of the page before.
    pub after: Option<(i64, ExecutionId)>,
    pub limit: i64,
}

/// Storage of reports.
#[async_trait::async_trait]
pub trait ReportStore {
    async fn insert_report(&self, report: &ReportRecord) -> Result<(), StoreError>;
    async fn report(
        &self,
        account: AccountId,
        id: ReportId,
    ) -> Result<Option<ReportRecord>, StoreError>;
    /// How many of an account's reports are queued or building.
    async fn pending_reports(&self, account: AccountId) -> Result<i64, StoreError>;
    /// An account's reports, newest first.
    async fn reports(
        &self,
        account: AccountId,
        limit: i64,
    ) -> Result<Vec<ReportRecord>, StoreError>;
    /// Leases the oldest report waiting to be built (queued, or building under
    /// an expired lease) until `now + lease_ms`, as `building` from scratch:
    /// progress reset and earlier chunks deleted.
    async fn claim_report(
        &self,
        lease: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<ReportRecord>, StoreError>;
    /// Records progress and renews the lease until `lease_until`; false (and
    /// nothing written) if `lease` no longer holds the report.
    async fn report_progress(
        &self,
        id: ReportId,
        lease: &str,
        rows_total: Option<i64>,
        rows_done: i64,
        lease_until: i64,
    ) -> Result<bool, StoreError>;
    /// Appends chunk `seq` of the file with the progress it brings, and renews
    /// the lease; false (and nothing written) if `lease` no longer holds it.
    #[allow(clippy::too_many_arguments)]
    async fn append_report_chunk(
        &self,
        id: ReportId,
        lease: &str,
        seq: i64,
        data: &str,
        rows_done: i64,
        size_bytes: i64,
        lease_until: i64,
    ) -> Result<bool, StoreError>;
    /// Ends a build, with the delivery of its file if there is one; false
    /// (and nothing written) if `lease` no longer holds the report.
    async fn finish_report(
        &self,
        id: ReportId,
        lease: &str,
        end: &ReportEnd,
        delivery: Option<&DeliveryRecord>,
    ) -> Result<bool, StoreError>;
    /// Up to `limit` chunks of a report's file from `seq` on, in order.
    async fn report_chunks(
        &self,
        id: ReportId,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError>;
    /// Gives up build leases: those of every claim of `worker`, or every lease
    /// when `None` (at the start of an embedded server, which owns its
    /// database alone), so those reports are built again at once.
    async fn release_report_leases(&self, worker: Option<&str>) -> Result<u64, StoreError>;
    /// One page of a report's executions, in `(started_at, id)` order.
    async fn report_rows(&self, page: &ReportPage<'_>) -> Result<Vec<ReportRow>, StoreError>;
}

const COLUMNS: &str = "id, account_id, flow_id, from_ms, to_ms, time_zone, format, deliver_to, status, rows_done, rows_total, size_bytes, error, delivery_id, created_at, updated_at, finished_at";

/// Which reports a builder may claim (with `leases::claim_sql`): one not
/// built yet, or one being built under a lease (expired, the claim checks).
const CLAIMABLE: &str = "status IN ('queued', 'building')";

fn report_from_row(row: &Row) -> Result<ReportRecord, StoreError> {
    Ok(ReportRecord {
        id: row.get("id")?,
        account_id: row.get("account_id")?,
        flow_id: row.get("flow_id")?,
        from: row.get("from_ms")?,
        to: row.get("to_ms")?,
        time_zone: row.get("time_zone")?,
        format: row.get("format")?,
        deliver_to: row.get("deliver_to")?,
        status: row.get("status")?,
        rows_done: row.get("rows_done")?,
        rows_total: row.get("rows_total")?,
        size_bytes: row.get("size_bytes")?,
        error: row.get("error")?,
        delivery_id: row.get("delivery_id")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        finished_at: row.get("finished_at")?,
    })
}

fn report_row_from_row(row: &Row) -> Result<ReportRow, StoreError> {
    Ok(ReportRow {
        id: row.get("id")?,
        contact: row.get("contact")?,
        status: row.get("status")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        variables: row.get("variables")?,
        persisted: row.get("persisted")?,
    })
}

/// The lease guard every write of a build carries: `$1` the report, `$2` the lease.
const HELD: &str = "id = $1 AND lease_owner = $2 AND status = 'building'";

#[async_trait::async_trait]
impl<D: Database> ReportStore for D {
    async fn insert_report(&self, r: &ReportRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO reports ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        write_one(
            self,
            sql,
            params![
                r.id.to_string(),
                r.account_id.to_string(),
                &r.flow_id,
                r.from,
                r.to,
                &r.time_zone,
                &r.format,
                r.deliver_to.map(|w| w.to_string()),
                &r.status,
                r.rows_done,
                r.rows_total,
                r.size_bytes,
                &r.error,
                r.delivery_id.map(|d| d.to_string()),
                r.created_at,
                r.updated_at,
                r.finished_at
            ],
        )
        .await?;
        Ok(())
    }

    async fn report(
        &self,
        account: AccountId,
        id: ReportId,
    ) -> Result<Option<ReportRecord>, StoreError> {
        let query = params![account.to_string(), id.to_string()];
        self.read_opt(
            format!("SELECT {COLUMNS} FROM reports WHERE account_id = $1 AND id = $2"),
            query,
            report_from_row,
        )
        .await
    }

    async fn reports(
        &self,
        account: AccountId,
        limit: i64,
    ) -> Result<Vec<ReportRecord>, StoreError> {
        let query = params![account.to_string(), limit];
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {COLUMNS} FROM reports WHERE account_id = $1
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                );
                c.query(&sql, &query)
                    .await?
                    .iter()
                    .map(report_from_row)
                    .collect()
            })
        })
        .await
    }

    async fn pending_reports(&self, account: AccountId) -> Result<i64, StoreError> {
        let query = params![account.to_string()];
        self.read(move |c| {
            Box::pin(async move {
                c.query_opt(
                    "SELECT COUNT(*) AS n FROM reports
                     WHERE account_id = $1 AND status IN ('queued', 'building')",
                    &query,
                )
                .await?
                .ok_or_else(|| corrupt("report count", "no row"))?
                .get("n")
            })
        })
        .await
    }

    async fn claim_report(
        &self,
        lease: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<ReportRecord>, StoreError> {
        let claim = params![lease, now + lease_ms, now, 1i64];
        let sql = crate::leases::claim_sql(D::KIND, "reports", CLAIMABLE, "created_at", "id");
        self.write(move |c| {
            Box::pin(async move {
                let Some(row) = c.query_opt(&sql, &claim).await? else {
                    return Ok(None);
                };
                let id: String = row.at(0)?;
                // A build starts over: its progress reset, and what an
                // earlier attempt wrote goes.
                c.exec(
                    "UPDATE reports SET status = 'building', rows_done = 0, rows_total = NULL,
                        size_bytes = 0, error = NULL, updated_at = $2 WHERE id = $1",
                    &params![id.as_str(), now],
                )
                .await?;
                c.exec(
                    "DELETE FROM report_chunks WHERE report_id = $1",
                    &params![id.as_str()],
                )
                .await?;
                let sql = format!("SELECT {COLUMNS} FROM reports WHERE id = $1");
                c.query_opt_as(&sql, &params![id.as_str()], report_from_row)
                    .await
            })
        })
        .await
    }

    async fn report_progress(
        &self,
        id: ReportId,
        lease: &str,
        rows_total: Option<i64>,
        rows_done: i64,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE reports SET rows_total = COALESCE($3, rows_total), rows_done = $4,
                lease_until = $5, updated_at = $6 WHERE {HELD}"
        );
        let update = params![
            id.to_string(),
            lease,
            rows_total,
            rows_done,
            lease_until,
            now_millis()
        ];
        Ok(write_one(self, sql, update).await? == 1)
    }

    async fn append_report_chunk(
        &self,
        id: ReportId,
        lease: &str,
        seq: i64,
        data: &str,
        rows_done: i64,
        size_bytes: i64,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let update = params![
            id.to_string(),
            lease,
            rows_done,
            size_bytes,
            lease_until,
            now_millis()
        ];
        let insert = params![id.to_string(), seq, data];
        self.write(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE reports SET rows_done = $3, size_bytes = $4, lease_until = $5,
                        updated_at = $6 WHERE {HELD}"
                );
                if c.exec(&sql, &update).await? == 0 {
                    return Ok(false);
                }
                c.exec(
                    "INSERT INTO report_chunks (report_id, seq, data) VALUES ($1, $2, $3)",
                    &insert,
                )
                .await?;
                Ok(true)
            })
        })
        .await
    }

    async fn finish_report(
        &self,
        id: ReportId,
        lease: &str,
        end: &ReportEnd,
        delivery: Option<&DeliveryRecord>,
    ) -> Result<bool, StoreError> {
        let now = now_millis();
        let (status, rows, size, error) = match end {
            ReportEnd::Ready {
                rows,
                size_bytes,
                undelivered,
            } => ("ready", Some(*rows), Some(*size_bytes), undelivered.clone()),
            ReportEnd::Failed { error } => ("failed", None, None, Some(error.clone())),
        };
        let update = params![
            id.to_string(),
            lease,
            status,
            rows,
            size,
            error,
            delivery.map(|d| d.id.to_string()),
            now
        ];
        let insert = delivery.map(crate::deliveries::insert_params);
        self.write(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE reports SET status = $3, rows_done = COALESCE($4, rows_done),
                        size_bytes = COALESCE($5, size_bytes), error = $6, delivery_id = $7,
                        lease_owner = NULL, lease_until = NULL, updated_at = $8, finished_at = $8
                     WHERE {HELD}"
                );
                if c.exec(&sql, &update).await? == 0 {
                    return Ok(false);
                }
                if let Some(insert) = insert {
                    c.exec(&crate::deliveries::INSERT, &insert).await?;
                }
                Ok(true)
            })
        })
        .await
    }

    async fn report_chunks(
        &self,
        id: ReportId,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let query = params![id.to_string(), seq, limit];
        self.read(move |c| {
            Box::pin(async move {
                c.query(
                    "SELECT seq, data FROM report_chunks WHERE report_id = $1 AND seq >= $2
                     ORDER BY seq LIMIT $3",
                    &query,
                )
                .await?
                .iter()
                .map(|r| Ok((r.at(0)?, r.at(1)?)))
                .collect()
            })
        })
        .await
    }

    async fn release_report_leases(&self, worker: Option<&str>) -> Result<u64, StoreError> {
        crate::leases::release(self, "reports", worker).await
    }

    async fn report_rows(&self, p: &ReportPage<'_>) -> Result<Vec<ReportRow>, StoreError> {
        // The page starts at the last key read: `started_at` from there on
        // (an index bound, so each page costs its own rows, not the ones
        // before it), without the ids already read at that instant. The first
        // page starts at `from`, before every id ('' sorts first).
        let (lower, after_id) = match p.after {
            Some((at, id)) => (at, id.to_string()),
            None => (p.from, String::new()),
        };
        let query: Vec<Value> = params![
            p.account.to_string(),
            p.flow_id,
            lower.max(p.from),
            p.to,
            after_id,
            p.limit
        ];
        self.read(move |c| {
            Box::pin(async move {
                // `executions_by_flow_time` (account, flow, started_at, id)
                // gives the rows in page order from the key on.
                c.query(
                    "SELECT id, contact, status, started_at, finished_at, variables, persisted
                     FROM executions WHERE account_id = $1 AND flow_id = $2
                       AND started_at >= $3 AND started_at < $4
                       AND (started_at, id) > ($3, $5)
                     ORDER BY started_at, id LIMIT $6",
                    &query,
                )
                .await?
                .iter()
                .map(report_row_from_row)
                .collect()
            })
        })
        .await
    }
}
