//! Building and running the server: connect storage, build the egress client and
//! state, bind the listener. [`Application::build`] binds before serving, so tests
//! can ask for port 0 and read the real port.

use std::net::SocketAddr;
use std::sync::Arc;

use flowhook_engine::egress::{Egress, EgressConfig, EgressPolicy};

use crate::config::Config;
use crate::state::AppState;

/// The configured database, with its options; a failure names it (without
/// its password) for the operator.
pub async fn open_store(config: &Config) -> Result<Arc<dyn flowhook_storage::Store>, String> {
    let options = flowhook_storage::StoreOptions {
        synchronous: config.sqlite_synchronous,
    };
    flowhook_storage::connect_with(&config.database_url, options)
        .await
        .map_err(|e| {
            format!(
                "cannot open the database {}: {e}",
                flowhook_storage::redact_url(&config.database_url)
            )
        })
}

/// A bound, ready-to-serve flowhook.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    pub state: AppState,
}

impl Application {
    /// Start-up failures are messages for the operator.
    pub async fn build(config: Config) -> Result<Application, String> {
        for file in &config.generated {
            tracing::warn!(file = %file.display(), "generated a new secret; keep this file safe and private");
        }
        let store = open_store(&config).await?;
        crate::sealing::migrate_at_start(&*store, &config.master_key).await?;
        let issued = flowhook_engine::links::issue_missing_tokens(&*store, &config.master_key)
            .await
            .map_err(|e| format!("cannot issue short-link tokens: {e}"))?;
        if issued > 0 {
            tracing::info!(
                accounts = issued,
                "issued short-link tokens to accounts made before they existed"
            );
        }
        let egress = Egress::new(EgressConfig {
            policy: EgressPolicy::new(config.egress_allow_cidrs.clone()),
            ..EgressConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let mut config = config;
        // A public URL taken from `listen = …:0` names the port bound now.
        if let Ok(bound) = listener.local_addr() {
            for url in [&mut config.public_url, &mut config.short_base_url] {
                if url.port() == Some(0) {
                    let _ = url.set_port(Some(bound.port()));
                }
            }
        }
        let state = AppState::new(store, egress, Arc::new(config));
        if state.store.backend() == flowhook_storage::Backend::Sqlite {
            // One process owns an embedded database, so anything still running
            // was cut off by the last stop (on PostgreSQL another server may be
            // running it): end it as interrupted, with its flow-end message.
            state
                .executions
                .end_silent(flowhook_storage::now_millis() + 1)
                .await;
            // Likewise, leases on deliveries and outbound calls belong to a
            // process that is gone.
            let released = state
                .store
                .release_leases(None)
                .await
                .map_err(|e| e.to_string())?;
            let calls = state
                .store
                .release_outbound_leases(None)
                .await
                .map_err(|e| e.to_string())?;
            if released + calls > 0 {
                tracing::warn!(
                    deliveries = released,
                    outbound_calls = calls,
                    "took back work claimed before the last stop"
                );
            }
            // And a report left building by the last process is built again
            // from its start, now rather than when its lease would expire.
            let rebuilt = state
                .store
                .release_report_leases(None)
                .await
                .map_err(|e| e.to_string())?;
            if rebuilt > 0 {
                tracing::warn!(rebuilt, "reports cut off by the last stop are built again");
            }
        }

        let router = crate::api::router(state.clone());
        Ok(Application {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.config.listen)
    }

    /// Serves and delivers until `shutdown` resolves. Then it stops accepting
    /// connections and gives requests and running executions (and requests
    /// they sent without waiting) the grace period (`shutdown_grace_seconds`)
    /// to finish; executions still running after it are ended as interrupted,
    /// with their flow-end messages. Last, delivery attempts in flight finish
    /// (or give their leases back) and counted short-link clicks are written.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let maintenance = tokio::spawn(self.state.executions.clone().maintain(stopped.clone()));
        let clicks = tokio::spawn(self.state.links.clone().run(stopped.clone()));
        let reports = tokio::spawn(self.state.reports.clone().run(stopped.clone()));
        let worker = tokio::spawn(self.state.deliveries.clone().run(stopped));
        // Scheduling stops as soon as the server starts stopping: a call not
        // started by then stays scheduled, for the next start or another server.
        let (stop_scheduling, scheduling) = tokio::sync::watch::channel(false);
        let stop_scheduling = Arc::new(stop_scheduling);
        let stop_scheduling_on_signal = stop_scheduling.clone();
        let scheduler = tokio::spawn(self.state.scheduler.clone().run(scheduling));
        tracing::info!(
            listen = %self.local_addr(),
            database = self.state.store.backend().as_str(),
            egress_allow = ?self.state.egress.policy().allowed_networks(),
            "flowhook serving"
        );
        let (signalled, mut signal) = tokio::sync::watch::channel(None);
        use axum::serve::ListenerExt as _;
        let listener =
            crate::connections::Limited::new(self.listener, self.state.config.max_connections)
                // Through `tap_io`, axum knows the peer address of our listener's
                // connections (`ConnectInfo<SocketAddr>`); the tap itself does nothing.
                .tap_io(|_| {});
        let serve = axum::serve(
            listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_scheduling_on_signal.send(true);
            let _ = signalled.send(Some(tokio::time::Instant::now()));
        })
        .into_future();
        let mut serve = std::pin::pin!(serve);
        let grace = self.state.config.shutdown_grace;
        let served = tokio::select! {
            served = &mut serve => served,
            _ = async {
                let at = signal.wait_for(Option::is_some).await.ok().and_then(|at| *at);
                if let Some(at) = at {
                    tokio::time::sleep_until(at + grace).await;
                }
            } => {
                tracing::warn!("requests still open at the end of the grace period are cut");
                Ok(())
            }
        };
        // No call starts past this point; one being started finishes first.
        let _ = stop_scheduling.send(true);
        let _ = scheduler.await;
        // What is left of the grace period (none if serving ended otherwise).
        let deadline = match *signal.borrow() {
            Some(at) => (at + grace).saturating_duration_since(tokio::time::Instant::now()),
            None => std::time::Duration::ZERO,
        };
        let executions = &self.state.executions;
        let left = executions.drain(deadline).await;
        if left > 0 {
            let ended = executions
                .interrupt_running(flowhook_engine::executions::SHUTDOWN_INTERRUPTED)
                .await;
            tracing::warn!(
                left,
                ended,
                grace_seconds = grace.as_secs(),
                "ended executions still running after the shutdown grace period"
            );
        }
        let _ = stop.send(true);
        let _ = worker.await;
        let _ = maintenance.await;
        let _ = clicks.await;
        let _ = reports.await;
        tracing::info!("flowhook stopped");
        served
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
