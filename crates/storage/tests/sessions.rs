//! Revoked admin UI sessions, on SQLite and on PostgreSQL (see
//! `support::on_both!`).

use std::sync::Arc;

use flowhook_storage::Store;

#[macro_use]
mod support;

on_both!(
    a_revoked_session_stays_revoked_until_it_expires,
    |store: Arc<dyn Store>, _url: String| async move {
        assert!(!store.is_session_revoked("n-1").await.expect("read"));
        store
            .revoke_session("n-1", 2_000, 1_000)
            .await
            .expect("revoke");
        store
            .revoke_session("n-1", 2_000, 1_000)
            .await
            .expect("twice is fine");
        assert!(store.is_session_revoked("n-1").await.expect("read"));
        assert!(!store.is_session_revoked("n-2").await.expect("read"));
        // Revoking another after n-1 expired clears n-1's row.
        store
            .revoke_session("n-2", 9_000, 3_000)
            .await
            .expect("revoke");
        assert!(!store.is_session_revoked("n-1").await.expect("read"));
        assert!(store.is_session_revoked("n-2").await.expect("read"));
    }
);
