//! Flows and their versions. Saving a flow never overwrites: each save adds a
//! version, and executions record the version they ran.

use flowhook_core::ids::{AccountId, FlowId};

use crate::db::{Conn, Database, Row, conflict_means, params, write_config};
use crate::{StoreError, now_millis};

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

fn flow_from_row(row: &Row) -> Result<FlowRecord, StoreError> {
    Ok(FlowRecord {
        id: row.get("id")?,
        account_id: row.get("account_id")?,
        name: row.get("name")?,
        version: row.get("version")?,
        document: row.get("document")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

const NAME_TAKEN: &str = "this account already has a flow with that name";

/// The current version of a flow.
async fn current<C: Conn>(
    c: &mut C,
    account: String,
    id: String,
) -> Result<Option<FlowRecord>, StoreError> {
    let sql = format!("{SELECT} AND v.version = f.version WHERE f.account_id = $1 AND f.id = $2");
    c.query_opt_as(&sql, &params![account, id], flow_from_row)
        .await
}

#[async_trait::async_trait]
impl<D: Database> FlowStore for D {
    async fn insert_flow(
        &self,
        account: AccountId,
        id: &FlowId,
        name: &str,
        document: &str,
    ) -> Result<FlowRecord, StoreError> {
        let now = now_millis();
        let record = FlowRecord {
            id: id.clone(),
            account_id: account,
            name: name.to_owned(),
            version: 1,
            document: document.to_owned(),
            created_at: now,
            updated_at: now,
        };
        let flow = params![id.as_str(), account.to_string(), name, now];
        let version = params![id.as_str(), document, now];
        write_config(self, move |c| {
            Box::pin(async move {
                c.exec(
                    "INSERT INTO flows (id, account_id, name, version, created_at, updated_at)
                     VALUES ($1, $2, $3, 1, $4, $4)",
                    &flow,
                )
                .await
                .map_err(conflict_means(NAME_TAKEN))?;
                c.exec(
                    "INSERT INTO flow_versions (flow_id, version, document, created_at) VALUES ($1, 1, $2, $3)",
                    &version,
                )
                .await?;
                Ok(())
            })
        })
        .await?;
        Ok(record)
    }

    async fn update_flow(
        &self,
        account: AccountId,
        id: &FlowId,
        name: &str,
        document: &str,
    ) -> Result<Option<FlowRecord>, StoreError> {
        let now = now_millis();
        let (account, id) = (account.to_string(), id.as_str().to_owned());
        let update = params![account.clone(), id.clone(), name, now];
        let document = document.to_owned();
        write_config(self, move |c| {
            Box::pin(async move {
                let row = c
                    .query_opt(
                        "UPDATE flows SET version = version + 1, name = $3, updated_at = $4
                         WHERE account_id = $1 AND id = $2 RETURNING version",
                        &update,
                    )
                    .await
                    .map_err(conflict_means(NAME_TAKEN))?;
                let Some(row) = row else { return Ok(None) };
                let version: i64 = row.at(0)?;
                c.exec(
                    "INSERT INTO flow_versions (flow_id, version, document, created_at) VALUES ($1, $2, $3, $4)",
                    &params![id.clone(), version, document, now],
                )
                .await?;
                current(c, account, id).await
            })
        })
        .await
    }

    async fn flow(
        &self,
        account: AccountId,
        id: &FlowId,
    ) -> Result<Option<FlowRecord>, StoreError> {
        let cache = self.cache();
        let load = self.read({
            let (account, id) = (account.to_string(), id.as_str().to_owned());
            move |c| Box::pin(current(c, account, id))
        });
        cache
            .through(&cache.flows, (account, id.clone()), load)
            .await
    }

    async fn flow_version(
        &self,
        account: AccountId,
        id: &FlowId,
        version: i64,
    ) -> Result<Option<FlowRecord>, StoreError> {
        let query = params![account.to_string(), id.as_str(), version];
        self.read_opt(
            format!("{SELECT} AND v.version = $3 WHERE f.account_id = $1 AND f.id = $2"),
            query,
            flow_from_row,
        )
        .await
    }

    async fn flows(&self, account: AccountId) -> Result<Vec<FlowRecord>, StoreError> {
        let query = params![account.to_string()];
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "{SELECT} AND v.version = f.version WHERE f.account_id = $1 ORDER BY f.name"
                );
                c.query(&sql, &query)
                    .await?
                    .iter()
                    .map(flow_from_row)
                    .collect()
            })
        })
        .await
    }

    async fn delete_flow(&self, account: AccountId, id: &FlowId) -> Result<bool, StoreError> {
        let owned = params![account.to_string(), id.as_str()];
        let id = params![id.as_str()];
        write_config(self, move |c| {
            Box::pin(async move {
                let owned = c
                    .query_opt(
                        "SELECT 1 FROM flows WHERE account_id = $1 AND id = $2",
                        &owned,
                    )
                    .await?
                    .is_some();
                if owned {
                    c.exec("DELETE FROM flow_versions WHERE flow_id = $1", &id)
                        .await?;
                    c.exec("DELETE FROM flows WHERE id = $1", &id).await?;
                }
                Ok(owned)
            })
        })
        .await
    }
}
