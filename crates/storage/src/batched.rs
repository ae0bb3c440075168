//! Group commit on PostgreSQL: the hot single-row writes ([`RowWrite`]: an
//! execution's start, progress and end with its outbox row, a delivery
//! attempt with its record) of concurrent callers are written together, as
//! one statement over arrays (one commit), the way SQLite's writer thread
//! commits a group.
//!
//! The statement ([`RowWrite::batch`]) reads its rows from `unnest($1,
//! $2, …) WITH ORDINALITY`: `$i` holds the i-th value of every row, so one
//! statement serves a batch of any size. Each kind of statement has one
//! batcher task per store: it takes the first waiting row, then every row
//! that arrived while the previous batch was being written (up to
//! [`MAX_ROWS`]), without waiting for more, so a lone caller pays no delay.
//!
//! Promises:
//! - a caller is answered only after the statement holding its row
//!   committed (a single statement commits by itself), or failed;
//! - a row the database rejects fails only its own caller: when a batch of
//!   several rows is rejected (nothing of it was written), each row is
//!   written again alone and answered with its own outcome. A failure that is
//!   not the database's verdict (a lost connection) cannot say what committed,
//!   so every caller of the batch gets it, as a single write's caller would;
//! - two rows with the same key (the row they change) are never in one batch,
//!   so each caller learns whether *its* row changed the record.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use sqlx::postgres::{PgArguments, PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;
use crate::db::Value;
use crate::row_write::RowWrite;

/// Most rows written by one statement.
pub(crate) const MAX_ROWS: usize = 512;
/// Rows waiting for a batcher before callers wait too.
const QUEUE: usize = 4096;

/// A caller's row and where its answer goes.
struct Pending {
    row: Vec<Value>,
    answer: oneshot::Sender<Result<u64, StoreError>>,
}

/// The batchers of one store, one per statement, started on first use.
pub(crate) struct Batchers {
    pool: PgPool,
    queues: Mutex<HashMap<&'static str, mpsc::Sender<Pending>>>,
}

impl Batchers {
    pub(crate) fn new(pool: PgPool) -> Batchers {
        Batchers {
            pool,
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Writes `row` with the rows of other callers; how many records it
    /// changed (0 or 1), once committed.
    pub(crate) async fn write(
        &self,
        statement: &'static RowWrite,
        row: Vec<Value>,
    ) -> Result<u64, StoreError> {
        let queue = {
            let mut queues = self
                .queues
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let queue = queues
                .entry(statement.name)
                .or_insert_with(|| self.start(statement));
            // A batcher that stopped (it never should) is replaced.
            if queue.is_closed() {
                *queue = self.start(statement);
            }
            queue.clone()
        };
        if row.len() != statement.width {
            return Err(StoreError::Database(format!(
                "{}: a row of {} values for a statement of {}",
                statement.name,
                row.len(),
                statement.width
            )));
        }
        let (answer, answered) = oneshot::channel();
        let stopped = || StoreError::Database(format!("the {} batcher stopped", statement.name));
        queue
            .send(Pending { row, answer })
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

impl Batchers {
    /// Starts the batcher of `statement`; its queue.
    fn start(&self, statement: &'static RowWrite) -> mpsc::Sender<Pending> {
        let (queue, rows) = mpsc::channel(QUEUE);
        tokio::spawn(run(self.pool.clone(), statement, rows));
        queue
    }
}

/// A batcher: writes the rows of `statement` in batches until the store is
/// dropped (its queue closes).
async fn run(pool: PgPool, statement: &'static RowWrite, mut queue: mpsc::Receiver<Pending>) {
    // Rows put off because a row with the same key was in the batch, in order.
    let mut held: VecDeque<Pending> = VecDeque::new();
    loop {
        if held.is_empty() {
            match queue.recv().await {
                Some(first) => held.push_back(first),
                None => return,
            }
        }
        let mut batch = Vec::new();
        let mut keys = HashSet::new();
        let mut later = VecDeque::new();
        while batch.len() < MAX_ROWS {
            let Some(next) = held.pop_front().or_else(|| queue.try_recv().ok()) else {
                break;
            };
            if keys.insert(next.row.get(statement.key).cloned()) {
                batch.push(next);
            } else {
                later.push_back(next);
            }
        }
        // What was put off arrived before whatever is still held.
        later.extend(held);
        held = later;
        // Rows in key order, so that batches usually lock records in the
        // same order as each other; a deadlock that happens anyway is the
        // database's verdict on the batch, which is then written row by row.
        batch.sort_by(|a, b| a.row.get(statement.key).cmp(&b.row.get(statement.key)));
        write(&pool, statement, batch).await;
    }
}

/// Writes a batch and answers its callers.
async fn write(pool: &PgPool, statement: &'static RowWrite, batch: Vec<Pending>) {
    let rows: Vec<&[Value]> = batch.iter().map(|p| p.row.as_slice()).collect();
    match execute(pool, statement, &rows).await {
        Ok(changed) => {
            for (pending, changed) in batch.into_iter().zip(changed) {
                let _ = pending.answer.send(Ok(changed));
            }
        }
        Err(Failure::Rejected(e)) if batch.len() > 1 => {
            // Nothing of the batch was written: each row alone, so that only
            // the rows at fault fail (or none, when the batch lost a
            // deadlock with another writer).
            tracing::warn!(statement = statement.name, rows = batch.len(), error = %e, "a batch was rejected; writing its rows one by one");
            for pending in batch {
                let alone = execute(pool, statement, &[&pending.row])
                    .await
                    .map(|changed| changed.first().copied().unwrap_or(0))
                    .map_err(Failure::into_error);
                let _ = pending.answer.send(alone);
            }
        }
        Err(failure) => {
            let e = failure.into_error();
            for pending in batch {
                let _ = pending.answer.send(Err(same_error(&e)));
            }
        }
    }
}

/// Why a batch was not written.
enum Failure {
    /// The database refused the statement for its rows — bad data (SQLSTATE
    /// class 22), a constraint (23) or a lost deadlock (40) — and wrote
    /// nothing: some rows alone may succeed.
    Rejected(StoreError),
    /// Anything else (a timeout, the connection, the pool): every row would
    /// meet it again, and what committed may be unknown.
    Lost(StoreError),
}

impl Failure {
    fn from_sqlx(e: sqlx::Error) -> Failure {
        let rejected = match &e {
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|code| ["22", "23", "40"].iter().any(|c| code.starts_with(c))),
            _ => false,
        };
        let e = crate::postgres::db_error(e);
        if rejected {
            Failure::Rejected(e)
        } else {
            Failure::Lost(e)
        }
    }

    fn into_error(self) -> StoreError {
        match self {
            Failure::Rejected(e) | Failure::Lost(e) => e,
        }
    }
}

/// A copy of `e` for another caller.
fn same_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict(m) => StoreError::Conflict(m.clone()),
        StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
        StoreError::Database(m) => StoreError::Database(m.clone()),
    }
}

/// Runs `statement` over `rows` as one statement (committed when it returns);
/// for each row, how many records it changed.
async fn execute(
    pool: &PgPool,
    statement: &'static RowWrite,
    rows: &[&[Value]],
) -> Result<Vec<u64>, Failure> {
    let arguments = columns(rows).map_err(Failure::Rejected)?;
    // Planned anew for each batch (an unnamed statement), never with a plan
    // cached when the tables were small: a plan chosen for an empty
    // `executions` scans the partial index of running executions, whose
    // dead entries then grow with every execution until the table is
    // analyzed. Planning once per batch is cheap per row, and the planner
    // sees the batch's size.
    let query = sqlx::query_with::<Postgres, _>(&statement.batch, arguments).persistent(false);
    // An insert writes every row or fails; an update returns the ordinal of
    // each row that changed a record.
    if statement.is_insert {
        let done = query.execute(pool).await.map_err(Failure::from_sqlx)?;
        if done.rows_affected() != rows.len() as u64 {
            return Err(Failure::Lost(StoreError::Database(format!(
                "{} wrote {} of {} rows",
                statement.name,
                done.rows_affected(),
                rows.len()
            ))));
        }
        return Ok(vec![1; rows.len()]);
    }
    let returned = query.fetch_all(pool).await.map_err(Failure::from_sqlx)?;
    let mut changed = vec![0; rows.len()];
    for row in returned {
        let n: i64 = sqlx::Row::try_get(&row, 0).map_err(Failure::from_sqlx)?;
        if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| changed.get_mut(i)) {
            *slot = 1;
        }
    }
    Ok(changed)
}

/// The rows' values bound column by column: `$i` is an array of every row's
/// i-th value, typed by the values (a NULL keeps its type).
fn columns(rows: &[&[Value]]) -> Result<PgArguments, StoreError> {
    use sqlx::Arguments as _;
    let width = rows.first().map_or(0, |r| r.len());
    let mut arguments = PgArguments::default();
    for i in 0..width {
        let column = rows.iter().map(|row| row.get(i));
        let mismatch = || StoreError::Database(format!("the rows of a batch differ at ${}", i + 1));
        let added = match rows[0].get(i) {
            Some(Value::Int(_)) => arguments.add(
                column
                    .map(|v| match v {
                        Some(Value::Int(v)) => Some(*v),
                        _ => None,
                    })
                    .collect::<Option<Vec<Option<i64>>>>()
                    .ok_or_else(mismatch)?,
            ),
            Some(Value::Text(_)) => arguments.add(
                column
                    .map(|v| match v {
                        Some(Value::Text(v)) => Some(v.clone()),
                        _ => None,
                    })
                    .collect::<Option<Vec<Option<String>>>>()
                    .ok_or_else(mismatch)?,
            ),
            Some(Value::Bool(_)) => arguments.add(
                column
                    .map(|v| match v {
                        Some(Value::Bool(v)) => Some(*v),
                        _ => None,
                    })
                    .collect::<Option<Vec<Option<bool>>>>()
                    .ok_or_else(mismatch)?,
            ),
            None => return Err(mismatch()),
        };
        added.map_err(|e| StoreError::Database(format!("cannot bind ${}: {e}", i + 1)))?;
    }
    Ok(arguments)
}
