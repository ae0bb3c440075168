//! Accounts: tenants with their API-key hash, policies and IP whitelist.

use flowhook_core::account::{AccountName, IpWhitelist, TimeZone};
use flowhook_core::ids::AccountId;

use crate::{PgStore, SqliteStore, StoreError, corrupt, now_millis};

/// What is needed to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: AccountId,
    pub name: AccountName,
    pub client_id: i64,
    /// SHA-256 of the API key; the key itself is never stored.
    pub security_hash: String,
    pub allow_http: bool,
    pub timezone: TimeZone,
}

/// A stored account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountRecord {
    pub id: AccountId,
    pub name: String,
    pub client_id: i64,
    pub allow_http: bool,
    pub timezone: TimeZone,
    pub whitelist: IpWhitelist,
    /// Business calendar (hours, weekdays, holidays), used by internal webhooks.
    pub calendar: serde_json::Value,
    /// Provider settings (translation, NLU, short links), used by internal webhooks.
    pub providers: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountPatch {
    pub allow_http: Option<bool>,
    pub timezone: Option<TimeZone>,
    pub calendar: Option<serde_json::Value>,
    pub providers: Option<serde_json::Value>,
}

/// Storage of accounts.
#[async_trait::async_trait]
pub trait AccountStore {
    /// Fails with `Conflict` if the client id or key hash is taken.
    async fn create_account(&self, new: &NewAccount) -> Result<AccountRecord, StoreError>;
    async fn account(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError>;
    async fn account_by_security_hash(
        &self,
        hash: &str,
    ) -> Result<Option<AccountRecord>, StoreError>;
    async fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError>;
    async fn update_account(
        &self,
        id: AccountId,
        patch: &AccountPatch,
    ) -> Result<Option<AccountRecord>, StoreError>;
    /// Replaces the whitelist; false if there is no such account.
    async fn set_whitelist(&self, id: AccountId, list: &IpWhitelist) -> Result<bool, StoreError>;
}

const COLUMNS: &str = "id, name, client_id, allow_http, timezone, whitelist, calendar, providers, created_at, updated_at";

/// Reads an `AccountRecord` from a row of `COLUMNS`.
macro_rules! account_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        let id: String = row.try_get("id")?;
        let tz: String = row.try_get("timezone")?;
        let whitelist: String = row.try_get("whitelist")?;
        let calendar: String = row.try_get("calendar")?;
        let providers: String = row.try_get("providers")?;
        Ok::<_, StoreError>(AccountRecord {
            id: AccountId::parse(&id).ok_or_else(|| corrupt("account id", &id))?,
            name: row.try_get("name")?,
            client_id: row.try_get("client_id")?,
            allow_http: row.try_get("allow_http")?,
            timezone: TimeZone::parse(&tz).map_err(|e| corrupt("account time zone", e))?,
            whitelist: serde_json::from_str(&whitelist).map_err(|e| corrupt("whitelist", e))?,
            calendar: serde_json::from_str(&calendar).map_err(|e| corrupt("calendar", e))?,
            providers: serde_json::from_str(&providers).map_err(|e| corrupt("providers", e))?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }};
}

macro_rules! impl_account_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl AccountStore for $store {
            async fn create_account(&self, new: &NewAccount) -> Result<AccountRecord, StoreError> {
                let now = now_millis();
                sqlx::query(
                    "INSERT INTO accounts (id, name, client_id, security_hash, allow_http, timezone, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(new.id.to_string())
                .bind(new.name.as_str())
                .bind(new.client_id)
                .bind(&new.security_hash)
                .bind(new.allow_http)
                .bind(new.timezone.name())
                .bind(now)
                .execute(self.writer())
                .await
                .map_err(|e| StoreError::unique(e, "client id or security id already in use"))?;
                self.account(new.id)
                    .await?
                    .ok_or_else(|| corrupt("account", "vanished after insert"))
            }

            async fn account(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM accounts WHERE id = $1");
                let row = sqlx::query(&sql).bind(id.to_string()).fetch_optional(self.reader()).await?;
                row.map(|r| account_from_row!(&r)).transpose()
            }

            async fn account_by_security_hash(
                &self,
                hash: &str,
            ) -> Result<Option<AccountRecord>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM accounts WHERE security_hash = $1");
                let row = sqlx::query(&sql).bind(hash).fetch_optional(self.reader()).await?;
                row.map(|r| account_from_row!(&r)).transpose()
            }

            async fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM accounts ORDER BY created_at, id");
                let rows = sqlx::query(&sql).fetch_all(self.reader()).await?;
                rows.iter().map(|r| account_from_row!(r)).collect()
            }

            async fn update_account(
                &self,
                id: AccountId,
                patch: &AccountPatch,
            ) -> Result<Option<AccountRecord>, StoreError> {
                let done = sqlx::query(
                    "UPDATE accounts SET
                        allow_http = COALESCE($2, allow_http),
                        timezone = COALESCE($3, timezone),
                        calendar = COALESCE($4, calendar),
                        providers = COALESCE($5, providers),
                        updated_at = $6
                     WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(patch.allow_http)
                .bind(patch.timezone.map(|t| t.name()))
                .bind(patch.calendar.as_ref().map(|v| v.to_string()))
                .bind(patch.providers.as_ref().map(|v| v.to_string()))
                .bind(now_millis())
                .execute(self.writer())
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                self.account(id).await
            }

            async fn set_whitelist(&self, id: AccountId, list: &IpWhitelist) -> Result<bool, StoreError> {
                let json = serde_json::to_string(list).map_err(|e| corrupt("whitelist", e))?;
                let done = sqlx::query("UPDATE accounts SET whitelist = $2, updated_at = $3 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(json)
                    .bind(now_millis())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

impl_account_store!(SqliteStore);
impl_account_store!(PgStore);
