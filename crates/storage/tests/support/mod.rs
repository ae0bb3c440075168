//! What the storage test files share: [`on_both!`], which runs one test on
//! SQLite and on PostgreSQL.

/// Defines `NAME::sqlite` and `NAME::postgres`, each running `body(store, url)`
/// on a fresh database (the PostgreSQL half is skipped, or fails under CI,
/// when `FLOWHOOK_TEST_DATABASE_URL` is not set).
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = flowhook_storage::testing::fresh_sqlite_url(dir.path());
                let store = flowhook_storage::connect(&url).await.expect("sqlite store");
                ($body)(store, url).await;
            }
            #[tokio::test]
            async fn postgres() {
                let Some(url) =
                    flowhook_storage::testing::fresh_postgres_url(stringify!($name)).await
                else {
                    return;
                };
                let store = flowhook_storage::connect(&url)
                    .await
                    .expect("postgres store");
                ($body)(store, url).await;
            }
        }
    };
}
