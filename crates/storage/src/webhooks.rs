//! The webhook registry: an account's configured destinations.
//!
//! Invariant: at most one webhook per account is the default. Saving a webhook as
//! default clears the old default in the same transaction, and a partial unique
//! index backs the rule against races between servers.

use flowhook_core::http::{BodyType, HttpMethod};
use flowhook_core::ids::{AccountId, WebhookId};
use flowhook_core::webhook::{HeaderPair, WebhookUrl};

use crate::{PgStore, Sealed, SqliteStore, StoreError, corrupt, now_millis};

/// Stored authentication; the password stays sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredAuth {
    None,
    Basic { username: String, password: Sealed },
}

/// A stored webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    pub id: WebhookId,
    pub account_id: AccountId,
    pub name: String,
    pub method: HttpMethod,
    pub url: WebhookUrl,
    pub auth: StoredAuth,
    pub body_type: BodyType,
    pub headers: Vec<HeaderPair>,
    pub is_default: bool,
    pub signing_secret: Sealed,
    /// The secret before the last rotation; it keeps signing until `previous_until`.
    pub previous_secret: Option<Sealed>,
    pub previous_until: Option<i64>,
    /// The last check-button result, as the API shows it.
    pub last_check: Option<serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Storage of the webhook registry.
#[async_trait::async_trait]
pub trait WebhookStore {
    /// Inserts a webhook; `Conflict` if the account already has one of that name.
    async fn insert_webhook(&self, hook: &WebhookRecord) -> Result<(), StoreError>;
    /// Replaces a webhook's settings (not its secrets); false if it does not exist.
    async fn update_webhook(&self, hook: &WebhookRecord) -> Result<bool, StoreError>;
    async fn webhook(
        &self,
        account: AccountId,
        id: WebhookId,
    ) -> Result<Option<WebhookRecord>, StoreError>;
    async fn webhooks(&self, account: AccountId) -> Result<Vec<WebhookRecord>, StoreError>;
    async fn default_webhook(
        &self,
        account: AccountId,
    ) -> Result<Option<WebhookRecord>, StoreError>;
    async fn delete_webhook(&self, account: AccountId, id: WebhookId) -> Result<bool, StoreError>;
    /// Makes `new_secret` current; the old one keeps signing until `previous_until`.
    async fn rotate_secret(
        &self,
        account: AccountId,
        id: WebhookId,
        new_secret: &Sealed,
        previous_until: i64,
    ) -> Result<bool, StoreError>;
    async fn record_check(
        &self,
        account: AccountId,
        id: WebhookId,
        result: &serde_json::Value,
    ) -> Result<bool, StoreError>;
}

const COLUMNS: &str = "id, account_id, name, method, url, auth_type, auth_username, auth_password, body_type, headers, is_default, signing_secret, previous_secret, previous_until, last_check, created_at, updated_at";

macro_rules! webhook_from_row {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        let id: String = row.try_get("id")?;
        let account: String = row.try_get("account_id")?;
        let method: String = row.try_get("method")?;
        let url: String = row.try_get("url")?;
        let auth_type: String = row.try_get("auth_type")?;
        let body_type: String = row.try_get("body_type")?;
        let headers: String = row.try_get("headers")?;
        let last_check: Option<String> = row.try_get("last_check")?;
        let auth = match auth_type.as_str() {
            "none" => StoredAuth::None,
            "basic" => StoredAuth::Basic {
                username: row
                    .try_get::<Option<String>, _>("auth_username")?
                    .unwrap_or_default(),
                password: Sealed(
                    row.try_get::<Option<String>, _>("auth_password")?
                        .unwrap_or_default(),
                ),
            },
            other => return Err(corrupt("webhook auth type", other)),
        };
        Ok::<_, StoreError>(WebhookRecord {
            id: WebhookId::parse(&id).ok_or_else(|| corrupt("webhook id", &id))?,
            account_id: AccountId::parse(&account)
                .ok_or_else(|| corrupt("account id", &account))?,
            name: row.try_get("name")?,
            method: HttpMethod::parse(&method).ok_or_else(|| corrupt("webhook method", &method))?,
            url: WebhookUrl::parse(&url).map_err(|e| corrupt("webhook url", e))?,
            auth,
            body_type: BodyType::parse(&body_type)
                .ok_or_else(|| corrupt("body type", &body_type))?,
            headers: serde_json::from_str(&headers).map_err(|e| corrupt("webhook headers", e))?,
            is_default: row.try_get("is_default")?,
            signing_secret: Sealed(row.try_get("signing_secret")?),
            previous_secret: row
                .try_get::<Option<String>, _>("previous_secret")?
                .map(Sealed),
            previous_until: row.try_get("previous_until")?,
            last_check: last_check
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .map_err(|e| corrupt("webhook check", e))?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }};
}

fn auth_columns(auth: &StoredAuth) -> (&'static str, Option<&str>, Option<&str>) {
    match auth {
        StoredAuth::None => ("none", None, None),
        StoredAuth::Basic { username, password } => ("basic", Some(username), Some(&password.0)),
    }
}

fn headers_json(hook: &WebhookRecord) -> Result<String, StoreError> {
    serde_json::to_string(&hook.headers).map_err(|e| corrupt("webhook headers", e))
}

const NAME_TAKEN: &str = "this account already has a webhook with that name";

/// Clears the account's current default (other than `hook`) inside a transaction.
macro_rules! clear_default {
    ($tx:expr, $hook:expr) => {
        sqlx::query("UPDATE webhooks SET is_default = FALSE WHERE account_id = $1 AND id <> $2 AND is_default")
            .bind($hook.account_id.to_string())
            .bind($hook.id.to_string())
            .execute($tx)
            .await
    };
}
macro_rules! impl_webhook_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl WebhookStore for $store {
            async fn insert_webhook(&self, hook: &WebhookRecord) -> Result<(), StoreError> {
                let (auth_type, user, pass) = auth_columns(&hook.auth);
                let mut tx = self.writer().begin().await?;
                if hook.is_default {
                    clear_default!(&mut *tx, hook)?;
                }
                sqlx::query(
                    "INSERT INTO webhooks (id, account_id, name, method, url, auth_type, auth_username, auth_password,
                        body_type, headers, is_default, signing_secret, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
                )
                .bind(hook.id.to_string())
                .bind(hook.account_id.to_string())
                .bind(&hook.name)
                .bind(hook.method.as_str())
                .bind(hook.url.as_str())
                .bind(auth_type)
                .bind(user)
                .bind(pass)
                .bind(hook.body_type.as_str())
                .bind(headers_json(hook)?)
                .bind(hook.is_default)
                .bind(&hook.signing_secret.0)
                .bind(now_millis())
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::unique(e, NAME_TAKEN))?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_webhook(&self, hook: &WebhookRecord) -> Result<bool, StoreError> {
                let (auth_type, user, pass) = auth_columns(&hook.auth);
                let mut tx = self.writer().begin().await?;
                if hook.is_default {
                    clear_default!(&mut *tx, hook)?;
                }
                let done = sqlx::query(
                    "UPDATE webhooks SET name = $3, method = $4, url = $5, auth_type = $6, auth_username = $7,
                        auth_password = $8, body_type = $9, headers = $10, is_default = $11, updated_at = $12
                     WHERE account_id = $1 AND id = $2",
                )
                .bind(hook.account_id.to_string())
                .bind(hook.id.to_string())
                .bind(&hook.name)
                .bind(hook.method.as_str())
                .bind(hook.url.as_str())
                .bind(auth_type)
                .bind(user)
                .bind(pass)
                .bind(hook.body_type.as_str())
                .bind(headers_json(hook)?)
                .bind(hook.is_default)
                .bind(now_millis())
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::unique(e, NAME_TAKEN))?;
                tx.commit().await?;
                Ok(done.rows_affected() == 1)
            }

            async fn webhook(
                &self,
                account: AccountId,
                id: WebhookId,
            ) -> Result<Option<WebhookRecord>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE account_id = $1 AND id = $2");
                let row = sqlx::query(&sql)
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                row.map(|r| webhook_from_row!(&r)).transpose()
            }

            async fn webhooks(&self, account: AccountId) -> Result<Vec<WebhookRecord>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE account_id = $1 ORDER BY created_at, id");
                let rows = sqlx::query(&sql).bind(account.to_string()).fetch_all(self.reader()).await?;
                rows.iter().map(|r| webhook_from_row!(r)).collect()
            }

            async fn default_webhook(
                &self,
                account: AccountId,
            ) -> Result<Option<WebhookRecord>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE account_id = $1 AND is_default");
                let row = sqlx::query(&sql).bind(account.to_string()).fetch_optional(self.reader()).await?;
                row.map(|r| webhook_from_row!(&r)).transpose()
            }

            async fn delete_webhook(&self, account: AccountId, id: WebhookId) -> Result<bool, StoreError> {
                let done = sqlx::query("DELETE FROM webhooks WHERE account_id = $1 AND id = $2")
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn rotate_secret(
                &self,
                account: AccountId,
                id: WebhookId,
                new_secret: &Sealed,
                previous_until: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE webhooks SET previous_secret = signing_secret, previous_until = $3,
                        signing_secret = $4, updated_at = $5
                     WHERE account_id = $1 AND id = $2",
                )
                .bind(account.to_string())
                .bind(id.to_string())
                .bind(previous_until)
                .bind(&new_secret.0)
                .bind(now_millis())
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn record_check(
                &self,
                account: AccountId,
                id: WebhookId,
                result: &serde_json::Value,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query("UPDATE webhooks SET last_check = $3 WHERE account_id = $1 AND id = $2")
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .bind(result.to_string())
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

impl_webhook_store!(SqliteStore);
impl_webhook_store!(PgStore);
