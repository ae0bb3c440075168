//! The embedded backend: one SQLite file in WAL mode, driven by rusqlite.
//!
//! SQLite has one writer at a time, so flowhook gives it exactly one: a
//! dedicated **writer thread** owns the only writing connection. Callers send it
//! units of work over a channel; it runs everything queued in **one
//! transaction** (group commit), each unit inside its own savepoint so that one
//! failing unit rolls back only its own writes (a unit of one statement needs
//! none: SQLite undoes a failing statement by itself), then commits and answers
//! every caller. A caller is answered only after the commit that holds its writes.
//!
//! Under load the writer **lingers**: when its last group held more than one
//! unit, it committed less than [`BUSY_WITHIN`] ago and few units are waiting,
//! it waits [`LINGER`] for more before the next group, so that each commit
//! (and each page it writes to the WAL) serves more callers. A write after a
//! pause never waits.
//!
//! **Checkpoints** (copying the WAL back into the database file, with its
//! fsyncs) run on their own thread and connection, so the writer and the
//! callers it answers do not wait for them: the writer's WAL hook tells that
//! thread once the WAL holds [`CHECKPOINT_PAGES`] (SQLite's own default
//! threshold). The writer still checkpoints by itself when the WAL reaches
//! [`WRITER_CHECKPOINT_PAGES`]: under constant writes, the WAL restarts from
//! its beginning only after a checkpoint that no commit overtook, which only
//! the writer can run. So the WAL file grows to about 32 MiB under constant
//! writes and keeps that size.
//!
//! Reads run on a small pool of read-only connections on blocking threads; WAL
//! lets them run while the writer writes, and they see every committed write.
//!
//! There is no thread hop per statement: a unit of work crosses to the writer
//! once, however many statements it runs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::cache::Cache;
use crate::db::Database;
use crate::db::{BoxFuture, Conn, Row, Value, Work, Written};
use crate::{Backend, StoreError};

/// How SQLite makes a commit durable (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// WAL with `NORMAL`: a commit survives a crash of flowhook; a power loss
    /// may lose the last commits before a checkpoint (never corrupts).
    #[default]
    Normal,
    /// `FULL`: every commit is flushed to disk before callers are answered.
    Full,
}

impl Synchronous {
    pub fn parse(s: &str) -> Option<Synchronous> {
        match s.to_ascii_lowercase().as_str() {
            "normal" => Some(Synchronous::Normal),
            "full" => Some(Synchronous::Full),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
        }
    }
}

/// Most units of work committed in one transaction.
const MAX_GROUP: usize = 512;
/// Units of work waiting for the writer before senders wait too.
const QUEUE: usize = 4096;
/// Read-only connections (and reads running at once).
const READERS: usize = 4;
/// How long the writer waits for more units under load (see the module doc).
const LINGER: Duration = Duration::from_micros(500);
/// The writer lingers only while fewer units than this are already waiting…
const LINGER_BELOW: usize = 16;
/// … and only if its previous commit was this recent.
const BUSY_WITHIN: Duration = Duration::from_millis(2);
/// WAL size (in pages) at which the checkpoint thread is told to run.
const CHECKPOINT_PAGES: i32 = 1000;
/// Least time between two background checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL size (in pages) at which the writer checkpoints by itself.
const WRITER_CHECKPOINT_PAGES: i32 = 8192;

/// A connection and the statements it ran before (rusqlite's statement cache).
pub struct SqliteConn(Connection);

/// A unit of work for the writer thread: it runs inside the open transaction and
/// returns what answers its caller once the commit's outcome is known.
type Job = Box<dyn FnOnce(&mut SqliteConn) -> Answer + Send>;
/// Answers a caller; given the commit's error, if the commit failed.
type Answer = Box<dyn FnOnce(Option<&str>) + Send>;

/// The SQLite implementation of [`crate::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    readers: Arc<Readers>,
    /// One server owns the file, so its own writes are all the changes.
    cache: Arc<Cache>,
}

struct Readers {
    path: PathBuf,
    permits: Semaphore,
    idle: Mutex<Vec<SqliteConn>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `sqlite://PATH`, migrates it and
    /// starts its writer and checkpoint threads.
    pub async fn connect(url: &str, synchronous: Synchronous) -> Result<SqliteStore, StoreError> {
        let path = path_of(url)?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        let writer_path = path.clone();
        let (grown, wal_grown) = std::sync::mpsc::sync_channel(1);
        let opened = tokio::task::spawn_blocking(move || -> Result<_, StoreError> {
            if let Some(dir) = writer_path.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Corrupt(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let mut conn = open(&writer_path, false, synchronous)?;
            conn.exec_now("BEGIN IMMEDIATE", &[])?;
            match run_ready(Box::pin(crate::migrate::run(&mut conn, None))) {
                Ok(()) => conn.exec_now("COMMIT", &[])?,
                Err(e) => {
                    let _ = conn.exec_now("ROLLBACK", &[]);
                    return Err(e);
                }
            };
            // After each commit; it replaces SQLite's own auto-checkpoint.
            conn.0
                .wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages| {
                    if pages >= WRITER_CHECKPOINT_PAGES {
                        // Busy when the checkpoint thread is at it: then the
                        // next commit tries again. An error here would fail
                        // the commit's statement although it committed.
                        let _ = wal.checkpoint();
                    } else if pages >= CHECKPOINT_PAGES {
                        let _ = grown.try_send(());
                    }
                    Ok(())
                }))
                .map_err(db_error)?;
            Ok((conn, open(&writer_path, false, synchronous)?))
        })
        .await
        .map_err(|e| StoreError::Database(format!("opening the database failed: {e}")))??;
        let (writer, checkpointer) = opened;
        spawn_thread("sqlite-checkpoint", move || {
            checkpoint_loop(checkpointer, wal_grown)
        })?;
        spawn_thread("sqlite-writer", move || write_loop(writer, queue))?;
        Ok(SqliteStore {
            jobs,
            readers: Arc::new(Readers {
                path,
                permits: Semaphore::new(READERS),
                idle: Mutex::new(Vec::new()),
            }),
            cache: Arc::new(Cache::new(true)),
        })
    }
}

fn spawn_thread(name: &str, run: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(run)
        .map(drop)
        .map_err(|e| StoreError::Database(format!("cannot start the {name} thread: {e}")))
}

/// `sqlite://PATH` or `sqlite:PATH` (a `?…` suffix is ignored) → `PATH`.
fn path_of(url: &str) -> Result<PathBuf, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Corrupt(format!("`{url}` is not a sqlite:// URL")))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Corrupt(
            "the SQLite URL must name a file: sqlite://PATH".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

fn open(path: &Path, read_only: bool, synchronous: Synchronous) -> Result<SqliteConn, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_NO_MUTEX
        | if read_only {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
        };
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;
    let setup = || -> rusqlite::Result<()> {
        conn.busy_timeout(Duration::from_secs(10))?;
        // Plans never depend on bound values: otherwise a new `LIMIT $n` or a
        // partial index makes SQLite re-prepare the statement on each binding.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        conn.pragma_update(None, "foreign_keys", true)?;
        if !read_only {
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))?;
            conn.pragma_update(None, "synchronous", synchronous.as_str())?;
        }
        conn.set_prepared_statement_cache_capacity(128);
        Ok(())
    };
    setup().map_err(db_error)?;
    Ok(SqliteConn(conn))
}

/// The background checkpointer: when the writer's WAL hook says the WAL grew
/// past [`CHECKPOINT_PAGES`], at most every [`CHECKPOINT_EVERY`], copies what
/// it can of the WAL into the database file (`PASSIVE`: it never waits for,
/// nor blocks, the writer or readers). Ends with the writer.
fn checkpoint_loop(conn: SqliteConn, wal_grown: std::sync::mpsc::Receiver<()>) {
    while wal_grown.recv().is_ok() {
        if let Err(e) = conn
            .0
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "a WAL checkpoint failed");
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

/// The writer thread: takes the first waiting unit, then every unit that
/// arrives while it works (up to [`MAX_GROUP`]), commits them together and
/// answers them all. Ends when the store is dropped.
fn write_loop(mut conn: SqliteConn, mut queue: mpsc::Receiver<Job>) {
    let mut answers: Vec<Answer> = Vec::with_capacity(MAX_GROUP);
    let mut last_group = 0;
    let mut last_commit = std::time::Instant::now();
    while let Some(first) = queue.blocking_recv() {
        if last_group > 1 && last_commit.elapsed() < BUSY_WITHIN && queue.len() < LINGER_BELOW {
            std::thread::sleep(LINGER);
        }
        if let Err(e) = conn.exec_now("BEGIN IMMEDIATE", &[]) {
            // The unit is dropped unanswered: its caller is told the writer failed.
            tracing::error!(error = %e, "cannot begin a write transaction");
            drop(first);
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let mut next = Some(first);
        let mut lost = false;
        while let Some(job) = next.take() {
            answers.push(job(&mut conn));
            // Some errors (disk full, I/O) make SQLite roll the whole
            // transaction back by itself: then nothing of this group holds,
            // and no further unit may run outside a transaction.
            if conn.0.is_autocommit() {
                lost = true;
                break;
            }
            if answers.len() < MAX_GROUP {
                next = queue.try_recv().ok();
            }
        }
        let failed = if lost {
            tracing::error!(units = answers.len(), "SQLite rolled a group back");
            Some("the transaction was rolled back".to_owned())
        } else {
            match conn.exec_now("COMMIT", &[]) {
                Ok(_) => None,
                Err(e) => {
                    tracing::error!(error = %e, units = answers.len(), "a group commit failed");
                    let _ = conn.exec_now("ROLLBACK", &[]);
                    Some(e.to_string())
                }
            }
        };
        last_group = answers.len();
        last_commit = std::time::Instant::now();
        for answer in answers.drain(..) {
            answer(failed.as_deref());
        }
    }
}

/// Drives a future that never waits (rusqlite is synchronous) to its end.
fn run_ready<T>(mut future: BoxFuture<'_, Result<T, StoreError>>) -> Result<T, StoreError> {
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => result,
        Poll::Pending => Err(StoreError::Database(
            "a SQLite operation waited, which it never should".into(),
        )),
    }
}

impl SqliteConn {
    /// Runs `work` in a savepoint: its writes are kept if it succeeds and undone
    /// if it fails (or panics), without touching the rest of the group.
    fn in_savepoint<T>(&mut self, work: impl Work<SqliteConn, T>) -> Result<T, StoreError> {
        self.exec_now("SAVEPOINT unit", &[])?;
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_ready(work(&mut *self))))
                .unwrap_or_else(|_| {
                    Err(StoreError::Database("a storage operation panicked".into()))
                });
        if result.is_err() {
            // If even this fails, the unit's writes must not be committed:
            // rolling back the whole group is what is left.
            if let Err(e) = self.exec_now("ROLLBACK TO unit", &[]) {
                let _ = self.exec_now("ROLLBACK", &[]);
                return Err(e);
            }
        }
        self.exec_now("RELEASE unit", &[])?;
        result
    }

    fn prepare(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(db_error)?;
        // Placeholders are named `$N`; SQLite numbers them by first appearance.
        for i in 1..=stmt.parameter_count() {
            let n = stmt
                .parameter_name(i)
                .and_then(|name| name.strip_prefix('$'))
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| StoreError::Database(format!("bad placeholder {i} in {sql}")))?;
            let value = params
                .get(n - 1)
                .ok_or_else(|| StoreError::Database(format!("no value for ${n} in {sql}")))?;
            match value {
                Value::Int(v) => stmt.raw_bind_parameter(i, v),
                Value::Text(v) => stmt.raw_bind_parameter(i, v.as_deref()),
                Value::Bool(v) => stmt.raw_bind_parameter(i, v),
            }
            .map_err(db_error)?;
        }
        Ok(stmt)
    }

    fn exec_now(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(sql, params)?;
        Ok(stmt.raw_execute().map_err(db_error)? as u64)
    }

    fn query_now(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.prepare(sql, params)?;
        let columns: Arc<[String]> = stmt.column_names().map(str::to_owned).collect();
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
            let mut values = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                use rusqlite::types::ValueRef;
                values.push(match row.get_ref(i).map_err(db_error)? {
                    ValueRef::Null => Value::Text(None),
                    ValueRef::Integer(v) => Value::Int(Some(v)),
                    ValueRef::Text(t) => Value::Text(Some(String::from_utf8_lossy(t).into_owned())),
                    ValueRef::Real(_) | ValueRef::Blob(_) => {
                        return Err(StoreError::Corrupt(format!(
                            "column {} has a type flowhook never writes",
                            columns[i]
                        )));
                    }
                });
            }
            out.push(Row {
                columns: columns.clone(),
                values,
            });
        }
        Ok(out)
    }
}

impl Conn for SqliteConn {
    fn exec(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        std::future::ready(self.exec_now(sql, params))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        std::future::ready(self.query_now(sql, params))
    }

    fn batch(&mut self, sql: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(self.0.execute_batch(sql).map_err(db_error))
    }
}

fn db_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ffi;
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(e.to_string())
        }
        _ => StoreError::Database(e.to_string()),
    }
}

fn writer_gone() -> StoreError {
    StoreError::Database("the database writer stopped".into())
}

impl Database for SqliteStore {
    type Conn = SqliteConn;
    const KIND: Backend = Backend::Sqlite;

    fn cache(&self) -> &Cache {
        &self.cache
    }

    async fn announce_change(_: &mut SqliteConn) -> Result<(), StoreError> {
        Ok(())
    }

    fn read<T: Send + 'static>(
        &self,
        work: impl Work<SqliteConn, T>,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        let readers = self.readers.clone();
        async move {
            let _permit = readers.permits.acquire().await.map_err(|_| writer_gone())?;
            let pool = readers.clone();
            tokio::task::spawn_blocking(move || {
                let idle = pool.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
                let mut conn = match idle {
                    Some(conn) => conn,
                    None => open(&pool.path, true, Synchronous::Normal)?,
                };
                let result = run_ready(work(&mut conn));
                pool.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
                result
            })
            .await
            .map_err(|e| StoreError::Database(format!("a read failed: {e}")))?
        }
    }

    fn write<T: Send + 'static>(
        &self,
        work: impl Work<SqliteConn, T>,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        self.on_writer(move |conn| conn.in_savepoint(work))
    }

    /// One statement needs no savepoint: SQLite undoes a failing statement's
    /// own changes and nothing else, so it joins the group as it is.
    fn write_statement(
        &self,
        sql: String,
        params: Vec<Value>,
        returning: bool,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send {
        self.on_writer(move |conn| run_ready(Box::pin(conn.run(&sql, &params, returning))))
    }
}

impl SqliteStore {
    /// Runs `unit` on the writer thread inside the open group transaction;
    /// answers once the group's commit is known.
    fn on_writer<T: Send + 'static>(
        &self,
        unit: impl FnOnce(&mut SqliteConn) -> Result<T, StoreError> + Send + 'static,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        let jobs = self.jobs.clone();
        async move {
            let (reply, answer) = oneshot::channel();
            let job: Job = Box::new(move |conn: &mut SqliteConn| -> Answer {
                let result = unit(conn);
                Box::new(move |commit_failed: Option<&str>| {
                    let result = match commit_failed {
                        None => result,
                        Some(e) => Err(StoreError::Database(format!("commit failed: {e}"))),
                    };
                    let _ = reply.send(result);
                })
            });
            jobs.send(job).await.map_err(|_| writer_gone())?;
            answer.await.map_err(|_| writer_gone())?
        }
    }
}

#[async_trait::async_trait]
impl crate::Store for SqliteStore {
    fn backend(&self) -> crate::Backend {
        crate::Backend::Sqlite
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c: &mut SqliteConn| {
            Box::pin(async move { c.query("SELECT 1", &[]).await.map(drop) })
        })
        .await?;
        self.write(|c: &mut SqliteConn| {
            Box::pin(async move { c.query("SELECT 1", &[]).await.map(drop) })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_files() {
        assert_eq!(path_of("sqlite://a/b.db").unwrap().to_str(), Some("a/b.db"));
        assert_eq!(
            path_of("sqlite:x.db?mode=rwc").unwrap().to_str(),
            Some("x.db")
        );
        assert!(path_of("sqlite::memory:").is_err());
        assert!(path_of("sqlite://").is_err());
    }

    /// The database file alone, without its WAL, holds a commit once the
    /// checkpoint thread copied it: the commit grows the WAL past
    /// `CHECKPOINT_PAGES` and stays far below the writer's own threshold.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_checkpoint_thread_copies_commits_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flowhook.db");
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url, Synchronous::Normal)
            .await
            .unwrap();
        store
            .write(|c: &mut SqliteConn| {
                Box::pin(async move {
                    // About 2,000 pages of 4 KiB.
                    c.batch(
                        "CREATE TABLE probe (v TEXT);
                         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
                         INSERT INTO probe SELECT hex(randomblob(2500)) FROM n;",
                    )
                    .await
                })
            })
            .await
            .unwrap();
        let copy = dir.path().join("copy.db");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            std::fs::copy(&path, &copy).unwrap();
            let seen = rusqlite::Connection::open(&copy).and_then(|c| {
                c.query_row("SELECT count(*) FROM probe", [], |r| r.get::<_, i64>(0))
            });
            if seen.as_ref().ok() == Some(&1000) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the commit never reached the database file: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(store);
    }
}
