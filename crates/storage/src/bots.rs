//! Chat bots of an account (`linkcreation`): id, name, base URL and the
//! token the flow must send, plus the `botUniqueID` of each caller.
//!
//! Promises: a bot's token arrives sealed and leaves sealed; a bot id is
//! unique within its account; a caller's `botUniqueID` is stored the first
//! time it is asked for and is the same on every later call (two servers
//! asking at once agree: the first insert wins, the other reads it).

use flowhook_core::bots::{BotId, parse_base};
use flowhook_core::ids::AccountId;
use flowhook_core::links::LongUrl;

use crate::db::{Conn, Database, Row, conflict_means, params, write_one};
use crate::{Sealed, StoreError, corrupt, now_millis};

/// A stored bot.
#[derive(Debug, Clone, PartialEq)]
pub struct BotRecord {
    pub account_id: AccountId,
    pub id: BotId,
    pub name: String,
    pub base_url: LongUrl,
    /// Sealed with the master key (`Purpose::BotToken`).
    pub token: Sealed,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Storage of bots.
#[async_trait::async_trait]
pub trait BotStore {
    /// Stores a new bot; `Conflict` if the account has one with that id.
    async fn insert_bot(&self, bot: &BotRecord) -> Result<(), StoreError>;
    /// Replaces a bot's name, base URL and token; false if there is none.
    async fn update_bot(&self, bot: &BotRecord) -> Result<bool, StoreError>;
    async fn bot(&self, account: AccountId, id: &BotId) -> Result<Option<BotRecord>, StoreError>;
    async fn bots(&self, account: AccountId) -> Result<Vec<BotRecord>, StoreError>;
    /// Deletes a bot and its callers' ids; false if there was none.
    async fn delete_bot(&self, account: AccountId, id: &BotId) -> Result<bool, StoreError>;
    /// The `botUniqueID` of `cli` for the bot: the stored one, or `candidate`
    /// (stored now) when `cli` has none yet.
    async fn bot_unique_id(
        &self,
        account: AccountId,
        bot: &BotId,
        cli: &str,
        candidate: &str,
    ) -> Result<String, StoreError>;
}

const COLUMNS: &str = "account_id, id, name, base_url, token, created_at, updated_at";

fn bot_from_row(row: &Row) -> Result<BotRecord, StoreError> {
    let base: String = row.get("base_url")?;
    Ok(BotRecord {
        account_id: row.get("account_id")?,
        id: row.get("id")?,
        name: row.get("name")?,
        base_url: parse_base(&base).map_err(|e| corrupt("bot base url", e))?,
        token: Sealed(row.get("token")?),
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

const UNIQUE_ID: &str =
    "SELECT unique_id FROM bot_contacts WHERE account_id = $1 AND bot_id = $2 AND cli = $3";

#[async_trait::async_trait]
impl<D: Database> BotStore for D {
    async fn insert_bot(&self, bot: &BotRecord) -> Result<(), StoreError> {
        write_one(
            self,
            "INSERT INTO bots (account_id, id, name, base_url, token, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
            params![
                bot.account_id.to_string(),
                bot.id.as_str(),
                &bot.name,
                bot.base_url.as_str(),
                &bot.token.0,
                now_millis()
            ],
        )
        .await
        .map_err(conflict_means(
            "this account already has a bot with that id",
        ))?;
        Ok(())
    }

    async fn update_bot(&self, bot: &BotRecord) -> Result<bool, StoreError> {
        Ok(write_one(
            self,
            "UPDATE bots SET name = $3, base_url = $4, token = $5, updated_at = $6
             WHERE account_id = $1 AND id = $2",
            params![
                bot.account_id.to_string(),
                bot.id.as_str(),
                &bot.name,
                bot.base_url.as_str(),
                &bot.token.0,
                now_millis()
            ],
        )
        .await?
            == 1)
    }

    async fn bot(&self, account: AccountId, id: &BotId) -> Result<Option<BotRecord>, StoreError> {
        let query = params![account.to_string(), id.as_str()];
        self.read_opt(
            format!("SELECT {COLUMNS} FROM bots WHERE account_id = $1 AND id = $2"),
            query,
            bot_from_row,
        )
        .await
    }

    async fn bots(&self, account: AccountId) -> Result<Vec<BotRecord>, StoreError> {
        let query = params![account.to_string()];
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!("SELECT {COLUMNS} FROM bots WHERE account_id = $1 ORDER BY id");
                c.query(&sql, &query)
                    .await?
                    .iter()
                    .map(bot_from_row)
                    .collect()
            })
        })
        .await
    }

    async fn delete_bot(&self, account: AccountId, id: &BotId) -> Result<bool, StoreError> {
        let key = params![account.to_string(), id.as_str()];
        self.write(move |c| {
            Box::pin(async move {
                // Also by the foreign key's cascade; said here so that it holds
                // whatever a database's foreign-key setting.
                c.exec(
                    "DELETE FROM bot_contacts WHERE account_id = $1 AND bot_id = $2",
                    &key,
                )
                .await?;
                let done = c
                    .exec("DELETE FROM bots WHERE account_id = $1 AND id = $2", &key)
                    .await?;
                Ok(done == 1)
            })
        })
        .await
    }

    async fn bot_unique_id(
        &self,
        account: AccountId,
        bot: &BotId,
        cli: &str,
        candidate: &str,
    ) -> Result<String, StoreError> {
        let key = params![account.to_string(), bot.as_str(), cli];
        let read = key.clone();
        let known = self
            .read_opt(UNIQUE_ID.into(), read, |r| r.at::<String>(0))
            .await?;
        if let Some(id) = known {
            return Ok(id);
        }
        let mut insert = key.clone();
        insert.extend(params![candidate, now_millis()]);
        self.write(move |c| {
            Box::pin(async move {
                // A caller racing this one may have stored its own first; then
                // nothing is inserted and both read the same id.
                c.exec(
                    "INSERT INTO bot_contacts (account_id, bot_id, cli, unique_id, created_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (account_id, bot_id, cli) DO NOTHING",
                    &insert,
                )
                .await?;
                c.query_opt_as(UNIQUE_ID, &key, |r| r.at::<String>(0))
                    .await?
                    .ok_or_else(|| corrupt("bot contact", "vanished after insert"))
            })
        })
        .await
    }
}
