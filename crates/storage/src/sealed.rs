//! Every sealed value the database holds, rewritten at once: the start-up
//! migration of the first sealed format, and `flowhook rotate-master-key`.
//!
//! Storage still never sees a plaintext: the caller's [`Resealer`] turns stored
//! text into its new stored form (it holds the keys); this file only knows where
//! sealed values live. Everything is rewritten in one transaction, so a rotation
//! is all or nothing, and a value that cannot be re-sealed stops it before
//! anything is written.

use std::sync::Arc;

use flowhook_core::ids::AccountId;

use crate::db::{Conn, Database, Row, params, write_config};
use crate::{StoreError, corrupt};

/// Where a sealed value lives, which tells the resealer what the text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedField {
    /// `webhooks.auth_password`: one sealed value.
    WebhookPassword,
    /// `webhooks.signing_secret` or `previous_secret`: one sealed value.
    SigningSecret,
    /// `webhooks.headers`: the JSON list of headers, credential values sealed.
    WebhookHeaders,
    /// `accounts.providers`: JSON settings, credentials sealed.
    Providers,
    /// `flow_versions.document`: a flow document, literal credentials sealed.
    FlowDocument,
    /// `accounts.short_token`: one sealed value.
    ShortLinkToken,
    /// `bots.token`: one sealed value.
    BotToken,
}

/// Turns stored text into its re-sealed form.
pub trait Resealer: Send + Sync {
    /// The new text of `stored` (a field of `account`'s), or `None` to leave it
    /// as it is. An error stops the whole rewrite; nothing is written.
    fn reseal(
        &self,
        account: AccountId,
        field: SealedField,
        stored: &str,
    ) -> Result<Option<String>, String>;
}

/// How many rows a rewrite changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    pub webhooks: u64,
    pub accounts: u64,
    pub flow_versions: u64,
    pub bots: u64,
}

impl Resealed {
    pub fn total(&self) -> u64 {
        self.webhooks + self.accounts + self.flow_versions + self.bots
    }
}

/// Storage of everything sealed, as a whole.
#[async_trait::async_trait]
pub trait SealedStore {
    /// Passes every sealed value through `resealer` and writes back what
    /// changed, in one transaction. Flow documents are many and large: with
    /// `documents_containing`, only versions whose document contains that text
    /// are read (the start-up migration looks for the first format only).
    async fn reseal_all(
        &self,
        resealer: Arc<dyn Resealer>,
        documents_containing: Option<&str>,
    ) -> Result<Resealed, StoreError>;
}

/// Applies the resealer to one stored value; an error names the row.
fn apply(
    resealer: &dyn Resealer,
    account: &str,
    field: SealedField,
    stored: Option<&str>,
    row: &str,
) -> Result<Option<String>, StoreError> {
    let Some(stored) = stored.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let account = AccountId::parse(account).ok_or_else(|| corrupt("account id", account))?;
    resealer
        .reseal(account, field, stored)
        .map_err(|e| StoreError::Corrupt(format!("{row}: {e}")))
}

async fn reseal_webhooks<C: Conn>(c: &mut C, r: &dyn Resealer) -> Result<u64, StoreError> {
    let rows = c
        .query(
            "SELECT id, account_id, auth_password, signing_secret, previous_secret, headers FROM webhooks ORDER BY id",
            &[],
        )
        .await?;
    let mut changed = 0;
    for row in rows {
        let (id, account): (String, String) = (row.get("id")?, row.get("account_id")?);
        let text = |col: &str| row.get::<Option<String>>(col);
        let what = |col: &str| format!("webhook {id} ({col})");
        let password = text("auth_password")?;
        let secret = text("signing_secret")?;
        let previous = text("previous_secret")?;
        let headers = text("headers")?;
        let new = [
            apply(
                r,
                &account,
                SealedField::WebhookPassword,
                password.as_deref(),
                &what("password"),
            )?,
            apply(
                r,
                &account,
                SealedField::SigningSecret,
                secret.as_deref(),
                &what("signing secret"),
            )?,
            apply(
                r,
                &account,
                SealedField::SigningSecret,
                previous.as_deref(),
                &what("previous signing secret"),
            )?,
            apply(
                r,
                &account,
                SealedField::WebhookHeaders,
                headers.as_deref(),
                &what("headers"),
            )?,
        ];
        if new.iter().all(Option::is_none) {
            continue;
        }
        let [password, secret, previous, headers] = new;
        c.exec(
            "UPDATE webhooks SET auth_password = COALESCE($2, auth_password),
                signing_secret = COALESCE($3, signing_secret),
                previous_secret = COALESCE($4, previous_secret),
                headers = COALESCE($5, headers)
             WHERE id = $1",
            &params![id, password, secret, previous, headers],
        )
        .await?;
        changed += 1;
    }
    Ok(changed)
}

async fn reseal_accounts<C: Conn>(c: &mut C, r: &dyn Resealer) -> Result<u64, StoreError> {
    let rows = c
        .query(
            "SELECT id, providers, short_token FROM accounts ORDER BY id",
            &[],
        )
        .await?;
    let mut changed = 0;
    for row in rows {
        let id: String = row.get("id")?;
        let providers: String = row.get("providers")?;
        let token: Option<String> = row.get("short_token")?;
        let providers = apply(
            r,
            &id,
            SealedField::Providers,
            Some(&providers),
            &format!("account {id} (providers)"),
        )?;
        let token = apply(
            r,
            &id,
            SealedField::ShortLinkToken,
            token.as_deref(),
            &format!("account {id} (short-link token)"),
        )?;
        if providers.is_none() && token.is_none() {
            continue;
        }
        c.exec(
            "UPDATE accounts SET providers = COALESCE($2, providers),
                short_token = COALESCE($3, short_token)
             WHERE id = $1",
            &params![id, providers, token],
        )
        .await?;
        changed += 1;
    }
    Ok(changed)
}

async fn reseal_bots<C: Conn>(c: &mut C, r: &dyn Resealer) -> Result<u64, StoreError> {
    let rows = c
        .query(
            "SELECT account_id, id, token FROM bots ORDER BY account_id, id",
            &[],
        )
        .await?;
    let mut changed = 0;
    for row in rows {
        let (account, id): (String, String) = (row.get("account_id")?, row.get("id")?);
        let token: String = row.get("token")?;
        let what = format!("bot {id} of account {account} (token)");
        if let Some(new) = apply(r, &account, SealedField::BotToken, Some(&token), &what)? {
            c.exec(
                "UPDATE bots SET token = $3 WHERE account_id = $1 AND id = $2",
                &params![account, id, new],
            )
            .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

async fn reseal_flows<C: Conn>(
    c: &mut C,
    r: &dyn Resealer,
    containing: Option<String>,
) -> Result<u64, StoreError> {
    const SELECT: &str = "SELECT v.flow_id, v.version, f.account_id, v.document
        FROM flow_versions v JOIN flows f ON f.id = v.flow_id";
    let rows: Vec<Row> = match containing {
        Some(text) => {
            let sql = format!("{SELECT} WHERE v.document LIKE $1 ORDER BY v.flow_id, v.version");
            c.query(&sql, &params![format!("%{text}%")]).await?
        }
        None => {
            let sql = format!("{SELECT} ORDER BY v.flow_id, v.version");
            c.query(&sql, &[]).await?
        }
    };
    let mut changed = 0;
    for row in rows {
        let (flow, version): (String, i64) = (row.get("flow_id")?, row.get("version")?);
        let (account, document): (String, String) = (row.get("account_id")?, row.get("document")?);
        let what = format!("flow {flow} version {version}");
        if let Some(new) = apply(
            r,
            &account,
            SealedField::FlowDocument,
            Some(&document),
            &what,
        )? {
            c.exec(
                "UPDATE flow_versions SET document = $3 WHERE flow_id = $1 AND version = $2",
                &params![flow, version, new],
            )
            .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

#[async_trait::async_trait]
impl<D: Database> SealedStore for D {
    async fn reseal_all(
        &self,
        resealer: Arc<dyn Resealer>,
        documents_containing: Option<&str>,
    ) -> Result<Resealed, StoreError> {
        if documents_containing.is_some_and(|t| t.contains(['%', '_', '\\'])) {
            return Err(StoreError::Database(
                "the text to look for may not contain LIKE wildcards".into(),
            ));
        }
        let containing = documents_containing.map(str::to_owned);
        // Accounts, webhooks and flows are all cached: a config write.
        write_config(self, move |c| {
            Box::pin(async move {
                Ok(Resealed {
                    webhooks: reseal_webhooks(c, &*resealer).await?,
                    accounts: reseal_accounts(c, &*resealer).await?,
                    flow_versions: reseal_flows(c, &*resealer, containing).await?,
                    bots: reseal_bots(c, &*resealer).await?,
                })
            })
        })
        .await
    }
}
