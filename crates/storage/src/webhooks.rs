//! The webhook registry: an account's configured destinations.
//!
//! Invariant: at most one webhook per account is the default. Saving a webhook as
//! default clears the old default in the same transaction, and a partial unique
//! index backs the rule against races between servers.

use flowhook_core::http::{BodyType, HttpMethod};
use flowhook_core::ids::{AccountId, WebhookId};
use flowhook_core::webhook::{HeaderPair, WebhookUrl};

use crate::db::{
    Conn, Database, Row, Value, conflict_means, params, write_config, write_config_one,
};
use crate::{Sealed, StoreError, corrupt, now_millis};

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

fn webhook_from_row(row: &Row) -> Result<WebhookRecord, StoreError> {
    let url: String = row.get("url")?;
    let auth_type: String = row.get("auth_type")?;
    let headers: String = row.get("headers")?;
    let last_check: Option<String> = row.get("last_check")?;
    let auth = match auth_type.as_str() {
        "none" => StoredAuth::None,
        "basic" => StoredAuth::Basic {
            username: row
                .get::<Option<String>>("auth_username")?
                .unwrap_or_default(),
            password: Sealed(
                row.get::<Option<String>>("auth_password")?
                    .unwrap_or_default(),
            ),
        },
        other => return Err(corrupt("webhook auth type", other)),
    };
    Ok(WebhookRecord {
        id: row.get("id")?,
        account_id: row.get("account_id")?,
        name: row.get("name")?,
        method: row.get("method")?,
        url: WebhookUrl::parse(&url).map_err(|e| corrupt("webhook url", e))?,
        auth,
        body_type: row.get("body_type")?,
        headers: serde_json::from_str(&headers).map_err(|e| corrupt("webhook headers", e))?,
        is_default: row.get("is_default")?,
        signing_secret: Sealed(row.get("signing_secret")?),
        previous_secret: row.get::<Option<String>>("previous_secret")?.map(Sealed),
        previous_until: row.get("previous_until")?,
        last_check: last_check
            .map(|c| serde_json::from_str(&c))
            .transpose()
            .map_err(|e| corrupt("webhook check", e))?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
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

/// The columns a save writes, as `$1` (account) … `$12`, in the order of both
/// the insert and the update below.
fn save_params(hook: &WebhookRecord) -> Result<Vec<Value>, StoreError> {
    let (auth_type, user, pass) = auth_columns(&hook.auth);
    Ok(params![
        hook.account_id.to_string(),
        hook.id.to_string(),
        &hook.name,
        hook.method.as_str(),
        hook.url.as_str(),
        auth_type,
        user,
        pass,
        hook.body_type.as_str(),
        headers_json(hook)?,
        hook.is_default,
        now_millis()
    ])
}

/// Saving a default webhook first clears the account's other default.
const CLEAR_DEFAULT: &str =
    "UPDATE webhooks SET is_default = FALSE WHERE account_id = $1 AND id <> $2 AND is_default";

/// Reads one webhook matching `condition` (over `$1` account and maybe `$2`).
async fn webhook_where<C: Conn>(
    c: &mut C,
    condition: &str,
    params: Vec<Value>,
) -> Result<Option<WebhookRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE account_id = $1 AND {condition}");
    c.query_opt_as(&sql, &params, webhook_from_row).await
}

#[async_trait::async_trait]
impl<D: Database> WebhookStore for D {
    async fn insert_webhook(&self, hook: &WebhookRecord) -> Result<(), StoreError> {
        let mut insert = save_params(hook)?;
        insert.push(Value::from(hook.signing_secret.0.clone()));
        let is_default = hook.is_default;
        write_config(self, move |c| {
            Box::pin(async move {
                if is_default {
                    c.exec(CLEAR_DEFAULT, &insert[..2]).await?;
                }
                c.exec(
                    "INSERT INTO webhooks (account_id, id, name, method, url, auth_type, auth_username, auth_password,
                        body_type, headers, is_default, created_at, updated_at, signing_secret)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)",
                    &insert,
                )
                .await
                .map_err(conflict_means(NAME_TAKEN))?;
                Ok(())
            })
        })
        .await
    }

    async fn update_webhook(&self, hook: &WebhookRecord) -> Result<bool, StoreError> {
        let update = save_params(hook)?;
        let is_default = hook.is_default;
        write_config(self, move |c| {
            Box::pin(async move {
                if is_default {
                    c.exec(CLEAR_DEFAULT, &update[..2]).await?;
                }
                let done = c
                    .exec(
                        "UPDATE webhooks SET name = $3, method = $4, url = $5, auth_type = $6, auth_username = $7,
                            auth_password = $8, body_type = $9, headers = $10, is_default = $11, updated_at = $12
                         WHERE account_id = $1 AND id = $2",
                        &update,
                    )
                    .await
                    .map_err(conflict_means(NAME_TAKEN))?;
                Ok(done == 1)
            })
        })
        .await
    }

    async fn webhook(
        &self,
        account: AccountId,
        id: WebhookId,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        let cache = self.cache();
        let query = params![account.to_string(), id.to_string()];
        let load = self.read(move |c| Box::pin(webhook_where(c, "id = $2", query)));
        cache.through(&cache.webhooks, (account, id), load).await
    }

    async fn webhooks(&self, account: AccountId) -> Result<Vec<WebhookRecord>, StoreError> {
        let query = params![account.to_string()];
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {COLUMNS} FROM webhooks WHERE account_id = $1 ORDER BY created_at, id"
                );
                c.query(&sql, &query)
                    .await?
                    .iter()
                    .map(webhook_from_row)
                    .collect()
            })
        })
        .await
    }

    async fn default_webhook(
        &self,
        account: AccountId,
    ) -> Result<Option<WebhookRecord>, StoreError> {
        let cache = self.cache();
        let query = params![account.to_string()];
        let load = self.read(move |c| Box::pin(webhook_where(c, "is_default", query)));
        cache.through(&cache.default_webhooks, account, load).await
    }

    async fn delete_webhook(&self, account: AccountId, id: WebhookId) -> Result<bool, StoreError> {
        Ok(write_config_one(
            self,
            "DELETE FROM webhooks WHERE account_id = $1 AND id = $2",
            params![account.to_string(), id.to_string()],
        )
        .await?
            == 1)
    }

    async fn rotate_secret(
        &self,
        account: AccountId,
        id: WebhookId,
        new_secret: &Sealed,
        previous_until: i64,
    ) -> Result<bool, StoreError> {
        Ok(write_config_one(
            self,
            "UPDATE webhooks SET previous_secret = signing_secret, previous_until = $3,
                signing_secret = $4, updated_at = $5
             WHERE account_id = $1 AND id = $2",
            params![
                account.to_string(),
                id.to_string(),
                previous_until,
                new_secret.0.clone(),
                now_millis()
            ],
        )
        .await?
            == 1)
    }

    async fn record_check(
        &self,
        account: AccountId,
        id: WebhookId,
        result: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        Ok(write_config_one(
            self,
            "UPDATE webhooks SET last_check = $3 WHERE account_id = $1 AND id = $2",
            params![account.to_string(), id.to_string(), result.to_string()],
        )
        .await?
            == 1)
    }
}
