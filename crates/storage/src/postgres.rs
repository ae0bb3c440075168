//! The shared backend: PostgreSQL through sqlx, for several `flowhook serve`
//! processes on one database. A `write` is one transaction; migrations take an
//! advisory lock so that servers starting together do not race to create the
//! schema. The hot single-row writes of concurrent callers are committed
//! together ([`crate::batched`]).

use std::sync::Arc;

use sqlx::postgres::{PgConnection, PgListener, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::{Column as _, Row as _, TypeInfo as _};
use tokio::sync::oneshot;

use crate::batched::Batchers;
use crate::cache::Cache;
use crate::db::{Conn, Database, Row, Value, Work, Written};
use crate::row_write::RowWrite;
use crate::{Backend, StoreError};

/// The PostgreSQL implementation of [`crate::Store`].
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    cache: Arc<Cache>,
    batchers: Arc<Batchers>,
    /// Dropped with the last clone of the store, which stops the listener.
    _listening: Arc<oneshot::Sender<()>>,
}

/// The channel on which servers announce changes of cached records.
const CHANGES: &str = "flowhook_cache";
/// How long `connect` waits for the change listener before starting without
/// a cache (it keeps trying in the background).
const LISTENER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

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
        let cache = Arc::new(Cache::new(false));
        let (stop, stopped) = oneshot::channel();
        let (ready, listening) = oneshot::channel();
        tokio::spawn(listen(pool.clone(), cache.clone(), ready, stopped));
        if tokio::time::timeout(LISTENER_WAIT, listening)
            .await
            .is_err()
        {
            tracing::warn!("starting without a cache until the change listener connects");
        }
        let store = PgStore {
            batchers: Arc::new(Batchers::new(pool.clone())),
            pool,
            cache,
            _listening: Arc::new(stop),
        };
        store
            .write(|c: &mut PgConn| Box::pin(crate::migrate::run(c, Some(MIGRATION_LOCK))))
            .await?;
        Ok(store)
    }
}

/// Empties `cache` whenever another server (or this one) announces a change;
/// while not listening, the cache stores nothing. Says `ready` once it first
/// listens; reconnects until `stop`.
async fn listen(
    pool: PgPool,
    cache: Arc<Cache>,
    ready: oneshot::Sender<()>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut ready = Some(ready);
    // This listener's own channel, for its pings.
    let ping = format!("flowhook_ping_{}", uuid::Uuid::new_v4().simple());
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen_all([CHANGES, ping.as_str()]).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match connected.await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for cache changes; retrying");
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                }
            }
        };
        cache.set_live(true);
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        // A connection can die without a word (a failover, a partition): the
        // listener then looks healthy while missing every change. So it pings
        // itself through the pool; no echo within a round means it is deaf.
        let mut rounds = tokio::time::interval(PING_EVERY);
        let mut unanswered = false;
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = rounds.tick() => {
                    if unanswered {
                        tracing::warn!("the cache-change listener stopped hearing; reconnecting");
                        cache.set_live(false);
                        break;
                    }
                    unanswered = sqlx::query("SELECT pg_notify($1, '')")
                        .bind(&ping)
                        .execute(&pool)
                        .await
                        .is_ok();
                }
                note = listener.try_recv() => match note {
                    Ok(Some(n)) if n.channel() == ping => unanswered = false,
                    Ok(Some(_)) => cache.clear(),
                    Ok(None) | Err(_) => {
                        tracing::warn!("lost the cache-change listener; reconnecting");
                        cache.set_live(false);
                        break;
                    }
                },
            }
        }
    }
}

/// How often the change listener checks that it still hears.
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

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

pub(crate) fn db_error(e: sqlx::Error) -> StoreError {
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

    fn cache(&self) -> &Cache {
        &self.cache
    }

    async fn announce_change(c: &mut PgConn) -> Result<(), StoreError> {
        c.exec(&format!("NOTIFY {CHANGES}"), &[]).await.map(drop)
    }

    async fn read<T: Send + 'static>(&self, work: impl Work<PgConn, T>) -> Result<T, StoreError> {
        let mut conn = PgConn::Plain(self.pool.acquire().await.map_err(db_error)?);
        work(&mut conn).await
    }

    async fn write_statement(
        &self,
        sql: String,
        params: Vec<Value>,
        returning: bool,
    ) -> Result<Written, StoreError> {
        let mut conn = PgConn::Plain(self.pool.acquire().await.map_err(db_error)?);
        conn.run(&sql, &params, returning).await
    }

    async fn write_row(
        &self,
        statement: &'static RowWrite,
        row: Vec<Value>,
    ) -> Result<u64, StoreError> {
        self.batchers.write(statement, row).await
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
