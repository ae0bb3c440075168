//! What every request handler shares: storage, the egress client, executions,
//! the master key, metrics and the configuration. Built once by `startup`.

use std::sync::Arc;

use flowhook_core::secret::{MasterKey, sha256_hex};
use flowhook_engine::egress::Egress;
use flowhook_engine::executions::Executions;
use flowhook_engine::runner::Runner;
use flowhook_storage::Store;

use crate::config::Config;
use crate::metrics::Metrics;

/// Shared state of the HTTP server. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub egress: Egress,
    pub executions: Arc<Executions>,
    pub master_key: MasterKey,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    /// SHA-256 of the admin token: comparing digests keeps the comparison's
    /// timing independent of how much of a guessed token is right.
    admin_token_hash: String,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, egress: Egress, config: Arc<Config>) -> AppState {
        AppState {
            admin_token_hash: sha256_hex(config.admin_token.expose().as_bytes()),
            master_key: config.master_key.clone(),
            metrics: Arc::new(Metrics::default()),
            executions: Arc::new(Executions::new(store.clone(), Runner::new(egress.clone()))),
            store,
            egress,
            config,
        }
    }

    pub fn is_admin_token(&self, token: &str) -> bool {
        sha256_hex(token.as_bytes()) == self.admin_token_hash
    }
}
