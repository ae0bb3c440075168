//! The hot single-row writes — an execution's start, progress and end (with
//! its outbox row), a delivery attempt (with its record) — each written once,
//! in the SQL both databases speak, with `$n` placeholders.
//!
//! SQLite's writer runs a [`RowWrite`] row by row inside its group commit.
//! PostgreSQL runs the rows of concurrent callers as one statement over
//! arrays (`batched.rs`), made from the same text by [`RowWrite::batch_sql`]:
//! the rows come from `unnest($1, …, $n) WITH ORDINALITY AS b(p1, …, pn, n)`,
//! and `$k` becomes `b.pk` (the `p` keeps a row's values apart from the
//! table's columns of the same name).

use std::sync::OnceLock;

use crate::db::Value;

/// A single-row `INSERT … VALUES (…)`, or a guarded `UPDATE … SET … WHERE …`
/// that may be followed by an insert of the same row.
pub(crate) struct RowWrite {
    /// Names the statement in logs and its batcher.
    pub(crate) name: &'static str,
    pub(crate) sql: String,
    /// An `INSERT … VALUES (…)` of the same row, run only after an `UPDATE`
    /// changed its record.
    pub(crate) then: Option<Then>,
    /// The parameter (0-based) naming the record a row writes: two rows with
    /// the same key are never in one PostgreSQL batch.
    pub(crate) key: usize,
    batch: OnceLock<String>,
}

/// What a [`RowWrite`] inserts after its update.
pub(crate) struct Then {
    pub(crate) sql: String,
    /// Only when this parameter (0-based) is set.
    pub(crate) when_set: Option<usize>,
}

impl RowWrite {
    pub(crate) fn new(name: &'static str, sql: String, then: Option<Then>, key: usize) -> RowWrite {
        RowWrite {
            name,
            sql,
            then,
            key,
            batch: OnceLock::new(),
        }
    }

    /// An insert: every row is written, or the statement fails. Otherwise an
    /// update, whose batch returns the ordinal of each row that changed a record.
    pub(crate) fn is_insert(&self) -> bool {
        self.sql.starts_with("INSERT")
    }

    /// The insert that follows this row's update, if it has one.
    pub(crate) fn then_for(&self, row: &[Value]) -> Option<&str> {
        let then = self.then.as_ref()?;
        let set = then
            .when_set
            .is_none_or(|i| row.get(i).is_some_and(|v| !v.is_null()));
        set.then_some(then.sql.as_str())
    }

    /// How many values each row has: the highest placeholder used.
    pub(crate) fn width(&self) -> usize {
        let then = self.then.as_ref().map(|t| t.sql.as_str()).unwrap_or("");
        placeholders(&self.sql)
            .chain(placeholders(then))
            .max()
            .unwrap_or(0)
    }

    /// PostgreSQL's statement for a batch of rows (see the module doc).
    pub(crate) fn batch_sql(&self) -> &str {
        self.batch.get_or_init(|| {
            let width = self.width();
            let arrays: Vec<String> = (1..=width).map(|i| format!("${i}")).collect();
            let names: Vec<String> = (1..=width).map(|i| format!("p{i}")).collect();
            let rows = format!(
                "unnest({}) WITH ORDINALITY AS b({}, n)",
                arrays.join(", "),
                names.join(", ")
            );
            if self.is_insert() {
                assert!(
                    self.then.is_none(),
                    "{}: an insert has no follow-up",
                    self.name
                );
                let (into, values) = split_insert(&self.sql);
                return format!("{into} SELECT {} FROM {rows}", from_rows(values, "b"));
            }
            let (set, guard) = self
                .sql
                .split_once(" WHERE ")
                .unwrap_or_else(|| panic!("{}: an update has a WHERE", self.name));
            let update = format!(
                "{} FROM {rows} WHERE {}",
                from_rows(set, "b"),
                from_rows(guard, "b")
            );
            let Some(then) = &self.then else {
                return format!("{update} RETURNING b.n");
            };
            let (into, values) = split_insert(&then.sql);
            let when = then
                .when_set
                .map(|i| format!(" WHERE w.p{} IS NOT NULL", i + 1))
                .unwrap_or_default();
            format!(
                "WITH w AS ({update} RETURNING b.*),
                 then_insert AS ({into} SELECT {} FROM w{when})
                 SELECT n FROM w",
                from_rows(values, "w")
            )
        })
    }
}

/// `$first, $first+1, …`: `count` placeholders.
pub(crate) fn placeholders_from(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT INTO t (…) VALUES (v, …)` → (`INSERT INTO t (…)`, `v, …`).
fn split_insert(sql: &str) -> (&str, &str) {
    let (into, values) = sql
        .split_once(" VALUES (")
        .unwrap_or_else(|| panic!("not an INSERT … VALUES (…): {sql}"));
    let values = values
        .trim_end()
        .strip_suffix(')')
        .unwrap_or_else(|| panic!("VALUES (…) ends the insert: {sql}"));
    (into, values)
}

/// The numbers of the `$n` placeholders in `sql`.
fn placeholders(sql: &str) -> impl Iterator<Item = usize> + '_ {
    sql.split('$').skip(1).filter_map(|rest| {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        rest[..digits].parse().ok()
    })
}

/// `sql` with each `$k` replaced by `alias.pk`.
fn from_rows(sql: &str, alias: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut parts = sql.split('$');
    out.push_str(parts.next().unwrap_or_default());
    for rest in parts {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        assert!(digits > 0, "a `$` not followed by a number: {sql}");
        out.push_str(&format!("{alias}.p{}", &rest[..digits]));
        out.push_str(&rest[digits..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insert_selects_its_values_from_the_rows() {
        let w = RowWrite::new("t", "INSERT INTO t (a, b) VALUES ($1, $2)".into(), None, 0);
        assert_eq!(
            w.batch_sql(),
            "INSERT INTO t (a, b) SELECT b.p1, b.p2 FROM unnest($1, $2) WITH ORDINALITY AS b(p1, p2, n)"
        );
        assert!(w.is_insert());
    }

    #[test]
    fn an_update_returns_the_rows_it_changed_and_inserts_after_them() {
        let then = Then {
            sql: "INSERT INTO log (id, at) VALUES ($1, $3)".into(),
            when_set: Some(2),
        };
        let w = RowWrite::new(
            "t",
            "UPDATE t SET v = $2, n2 = n2 + 1 WHERE id = $1 AND ($3 IS NULL OR v < $3)".into(),
            Some(then),
            0,
        );
        assert_eq!(w.width(), 3);
        let sql: String = w
            .batch_sql()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            sql,
            "WITH w AS (UPDATE t SET v = b.p2, n2 = n2 + 1 FROM unnest($1, $2, $3) WITH ORDINALITY AS b(p1, p2, p3, n) \
             WHERE id = b.p1 AND (b.p3 IS NULL OR v < b.p3) RETURNING b.*), \
             then_insert AS (INSERT INTO log (id, at) SELECT w.p1, w.p3 FROM w WHERE w.p3 IS NOT NULL) SELECT n FROM w"
        );
        let row = [Value::from("x"), Value::from("y"), Value::Int(None)];
        assert_eq!(w.then_for(&row), None);
        let row = [Value::from("x"), Value::from("y"), Value::Int(Some(1))];
        assert_eq!(
            w.then_for(&row),
            Some("INSERT INTO log (id, at) VALUES ($1, $3)")
        );
    }

    #[test]
    fn placeholders_are_numbered_not_compared_as_text() {
        assert_eq!(placeholders("$1, $12, $3").max(), Some(12));
        assert_eq!(
            from_rows("a = $12 AND b = $1", "b"),
            "a = b.p12 AND b = b.p1"
        );
        assert_eq!(placeholders_from(10, 3), "$10, $11, $12");
    }
}
