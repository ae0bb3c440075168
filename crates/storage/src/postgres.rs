//! The shared backend: PostgreSQL through sqlx, for several `flowhook serve`
//! processes on one database. A `write` is one transaction; migrations take an
//! advisory lock so that servers starting together do not race to create the
//! schema.

use std::sync::Arc;

use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::{Column as _, Row as _, TypeInfo as _};

use crate::db::{Conn, Database, Row, Value, Work};
use crate::{Backend, StoreError};

/// The PostgreSQL implementation of [`crate::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// A pooled connection, inside a transaction when it writes.
pub enum PgConn {
    Plain(sqlx::pool::PoolConnection<Postgres>),
    Tx(sqlx::Transaction<'static, Postgres>),
}

/// An arbitrary constant naming flowhook's migration lock.
const MIGRATION_LOCK: &str = "SELECT pg_advisory_xact_lock(7418529630125)";

impl PgStore {
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(db_error)?;
        let store = PgStore { pool };
        store
            .write(|c: &mut PgConn| Box::pin(crate::migrate::run(c, Some(MIGRATION_LOCK))))
            .await?;
        Ok(store)
    }
}

impl PgConn {
    fn raw(&mut self) -> &mut PgConnection {
        match self {
            PgConn::Plain(c) => c,
            PgConn::Tx(t) => t,
        }
    }
}

fn bind<'q>(
    sql: &'q str,
    params: &'q [Value],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    params
        .iter()
        .fold(sqlx::query(sql), |query, value| match value {
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.as_deref()),
            Value::Bool(v) => query.bind(*v),
        })
}

fn decode(rows: Vec<PgRow>) -> Result<Vec<Row>, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(Vec::new());
    };
    let columns: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let kinds: Vec<String> = first
        .columns()
        .iter()
        .map(|c| c.type_info().name().to_owned())
        .collect();
    rows.iter()
        .map(|row| {
            let values = kinds
                .iter()
                .enumerate()
                .map(|(i, kind)| {
                    Ok(match kind.as_str() {
                        "INT8" => Value::Int(row.try_get(i).map_err(db_error)?),
                        "INT4" => Value::Int(
                            row.try_get::<Option<i32>, _>(i)
                                .map_err(db_error)?
                                .map(i64::from),
                        ),
                        "INT2" => Value::Int(
                            row.try_get::<Option<i16>, _>(i)
                                .map_err(db_error)?
                                .map(i64::from),
                        ),
                        "BOOL" => Value::Bool(row.try_get(i).map_err(db_error)?),
                        "TEXT" | "VARCHAR" | "NAME" | "BPCHAR" => {
                            Value::Text(row.try_get(i).map_err(db_error)?)
                        }
                        other => {
                            return Err(StoreError::Corrupt(format!(
                                "column {} has type {other}, which flowhook never writes",
                                columns[i]
                            )));
                        }
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Row {
                columns: columns.clone(),
                values,
            })
        })
        .collect()
}

fn db_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        _ => StoreError::Database(e.to_string()),
    }
}

impl Conn for PgConn {
    async fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let done = bind(sql, params)
            .execute(self.raw())
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        decode(
            bind(sql, params)
                .fetch_all(self.raw())
                .await
                .map_err(db_error)?,
        )
    }

    async fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        // A plain string runs as a simple query: several statements at once.
        sqlx::Executor::execute(self.raw(), sql)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

impl Database for PgStore {
    type Conn = PgConn;
    const KIND: Backend = Backend::Postgres;

    async fn read<T: Send + 'static>(&self, work: impl Work<PgConn, T>) -> Result<T, StoreError> {
        let mut conn = PgConn::Plain(self.pool.acquire().await.map_err(db_error)?);
        work(&mut conn).await
    }

    async fn write<T: Send + 'static>(&self, work: impl Work<PgConn, T>) -> Result<T, StoreError> {
        let mut conn = PgConn::Tx(self.pool.begin().await.map_err(db_error)?);
        let result = work(&mut conn).await;
        let PgConn::Tx(tx) = conn else {
            unreachable!("a write runs in a transaction")
        };
        match result {
            Ok(value) => {
                tx.commit().await.map_err(db_error)?;
                Ok(value)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }
}

#[async_trait::async_trait]
impl crate::Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
