//! What every request handler shares: storage, the egress client, executions,
//! the delivery worker, short links, reports, the master key, metrics and the
//! configuration. Built once by `startup`.

use std::sync::Arc;

use flowhook_core::secret::{MasterKey, sha256_hex};
use flowhook_engine::delivery::{DeliveryConfig, DeliveryWorker};
use flowhook_engine::egress::Egress;
use flowhook_engine::executions::Executions;
use flowhook_engine::internal::Functions;
use flowhook_engine::links::Links;
use flowhook_engine::outbound::{Outbound, Scheduler, SchedulerConfig};
use flowhook_engine::reports::{Reports, ReportsConfig};
use flowhook_engine::runner::Runner;
use flowhook_storage::Store;

use crate::api::rate::RateLimit;
use crate::config::Config;

/// The check button: 10 checks at once per account, then one every 6 s.
const CHECK_BURST: u32 = 10;
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(6);
use crate::metrics::Metrics;

/// Shared state of the HTTP server: one `Arc`, because axum clones it for
/// every extractor of every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub egress: Egress,
    pub executions: Arc<Executions>,
    pub deliveries: Arc<DeliveryWorker>,
    pub master_key: MasterKey,
    pub metrics: Arc<Metrics>,
    pub config: Arc<Config>,
    /// Check-button uses per account.
    pub check_limit: Arc<RateLimit>,
    /// The platform functions of internal webhooks.
    pub functions: Arc<Functions>,
    /// Short links: made, followed, their clicks counted.
    pub links: Arc<Links>,
    /// Executions reports: asked for, built in the background, delivered.
    pub reports: Arc<Reports>,
    /// Outbound requests (`createOutbound`, `POST /v1/outbound`).
    pub outbound: Arc<Outbound>,
    /// Starts outbound calls when they are due.
    pub scheduler: Arc<Scheduler>,
    /// SHA-256 of the admin token: comparing digests keeps the comparison's
    /// timing independent of how much of a guessed token is right.
    admin_token_hash: String,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, egress: Egress, config: Arc<Config>) -> AppState {
        let wake = Arc::new(tokio::sync::Notify::new());
        let links = Arc::new(Links::new(store.clone(), config.short_base_url.clone()));
        let wake_scheduler = Arc::new(tokio::sync::Notify::new());
        let outbound = Arc::new(Outbound::new(store.clone(), wake_scheduler.clone()));
        let reports = Arc::new(Reports::new(
            store.clone(),
            wake.clone(),
            ReportsConfig::default(),
        ));
        let functions = Arc::new(
            Functions::new(
                store.clone(),
                config.master_key.clone(),
                config.public_url.clone(),
                links.clone(),
                egress.clone(),
                outbound.clone(),
            )
            .with_reports(reports.clone()),
        );
        let executions = Arc::new(
            Executions::new(
                store.clone(),
                Runner::new(egress.clone()).with_platform(functions.clone()),
                wake.clone(),
                config.master_key.clone(),
            )
            .with_admission(config.admission),
        );
        AppState(Arc::new(Shared {
            links,
            reports,
            functions: functions.clone(),
            admin_token_hash: sha256_hex(config.admin_token.expose().as_bytes()),
            master_key: config.master_key.clone(),
            metrics: Arc::new(Metrics::default()),
            scheduler: Arc::new(Scheduler::new(
                store.clone(),
                executions.clone(),
                SchedulerConfig::default(),
                wake_scheduler,
            )),
            outbound,
            executions,
            deliveries: Arc::new(DeliveryWorker::new(
                store.clone(),
                egress.clone(),
                config.master_key.clone(),
                delivery_config(&config),
                wake,
            )),
            check_limit: Arc::new(RateLimit::new(CHECK_BURST, CHECK_EVERY)),
            store,
            egress,
            config,
        }))
    }
}

impl Shared {
    pub fn is_admin_token(&self, token: &str) -> bool {
        sha256_hex(token.as_bytes()) == self.admin_token_hash
    }
}

fn delivery_config(config: &Config) -> DeliveryConfig {
    let mut c = DeliveryConfig::new(&config.retry_schedule);
    c.lease = config.delivery_lease;
    c.request_timeout = config.delivery_timeout;
    c
}
