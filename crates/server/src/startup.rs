//! Building and running the server: connect storage, build the egress client and
//! state, bind the listener. [`Application::build`] binds before serving, so tests
//! can ask for port 0 and read the real port.

use std::net::SocketAddr;
use std::sync::Arc;

use flowhook_engine::egress::{Egress, EgressConfig, EgressPolicy};

use crate::config::Config;
use crate::state::AppState;

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
        let options = flowhook_storage::StoreOptions {
            synchronous: config.sqlite_synchronous,
        };
        let store = flowhook_storage::connect_with(&config.database_url, options)
            .await
            .map_err(|e| {
                format!(
                    "cannot open the database {}: {e}",
                    flowhook_storage::redact_url(&config.database_url)
                )
            })?;
        crate::sealing::migrate_at_start(&*store, &config.master_key).await?;
        let egress = Egress::new(EgressConfig {
            policy: EgressPolicy::new(config.egress_allow_cidrs.clone()),
            ..EgressConfig::default()
        })
        .map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        if store.backend() == flowhook_storage::Backend::Sqlite {
            // One process owns an embedded database, so anything still running
            // was cut off by the last stop. (On PostgreSQL another server may be
            // running it.)
            let interrupted = store
                .fail_interrupted(flowhook_storage::now_millis())
                .await
                .map_err(|e| e.to_string())?;
            if interrupted > 0 {
                tracing::warn!(
                    interrupted,
                    "marked executions cut off by the last stop as failed"
                );
            }
            // Likewise, leases on deliveries belong to a process that is gone.
            let released = store
                .release_leases(None)
                .await
                .map_err(|e| e.to_string())?;
            if released > 0 {
                tracing::warn!(
                    released,
                    "took back deliveries claimed before the last stop"
                );
            }
        }

        let state = AppState::new(store, egress, Arc::new(config));
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

    /// Serves and delivers until `shutdown` resolves; then finishes requests in
    /// flight, lets delivery attempts in flight finish (or gives their leases
    /// back), and returns.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let maintenance = tokio::spawn(self.state.executions.clone().maintain(stopped.clone()));
        let worker = tokio::spawn(self.state.deliveries.clone().run(stopped));
        tracing::info!(
            listen = %self.local_addr(),
            database = self.state.store.backend().as_str(),
            egress_allow = ?self.state.egress.policy().allowed_networks(),
            "flowhook serving"
        );
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let _ = stop.send(true);
        let _ = worker.await;
        let _ = maintenance.await;
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
