//! Admin UI sessions that were signed out: the session cookie is signed and
//! kept by the browser, so ending one before it expires means remembering
//! its nonce until then.
//!
//! Promise: a revoked nonce stays revoked until its expiry; rows past their
//! expiry are removed when another session is revoked.

use crate::StoreError;
use crate::db::{Conn, Database, params};

/// Storage of revoked admin UI sessions.
#[async_trait::async_trait]
pub trait SessionStore {
    /// Ends the session with `nonce`, which would have expired at
    /// `expires_at` (unix seconds); `now` (unix seconds) clears older ones.
    async fn revoke_session(
        &self,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Whether the session with `nonce` was signed out.
    async fn is_session_revoked(&self, nonce: &str) -> Result<bool, StoreError>;
}

#[async_trait::async_trait]
impl<D: Database> SessionStore for D {
    async fn revoke_session(
        &self,
        nonce: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let insert = params![nonce, expires_at];
        let prune = params![now];
        self.write(move |c| {
            Box::pin(async move {
                c.exec(
                    "INSERT INTO revoked_sessions (nonce, expires_at) VALUES ($1, $2)
                     ON CONFLICT (nonce) DO NOTHING",
                    &insert,
                )
                .await?;
                c.exec("DELETE FROM revoked_sessions WHERE expires_at < $1", &prune)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn is_session_revoked(&self, nonce: &str) -> Result<bool, StoreError> {
        let query = params![nonce];
        self.read(move |c| {
            Box::pin(async move {
                Ok(c.query_opt(
                    "SELECT 1 AS one FROM revoked_sessions WHERE nonce = $1",
                    &query,
                )
                .await?
                .is_some())
            })
        })
        .await
    }
}
