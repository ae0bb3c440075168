//! The shared backend: PostgreSQL, for several `flowhook serve` processes on one
//! database. Migrations take an advisory lock so that servers starting together
//! do not race to create the schema.

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::{Backend, StoreError};

/// The PostgreSQL implementation of [`crate::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// An arbitrary constant naming flowhook's migration lock.
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7418529630125)";

impl PgStore {
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await?;
        {
            let mut conn = pool.acquire().await?;
            crate::migrate::run_migrations!(&mut *conn, Some(MIGRATION_LOCK))?;
        }
        Ok(PgStore { pool })
    }

    pub(crate) fn writer(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn reader(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait::async_trait]
impl crate::Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
