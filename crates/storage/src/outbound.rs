//! Outbound requests and the schedule of their calls (SPEC §5).
//!
//! Promises:
//! - A request and all its calls are stored in one transaction, together with
//!   its checksum; an identical request (same account and checksum) within the
//!   repeat window stores nothing and is answered with the first one's id,
//!   also when both arrive at once (the checksum row is the arbiter).
//! - Each call has its execution id from the start, and the call turns
//!   `started` in the same transaction that stores that execution, only while
//!   the claiming lease holds and the call is still `scheduled`. So a call
//!   starts at most once however many servers claim it or crash, and a
//!   cancelled call never starts.
//! - Calls are leased jobs (`leases.rs`): a crashed server's claimed calls are
//!   claimed again when their lease expires.
//! - A call's state after it started is its execution's: it is read, not
//!   copied, so the two can never disagree.

use flowhook_core::ids::{AccountId, ExecutionId, OutboundCallId, OutboundRequestId};

use crate::db::{Conn, Database, Row, params};
use crate::executions::{ExecutionRecord, insert_params, insert_sql};
use crate::{Backend, StoreError, corrupt, leases, now_millis};

/// A stored request.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundRequestRecord {
    pub id: OutboundRequestId,
    pub account_id: AccountId,
    pub flow_id: String,
    pub flow_version: Option<i64>,
    /// `api` or `internal`.
    pub source: String,
    /// `200` or `209`.
    pub result_code: i64,
    /// JSON `[{number, reason}]`.
    pub invalid: serde_json::Value,
    pub checksum: String,
    pub created_at: i64,
}

/// A scheduled call: one execution of the request's flow for one contact.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundCallRecord {
    pub id: OutboundCallId,
    pub request_id: OutboundRequestId,
    pub account_id: AccountId,
    pub flow_id: String,
    pub flow_version: Option<i64>,
    pub contact: String,
    pub client_id: Option<String>,
    /// JSON `{name: value}` of `$flow.key`.
    pub keys: serde_json::Value,
    pub execution_id: ExecutionId,
    /// `scheduled`, `started`, `cancelled` or `failed` (could not start).
    pub status: String,
    pub error: Option<String>,
    pub due_at: i64,
    pub started_at: Option<i64>,
}

/// A call as `GET /v1/outbound/{id}` shows it: its stored state, and once it
/// started, its execution's.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundCallView {
    pub call: OutboundCallRecord,
    /// `running`, `completed` or `failed`, once the execution exists.
    pub execution_status: Option<String>,
    pub execution_reason: Option<String>,
}

/// What storing a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// The request and its calls are stored.
    New,
    /// An identical request was stored within the window: this one was not.
    Repeated(OutboundRequestId),
    /// The account has this many calls scheduled: with this request's it
    /// would pass the limit, so nothing was stored.
    Full(i64),
}

/// The due schedule, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundBacklog {
    /// Calls due and not started.
    pub due: i64,
    /// The due time of the oldest of them (unix ms).
    pub oldest_due_at: Option<i64>,
}

/// Storage of outbound requests and their schedule.
#[async_trait::async_trait]
pub trait OutboundStore {
    /// Stores `request` and `calls`, unless a request with its checksum was
    /// stored at or after `repeat_after` (unix ms), or the account would have
    /// more than `max_scheduled` calls scheduled.
    async fn insert_outbound(
        &self,
        request: &OutboundRequestRecord,
        calls: &[OutboundCallRecord],
        repeat_after: i64,
        max_scheduled: i64,
    ) -> Result<Stored, StoreError>;
    async fn outbound_request(
        &self,
        account: AccountId,
        id: OutboundRequestId,
    ) -> Result<Option<(OutboundRequestRecord, Vec<OutboundCallView>)>, StoreError>;
    /// Cancels the request's calls that have not started; how many.
    async fn cancel_outbound(
        &self,
        account: AccountId,
        id: OutboundRequestId,
    ) -> Result<u64, StoreError>;
    /// Leases up to `limit` due calls (see `crate::leases`), none of the
    /// accounts in `skip`.
    async fn claim_outbound_calls(
        &self,
        lease: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
        skip: &[AccountId],
    ) -> Result<Vec<OutboundCallRecord>, StoreError>;
    /// Marks the call `started` and stores its execution, in one transaction,
    /// if `lease` still holds it and it is still `scheduled`; whether it did.
    async fn start_outbound_call(
        &self,
        id: OutboundCallId,
        lease: &str,
        execution: &ExecutionRecord,
    ) -> Result<bool, StoreError>;
    /// Marks the call `failed` (it cannot start), if `lease` still holds it.
    async fn fail_outbound_call(
        &self,
        id: OutboundCallId,
        lease: &str,
        error: &str,
    ) -> Result<bool, StoreError>;
    /// Keeps the call leased (and so unclaimed) until `until`: this server
    /// cannot start it now, and anyone may try after that.
    async fn defer_outbound_call(
        &self,
        id: OutboundCallId,
        lease: &str,
        until: i64,
    ) -> Result<bool, StoreError>;
    /// Gives back the call leases of `owner` (every one when `None`).
    async fn release_outbound_leases(&self, owner: Option<&str>) -> Result<u64, StoreError>;
    /// The calls due at `now` that have not started.
    async fn outbound_backlog(&self, now: i64) -> Result<OutboundBacklog, StoreError>;
    /// The due time of the next call not leased at `now`, of an account not
    /// in `skip`.
    async fn next_outbound_due(
        &self,
        now: i64,
        skip: &[AccountId],
    ) -> Result<Option<i64>, StoreError>;
}

const CALL_COLUMNS: &str = "id, request_id, account_id, flow_id, flow_version, contact, client_id, keys, execution_id, status, error, due_at, started_at";

/// An update of call `$1` that happens only while lease `$2` holds it and
/// it has not started (or been cancelled): the one rule of start, fail and
/// defer.
fn held_update(set: &str) -> String {
    format!(
        "UPDATE outbound_calls SET {set} WHERE id = $1 AND lease_owner = $2 AND status = 'scheduled'"
    )
}

/// The row's account is not one of those in parameter `$n`, a
/// comma-separated list of ids (empty: none). Ids are uuids, so a substring
/// match is a whole match; `replace` is the same function on both databases.
fn not_skipped(n: usize) -> String {
    format!("replace(${n}, account_id, '') = ${n}")
}

fn skip_list(skip: &[AccountId]) -> String {
    skip.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

const REQUEST_COLUMNS: &str =
    "id, account_id, flow_id, flow_version, source, result_code, invalid, checksum, created_at";

fn json(row: &Row, name: &str) -> Result<serde_json::Value, StoreError> {
    let text: String = row.get(name)?;
    serde_json::from_str(&text).map_err(|e| corrupt(name, e))
}

fn request_from_row(row: &Row) -> Result<OutboundRequestRecord, StoreError> {
    Ok(OutboundRequestRecord {
        id: row.get("id")?,
        account_id: row.get("account_id")?,
        flow_id: row.get("flow_id")?,
        flow_version: row.get("flow_version")?,
        source: row.get("source")?,
        result_code: row.get("result_code")?,
        invalid: json(row, "invalid")?,
        checksum: row.get("checksum")?,
        created_at: row.get("created_at")?,
    })
}

fn call_from_row(row: &Row) -> Result<OutboundCallRecord, StoreError> {
    Ok(OutboundCallRecord {
        id: row.get("id")?,
        request_id: row.get("request_id")?,
        account_id: row.get("account_id")?,
        flow_id: row.get("flow_id")?,
        flow_version: row.get("flow_version")?,
        contact: row.get("contact")?,
        client_id: row.get("client_id")?,
        keys: json(row, "keys")?,
        execution_id: row.get("execution_id")?,
        status: row.get("status")?,
        error: row.get("error")?,
        due_at: row.get("due_at")?,
        started_at: row.get("started_at")?,
    })
}

#[async_trait::async_trait]
impl<D: Database> OutboundStore for D {
    async fn insert_outbound(
        &self,
        r: &OutboundRequestRecord,
        calls: &[OutboundCallRecord],
        repeat_after: i64,
        max_scheduled: i64,
    ) -> Result<Stored, StoreError> {
        let account = r.account_id.to_string();
        let count_scheduled = params![account.clone()];
        let adding = calls.len() as i64;
        let claim_checksum = params![
            account.clone(),
            &r.checksum,
            r.id.to_string(),
            r.created_at,
            repeat_after
        ];
        let find_checksum = params![account.clone(), &r.checksum];
        let request = params![
            r.id.to_string(),
            account,
            &r.flow_id,
            r.flow_version,
            &r.source,
            r.result_code,
            r.invalid.to_string(),
            &r.checksum,
            r.created_at
        ];
        let calls: Vec<_> = calls
            .iter()
            .map(|c| {
                params![
                    c.id.to_string(),
                    c.request_id.to_string(),
                    c.account_id.to_string(),
                    &c.flow_id,
                    c.flow_version,
                    &c.contact,
                    &c.client_id,
                    c.keys.to_string(),
                    c.execution_id.to_string(),
                    &c.status,
                    &c.error,
                    c.due_at,
                    c.started_at,
                    r.created_at
                ]
            })
            .collect();
        self.write(move |c| {
            Box::pin(async move {
                // The checksum row is taken, or replaced when older than the
                // window; when it is neither, the request is a repeat.
                if D::KIND == Backend::Postgres {
                    // Requests of one account are counted one at a time, so
                    // two at once cannot both pass the limit.
                    c.exec(
                        "SELECT id FROM accounts WHERE id = $1 FOR UPDATE",
                        &count_scheduled,
                    )
                    .await?;
                }
                let scheduled: i64 = c
                    .query_opt(
                        "SELECT COUNT(*) AS n FROM outbound_calls WHERE account_id = $1 AND status = 'scheduled'",
                        &count_scheduled,
                    )
                    .await?
                    .ok_or_else(|| corrupt("outbound count", "no row"))?
                    .get("n")?;
                if scheduled + adding > max_scheduled {
                    return Ok(Stored::Full(scheduled));
                }
                let taken = c
                    .query(
                        "INSERT INTO outbound_checksums (account_id, checksum, request_id, created_at)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (account_id, checksum) DO UPDATE
                           SET request_id = excluded.request_id, created_at = excluded.created_at
                           WHERE outbound_checksums.created_at < $5
                         RETURNING request_id",
                        &claim_checksum,
                    )
                    .await?;
                if taken.is_empty() {
                    let first = c
                        .query_opt(
                            "SELECT request_id FROM outbound_checksums WHERE account_id = $1 AND checksum = $2",
                            &find_checksum,
                        )
                        .await?
                        .ok_or_else(|| corrupt("outbound checksum", "vanished"))?;
                    let id: String = first.get("request_id")?;
                    return OutboundRequestId::parse(&id)
                        .map(Stored::Repeated)
                        .ok_or_else(|| corrupt("outbound request id", &id));
                }
                c.exec(
                    &format!(
                        "INSERT INTO outbound_requests ({REQUEST_COLUMNS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    ),
                    &request,
                )
                .await?;
                let insert = format!(
                    "INSERT INTO outbound_calls ({CALL_COLUMNS}, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                );
                for call in &calls {
                    c.exec(&insert, call).await?;
                }
                Ok(Stored::New)
            })
        })
        .await
    }

    async fn outbound_request(
        &self,
        account: AccountId,
        id: OutboundRequestId,
    ) -> Result<Option<(OutboundRequestRecord, Vec<OutboundCallView>)>, StoreError> {
        let query = params![account.to_string(), id.to_string()];
        self.read(move |c| {
            Box::pin(async move {
                let Some(row) = c
                    .query_opt(
                        &format!(
                            "SELECT {REQUEST_COLUMNS} FROM outbound_requests WHERE account_id = $1 AND id = $2"
                        ),
                        &query,
                    )
                    .await?
                else {
                    return Ok(None);
                };
                let request = request_from_row(&row)?;
                let columns: Vec<String> =
                    CALL_COLUMNS.split(", ").map(|c| format!("o.{c}")).collect();
                let rows = c
                    .query(
                        &format!(
                            "SELECT {}, e.status AS execution_status, e.reason AS execution_reason
                             FROM outbound_calls o LEFT JOIN executions e ON e.id = o.execution_id
                             WHERE o.account_id = $1 AND o.request_id = $2
                             ORDER BY o.due_at, o.id",
                            columns.join(", ")
                        ),
                        &query,
                    )
                    .await?;
                let calls = rows
                    .iter()
                    .map(|row| {
                        Ok(OutboundCallView {
                            call: call_from_row(row)?,
                            execution_status: row.get("execution_status")?,
                            execution_reason: row.get("execution_reason")?,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?;
                Ok(Some((request, calls)))
            })
        })
        .await
    }

    async fn cancel_outbound(
        &self,
        account: AccountId,
        id: OutboundRequestId,
    ) -> Result<u64, StoreError> {
        let which = params![account.to_string(), id.to_string()];
        self.write(move |c| {
            Box::pin(async move {
                let cancelled = c
                    .exec(
                        "UPDATE outbound_calls SET status = 'cancelled', lease_owner = NULL, lease_until = NULL
                         WHERE account_id = $1 AND request_id = $2 AND status = 'scheduled'",
                        &which,
                    )
                    .await?;
                // A cancelled request may be sent again at once.
                c.exec(
                    "DELETE FROM outbound_checksums WHERE account_id = $1 AND request_id = $2",
                    &which,
                )
                .await?;
                Ok(cancelled)
            })
        })
        .await
    }

    async fn claim_outbound_calls(
        &self,
        lease: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
        skip: &[AccountId],
    ) -> Result<Vec<OutboundCallRecord>, StoreError> {
        let sql = leases::claim_sql(
            D::KIND,
            "outbound_calls",
            &format!(
                "status = 'scheduled' AND due_at <= $3 AND {}",
                not_skipped(5)
            ),
            "due_at",
            CALL_COLUMNS,
        );
        let claim = params![lease, now + lease_ms, now, limit, skip_list(skip)];
        self.write_statement(sql, claim, true)
            .await?
            .rows
            .iter()
            .map(call_from_row)
            .collect()
    }

    async fn start_outbound_call(
        &self,
        id: OutboundCallId,
        lease: &str,
        execution: &ExecutionRecord,
    ) -> Result<bool, StoreError> {
        let start = params![id.to_string(), lease, execution.started_at];
        let values = insert_params(execution);
        self.write(move |c| {
            Box::pin(async move {
                let started = c
                    .exec(
                        &held_update(
                            "status = 'started', started_at = $3, lease_owner = NULL, lease_until = NULL",
                        ),
                        &start,
                    )
                    .await?;
                if started == 0 {
                    return Ok(false);
                }
                c.exec(insert_sql(), &values).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn fail_outbound_call(
        &self,
        id: OutboundCallId,
        lease: &str,
        error: &str,
    ) -> Result<bool, StoreError> {
        Ok(crate::db::write_one(
            self,
            held_update(
                "status = 'failed', error = $3, started_at = $4, lease_owner = NULL, lease_until = NULL",
            ),
            params![id.to_string(), lease, error, now_millis()],
        )
        .await?
            == 1)
    }

    async fn defer_outbound_call(
        &self,
        id: OutboundCallId,
        lease: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        Ok(crate::db::write_one(
            self,
            held_update("lease_until = $3"),
            params![id.to_string(), lease, until],
        )
        .await?
            == 1)
    }

    async fn release_outbound_leases(&self, owner: Option<&str>) -> Result<u64, StoreError> {
        leases::release(self, "outbound_calls", owner).await
    }

    async fn outbound_backlog(&self, now: i64) -> Result<OutboundBacklog, StoreError> {
        let query = params![now];
        self.read(move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "SELECT COUNT(*) AS due, MIN(due_at) AS oldest FROM outbound_calls
                         WHERE status = 'scheduled' AND due_at <= $1",
                        &query,
                    )
                    .await?
                    .ok_or_else(|| corrupt("outbound backlog", "no row"))?;
                Ok(OutboundBacklog {
                    due: row.get("due")?,
                    oldest_due_at: row.get("oldest")?,
                })
            })
        })
        .await
    }

    async fn next_outbound_due(
        &self,
        now: i64,
        skip: &[AccountId],
    ) -> Result<Option<i64>, StoreError> {
        let query = params![now, skip_list(skip)];
        self.read(move |c| {
            Box::pin(async move {
                match c
                    .query_opt(
                        &format!(
                            "SELECT due_at FROM outbound_calls
                             WHERE status = 'scheduled' AND (lease_until IS NULL OR lease_until < $1)
                               AND {}
                             ORDER BY due_at LIMIT 1",
                            not_skipped(2)
                        ),
                        &query,
                    )
                    .await?
                {
                    Some(row) => Ok(Some(row.get("due_at")?)),
                    None => Ok(None),
                }
            })
        })
        .await
    }
}
