//! flowhook-storage: everything flowhook keeps, behind one [`Store`] trait with two
//! implementations, [`SqliteStore`] (embedded, the default) and [`PgStore`]
//! (several servers sharing one database).
//!
//! Layout: one file per concept (`accounts`, `agents`, `webhooks`, `outbound`, `reports`, …). Each declares its part
//! of the interface as a trait and implements it once, for every
//! [`db::Database`], so the SQL is written once and runs on both: SQLite through
//! rusqlite with one writer thread that commits in groups (`sqlite.rs`),
//! PostgreSQL through sqlx (`postgres.rs`). The few statements that differ
//! between the two databases are chosen by [`Store::backend`].
//!
//! Invariants:
//! - Both backends run the same migrations (`migrations/`), written in the portable
//!   subset of SQL: text ids, BIGINT unix milliseconds, BOOLEAN, JSON as text.
//! - Storage never sees a plaintext secret: passwords, signing secrets and
//!   bot tokens arrive sealed by the master key ([`Sealed`]) and leave the same
//!   way; a short-link token is kept as its hash plus a sealed copy; re-sealing
//!   everything ([`SealedStore`]) is done by a caller-supplied [`Resealer`].

use std::sync::Arc;

pub mod accounts;
pub mod agents;
mod batched;
pub mod bots;
mod cache;
pub mod dashboard;
mod db;
pub mod deliveries;
pub mod executions;
pub mod flows;
pub mod intents;
mod leases;
pub mod links;
mod migrate;
pub mod outbound;
mod postgres;
pub mod reports;
mod row_write;
pub mod sealed;
pub mod sessions;
mod sqlite;
pub mod testing;
pub mod webhooks;

pub use accounts::{AccountPatch, AccountRecord, AccountStore, NewAccount, ShortTokenRecord};
pub use agents::{AgentRecord, AgentStore, BreakFilter, BreakRecord};
pub use bots::{BotRecord, BotStore};
pub use dashboard::{DashboardCounts, DashboardStore, DestinationLatency, MinuteCount};
pub use deliveries::{
    AttemptOutcome, AttemptRecord, DeliveryFilter, DeliveryRecord, DeliveryStore, QueueStats,
};
pub use executions::{ExecutionFilter, ExecutionRecord, ExecutionStore};
pub use flows::{FlowRecord, FlowStore};
pub use intents::{IntentRecord, IntentStore};
pub use links::{LinkFilter, LinkRecord, LinkStore, NewLink};
pub use outbound::{
    OutboundBacklog, OutboundCallRecord, OutboundCallView, OutboundRequestRecord, OutboundStore,
    Stored,
};
pub use postgres::PgStore;
pub use reports::{ReportEnd, ReportPage, ReportRecord, ReportRow, ReportStore};
pub use sealed::{Resealed, Resealer, SealedField, SealedStore};
pub use sessions::SessionStore;
pub use sqlite::{SqliteStore, Synchronous};
pub use webhooks::{StoredAuth, WebhookRecord, WebhookStore};

/// The whole storage interface. Implemented by [`SqliteStore`] and [`PgStore`].
#[async_trait::async_trait]
pub trait Store:
    AccountStore
    + AgentStore
    + WebhookStore
    + FlowStore
    + ExecutionStore
    + DeliveryStore
    + DashboardStore
    + LinkStore
    + OutboundStore
    + BotStore
    + IntentStore
    + ReportStore
    + SealedStore
    + SessionStore
    + Send
    + Sync
    + 'static
{
    /// Which database this is, for logs and `/readyz`.
    fn backend(&self) -> Backend;
    /// A round trip to the database, for `/readyz`.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the text names the rule.
    #[error("{0}")]
    Conflict(String),
    /// The database holds something this version cannot read.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
}

/// A value sealed with the master key (see `flowhook_core::secret::MasterKey`).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub String);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealed(…)")
    }
}

/// Settings of a store.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOptions {
    /// SQLite's durability of a commit (ignored by PostgreSQL).
    pub synchronous: Synchronous,
}

/// Opens the store a database URL names: `sqlite://path` or `postgres://…`,
/// with default options.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    connect_with(url, StoreOptions::default()).await
}

/// Opens the store a database URL names: `sqlite://path` or `postgres://…`.
/// Creates the SQLite file and its folder if needed, and applies migrations.
pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteStore::connect(url, options.synchronous).await?,
        ))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url).await?))
    } else {
        Err(StoreError::Corrupt(format!(
            "unsupported database URL `{}`: use sqlite://PATH or postgres://…",
            redact_url(url)
        )))
    }
}

/// A database URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Now, in unix milliseconds: the time representation of every table.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
