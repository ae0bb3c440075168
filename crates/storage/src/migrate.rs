//! Schema migrations: one ordered list of SQL files, the same for SQLite and
//! PostgreSQL, applied at start-up.
//!
//! Promises: each migration runs once, inside a transaction, in order; the applied
//! versions are recorded in `flowhook_migrations`. A database that has a version
//! this binary does not know (a newer flowhook ran on it) is refused rather than
//! used with a schema we do not understand.

use crate::db::{Conn, params};
use crate::{StoreError, now_millis};

/// `(version, name, sql)`, in order. Append only: never edit a released file.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "accounts_webhooks",
        include_str!("../migrations/0001_accounts_webhooks.sql"),
    ),
    (
        2,
        "flows_executions",
        include_str!("../migrations/0002_flows_executions.sql"),
    ),
    (
        3,
        "deliveries",
        include_str!("../migrations/0003_deliveries.sql"),
    ),
    (
        4,
        "execution_heartbeats",
        include_str!("../migrations/0004_execution_heartbeats.sql"),
    ),
    (
        5,
        "running_index",
        include_str!("../migrations/0005_running_index.sql"),
    ),
    (6, "agents", include_str!("../migrations/0006_agents.sql")),
    (
        7,
        "short_links_bots",
        include_str!("../migrations/0007_short_links_bots.sql"),
    ),
    (
        8,
        "outbound",
        include_str!("../migrations/0008_outbound.sql"),
    ),
    (9, "reports", include_str!("../migrations/0009_reports.sql")),
    (
        10,
        "intents",
        include_str!("../migrations/0010_intents.sql"),
    ),
    (
        11,
        "revoked_sessions",
        include_str!("../migrations/0011_revoked_sessions.sql"),
    ),
];

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS flowhook_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Applies pending migrations, inside the caller's transaction; `lock` (a
/// statement) is taken first, so that servers starting together wait for each
/// other instead of racing.
pub(crate) async fn run<C: Conn>(c: &mut C, lock: Option<&str>) -> Result<(), StoreError> {
    if let Some(lock) = lock {
        c.exec(lock, &[]).await?;
    }
    c.batch(CREATE_TABLE).await?;
    let applied: Vec<i64> = c
        .query("SELECT version FROM flowhook_migrations", &[])
        .await?
        .iter()
        .map(|r| r.at::<i64>(0))
        .collect::<Result<_, _>>()?;
    let known = MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0);
    if let Some(v) = applied.iter().find(|v| **v > known) {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {v}, newer than this flowhook knows ({known}); upgrade flowhook"
        )));
    }
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tracing::info!(version, name, "applying migration");
        c.batch(sql).await?;
        c.exec(
            "INSERT INTO flowhook_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &params![*version, *name, now_millis()],
        )
        .await?;
    }
    Ok(())
}
