//! Accounts: tenants with their API-key hash, policies, IP whitelist and
//! short-link settings (the `custToken` as a lookup hash plus a sealed copy,
//! and the account's own short domain).

use flowhook_core::account::{AccountName, IpWhitelist, TimeZone};
use flowhook_core::agents::CountryCode;
use flowhook_core::ids::AccountId;
use flowhook_core::links::ShortBase;

use crate::db::{Conn, Database, Row, conflict_means, params, write_config};
use crate::{Sealed, StoreError, corrupt, now_millis};

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
    /// The account's first short-link token.
    pub short_token: ShortTokenRecord,
}

/// A short-link token as stored: the SHA-256 of the token, to find the
/// account by, and the token sealed with the master key
/// (`Purpose::ShortLinkToken`), to show in the settings.
#[derive(Debug, Clone)]
pub struct ShortTokenRecord {
    pub hash: String,
    pub sealed: Sealed,
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
    /// How a cli written without a country code is read (default `91`).
    pub default_country_code: CountryCode,
    /// The sealed short-link token; `None` only until the start-up after the
    /// migration that added tokens issues one.
    pub short_token: Option<Sealed>,
    /// The account's own short domain; `None`: the server's default.
    pub short_base_url: Option<ShortBase>,
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
    pub default_country_code: Option<CountryCode>,
    /// `Some(None)` goes back to the server's default short domain.
    pub short_base_url: Option<Option<ShortBase>>,
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
    /// The account whose short-link token hashes to `hash`.
    async fn account_by_short_token_hash(
        &self,
        hash: &str,
    ) -> Result<Option<AccountRecord>, StoreError>;
    /// Makes `token` the account's short-link token (the old one stops
    /// working at once). With `only_if_missing`, an account that has one
    /// keeps it. False if nothing changed.
    async fn set_short_token(
        &self,
        id: AccountId,
        token: &ShortTokenRecord,
        only_if_missing: bool,
    ) -> Result<bool, StoreError>;
    /// Accounts without a short-link token (made before tokens existed).
    async fn accounts_without_short_token(&self) -> Result<Vec<AccountId>, StoreError>;
}

const COLUMNS: &str = "id, name, client_id, allow_http, timezone, whitelist, calendar, providers, default_country_code, short_token, short_base_url, created_at, updated_at";

/// Reads an `AccountRecord` from a row of `COLUMNS`.
fn account_from_row(row: &Row) -> Result<AccountRecord, StoreError> {
    let tz: String = row.get("timezone")?;
    let json = |col: &str| -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(&row.get::<String>(col)?).map_err(|e| corrupt(col, e))
    };
    Ok(AccountRecord {
        id: row.get("id")?,
        name: row.get("name")?,
        client_id: row.get("client_id")?,
        allow_http: row.get("allow_http")?,
        timezone: TimeZone::parse(&tz).map_err(|e| corrupt("account time zone", e))?,
        whitelist: serde_json::from_str(&row.get::<String>("whitelist")?)
            .map_err(|e| corrupt("whitelist", e))?,
        calendar: json("calendar")?,
        providers: json("providers")?,
        default_country_code: CountryCode::parse(&row.get::<String>("default_country_code")?)
            .map_err(|e| corrupt("default country code", e))?,
        short_token: row.get::<Option<String>>("short_token")?.map(Sealed),
        short_base_url: row
            .get::<Option<String>>("short_base_url")?
            .map(|u| ShortBase::parse(&u).map_err(|e| corrupt("short base url", e)))
            .transpose()?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

async fn account_by<C: Conn>(
    c: &mut C,
    column: &str,
    value: String,
) -> Result<Option<AccountRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM accounts WHERE {column} = $1");
    c.query_opt_as(&sql, &params![value], account_from_row)
        .await
}

#[async_trait::async_trait]
impl<D: Database> AccountStore for D {
    async fn create_account(&self, new: &NewAccount) -> Result<AccountRecord, StoreError> {
        let now = now_millis();
        let id = new.id.to_string();
        let insert = params![
            id.clone(),
            new.name.as_str(),
            new.client_id,
            &new.security_hash,
            new.allow_http,
            new.timezone.name(),
            now,
            &new.short_token.hash,
            &new.short_token.sealed.0
        ];
        write_config(self, move |c| {
            Box::pin(async move {
                c.exec(
                    "INSERT INTO accounts (id, name, client_id, security_hash, allow_http, timezone, created_at, updated_at,
                        short_token_hash, short_token)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)",
                    &insert,
                )
                .await
                .map_err(conflict_means("client id, security id or short-link token already in use"))?;
                account_by(c, "id", id)
                    .await?
                    .ok_or_else(|| corrupt("account", "vanished after insert"))
            })
        })
        .await
    }

    async fn account(&self, id: AccountId) -> Result<Option<AccountRecord>, StoreError> {
        let cache = self.cache();
        let load = self.read({
            let id = id.to_string();
            move |c| Box::pin(account_by(c, "id", id))
        });
        cache.through(&cache.accounts, id, load).await
    }

    async fn account_by_security_hash(
        &self,
        hash: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let cache = self.cache();
        let load = self.read({
            let hash = hash.to_owned();
            move |c| Box::pin(account_by(c, "security_hash", hash))
        });
        cache
            .through(&cache.accounts_by_hash, hash.to_owned(), load)
            .await
    }

    async fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        self.read(|c| {
            Box::pin(async move {
                let sql = format!("SELECT {COLUMNS} FROM accounts ORDER BY created_at, id");
                c.query(&sql, &[])
                    .await?
                    .iter()
                    .map(account_from_row)
                    .collect()
            })
        })
        .await
    }

    async fn update_account(
        &self,
        id: AccountId,
        patch: &AccountPatch,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let id = id.to_string();
        let update = params![
            id.clone(),
            patch.allow_http,
            patch.timezone.map(|t| t.name()),
            patch.calendar.as_ref().map(|v| v.to_string()),
            patch.providers.as_ref().map(|v| v.to_string()),
            now_millis(),
            patch.default_country_code.as_ref().map(|c| c.as_str()),
            patch.short_base_url.is_some(),
            patch
                .short_base_url
                .as_ref()
                .and_then(|b| b.as_ref().map(|b| b.as_str().to_owned()))
        ];
        write_config(self, move |c| {
            Box::pin(async move {
                let done = c
                    .exec(
                        "UPDATE accounts SET
                            allow_http = COALESCE($2, allow_http),
                            timezone = COALESCE($3, timezone),
                            calendar = COALESCE($4, calendar),
                            providers = COALESCE($5, providers),
                            default_country_code = COALESCE($7, default_country_code),
                            short_base_url = CASE WHEN $8 THEN $9 ELSE short_base_url END,
                            updated_at = $6
                         WHERE id = $1",
                        &update,
                    )
                    .await?;
                if done == 0 {
                    return Ok(None);
                }
                account_by(c, "id", id).await
            })
        })
        .await
    }

    async fn set_whitelist(&self, id: AccountId, list: &IpWhitelist) -> Result<bool, StoreError> {
        let json = serde_json::to_string(list).map_err(|e| corrupt("whitelist", e))?;
        let update = params![id.to_string(), json, now_millis()];
        write_config(self, move |c| {
            Box::pin(async move {
                let done = c
                    .exec(
                        "UPDATE accounts SET whitelist = $2, updated_at = $3 WHERE id = $1",
                        &update,
                    )
                    .await?;
                Ok(done == 1)
            })
        })
        .await
    }

    async fn account_by_short_token_hash(
        &self,
        hash: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let cache = self.cache();
        let load = self.read({
            let hash = hash.to_owned();
            move |c| Box::pin(account_by(c, "short_token_hash", hash))
        });
        cache
            .through(&cache.accounts_by_short_token, hash.to_owned(), load)
            .await
    }

    async fn set_short_token(
        &self,
        id: AccountId,
        token: &ShortTokenRecord,
        only_if_missing: bool,
    ) -> Result<bool, StoreError> {
        let update = params![
            id.to_string(),
            &token.hash,
            &token.sealed.0,
            now_millis(),
            only_if_missing
        ];
        write_config(self, move |c| {
            Box::pin(async move {
                let done = c
                    .exec(
                        "UPDATE accounts SET short_token_hash = $2, short_token = $3, updated_at = $4
                         WHERE id = $1 AND (NOT $5 OR short_token_hash IS NULL)",
                        &update,
                    )
                    .await
                    .map_err(conflict_means("short-link token already in use"))?;
                Ok(done == 1)
            })
        })
        .await
    }

    async fn accounts_without_short_token(&self) -> Result<Vec<AccountId>, StoreError> {
        self.read(|c| {
            Box::pin(async move {
                c.query(
                    "SELECT id FROM accounts WHERE short_token_hash IS NULL ORDER BY id",
                    &[],
                )
                .await?
                .iter()
                .map(|r| r.at(0))
                .collect()
            })
        })
        .await
    }
}
