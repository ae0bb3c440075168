//! The SQL of leased jobs, written once for every table that holds them
//! (`deliveries`, `outbound_calls`, `reports`): each has `lease_owner` and `lease_until`
//! columns, and a job is claimable when it is due and its lease is absent or
//! expired.
//!
//! A lease is named `<owner>:<n>` (a server's instance id and a claim number),
//! so every lease of one server can be released at once.

use crate::db::{Database, params, write_one};
use crate::{Backend, StoreError};

/// Leases due rows of `table` and returns them. Parameters: `$1` the lease,
/// `$2` its expiry, `$3` now, `$4` the most rows to take. `due` is the
/// condition of a due row (it may use `$3`), `order` its order, `columns` what
/// is returned.
///
/// SQLite has one writer, so a plain `UPDATE … RETURNING` claims atomically.
/// On PostgreSQL rows another server is claiming right now are skipped, not
/// waited on, and the due rows are picked once (`MATERIALIZED`), so a
/// re-evaluated sub-select can never lease more than `$4`.
pub(crate) fn claim_sql(
    kind: Backend,
    table: &str,
    due: &str,
    order: &str,
    columns: &str,
) -> String {
    let free = "(lease_until IS NULL OR lease_until < $3)";
    match kind {
        Backend::Sqlite => format!(
            "UPDATE {table} SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM {table} WHERE {due} AND {free} ORDER BY {order} LIMIT $4)
             RETURNING {columns}"
        ),
        Backend::Postgres => {
            let returned = columns
                .split(',')
                .map(|c| format!("j.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "WITH due AS MATERIALIZED (
                    SELECT id FROM {table} WHERE {due} AND {free}
                    ORDER BY {order} LIMIT $4 FOR UPDATE SKIP LOCKED)
                 UPDATE {table} j SET lease_owner = $1, lease_until = $2 FROM due WHERE j.id = due.id
                 RETURNING {returned}"
            )
        }
    }
}

/// Releases the leases of `owner` on `table` (every lease when `None`): the
/// rows are claimable again at once.
pub(crate) async fn release<D: Database>(
    db: &D,
    table: &str,
    owner: Option<&str>,
) -> Result<u64, StoreError> {
    write_one(
        db,
        format!(
            "UPDATE {table} SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner IS NOT NULL
               AND ($1 IS NULL OR substr(lease_owner, 1, length($1) + 1) = $1 || ':')"
        ),
        params![owner],
    )
    .await
}
