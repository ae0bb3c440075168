//! What the storage test binaries share: [`on_both!`], which runs a test on
//! SQLite and on PostgreSQL.

/// Defines `NAME::sqlite` and `NAME::postgres`, each running `body(store, url)`.
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = testing::fresh_sqlite_url(dir.path());
                let store = flowhook_storage::connect(&url).await.expect("sqlite store");
                ($body)(store, url).await;
            }
            #[tokio::test]
            async fn postgres() {
                let Some(url) = testing::fresh_postgres_url(stringify!($name)).await else {
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
