//! Where `$user.key` variables live between executions.
//!
//! The runner reads a contact's keys before each step that reads them (so a read
//! sees the latest stored value, even one written by another execution) and
//! writes every change as soon as the step that made it ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use flowhook_core::ids::AccountId;
use flowhook_storage::Store;

/// Persistence of `$user.key` values for one account.
#[async_trait::async_trait]
pub trait UserKeys: Send + Sync {
    /// All `(NAME, value)` of a contact.
    async fn load(&self, contact: &str) -> Result<Vec<(String, String)>, String>;
    async fn save(&self, contact: &str, name: &str, value: &str) -> Result<(), String>;
}

/// User keys in the database, as the server keeps them.
pub struct StoredUserKeys {
    pub store: Arc<dyn Store>,
    pub account: AccountId,
}

#[async_trait::async_trait]
impl UserKeys for StoredUserKeys {
    async fn load(&self, contact: &str) -> Result<Vec<(String, String)>, String> {
        self.store
            .user_keys(self.account, contact)
            .await
            .map_err(|e| e.to_string())
    }

    async fn save(&self, contact: &str, name: &str, value: &str) -> Result<(), String> {
        self.store
            .set_user_key(self.account, contact, name, value)
            .await
            .map_err(|e| e.to_string())
    }
}

/// User keys held in memory for one process: what `flowhook run` uses, since a
/// local run has no database. Seed it to simulate a returning contact.
#[derive(Default)]
pub struct MemoryUserKeys {
    keys: Mutex<BTreeMap<(String, String), String>>,
}

impl MemoryUserKeys {
    pub fn with(contact: &str, keys: impl IntoIterator<Item = (String, String)>) -> MemoryUserKeys {
        let map = keys
            .into_iter()
            .map(|(k, v)| ((contact.to_owned(), k), v))
            .collect();
        MemoryUserKeys {
            keys: Mutex::new(map),
        }
    }
}

#[async_trait::async_trait]
impl UserKeys for MemoryUserKeys {
    async fn load(&self, contact: &str) -> Result<Vec<(String, String)>, String> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        Ok(keys
            .iter()
            .filter(|((c, _), _)| c == contact)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn save(&self, contact: &str, name: &str, value: &str) -> Result<(), String> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.insert((contact.to_owned(), name.to_owned()), value.to_owned());
        Ok(())
    }
}
