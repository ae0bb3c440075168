//! The hot single-row writes — an execution's start, progress and end (with
//! its outbox row), a delivery attempt (with its record) — each written once,
//! in the SQL both databases speak, with `$n` placeholders.
//!
//! SQLite's writer runs a [`RowWrite`] row by row inside its group commit.
//! PostgreSQL runs the rows of concurrent callers as one statement over
//! arrays (`batched.rs`), made from the same pieces ([`RowWrite::batch`]):
//! the rows come from `unnest($1, …, $n) WITH ORDINALITY AS b(p1, …, pn, n)`,
//! and `$k` becomes `b.pk` (the `p` keeps a row's values apart from the
//! table's columns of the same name).

use crate::db::Value;

/// A single-row `INSERT`, or a guarded `UPDATE` that may be followed by an
/// insert of the same row; given in pieces, so that neither database's form
/// is read back out of the other's text.
pub(crate) struct RowWrite {
    /// Names the statement in logs and its batcher.
    pub(crate) name: &'static str,
    /// SQLite's statement (and the shape of a single row on PostgreSQL).
    pub(crate) sql: String,
    /// The insert that follows an update which changed its record, and the
    /// placeholder that must be set for it to run.
    then: Option<(String, Option<usize>)>,
    /// The parameter (0-based) naming the record a row writes: two rows with
    /// the same key are never in one PostgreSQL batch.
    pub(crate) key: usize,
    /// Values per row: the highest placeholder used.
    pub(crate) width: usize,
    /// An insert writes every row or fails; an update's batch returns the
    /// ordinal of each row that changed a record.
    pub(crate) is_insert: bool,
    /// PostgreSQL's statement for a batch of rows (see the module doc).
    pub(crate) batch: String,
}

/// An insert that follows an update: `into` is `INSERT INTO t (…)`, `values`
/// what goes in `VALUES (…)`; it runs only when placeholder `when_set` (if
/// any) holds a value.
pub(crate) struct Then {
    pub(crate) into: String,
    pub(crate) values: String,
    pub(crate) when_set: Option<usize>,
}

impl RowWrite {
    /// `{into} VALUES ({values})`, `into` being `INSERT INTO t (…)`.
    pub(crate) fn insert(name: &'static str, into: &str, values: &str, key: usize) -> RowWrite {
        let width = placeholders(values).max().unwrap_or(0);
        let rows = rows(width);
        RowWrite {
            name,
            sql: format!("{into} VALUES ({values})"),
            then: None,
            key,
            width,
            is_insert: true,
            batch: format!("{into} SELECT {} FROM {rows}", from_rows(values, "b")),
        }
    }

    /// `{update} WHERE {guard}`, `update` being `UPDATE t SET …`; then `then`.
    pub(crate) fn update(
        name: &'static str,
        update: &str,
        guard: &str,
        then: Option<Then>,
        key: usize,
    ) -> RowWrite {
        let then_values = then.as_ref().map_or("", |t| t.values.as_str());
        let width = placeholders(update)
            .chain(placeholders(guard))
            .chain(placeholders(then_values))
            .max()
            .unwrap_or(0);
        let batched = format!(
            "{} FROM {} WHERE {}",
            from_rows(update, "b"),
            rows(width),
            from_rows(guard, "b")
        );
        let batch = match &then {
            None => format!("{batched} RETURNING b.n"),
            Some(then) => {
                let when = then.when_set.map_or(String::new(), |k| {
                    assert!(k >= 1 && k <= width, "{name}: no placeholder ${k}");
                    format!(" WHERE w.p{k} IS NOT NULL")
                });
                format!(
                    "WITH w AS ({batched} RETURNING b.*), \
                     then_insert AS ({} SELECT {} FROM w{when}) \
                     SELECT n FROM w",
                    then.into,
                    from_rows(&then.values, "w")
                )
            }
        };
        RowWrite {
            name,
            sql: format!("{update} WHERE {guard}"),
            then: then.map(|t| (format!("{} VALUES ({})", t.into, t.values), t.when_set)),
            key,
            width,
            is_insert: false,
            batch,
        }
    }

    /// The insert that follows this row's update, if it has one and its row
    /// has the value it needs.
    pub(crate) fn then_for(&self, row: &[Value]) -> Option<&str> {
        let (sql, when_set) = self.then.as_ref()?;
        let set = when_set.is_none_or(|k| row.get(k - 1).is_some_and(|v| !v.is_null()));
        set.then_some(sql.as_str())
    }
}

/// `unnest($1, …, $width) WITH ORDINALITY AS b(p1, …, pwidth, n)`.
fn rows(width: usize) -> String {
    let names: Vec<String> = (1..=width).map(|i| format!("p{i}")).collect();
    format!(
        "unnest({}) WITH ORDINALITY AS b({}, n)",
        placeholders_from(1, width),
        names.join(", ")
    )
}

/// `$first, $first+1, …`: `count` placeholders.
pub(crate) fn placeholders_from(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
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
pub(crate) mod tests {
    use super::*;

    /// `sql` with its whitespace runs as single spaces.
    pub(crate) fn squeezed(sql: &str) -> String {
        sql.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn an_insert_selects_its_values_from_the_rows() {
        let w = RowWrite::insert("t", "INSERT INTO t (a, b)", "$1, $2", 0);
        assert_eq!(w.sql, "INSERT INTO t (a, b) VALUES ($1, $2)");
        assert_eq!(
            w.batch,
            "INSERT INTO t (a, b) SELECT b.p1, b.p2 FROM unnest($1, $2) WITH ORDINALITY AS b(p1, p2, n)"
        );
        assert!(w.is_insert);
    }

    #[test]
    fn an_update_returns_the_rows_it_changed_and_inserts_after_them() {
        let then = Then {
            into: "INSERT INTO log (id, at)".into(),
            values: "$1, $3".into(),
            when_set: Some(3),
        };
        let w = RowWrite::update(
            "t",
            "UPDATE t SET v = $2, n2 = n2 + 1",
            "id = $1 AND ($3 IS NULL OR v < $3)",
            Some(then),
            0,
        );
        assert_eq!(w.width, 3);
        assert_eq!(
            w.sql,
            "UPDATE t SET v = $2, n2 = n2 + 1 WHERE id = $1 AND ($3 IS NULL OR v < $3)"
        );
        assert_eq!(
            squeezed(&w.batch),
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
