//! Re-sealing every stored secret: the start-up migration of values sealed in
//! the first format (`v1:`, bound to nothing, naming no key), and
//! `flowhook rotate-master-key`.
//!
//! Choice: the first format is migrated at start-up, not on first use, so that
//! past start-up every stored value is bound to its account and purpose and
//! `MasterKey::open` can refuse anything unbound. Storage rewrites all of it in
//! one transaction ([`SealedStore::reseal_all`]); [`KeyChange`] knows what each
//! stored field holds and re-seals it with `flowhook_core::secret::Reseal`.
//!
//! A rotation needs every server stopped: a server still running with the old
//! key could no longer open what it reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use flowhook_core::flow::secrets as flow_secrets;
use flowhook_core::ids::AccountId;
use flowhook_core::providers;
use flowhook_core::secret::{Binding, MasterKey, Purpose, Reseal};
use flowhook_core::webhook::HeaderPair;
use flowhook_storage::{Resealed, Resealer, SealedField, Store, StoreError};

use crate::config::Config;

/// Re-seals from one key to another (the same key for the migration).
pub struct KeyChange {
    pub from: MasterKey,
    pub to: MasterKey,
}

impl Resealer for KeyChange {
    fn reseal(
        &self,
        account: AccountId,
        field: SealedField,
        stored: &str,
    ) -> Result<Option<String>, String> {
        let reseal = Reseal {
            from: &self.from,
            to: &self.to,
        };
        let one = |purpose| {
            reseal
                .value(Binding::new(account, purpose), stored)
                .map_err(|e| e.to_string())
        };
        let json = |e: serde_json::Error| format!("not JSON: {e}");
        match field {
            SealedField::WebhookPassword => one(Purpose::WebhookPassword),
            SealedField::SigningSecret => one(Purpose::SigningSecret),
            SealedField::ShortLinkToken => one(Purpose::ShortLinkToken),
            SealedField::BotToken => one(Purpose::BotToken),
            SealedField::WebhookHeaders => {
                let mut headers: Vec<HeaderPair> = serde_json::from_str(stored).map_err(json)?;
                let mut changed = false;
                for h in &mut headers {
                    if let Some(new) = h.resealed(&reseal, account).map_err(|e| e.to_string())? {
                        *h = new;
                        changed = true;
                    }
                }
                changed
                    .then(|| serde_json::to_string(&headers).map_err(json))
                    .transpose()
            }
            SealedField::Providers => {
                let mut settings: serde_json::Value = serde_json::from_str(stored).map_err(json)?;
                let changed = providers::reseal(&mut settings, &reseal, account)
                    .map_err(|e| e.to_string())?;
                Ok(changed.then(|| settings.to_string()))
            }
            SealedField::FlowDocument => {
                let mut doc: serde_json::Value = serde_json::from_str(stored).map_err(json)?;
                let changed =
                    flow_secrets::reseal(&mut doc, &reseal, account).map_err(|e| e.to_string())?;
                Ok(changed.then(|| doc.to_string()))
            }
        }
    }
}

/// The start-up migration: values of the first format are re-sealed, bound,
/// under `key`. A value sealed under another key stops start-up with a
/// message naming both key ids (a wrong `FLOWHOOK_MASTER_KEY`).
pub async fn migrate(store: &dyn Store, key: &MasterKey) -> Result<Resealed, StoreError> {
    let change = KeyChange {
        from: key.clone(),
        to: key.clone(),
    };
    // Flow documents of the first format hold `sealed:v1:`; others need no read.
    store.reseal_all(Arc::new(change), Some("sealed:v1:")).await
}

/// [`migrate`] as start-up runs it: a failure is a message for the operator.
pub async fn migrate_at_start(store: &dyn Store, key: &MasterKey) -> Result<(), String> {
    let done = migrate(store, key)
        .await
        .map_err(|e| format!("cannot migrate stored secrets to the bound format: {e}"))?;
    if done.total() > 0 {
        tracing::info!(
            webhooks = done.webhooks,
            accounts = done.accounts,
            flow_versions = done.flow_versions,
            bots = done.bots,
            key = %key.key_id(),
            "re-sealed stored secrets in the bound format"
        );
    }
    Ok(())
}

/// Re-seals every stored secret under `new`: webhook passwords, credential
/// headers, signing secrets (current and previous), provider secrets,
/// short-link and bot tokens and the literal credentials of every stored flow
/// version. All or nothing.
pub async fn rotate(
    store: &dyn Store,
    old: &MasterKey,
    new: &MasterKey,
) -> Result<Resealed, StoreError> {
    let change = KeyChange {
        from: old.clone(),
        to: new.clone(),
    };
    store.reseal_all(Arc::new(change), None).await
}

/// `flowhook rotate-master-key`: rotates the database `config` names from
/// its master key to `new_key` (64 hex digits or base64). When the current key was read from the data
/// folder's `master-key` file, that file then holds the new key (written
/// beside it first, renamed over it once the database committed). Returns
/// what to tell the operator.
pub async fn rotate_command(config: &Config, new_key: &str) -> Result<String, String> {
    let new = &MasterKey::parse(new_key).map_err(|e| format!("the new key: {e}"))?;
    let old = &config.master_key;
    if old.key_id() == new.key_id() {
        return Err("the new key is the current key".into());
    }
    let staged = match &config.master_key_file {
        Some(file) => Some(stage_key_file(file, new_key.trim())?),
        None => None,
    };
    let store = crate::startup::open_store(config).await?;
    // Values of the first format are re-sealed as well: rotation covers them.
    let done = rotate(&*store, old, new)
        .await
        .map_err(|e| format!("nothing was changed: {e}"))?;
    let summary = format!(
        "re-sealed under key {}: {} webhooks, {} accounts, {} flow versions, {} bots (was key {})",
        new.key_id(),
        done.webhooks,
        done.accounts,
        done.flow_versions,
        done.bots,
        old.key_id()
    );
    match (staged, &config.master_key_file) {
        (Some(staged), Some(file)) => {
            std::fs::rename(&staged, file).map_err(|e| {
                format!(
                    "{summary}; but {} could not replace {}: {e}. Move it there by hand before starting flowhook",
                    staged.display(),
                    file.display()
                )
            })?;
            Ok(format!(
                "{summary}; {} now holds the new key",
                file.display()
            ))
        }
        _ => Ok(format!(
            "{summary}; start every server with the new FLOWHOOK_MASTER_KEY"
        )),
    }
}

/// Writes the new key beside the key file (mode 0600), to be renamed over it.
fn stage_key_file(file: &Path, new_key: &str) -> Result<PathBuf, String> {
    let staged = file.with_extension("new");
    let _ = std::fs::remove_file(&staged);
    crate::config::write_private(&staged, new_key)
        .map_err(|e| format!("cannot write {}: {e}", staged.display()))?;
    Ok(staged)
}
