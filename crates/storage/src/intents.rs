//! The built-in intent rules of an account (`speechprocessing`, managed at
//! `/v1/intents`): name, phrases, keywords, optional regex and priority.
//!
//! Promises: a name is unique within its account; a rule is read back exactly
//! as it was checked and stored (`flowhook_core::intents::IntentRule`); an
//! insert refuses to grow an account past the cap it is given, counted in the
//! same transaction (two servers inserting at the same instant on PostgreSQL
//! may each pass it by one).

use flowhook_core::ids::AccountId;
use flowhook_core::intents::{IntentName, IntentRule};

use crate::db::{Conn, Database, Row, conflict_means, params, write_one};
use crate::{StoreError, corrupt, now_millis};

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRecord {
    pub account_id: AccountId,
    pub rule: IntentRule,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Storage of intent rules.
#[async_trait::async_trait]
pub trait IntentStore {
    /// Stores a new rule unless the account already has `max`: false then.
    /// `Conflict` if the account has a rule of that name.
    async fn insert_intent(
        &self,
        account: AccountId,
        rule: &IntentRule,
        max: usize,
    ) -> Result<bool, StoreError>;
    /// Replaces a rule's phrases, keywords, regex and priority; false if
    /// there is none of that name.
    async fn update_intent(
        &self,
        account: AccountId,
        rule: &IntentRule,
    ) -> Result<bool, StoreError>;
    async fn intent(
        &self,
        account: AccountId,
        name: &IntentName,
    ) -> Result<Option<IntentRecord>, StoreError>;
    /// Every rule of the account, by name.
    async fn intents(&self, account: AccountId) -> Result<Vec<IntentRecord>, StoreError>;
    /// False if there was none.
    async fn delete_intent(
        &self,
        account: AccountId,
        name: &IntentName,
    ) -> Result<bool, StoreError>;
}

const COLUMNS: &str =
    "account_id, name, phrases, keywords, regex, priority, created_at, updated_at";

fn list(row: &Row, column: &str) -> Result<Vec<String>, StoreError> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text).map_err(|e| corrupt(column, e))
}

fn intent_from_row(row: &Row) -> Result<IntentRecord, StoreError> {
    Ok(IntentRecord {
        account_id: row.get("account_id")?,
        rule: IntentRule {
            name: row.get("name")?,
            phrases: list(row, "phrases")?,
            keywords: list(row, "keywords")?,
            regex: row.get("regex")?,
            priority: row.get("priority")?,
        },
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items).to_string()
}

#[async_trait::async_trait]
impl<D: Database> IntentStore for D {
    async fn insert_intent(
        &self,
        account: AccountId,
        rule: &IntentRule,
        max: usize,
    ) -> Result<bool, StoreError> {
        let count = params![account.to_string()];
        let insert = params![
            account.to_string(),
            rule.name.as_str(),
            json_list(&rule.phrases),
            json_list(&rule.keywords),
            rule.regex.clone(),
            rule.priority,
            now_millis()
        ];
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.write(move |c| {
            Box::pin(async move {
                let have: i64 = c
                    .query_opt("SELECT COUNT(*) FROM intents WHERE account_id = $1", &count)
                    .await?
                    .map(|r| r.at::<i64>(0))
                    .transpose()?
                    .unwrap_or(0);
                if have >= max {
                    return Ok(false);
                }
                c.exec(
                    "INSERT INTO intents (account_id, name, phrases, keywords, regex, priority, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    &insert,
                )
                .await?;
                Ok(true)
            })
        })
        .await
        .map_err(conflict_means(
            "this account already has an intent with that name",
        ))
    }

    async fn update_intent(
        &self,
        account: AccountId,
        rule: &IntentRule,
    ) -> Result<bool, StoreError> {
        Ok(write_one(
            self,
            "UPDATE intents SET phrases = $3, keywords = $4, regex = $5, priority = $6, updated_at = $7
             WHERE account_id = $1 AND name = $2",
            params![
                account.to_string(),
                rule.name.as_str(),
                json_list(&rule.phrases),
                json_list(&rule.keywords),
                rule.regex.clone(),
                rule.priority,
                now_millis()
            ],
        )
        .await?
            == 1)
    }

    async fn intent(
        &self,
        account: AccountId,
        name: &IntentName,
    ) -> Result<Option<IntentRecord>, StoreError> {
        let query = params![account.to_string(), name.as_str()];
        self.read_opt(
            format!("SELECT {COLUMNS} FROM intents WHERE account_id = $1 AND name = $2"),
            query,
            intent_from_row,
        )
        .await
    }

    async fn intents(&self, account: AccountId) -> Result<Vec<IntentRecord>, StoreError> {
        let query = params![account.to_string()];
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!("SELECT {COLUMNS} FROM intents WHERE account_id = $1");
                let mut all = c
                    .query(&sql, &query)
                    .await?
                    .iter()
                    .map(intent_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                // By name in byte order, whatever a database's collation.
                all.sort_by(|a, b| a.rule.name.cmp(&b.rule.name));
                Ok(all)
            })
        })
        .await
    }

    async fn delete_intent(
        &self,
        account: AccountId,
        name: &IntentName,
    ) -> Result<bool, StoreError> {
        Ok(write_one(
            self,
            "DELETE FROM intents WHERE account_id = $1 AND name = $2",
            params![account.to_string(), name.as_str()],
        )
        .await?
            == 1)
    }
}
