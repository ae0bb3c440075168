//! Support for tests of flowhook and of code built on it: fresh, isolated
//! databases. Not used by the server itself.
//!
//! PostgreSQL tests read `FLOWHOOK_TEST_DATABASE_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/postgres`). Each call creates a new database
//! on that server, so tests never see each other's rows. When the variable is not
//! set, the caller is told to skip, and a line says so on stderr.

use sqlx::Connection as _;

use crate::redact_url;

/// The environment variable naming the PostgreSQL server for tests.
pub const TEST_DATABASE_ENV: &str = "FLOWHOOK_TEST_DATABASE_URL";

/// A URL of a new, empty PostgreSQL database, or `None` (after printing why) when
/// `FLOWHOOK_TEST_DATABASE_URL` is not set. Under CI (`CI=true`) a missing
/// database is a failure, not a skip: CI must run every test.
pub async fn fresh_postgres_url(test: &str) -> Option<String> {
    let Ok(base) = std::env::var(TEST_DATABASE_ENV) else {
        skip_or_fail(&format!(
            "SKIPPED on PostgreSQL: {test} (set {TEST_DATABASE_ENV} to run it)"
        ));
        return None;
    };
    Some(fresh_postgres_url_from(&base).await)
}

/// Reports a test that cannot run here: on stderr, or as a panic under CI.
pub fn skip_or_fail(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{why}; under CI every test must run");
    }
    // Written to the process's stderr directly, not through `eprintln!`,
    // which the test harness captures and hides for passing tests.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{why}");
}

/// A URL of a new, empty database on the PostgreSQL server `base` names.
pub async fn fresh_postgres_url_from(base: &str) -> String {
    let now = crate::now_millis() / 1000;
    let name = format!("flowhook_t_{now}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(base)
        .await
        .unwrap_or_else(|e| panic!("{} is unusable: {e}", redact_url(base)));
    drop_stale_databases(&mut admin, now).await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    let _ = admin.close().await;
    replace_database(base, &name)
}

/// Test databases are named `flowhook_t_<unix seconds>_<random>`; those over two
/// hours old belong to runs long finished and are dropped (best effort), so
/// repeated test runs do not fill the server.
async fn drop_stale_databases(admin: &mut sqlx::PgConnection, now: i64) {
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'flowhook\\_t\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    else {
        return;
    };
    for name in names {
        let created = name
            .strip_prefix("flowhook_t_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|t| t.parse::<i64>().ok());
        if created.is_some_and(|t| now - t > 2 * 3600) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// `postgres://u@h:p/old?x` → `postgres://u@h:p/new?x`.
fn replace_database(url: &str, db: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (url, None),
    };
    let authority_start = main.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match main[authority_start..].find('/') {
        Some(slash) => &main[..authority_start + slash],
        None => main,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A URL for a SQLite database in a fresh temporary folder (kept alive by the
/// returned guard).
pub fn fresh_sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("flowhook.db").display())
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            super::replace_database("postgres://p@h:5432/postgres", "x"),
            "postgres://p@h:5432/x"
        );
        assert_eq!(
            super::replace_database("postgres://p@h", "x"),
            "postgres://p@h/x"
        );
        assert_eq!(
            super::replace_database("postgres://p@h/db?sslmode=disable", "x"),
            "postgres://p@h/x?sslmode=disable"
        );
    }
}
