//! Executions (one run of a flow for one contact) with their variables and
//! trace, and the `$user.key` variables that outlive them.
//!
//! An execution is written when it starts (`running`) and completed once, when
//! it ends, so a finished execution can be read back after a restart.

use flowhook_core::ids::{AccountId, ExecutionId};

use crate::deliveries::DeliveryRecord;
use crate::{PgStore, SqliteStore, StoreError, corrupt, now_millis};

/// A stored execution. JSON columns are kept as `serde_json::Value`s; the engine
/// owns their shape.
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
    pub trace: serde_json::Value,
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
            trace: serde_json::json!([]),
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
    async fn finish_execution(
        &self,
        exec: &ExecutionRecord,
        delivery: Option<&DeliveryRecord>,
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
    /// Marks as failed the executions still `running` whose last sign of life
    /// (heartbeat, or start) is older than `before`: their server is gone.
    /// Returns how many.
    async fn fail_interrupted(&self, before: i64) -> Result<u64, StoreError>;

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
}

const COLUMNS: &str = "id, account_id, flow_id, flow_version, contact, status, reason, call, recordings, variables, persisted, trace, started_at, finished_at";

macro_rules! execution_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        let id: String = row.try_get("id")?;
        let account: String = row.try_get("account_id")?;
        let json = |col: &str| -> Result<serde_json::Value, StoreError> {
            let text: String = row.try_get(col)?;
            serde_json::from_str(&text).map_err(|e| corrupt(col, e))
        };
        Ok::<_, StoreError>(ExecutionRecord {
            id: ExecutionId::parse(&id).ok_or_else(|| corrupt("execution id", &id))?,
            account_id: AccountId::parse(&account)
                .ok_or_else(|| corrupt("account id", &account))?,
            flow_id: row.try_get("flow_id")?,
            flow_version: row.try_get("flow_version")?,
            contact: row.try_get("contact")?,
            status: row.try_get("status")?,
            reason: row.try_get("reason")?,
            call: json("call")?,
            recordings: json("recordings")?,
            variables: json("variables")?,
            persisted: json("persisted")?,
            trace: json("trace")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
        })
    }};
}

macro_rules! impl_execution_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl ExecutionStore for $store {
            async fn insert_execution(&self, e: &ExecutionRecord) -> Result<(), StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO executions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                ))
                .bind(e.id.to_string())
                .bind(e.account_id.to_string())
                .bind(&e.flow_id)
                .bind(e.flow_version)
                .bind(&e.contact)
                .bind(&e.status)
                .bind(&e.reason)
                .bind(e.call.to_string())
                .bind(e.recordings.to_string())
                .bind(e.variables.to_string())
                .bind(e.persisted.to_string())
                .bind(e.trace.to_string())
                .bind(e.started_at)
                .bind(e.finished_at)
                .execute(self.writer())
                .await
                .map_err(|err| StoreError::unique(err, "an execution with this id exists"))?;
                Ok(())
            }

            async fn finish_execution(
                &self,
                e: &ExecutionRecord,
                delivery: Option<&DeliveryRecord>,
            ) -> Result<(), StoreError> {
                let update = sqlx::query(
                    "UPDATE executions SET status = $3, reason = $4, variables = $5, persisted = $6, trace = $7,
                        finished_at = $8 WHERE account_id = $1 AND id = $2",
                )
                .bind(e.account_id.to_string())
                .bind(e.id.to_string())
                .bind(&e.status)
                .bind(&e.reason)
                .bind(e.variables.to_string())
                .bind(e.persisted.to_string())
                .bind(e.trace.to_string())
                .bind(e.finished_at.unwrap_or_else(now_millis));
                match delivery {
                    // One statement commits on its own; a transaction only
                    // when the outbox row must land with it.
                    None => {
                        update.execute(self.writer()).await?;
                    }
                    Some(d) => {
                        let mut tx = self.writer().begin().await?;
                        update.execute(&mut *tx).await?;
                        crate::deliveries::insert_delivery!(&mut *tx, d)?;
                        tx.commit().await?;
                    }
                }
                Ok(())
            }

            async fn execution(
                &self,
                account: AccountId,
                id: ExecutionId,
            ) -> Result<Option<ExecutionRecord>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM executions WHERE account_id = $1 AND id = $2");
                let row = sqlx::query(&sql)
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                row.map(|r| execution_from_row!(&r)).transpose()
            }

            async fn executions(
                &self,
                account: AccountId,
                f: &ExecutionFilter,
            ) -> Result<Vec<ExecutionRecord>, StoreError> {
                // Unset filters bind NULL and match everything.
                let sql = format!(
                    "SELECT {COLUMNS} FROM executions WHERE account_id = $1
                       AND ($2 IS NULL OR flow_id = $2) AND ($3 IS NULL OR status = $3)
                       AND ($4 IS NULL OR started_at >= $4) AND ($5 IS NULL OR started_at < $5)
                     ORDER BY started_at DESC, id DESC LIMIT $6"
                );
                let rows = sqlx::query(&sql)
                    .bind(account.to_string())
                    .bind(&f.flow_id)
                    .bind(&f.status)
                    .bind(f.from)
                    .bind(f.to)
                    .bind(f.limit)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(|r| execution_from_row!(r)).collect()
            }

            async fn heartbeat_executions(
                &self,
                owner: &str,
                ids: &[ExecutionId],
                now: i64,
            ) -> Result<u64, StoreError> {
                // In chunks: both databases cap the parameters of one statement.
                let mut updated = 0;
                for chunk in ids.chunks(500) {
                    let placeholders: Vec<String> = (3..chunk.len() + 3).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "UPDATE executions SET owner = $1, heartbeat_at = $2
                         WHERE status = 'running' AND id IN ({})",
                        placeholders.join(", ")
                    );
                    let mut query = sqlx::query(&sql).bind(owner).bind(now);
                    for id in chunk {
                        query = query.bind(id.to_string());
                    }
                    updated += query.execute(self.writer()).await?.rows_affected();
                }
                Ok(updated)
            }

            async fn fail_interrupted(&self, before: i64) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "UPDATE executions SET status = 'failed', reason = 'interrupted: its server stopped while it ran',
                        finished_at = $2
                     WHERE status = 'running' AND COALESCE(heartbeat_at, started_at) < $1",
                )
                .bind(before)
                .bind(now_millis())
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected())
            }

            async fn user_keys(&self, account: AccountId, contact: &str) -> Result<Vec<(String, String)>, StoreError> {
                let rows = sqlx::query("SELECT name, value FROM user_keys WHERE account_id = $1 AND contact = $2 ORDER BY name")
                    .bind(account.to_string())
                    .bind(contact)
                    .fetch_all(self.reader())
                    .await?;
                rows.iter()
                    .map(|r| Ok((sqlx::Row::try_get(r, 0)?, sqlx::Row::try_get(r, 1)?)))
                    .collect()
            }

            async fn set_user_key(
                &self,
                account: AccountId,
                contact: &str,
                name: &str,
                value: &str,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO user_keys (account_id, contact, name, value, updated_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (account_id, contact, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(account.to_string())
                .bind(contact)
                .bind(name)
                .bind(value)
                .bind(now_millis())
                .execute(self.writer())
                .await?;
                Ok(())
            }
        }
    };
}

impl_execution_store!(SqliteStore);
impl_execution_store!(PgStore);
