//! Executions (one run of a flow for one contact) with their variables and
//! trace, and the `$user.key` variables that outlive them.
//!
//! An execution is written when it starts (`running`) and completed once, when
//! it ends, so a finished execution can be read back after a restart.

use std::sync::LazyLock;

use flowhook_core::ids::{AccountId, ExecutionId};
use flowhook_core::json_text::JsonText;

use crate::row_write::{RowWrite, Then, placeholders_from};

use crate::db::{Conn, Database, Row, Value, conflict_means, params, write_one};
use crate::deliveries::DeliveryRecord;
use crate::{StoreError, corrupt, now_millis};

/// A stored execution. JSON columns are kept as `serde_json::Value`s, the trace
/// as its text (it is only stored and answered); the engine owns their shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionRecord {
    pub id: ExecutionId,
    pub account_id: AccountId,
    pub flow_id: String,
    pub flow_version: i64,
    pub contact: String,
    /// `running`, `completed` or `failed`.
    pub status: String,
    pub reason: Option<String>,
    pub call: serde_json::Value,
    pub recordings: serde_json::Value,
    pub variables: serde_json::Value,
    pub persisted: serde_json::Value,
    pub trace: JsonText,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

impl ExecutionRecord {
    /// An execution that starts now: `running`, with no variables or trace yet.
    pub fn running(
        id: ExecutionId,
        account_id: AccountId,
        flow_id: &str,
        flow_version: i64,
        contact: &str,
    ) -> ExecutionRecord {
        ExecutionRecord {
            id,
            account_id,
            flow_id: flow_id.to_owned(),
            flow_version,
            contact: contact.to_owned(),
            status: "running".into(),
            reason: None,
            call: serde_json::json!({}),
            recordings: serde_json::json!([]),
            variables: serde_json::json!({}),
            persisted: serde_json::json!({}),
            trace: serde_json::json!([]).into(),
            started_at: now_millis(),
            finished_at: None,
        }
    }
}

/// Which executions to list.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    pub flow_id: Option<String>,
    pub status: Option<String>,
    /// Started at or after (unix ms).
    pub from: Option<i64>,
    /// Started before (unix ms).
    pub to: Option<i64>,
    pub limit: i64,
}

/// Storage of executions and `$user.key` values.
#[async_trait::async_trait]
pub trait ExecutionStore {
    async fn insert_execution(&self, exec: &ExecutionRecord) -> Result<(), StoreError>;
    /// Records the end: status, reason, variables, persisted values, trace, time;
    /// and, in the same transaction, the flow-end delivery if there is one.
    /// Only a `running` execution can end: false (and nothing written) if it
    /// already ended, so a sweep and a late finish never overwrite each other.
    async fn finish_execution(
        &self,
        exec: &ExecutionRecord,
        delivery: Option<&DeliveryRecord>,
    ) -> Result<bool, StoreError>;
    /// [`ExecutionStore::finish_execution`] for a sweep: ends the execution
    /// only if it is still `running` **and** still silent (no heartbeat, or
    /// start, since `silent_before`), so a server that heartbeated meanwhile
    /// keeps it.
    async fn end_if_silent(
        &self,
        exec: &ExecutionRecord,
        delivery: Option<&DeliveryRecord>,
        silent_before: i64,
    ) -> Result<bool, StoreError>;
    /// Stores the variables of a running execution as they stand (progress, so
    /// that an interrupted execution's flow-end message carries them).
    async fn save_progress(
        &self,
        account: AccountId,
        id: ExecutionId,
        variables: &serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Adds the outcome of a request sent without waiting to step `index` of an
    /// ended execution's trace (as `detail.outcome`).
    async fn add_trace_outcome(
        &self,
        account: AccountId,
        id: ExecutionId,
        index: usize,
        outcome: &serde_json::Value,
    ) -> Result<(), StoreError>;
    async fn execution(
        &self,
        account: AccountId,
        id: ExecutionId,
    ) -> Result<Option<ExecutionRecord>, StoreError>;
    /// Newest first.
    async fn executions(
        &self,
        account: AccountId,
        filter: &ExecutionFilter,
    ) -> Result<Vec<ExecutionRecord>, StoreError>;
    /// Records that `owner` (a server) is still running these executions.
    async fn heartbeat_executions(
        &self,
        owner: &str,
        ids: &[ExecutionId],
        now: i64,
    ) -> Result<u64, StoreError>;
    /// Up to `limit` executions still `running` whose last sign of life
    /// (heartbeat, or start) is older than `before`: their server is gone, and
    /// the engine ends them as interrupted.
    async fn interrupted_executions(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<ExecutionRecord>, StoreError>;

    /// Every `$user.key` of a contact, as `(NAME, value)`.
    async fn user_keys(
        &self,
        account: AccountId,
        contact: &str,
    ) -> Result<Vec<(String, String)>, StoreError>;
    async fn set_user_key(
        &self,
        account: AccountId,
        contact: &str,
        name: &str,
        value: &str,
    ) -> Result<(), StoreError>;
    /// Makes `keys` `(NAME, value)` every `$user.key` of a contact, in one
    /// transaction: keys not among them are deleted.
    async fn replace_user_keys(
        &self,
        account: AccountId,
        contact: &str,
        keys: &[(String, String)],
    ) -> Result<(), StoreError>;
}

/// Ends a running execution (the status guard: only a `running` one ends;
/// with `$9`, only one silent since then), then inserts its flow-end message
/// (`$10…`, as `deliveries::insert_params`; all NULL when it has none) if it
/// ended.
static END: LazyLock<RowWrite> = LazyLock::new(|| {
    RowWrite::update(
        "execution end",
        "UPDATE executions SET status = $3, reason = $4, variables = $5, persisted = $6, trace = $7,
            finished_at = $8",
        "account_id = $1 AND id = $2 AND status = 'running'
              AND ($9 IS NULL OR COALESCE(heartbeat_at, started_at) < $9)",
        Some(Then {
            into: crate::deliveries::insert_into(),
            values: placeholders_from(10, crate::deliveries::COLUMNS.split(", ").count()),
            when_set: Some(10),
        }),
        1,
    )
});

/// Ends an execution with its flow-end message, if any, in one unit of work;
/// whether it ended (see [`END`]).
async fn end<D: Database>(
    db: &D,
    e: &ExecutionRecord,
    delivery: Option<&DeliveryRecord>,
    silent_before: Option<i64>,
) -> Result<bool, StoreError> {
    let mut row = params![
        e.account_id.to_string(),
        e.id.to_string(),
        &e.status,
        &e.reason,
        e.variables.to_string(),
        e.persisted.to_string(),
        e.trace.as_str(),
        e.finished_at.unwrap_or_else(now_millis),
        silent_before
    ];
    match delivery {
        Some(d) => row.extend(crate::deliveries::insert_params(d)),
        None => row.extend_from_slice(&crate::deliveries::INSERT_NULLS),
    }
    Ok(db.write_row(&END, row).await? == 1)
}

/// Stores the variables of a running execution.
static PROGRESS: LazyLock<RowWrite> = LazyLock::new(|| {
    RowWrite::update(
        "execution progress",
        "UPDATE executions SET variables = $3",
        "account_id = $1 AND id = $2 AND status = 'running'",
        None,
        1,
    )
});

const COLUMNS: &str = "id, account_id, flow_id, flow_version, contact, status, reason, call, recordings, variables, persisted, trace, started_at, finished_at";
/// Stores a new execution, with the parameters of [`insert_params`].
static START: LazyLock<RowWrite> = LazyLock::new(|| {
    RowWrite::insert(
        "execution start",
        &format!("INSERT INTO executions ({COLUMNS})"),
        &placeholders_from(1, COLUMNS.split(", ").count()),
        0,
    )
});

fn execution_from_row(row: &Row) -> Result<ExecutionRecord, StoreError> {
    let json = |col: &str| -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&row.get::<String>(col)?).map_err(|e| corrupt(col, e))
    };
    Ok(ExecutionRecord {
        id: row.get("id")?,
        account_id: row.get("account_id")?,
        flow_id: row.get("flow_id")?,
        flow_version: row.get("flow_version")?,
        contact: row.get("contact")?,
        status: row.get("status")?,
        reason: row.get("reason")?,
        call: json("call")?,
        recordings: json("recordings")?,
        variables: json("variables")?,
        persisted: json("persisted")?,
        trace: JsonText::parse(row.get("trace")?).map_err(|e| corrupt("trace", e))?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
    })
}

/// The parameters of a new execution's row ([`COLUMNS`]), serialized on the
/// caller's thread, so the writer only writes.
pub(crate) fn insert_params(e: &ExecutionRecord) -> Vec<Value> {
    params![
        e.id.to_string(),
        e.account_id.to_string(),
        &e.flow_id,
        e.flow_version,
        &e.contact,
        &e.status,
        &e.reason,
        e.call.to_string(),
        e.recordings.to_string(),
        e.variables.to_string(),
        e.persisted.to_string(),
        e.trace.as_str(),
        e.started_at,
        e.finished_at
    ]
}

/// [`START`]'s statement, for a unit of work that stores an execution with
/// other writes.
pub(crate) fn insert_sql() -> &'static str {
    &START.sql
}

#[async_trait::async_trait]
impl<D: Database> ExecutionStore for D {
    async fn insert_execution(&self, e: &ExecutionRecord) -> Result<(), StoreError> {
        self.write_row(&START, insert_params(e))
            .await
            .map_err(conflict_means("an execution with this id exists"))?;
        Ok(())
    }

    async fn finish_execution(
        &self,
        e: &ExecutionRecord,
        delivery: Option<&DeliveryRecord>,
    ) -> Result<bool, StoreError> {
        end(self, e, delivery, None).await
    }

    async fn end_if_silent(
        &self,
        e: &ExecutionRecord,
        delivery: Option<&DeliveryRecord>,
        silent_before: i64,
    ) -> Result<bool, StoreError> {
        end(self, e, delivery, Some(silent_before)).await
    }

    async fn execution(
        &self,
        account: AccountId,
        id: ExecutionId,
    ) -> Result<Option<ExecutionRecord>, StoreError> {
        let query = params![account.to_string(), id.to_string()];
        self.read_opt(
            format!("SELECT {COLUMNS} FROM executions WHERE account_id = $1 AND id = $2"),
            query,
            execution_from_row,
        )
        .await
    }

    async fn executions(
        &self,
        account: AccountId,
        f: &ExecutionFilter,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let query = params![
            account.to_string(),
            &f.flow_id,
            &f.status,
            f.from,
            f.to,
            f.limit
        ];
        self.read(move |c| {
            Box::pin(async move {
                // Unset filters bind NULL and match everything.
                let sql = format!(
                    "SELECT {COLUMNS} FROM executions WHERE account_id = $1
                       AND ($2 IS NULL OR flow_id = $2) AND ($3 IS NULL OR status = $3)
                       AND ($4 IS NULL OR started_at >= $4) AND ($5 IS NULL OR started_at < $5)
                     ORDER BY started_at DESC, id DESC LIMIT $6"
                );
                c.query(&sql, &query)
                    .await?
                    .iter()
                    .map(execution_from_row)
                    .collect()
            })
        })
        .await
    }

    async fn heartbeat_executions(
        &self,
        owner: &str,
        ids: &[ExecutionId],
        now: i64,
    ) -> Result<u64, StoreError> {
        let owner = owner.to_owned();
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.write(move |c| {
            Box::pin(async move {
                // In chunks: both databases cap the parameters of one statement.
                let mut updated = 0;
                for chunk in ids.chunks(500) {
                    let placeholders: Vec<String> =
                        (3..chunk.len() + 3).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "UPDATE executions SET owner = $1, heartbeat_at = $2
                         WHERE status = 'running' AND id IN ({})",
                        placeholders.join(", ")
                    );
                    let mut query = params![owner.as_str(), now];
                    query.extend(chunk.iter().map(|id| Value::from(id.as_str())));
                    updated += c.exec(&sql, &query).await?;
                }
                Ok(updated)
            })
        })
        .await
    }

    async fn interrupted_executions(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        let query = params![before, limit];
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {COLUMNS} FROM executions
                     WHERE status = 'running' AND COALESCE(heartbeat_at, started_at) < $1
                     ORDER BY started_at LIMIT $2"
                );
                c.query(&sql, &query)
                    .await?
                    .iter()
                    .map(execution_from_row)
                    .collect()
            })
        })
        .await
    }

    async fn save_progress(
        &self,
        account: AccountId,
        id: ExecutionId,
        variables: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let row = params![account.to_string(), id.to_string(), variables.to_string()];
        self.write_row(&PROGRESS, row).await?;
        Ok(())
    }

    async fn add_trace_outcome(
        &self,
        account: AccountId,
        id: ExecutionId,
        index: usize,
        outcome: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let key = params![account.to_string(), id.to_string()];
        let outcome = outcome.clone();
        self.write(move |c| {
            Box::pin(async move {
                let Some(row) = c
                    .query_opt(
                        "SELECT trace FROM executions WHERE account_id = $1 AND id = $2",
                        &key,
                    )
                    .await?
                else {
                    return Ok(());
                };
                let text: String = row.at(0)?;
                let mut trace: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| corrupt("trace", e))?;
                if let Some(detail) = trace.get_mut(index).and_then(|t| t.get_mut("detail"))
                    && detail.is_object()
                {
                    detail["outcome"] = outcome;
                }
                let mut update = key;
                update.push(Value::from(trace.to_string()));
                c.exec(
                    "UPDATE executions SET trace = $3 WHERE account_id = $1 AND id = $2",
                    &update,
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn user_keys(
        &self,
        account: AccountId,
        contact: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let query = params![account.to_string(), contact];
        self.read(move |c| {
            Box::pin(async move {
                c.query(
                    "SELECT name, value FROM user_keys WHERE account_id = $1 AND contact = $2 ORDER BY name",
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

    async fn set_user_key(
        &self,
        account: AccountId,
        contact: &str,
        name: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        write_one(
            self,
            "INSERT INTO user_keys (account_id, contact, name, value, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id, contact, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![account.to_string(), contact, name, value, now_millis()],
        )
        .await?;
        Ok(())
    }

    async fn replace_user_keys(
        &self,
        account: AccountId,
        contact: &str,
        keys: &[(String, String)],
    ) -> Result<(), StoreError> {
        let (account, contact, keys) = (account.to_string(), contact.to_owned(), keys.to_vec());
        self.write(move |c| {
            Box::pin(async move {
                c.exec(
                    "DELETE FROM user_keys WHERE account_id = $1 AND contact = $2",
                    &params![account.clone(), contact.clone()],
                )
                .await?;
                let now = now_millis();
                for (name, value) in keys {
                    c.exec(
                        "INSERT INTO user_keys (account_id, contact, name, value, updated_at) VALUES ($1, $2, $3, $4, $5)",
                        &params![account.clone(), contact.clone(), name, value, now],
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::row_write::tests::squeezed;

    /// PostgreSQL's batch of ends, as made from the one statement: the end
    /// guarded as on SQLite, the outbox row inserted only for ended rows that
    /// have one.
    #[test]
    fn the_end_batch_is_the_statement_over_the_rows() {
        let delivery_columns = crate::deliveries::COLUMNS;
        let rows: Vec<String> = (10..=24).map(|k| format!("w.p{k}")).collect();
        assert_eq!(END.width, 24);
        assert_eq!(
            squeezed(&END.batch),
            squeezed(&format!(
                "WITH w AS (UPDATE executions SET status = b.p3, reason = b.p4, variables = b.p5,
                    persisted = b.p6, trace = b.p7, finished_at = b.p8
                 FROM unnest({}) WITH ORDINALITY AS b({}, n)
                 WHERE account_id = b.p1 AND id = b.p2 AND status = 'running'
                   AND (b.p9 IS NULL OR COALESCE(heartbeat_at, started_at) < b.p9) RETURNING b.*),
                 then_insert AS (INSERT INTO deliveries ({delivery_columns}) SELECT {} FROM w WHERE w.p10 IS NOT NULL)
                 SELECT n FROM w",
                placeholders_from(1, 24),
                (1..=24).map(|k| format!("p{k}")).collect::<Vec<_>>().join(", "),
                rows.join(", ")
            ))
        );
        assert_eq!(START.width, 14);
        assert!(START.batch.starts_with(&format!(
            "INSERT INTO executions ({COLUMNS}) SELECT b.p1, b.p2,"
        )));
        assert_eq!(PROGRESS.width, 3);
    }
}
