//! Flows and their versions. Saving a flow never overwrites: each save adds a
//! version, and executions record the version they ran.

use flowhook_core::ids::{AccountId, FlowId};

use crate::{PgStore, SqliteStore, StoreError, corrupt, now_millis};

/// One version of a flow.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRecord {
    pub id: FlowId,
    pub account_id: AccountId,
    pub name: String,
    pub version: i64,
    /// The validated flow document, as JSON text (assignment order matters).
    pub document: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Storage of flows.
#[async_trait::async_trait]
pub trait FlowStore {
    /// Saves version 1 of a new flow; `Conflict` if the name or id is taken.
    async fn insert_flow(
        &self,
        account: AccountId,
        id: &FlowId,
        name: &str,
        document: &str,
    ) -> Result<FlowRecord, StoreError>;
    /// Saves a new version; `None` if there is no such flow.
    async fn update_flow(
        &self,
        account: AccountId,
        id: &FlowId,
        name: &str,
        document: &str,
    ) -> Result<Option<FlowRecord>, StoreError>;
    /// The current version.
    async fn flow(&self, account: AccountId, id: &FlowId)
    -> Result<Option<FlowRecord>, StoreError>;
    /// A given version.
    async fn flow_version(
        &self,
        account: AccountId,
        id: &FlowId,
        version: i64,
    ) -> Result<Option<FlowRecord>, StoreError>;
    /// Current versions, by name.
    async fn flows(&self, account: AccountId) -> Result<Vec<FlowRecord>, StoreError>;
    async fn delete_flow(&self, account: AccountId, id: &FlowId) -> Result<bool, StoreError>;
}

const SELECT: &str =
    "SELECT f.id, f.account_id, f.name, v.version, v.document, f.created_at, f.updated_at
    FROM flows f JOIN flow_versions v ON v.flow_id = f.id";

macro_rules! flow_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        let id: String = row.try_get("id")?;
        let account: String = row.try_get("account_id")?;
        Ok::<_, StoreError>(FlowRecord {
            id: FlowId::parse(&id).ok_or_else(|| corrupt("flow id", &id))?,
            account_id: AccountId::parse(&account)
                .ok_or_else(|| corrupt("account id", &account))?,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            document: row.try_get("document")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }};
}

const NAME_TAKEN: &str = "this account already has a flow with that name";

macro_rules! impl_flow_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl FlowStore for $store {
            async fn insert_flow(
                &self,
                account: AccountId,
                id: &FlowId,
                name: &str,
                document: &str,
            ) -> Result<FlowRecord, StoreError> {
                let now = now_millis();
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "INSERT INTO flows (id, account_id, name, version, created_at, updated_at)
                     VALUES ($1, $2, $3, 1, $4, $4)",
                )
                .bind(id.as_str())
                .bind(account.to_string())
                .bind(name)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::unique(e, NAME_TAKEN))?;
                sqlx::query("INSERT INTO flow_versions (flow_id, version, document, created_at) VALUES ($1, 1, $2, $3)")
                    .bind(id.as_str())
                    .bind(document)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(FlowRecord {
                    id: id.clone(),
                    account_id: account,
                    name: name.to_owned(),
                    version: 1,
                    document: document.to_owned(),
                    created_at: now,
                    updated_at: now,
                })
            }

            async fn update_flow(
                &self,
                account: AccountId,
                id: &FlowId,
                name: &str,
                document: &str,
            ) -> Result<Option<FlowRecord>, StoreError> {
                let now = now_millis();
                let mut tx = self.writer().begin().await?;
                let row = sqlx::query(
                    "UPDATE flows SET version = version + 1, name = $3, updated_at = $4
                     WHERE account_id = $1 AND id = $2 RETURNING version",
                )
                .bind(account.to_string())
                .bind(id.as_str())
                .bind(name)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| StoreError::unique(e, NAME_TAKEN))?;
                let Some(row) = row else { return Ok(None) };
                let version: i64 = sqlx::Row::try_get(&row, 0)?;
                sqlx::query("INSERT INTO flow_versions (flow_id, version, document, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(id.as_str())
                    .bind(version)
                    .bind(document)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.flow(account, id).await
            }

            async fn flow(&self, account: AccountId, id: &FlowId) -> Result<Option<FlowRecord>, StoreError> {
                let sql = format!("{SELECT} AND v.version = f.version WHERE f.account_id = $1 AND f.id = $2");
                let row = sqlx::query(&sql)
                    .bind(account.to_string())
                    .bind(id.as_str())
                    .fetch_optional(self.reader())
                    .await?;
                row.map(|r| flow_from_row!(&r)).transpose()
            }

            async fn flow_version(
                &self,
                account: AccountId,
                id: &FlowId,
                version: i64,
            ) -> Result<Option<FlowRecord>, StoreError> {
                let sql = format!("{SELECT} AND v.version = $3 WHERE f.account_id = $1 AND f.id = $2");
                let row = sqlx::query(&sql)
                    .bind(account.to_string())
                    .bind(id.as_str())
                    .bind(version)
                    .fetch_optional(self.reader())
                    .await?;
                row.map(|r| flow_from_row!(&r)).transpose()
            }

            async fn flows(&self, account: AccountId) -> Result<Vec<FlowRecord>, StoreError> {
                let sql = format!("{SELECT} AND v.version = f.version WHERE f.account_id = $1 ORDER BY f.name");
                let rows = sqlx::query(&sql).bind(account.to_string()).fetch_all(self.reader()).await?;
                rows.iter().map(|r| flow_from_row!(r)).collect()
            }

            async fn delete_flow(&self, account: AccountId, id: &FlowId) -> Result<bool, StoreError> {
                let mut tx = self.writer().begin().await?;
                let owned = sqlx::query("SELECT 1 FROM flows WHERE account_id = $1 AND id = $2")
                    .bind(account.to_string())
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
                if owned {
                    sqlx::query("DELETE FROM flow_versions WHERE flow_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
                    sqlx::query("DELETE FROM flows WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(owned)
            }
        }
    };
}

impl_flow_store!(SqliteStore);
impl_flow_store!(PgStore);
