//! The one SQL interface both backends speak, so that every statement of every
//! concept (`accounts`, `flows`, …) is written once.
//!
//! - [`Value`] is a typed parameter or column: integers, text and booleans are
//!   all the schema uses (times are unix milliseconds, JSON is text). A NULL
//!   parameter keeps its type, because PostgreSQL must know it.
//! - [`Conn`] runs statements on one connection (inside a transaction when the
//!   backend's `write` opened one). SQL uses `$1`, `$2`, … placeholders on both.
//! - [`Database`] runs a unit of work: `read` on a reading connection, `write` in a
//!   transaction that is committed before the caller is answered.
//!
//! Work is passed as a closure that owns its inputs and borrows the connection
//! for the duration of a future ([`Work`]). On SQLite the future completes
//! without ever waiting (rusqlite is synchronous), so it runs on the writer
//! thread or a reading thread; on PostgreSQL it is awaited on the runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::StoreError;

/// A boxed future that may borrow a connection for `'c`.
pub(crate) type BoxFuture<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// A unit of work on a connection.
pub(crate) trait Work<C, T>:
    for<'c> FnOnce(&'c mut C) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static
{
}

impl<C, T, F> Work<C, T> for F where
    F: for<'c> FnOnce(&'c mut C) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static
{
}

/// A parameter or column value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
}

impl Value {
    pub(crate) fn is_null(&self) -> bool {
        matches!(
            self,
            Value::Int(None) | Value::Text(None) | Value::Bool(None)
        )
    }

    /// A NULL of the same type as `self`.
    pub(crate) fn null_like(&self) -> Value {
        match self {
            Value::Int(_) => Value::Int(None),
            Value::Text(_) => Value::Text(None),
            Value::Bool(_) => Value::Bool(None),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Value {
        Value::Int(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(Some(v))
    }
}
impl From<Option<bool>> for Value {
    fn from(v: Option<bool>) -> Value {
        Value::Bool(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(Some(v))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(Some(v.clone()))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(Some(v.to_owned()))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Value {
        Value::Text(v)
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Value {
        Value::Text(v.map(str::to_owned))
    }
}
impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Value {
        Value::Text(v.clone())
    }
}

/// `params![a, b, …]`: a `Vec<Value>` of anything convertible.
macro_rules! params {
    // Owned (from an array, so clippy sees no needless `vec!`), to move
    // into a unit of work; borrowed in place at times.
    ($($v:expr),* $(,)?) => { Vec::<$crate::db::Value>::from([$($crate::db::Value::from($v)),*]) };
}
pub(crate) use params;

/// One result row, with its column names.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) columns: Arc<[String]>,
    pub(crate) values: Vec<Value>,
}

impl Row {
    /// The value of column `name`, converted; a missing column or a value of
    /// another type is `Corrupt`.
    pub(crate) fn get<T: FromValue>(&self, name: &str) -> Result<T, StoreError> {
        let i = self
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {name}")))?;
        self.at(i)
    }

    /// The value of the `i`-th column, converted.
    pub(crate) fn at<T: FromValue>(&self, i: usize) -> Result<T, StoreError> {
        let value = self
            .values
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {i}")))?;
        T::from_value(value).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "column {} holds {value:?}, not {}",
                self.columns.get(i).map(String::as_str).unwrap_or("?"),
                std::any::type_name::<T>()
            ))
        })
    }
}

/// Conversion out of a column value.
pub(crate) trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for Option<i64> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(b.map(i64::from)),
            Value::Text(None) => Some(None),
            Value::Text(Some(_)) => None,
        }
    }
}
impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<Self> {
        Option::<i64>::from_value(v).flatten()
    }
}
impl FromValue for Option<bool> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Bool(b) => Some(*b),
            // SQLite keeps booleans as 0 and 1.
            Value::Int(i) => Some(i.map(|i| i != 0)),
            Value::Text(None) => Some(None),
            Value::Text(Some(_)) => None,
        }
    }
}
impl FromValue for bool {
    fn from_value(v: &Value) -> Option<Self> {
        Option::<bool>::from_value(v).flatten()
    }
}
impl FromValue for Option<String> {
    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Text(t) => Some(t.clone()),
            Value::Int(None) | Value::Bool(None) => Some(None),
            _ => None,
        }
    }
}
impl FromValue for String {
    fn from_value(v: &Value) -> Option<Self> {
        Option::<String>::from_value(v).flatten()
    }
}

/// What is kept as text and parsed on the way out — ids, names, codes: a
/// value that does not parse is `Corrupt`, naming its column.
macro_rules! parsed_from_text {
    ($($t:ty),* $(,)?) => {$(
        impl FromValue for $t {
            fn from_value(v: &Value) -> Option<Self> {
                match v {
                    Value::Text(Some(t)) => <$t>::parse(t),
                    _ => None,
                }
            }
        }
        impl FromValue for Option<$t> {
            fn from_value(v: &Value) -> Option<Self> {
                match v {
                    Value::Text(Some(t)) => <$t>::parse(t).map(Some),
                    other => other.is_null().then_some(None),
                }
            }
        }
    )*};
}

parsed_from_text!(
    flowhook_core::ids::AccountId,
    flowhook_core::ids::AgentId,
    flowhook_core::ids::DeliveryId,
    flowhook_core::ids::ExecutionId,
    flowhook_core::ids::FlowId,
    flowhook_core::ids::OutboundCallId,
    flowhook_core::ids::OutboundRequestId,
    flowhook_core::ids::ReportId,
    flowhook_core::ids::WebhookId,
    flowhook_core::bots::BotId,
    flowhook_core::http::BodyType,
    flowhook_core::http::HttpMethod,
    flowhook_core::intents::IntentName,
    flowhook_core::links::ShortCode,
);

/// Statements on one connection. Placeholders are `$1`, `$2`, …; a unique
/// violation is reported as [`StoreError::Conflict`] with the database's text,
/// which callers replace with their own (see [`conflict_means`]).
pub(crate) trait Conn: Send {
    /// Runs a statement that returns no rows; how many rows it changed.
    fn exec(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Runs a statement that returns rows (a `SELECT`, or a write `RETURNING`).
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send;
    /// Runs several statements without parameters (migrations).
    fn batch(&mut self, sql: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Runs one statement, keeping its rows when `returning`.
    fn run(
        &mut self,
        sql: &str,
        params: &[Value],
        returning: bool,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send {
        async move {
            Ok(if returning {
                let rows = self.query(sql, params).await?;
                Written {
                    changed: rows.len() as u64,
                    rows,
                }
            } else {
                Written {
                    changed: self.exec(sql, params).await?,
                    rows: Vec::new(),
                }
            })
        }
    }

    /// The first row, if any.
    fn query_opt(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<Option<Row>, StoreError>> + Send {
        async move { Ok(self.query(sql, params).await?.into_iter().next()) }
    }

    /// The first row, if any, read by `from_row`.
    fn query_opt_as<T: Send>(
        &mut self,
        sql: &str,
        params: &[Value],
        from_row: fn(&Row) -> Result<T, StoreError>,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send {
        async move {
            self.query_opt(sql, params)
                .await?
                .map(|r| from_row(&r))
                .transpose()
        }
    }
}

/// Replaces the database's text of a unique violation by what it means.
pub(crate) fn conflict_means(meaning: &'static str) -> impl Fn(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(meaning.to_owned()),
        other => other,
    }
}

/// Runs one statement as its own unit of work; how many rows it changed.
pub(crate) async fn write_one<D: Database>(
    db: &D,
    sql: impl Into<String>,
    params: Vec<Value>,
) -> Result<u64, StoreError> {
    db.write_statement(sql.into(), params, false)
        .await
        .map(|done| done.changed)
}

/// What one statement written by [`Database::write_statement`] did.
pub(crate) struct Written {
    pub(crate) changed: u64,
    pub(crate) rows: Vec<Row>,
}

/// [`write_one`] for a statement on accounts, flows or webhooks.
pub(crate) async fn write_config_one<D: Database>(
    db: &D,
    sql: &'static str,
    params: Vec<Value>,
) -> Result<u64, StoreError> {
    write_config(db, move |c| {
        Box::pin(async move { c.exec(sql, &params).await })
    })
    .await
}

/// Runs a write to what the cache holds (accounts, flows, webhooks): the
/// change is announced to other servers in the same transaction, and this
/// server's cache is emptied once it committed. Every such write goes here.
///
/// It runs as its own task, so a caller that stops waiting (a request cut by
/// its deadline or its client) cannot skip the emptying after a commit that
/// happens anyway.
pub(crate) async fn write_config<D: Database, T: Send + 'static>(
    db: &D,
    work: impl Work<D::Conn, T>,
) -> Result<T, StoreError> {
    let db = db.clone();
    tokio::spawn(async move {
        let result = db
            .write(move |c| {
                Box::pin(async move {
                    let value = work(&mut *c).await?;
                    D::announce_change(c).await?;
                    Ok(value)
                })
            })
            .await;
        db.cache().clear();
        result
    })
    .await
    .map_err(|e| StoreError::Database(format!("a configuration write stopped: {e}")))?
}

/// A database: where units of work run.
pub(crate) trait Database: Clone + Send + Sync + 'static {
    type Conn: Conn;
    /// Which database this is, for the few statements that differ.
    const KIND: crate::Backend;
    /// This store's cache of accounts, flows and webhooks.
    fn cache(&self) -> &crate::cache::Cache;
    /// Tells other servers sharing the database, on commit, that cached
    /// records changed.
    fn announce_change(c: &mut Self::Conn) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Runs `work` on a connection for reading.
    fn read<T: Send + 'static>(
        &self,
        work: impl Work<Self::Conn, T>,
    ) -> impl Future<Output = Result<T, StoreError>> + Send;
    /// Runs `work` in a transaction; answers after the transaction committed
    /// (an error from `work` rolls back what it wrote, and only that).
    fn write<T: Send + 'static>(
        &self,
        work: impl Work<Self::Conn, T>,
    ) -> impl Future<Output = Result<T, StoreError>> + Send;
    /// Reads the first row of one query, if any, by `from_row`.
    fn read_opt<T: Send + 'static>(
        &self,
        sql: String,
        params: Vec<Value>,
        from_row: fn(&Row) -> Result<T, StoreError>,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send {
        self.read(move |c| Box::pin(async move { c.query_opt_as(&sql, &params, from_row).await }))
    }
    /// Runs one statement, atomic by itself, committed before the answer; with
    /// `returning`, its rows are kept. The default joins [`Database::write`];
    /// PostgreSQL runs it without BEGIN and COMMIT, two round trips fewer.
    fn write_statement(
        &self,
        sql: String,
        params: Vec<Value>,
        returning: bool,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send {
        self.write(move |c| Box::pin(async move { c.run(&sql, &params, returning).await }))
    }
    /// Writes one row of a [`RowWrite`](crate::row_write::RowWrite), committed
    /// before the answer; how many records it changed (0 or 1). By default
    /// (SQLite, whose writer commits in groups already) the row's statement,
    /// then its follow-up insert if the row changed a record; PostgreSQL
    /// writes it together with other callers' rows.
    fn write_row(
        &self,
        statement: &'static crate::row_write::RowWrite,
        row: Vec<Value>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        async move {
            let Some(then) = statement.then_for(&row) else {
                return Ok(self
                    .write_statement(statement.sql.clone(), row, false)
                    .await?
                    .changed);
            };
            self.write(move |c| {
                Box::pin(async move {
                    let changed = c.exec(&statement.sql, &row).await?;
                    if changed > 0 {
                        c.exec(then, &row).await?;
                    }
                    Ok(changed)
                })
            })
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowhook_core::ids::{AccountId, WebhookId};

    #[test]
    fn ids_are_parsed_out_of_their_columns() {
        let id = AccountId::generate();
        let row = Row {
            columns: ["account_id", "webhook_id", "broken_id"]
                .map(str::to_owned)
                .into(),
            values: vec![
                Value::from(id.to_string()),
                Value::Text(None),
                Value::from("not-an-id"),
            ],
        };
        assert_eq!(row.get::<AccountId>("account_id").unwrap(), id);
        assert_eq!(row.get::<Option<WebhookId>>("webhook_id").unwrap(), None);
        assert!(
            row.get::<WebhookId>("webhook_id").is_err(),
            "NULL is not an id"
        );
        let Err(StoreError::Corrupt(e)) = row.get::<AccountId>("broken_id") else {
            panic!("a value that is not an id is corrupt");
        };
        assert!(e.contains("broken_id"), "{e}");
    }
}
