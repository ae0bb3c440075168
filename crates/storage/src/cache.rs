//! A read-through cache of what every request reads and almost nothing writes:
//! accounts (by API key, by short-link token and by id), a flow's current
//! version, and the webhooks (the default one, and each by id for the
//! delivery worker).
//!
//! Promises:
//! - **Never stale after a write.** Every write to accounts, flows or webhooks
//!   goes through [`crate::db::write_config`], which empties the cache after the
//!   commit. On PostgreSQL that write also sends `NOTIFY flowhook_cache` in its
//!   transaction, and every server listening empties its own cache when the
//!   notification arrives (after the commit).
//! - **No lost invalidation.** A value read before an invalidation is never
//!   stored after it: loads note the epoch before reading and store only if it
//!   has not moved. While a server cannot listen (its listening connection is
//!   down), it stores nothing.
//! - **Bounded.** Each map is emptied when it reaches [`CAPACITY`] entries.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use flowhook_core::ids::{AccountId, FlowId, WebhookId};

use crate::{AccountRecord, FlowRecord, StoreError, WebhookRecord};

/// Most entries of one map.
const CAPACITY: usize = 10_000;

/// The cached records of one store.
pub(crate) struct Cache {
    epoch: AtomicU64,
    /// False while invalidations from other servers could be missed.
    live: AtomicBool,
    pub(crate) accounts_by_hash: Mutex<HashMap<String, Option<AccountRecord>>>,
    pub(crate) accounts_by_short_token: Mutex<HashMap<String, Option<AccountRecord>>>,
    pub(crate) accounts: Mutex<HashMap<AccountId, Option<AccountRecord>>>,
    pub(crate) flows: Mutex<HashMap<(AccountId, FlowId), Option<FlowRecord>>>,
    pub(crate) webhooks: Mutex<HashMap<(AccountId, WebhookId), Option<WebhookRecord>>>,
    pub(crate) default_webhooks: Mutex<HashMap<AccountId, Option<WebhookRecord>>>,
}

impl Cache {
    /// An empty cache; `live` says whether it may store yet.
    pub(crate) fn new(live: bool) -> Cache {
        Cache {
            epoch: AtomicU64::new(0),
            live: AtomicBool::new(live),
            accounts_by_hash: Mutex::default(),
            accounts_by_short_token: Mutex::default(),
            accounts: Mutex::default(),
            flows: Mutex::default(),
            webhooks: Mutex::default(),
            default_webhooks: Mutex::default(),
        }
    }

    /// The cached value of `key` in `map`, or what `load` reads (then cached).
    pub(crate) async fn through<K, V>(
        &self,
        map: &Mutex<HashMap<K, V>>,
        key: K,
        load: impl Future<Output = Result<V, StoreError>>,
    ) -> Result<V, StoreError>
    where
        K: Hash + Eq,
        V: Clone,
    {
        if let Some(value) = lock(map).get(&key) {
            return Ok(value.clone());
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let value = load.await?;
        let mut entries = lock(map);
        if self.live.load(Ordering::Acquire) && self.epoch.load(Ordering::Acquire) == epoch {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(key, value.clone());
        }
        Ok(value)
    }

    /// Forgets everything (something changed).
    pub(crate) fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        lock(&self.accounts_by_hash).clear();
        lock(&self.accounts_by_short_token).clear();
        lock(&self.accounts).clear();
        lock(&self.flows).clear();
        lock(&self.webhooks).clear();
        lock(&self.default_webhooks).clear();
    }

    /// Whether changes made elsewhere are heard (PostgreSQL's listener is up);
    /// either way, what is cached is forgotten.
    pub(crate) fn set_live(&self, live: bool) {
        self.live.store(live, Ordering::Release);
        self.clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_load_racing_a_clear_is_not_stored() {
        let cache = Cache::new(true);
        let stale = cache.through(&cache.accounts_by_hash, "k".to_owned(), async {
            cache.clear(); // a write committed while this read ran
            Ok(None)
        });
        assert_eq!(stale.await.unwrap(), None);
        assert!(lock(&cache.accounts_by_hash).is_empty());
        cache
            .through(&cache.accounts_by_hash, "k".to_owned(), async { Ok(None) })
            .await
            .unwrap();
        assert_eq!(lock(&cache.accounts_by_hash).len(), 1);
    }

    #[tokio::test]
    async fn nothing_is_stored_while_not_live() {
        let cache = Cache::new(false);
        cache
            .through(&cache.accounts_by_hash, "k".to_owned(), async { Ok(None) })
            .await
            .unwrap();
        assert!(lock(&cache.accounts_by_hash).is_empty());
        cache.set_live(true);
        cache
            .through(&cache.accounts_by_hash, "k".to_owned(), async { Ok(None) })
            .await
            .unwrap();
        assert_eq!(lock(&cache.accounts_by_hash).len(), 1);
    }
}
