//! Short links: codes, their targets, and click counts.
//!
//! Promises:
//! - A code is unique across all accounts (the primary key): inserting a taken
//!   code is a `Conflict`, and the caller draws another.
//! - A link's code and target never change once stored (nothing updates
//!   them), so a server may keep a code's target in memory for ever.
//! - Clicks are added in batches, each as one atomic `clicks = clicks + n`,
//!   so servers adding at the same time never lose each other's counts.

use flowhook_core::ids::AccountId;
use flowhook_core::links::ShortCode;

use crate::db::{Conn, Database, Row, conflict_means, params, write_one};
use crate::{StoreError, now_millis};

/// A link to store.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub code: ShortCode,
    pub account_id: AccountId,
    /// A `flowhook_core::links::LongUrl`, as text.
    pub long_url: String,
    /// The short URL as answered (the account's base at that time + the code).
    pub short_url: String,
}

/// A stored link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkRecord {
    pub code: ShortCode,
    pub account_id: AccountId,
    pub long_url: String,
    pub short_url: String,
    pub clicks: i64,
    pub last_click_at: Option<i64>,
    pub created_at: i64,
}

/// Which of an account's links to list: created in `[from, to)`, newest first.
#[derive(Debug, Clone, Default)]
pub struct LinkFilter {
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: i64,
}

/// Storage of short links.
#[async_trait::async_trait]
pub trait LinkStore {
    /// Stores a new link; `Conflict` if its code is taken.
    async fn insert_link(&self, link: &NewLink) -> Result<LinkRecord, StoreError>;
    /// The target of `code`, if there is such a link.
    async fn link_target(&self, code: &ShortCode) -> Result<Option<String>, StoreError>;
    /// Adds `n` clicks to each code (unknown codes are skipped), at time `at`.
    async fn add_clicks(&self, clicks: &[(ShortCode, i64)], at: i64) -> Result<(), StoreError>;
    async fn links(
        &self,
        account: AccountId,
        filter: &LinkFilter,
    ) -> Result<Vec<LinkRecord>, StoreError>;
}

const COLUMNS: &str = "code, account_id, long_url, short_url, clicks, last_click_at, created_at";

fn link_from_row(row: &Row) -> Result<LinkRecord, StoreError> {
    Ok(LinkRecord {
        code: row.get("code")?,
        account_id: row.get("account_id")?,
        long_url: row.get("long_url")?,
        short_url: row.get("short_url")?,
        clicks: row.get("clicks")?,
        last_click_at: row.get("last_click_at")?,
        created_at: row.get("created_at")?,
    })
}

#[async_trait::async_trait]
impl<D: Database> LinkStore for D {
    async fn insert_link(&self, link: &NewLink) -> Result<LinkRecord, StoreError> {
        let now = now_millis();
        write_one(
            self,
            "INSERT INTO short_links (code, account_id, long_url, short_url, created_at)
             VALUES ($1, $2, $3, $4, $5)",
            params![
                link.code.as_str(),
                link.account_id.to_string(),
                &link.long_url,
                &link.short_url,
                now
            ],
        )
        .await
        .map_err(conflict_means("this short code is taken"))?;
        Ok(LinkRecord {
            code: link.code.clone(),
            account_id: link.account_id,
            long_url: link.long_url.clone(),
            short_url: link.short_url.clone(),
            clicks: 0,
            last_click_at: None,
            created_at: now,
        })
    }

    async fn link_target(&self, code: &ShortCode) -> Result<Option<String>, StoreError> {
        let query = params![code.as_str()];
        self.read_opt(
            "SELECT long_url FROM short_links WHERE code = $1".into(),
            query,
            |r| r.at(0),
        )
        .await
    }

    async fn add_clicks(&self, clicks: &[(ShortCode, i64)], at: i64) -> Result<(), StoreError> {
        if clicks.is_empty() {
            return Ok(());
        }
        let batch: Vec<_> = clicks
            .iter()
            .map(|(code, n)| params![code.as_str(), *n, at])
            .collect();
        self.write(move |c| {
            Box::pin(async move {
                for update in &batch {
                    c.exec(
                        "UPDATE short_links SET clicks = clicks + $2,
                            last_click_at = CASE WHEN last_click_at IS NULL OR last_click_at < $3
                                THEN $3 ELSE last_click_at END
                         WHERE code = $1",
                        update,
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn links(
        &self,
        account: AccountId,
        f: &LinkFilter,
    ) -> Result<Vec<LinkRecord>, StoreError> {
        let query = params![account.to_string(), f.from, f.to, f.limit];
        self.read(move |c| {
            Box::pin(async move {
                // Unset filters bind NULL and match everything.
                let sql = format!(
                    "SELECT {COLUMNS} FROM short_links WHERE account_id = $1
                       AND ($2 IS NULL OR created_at >= $2) AND ($3 IS NULL OR created_at < $3)
                     ORDER BY created_at DESC, code DESC LIMIT $4"
                );
                c.query(&sql, &query)
                    .await?
                    .iter()
                    .map(link_from_row)
                    .collect()
            })
        })
        .await
    }
}
