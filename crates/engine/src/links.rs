//! Short links as a service: made by `shortURL`, `linkcreation` and
//! `POST /UrlShortner/shortUrl` ([`Links::shorten`]), followed by
//! `GET /{code}` ([`Links::follow`]), with their clicks counted.
//!
//! Choices, for a redirect that costs next to nothing:
//! - **Targets are cached for ever.** A code's target never changes once
//!   stored (`flowhook_storage::links`), so a followed code is read from the
//!   database once per server; the cache is bounded (emptied when full).
//!   Unknown codes are not cached: another server may store one a moment later.
//! - **Clicks are counted in memory and written in batches**, every
//!   [`FLUSH_EVERY`], at shutdown, and before an account's links are listed
//!   ([`Links::flush`]), each batch as atomic increments. A redirect therefore
//!   never waits on a write; the price is that a server killed without a
//!   shutdown loses at most the last second of its clicks (SIGTERM loses none).
//!   A batch that fails to write is kept and tried again with the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowhook_core::ids::AccountId;
use flowhook_core::links::{LongUrl, ShortCode, ShortToken, short_url};
use flowhook_core::secret::{Binding, MasterKey, Purpose};
use flowhook_storage::{
    AccountRecord, LinkRecord, NewLink, Sealed, ShortTokenRecord, Store, StoreError,
};
use tokio::sync::watch;

/// How often counted clicks are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Most cached targets; the cache is emptied when it is full.
const CACHED_TARGETS: usize = 100_000;

/// Fresh codes drawn before giving up (a collision is already ~2^-59 × links).
const CODE_ATTEMPTS: usize = 5;

/// The short links of a server.
pub struct Links {
    store: Arc<dyn Store>,
    default_base: url::Url,
    targets: Mutex<HashMap<ShortCode, Arc<str>>>,
    clicks: Mutex<HashMap<ShortCode, i64>>,
    /// Held while a batch is written, so a flush that returns has seen every
    /// click counted before it began (a concurrent batch included).
    flushing: tokio::sync::Mutex<()>,
}

impl Links {
    /// `default_base` is `FLOWHOOK_SHORT_BASE_URL` (the public URL unless set).
    pub fn new(store: Arc<dyn Store>, default_base: url::Url) -> Links {
        Links {
            store,
            default_base,
            targets: Mutex::default(),
            clicks: Mutex::default(),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    /// The base of the account's short links: its own domain, or the default.
    pub fn base_for<'a>(&'a self, account: &'a AccountRecord) -> &'a url::Url {
        account
            .short_base_url
            .as_ref()
            .map_or(&self.default_base, |b| b.as_url())
    }

    /// A new short link to `long` for the account, on its short domain. Each
    /// call makes a new code (links are counted separately).
    pub async fn shorten(
        &self,
        account: &AccountRecord,
        long: &LongUrl,
    ) -> Result<LinkRecord, StoreError> {
        let base = self.base_for(account);
        for _ in 0..CODE_ATTEMPTS {
            let code = ShortCode::generate();
            let link = NewLink {
                short_url: short_url(base, &code),
                code,
                account_id: account.id,
                long_url: long.as_str().to_owned(),
            };
            match self.store.insert_link(&link).await {
                Ok(stored) => {
                    self.remember(&stored.code, Arc::from(stored.long_url.as_str()));
                    return Ok(stored);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Database(format!(
            "no free short code in {CODE_ATTEMPTS} draws"
        )))
    }

    /// The target of `code`, if it is a link; with `count`, the click is
    /// counted (written with the next batch).
    pub async fn follow(
        &self,
        code: &ShortCode,
        count: bool,
    ) -> Result<Option<Arc<str>>, StoreError> {
        let cached = lock(&self.targets).get(code).cloned();
        let target = match cached {
            Some(target) => target,
            None => match self.store.link_target(code).await? {
                Some(target) => {
                    let target: Arc<str> = Arc::from(target);
                    self.remember(code, target.clone());
                    target
                }
                None => return Ok(None),
            },
        };
        if count {
            let mut clicks = lock(&self.clicks);
            match clicks.get_mut(code) {
                Some(n) => *n += 1,
                None => {
                    clicks.insert(code.clone(), 1);
                }
            }
        }
        Ok(Some(target))
    }

    fn remember(&self, code: &ShortCode, target: Arc<str>) {
        let mut targets = lock(&self.targets);
        if targets.len() >= CACHED_TARGETS {
            targets.clear();
        }
        targets.insert(code.clone(), target);
    }

    /// Writes every click counted so far; a failed batch is kept for the next.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.flushing.lock().await;
        let batch: Vec<(ShortCode, i64)> = std::mem::take(&mut *lock(&self.clicks))
            .into_iter()
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        let written = self
            .store
            .add_clicks(&batch, flowhook_storage::now_millis())
            .await;
        if written.is_err() {
            let mut clicks = lock(&self.clicks);
            for (code, n) in batch {
                *clicks.entry(code).or_insert(0) += n;
            }
        }
        written
    }

    /// Writes clicks every [`FLUSH_EVERY`] until `stop`, then once more.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FLUSH_EVERY) => {}
                _ = stop.changed() => {}
            }
            let stopping = *stop.borrow();
            if let Err(e) = self.flush().await {
                tracing::error!(error = %e, "short links: clicks not written; kept for the next try");
            }
            if stopping {
                return;
            }
        }
    }

    /// The account whose `custToken` is `sent`.
    pub async fn account_by_token(&self, sent: &str) -> Result<Option<AccountRecord>, StoreError> {
        if sent.is_empty() || sent.len() > ShortToken::MAX_SENT {
            return Ok(None);
        }
        self.store
            .account_by_short_token_hash(&ShortToken::sent(sent).lookup_hash())
            .await
    }
}

/// A new short-link token for `account`: the token, and how it is stored.
pub fn issue_token(master: &MasterKey, account: AccountId) -> (ShortToken, ShortTokenRecord) {
    let token = ShortToken::generate();
    let record = ShortTokenRecord {
        hash: token.lookup_hash(),
        sealed: Sealed(master.seal(
            Binding::new(account, Purpose::ShortLinkToken),
            token.expose(),
        )),
    };
    (token, record)
}

/// The account's short-link token in the clear, to show in its settings.
pub fn open_token(master: &MasterKey, account: &AccountRecord) -> Result<Option<String>, String> {
    account
        .short_token
        .as_ref()
        .map(|sealed| {
            master
                .open(Binding::new(account.id, Purpose::ShortLinkToken), &sealed.0)
                .map(|t| t.expose().to_owned())
                .map_err(|e| format!("account {}: short-link token: {e}", account.id))
        })
        .transpose()
}

/// Gives every account made before short-link tokens existed its first one
/// (servers starting together each try; an account keeps the first it got).
pub async fn issue_missing_tokens(
    store: &dyn Store,
    master: &MasterKey,
) -> Result<u64, StoreError> {
    let mut issued = 0;
    for account in store.accounts_without_short_token().await? {
        let (_, record) = issue_token(master, account);
        if store.set_short_token(account, &record, true).await? {
            issued += 1;
        }
    }
    Ok(issued)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
