//! Schema migrations: one ordered list of SQL files, the same for SQLite and
//! PostgreSQL, applied at start-up.
//!
//! Promises: each migration runs once, inside a transaction, in order; the applied
//! versions are recorded in `flowhook_migrations`. A database that has a version
//! this binary does not know (a newer flowhook ran on it) is refused rather than
//! used with a schema we do not understand.

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
];

pub(crate) const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS flowhook_migrations (
    version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// Applies pending migrations on one backend. A macro, not a generic function,
/// because sqlx's generic executor bounds would hide the SQL behind trait noise;
/// each backend gets the same code with its concrete types.
macro_rules! run_migrations {
    ($conn:expr, $lock_sql:expr) => {{
        use sqlx::Row as _;
        let conn = $conn;
        sqlx::raw_sql(crate::migrate::CREATE_TABLE)
            .execute(&mut *conn)
            .await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        if let Some(lock) = $lock_sql {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        let applied: Vec<i64> = sqlx::query("SELECT version FROM flowhook_migrations")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()?;
        let known = crate::migrate::MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0);
        if let Some(v) = applied.iter().find(|v| **v > known) {
            return Err(crate::StoreError::Corrupt(format!(
                "the database has schema version {v}, newer than this flowhook knows ({known}); upgrade flowhook"
            )));
        }
        for (version, name, sql) in crate::migrate::MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            tracing::info!(version, name, "applying migration");
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO flowhook_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(version)
                .bind(name)
                .bind(crate::now_millis())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok::<(), crate::StoreError>(())
    }};
}
pub(crate) use run_migrations;
