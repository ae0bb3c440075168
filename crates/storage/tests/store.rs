//! Storage tests: every test runs on SQLite and on PostgreSQL (when
//! `FLOWHOOK_TEST_DATABASE_URL` is set; otherwise the PostgreSQL half says SKIPPED).

use std::sync::Arc;

use flowhook_core::account::{AccountName, IpWhitelist, TimeZone};
use flowhook_core::http::{BodyType, HttpMethod};
use flowhook_core::ids::{AccountId, WebhookId};
use flowhook_core::webhook::{HeaderPair, WebhookUrl};
use flowhook_storage::{
    AccountPatch, NewAccount, Sealed, Store, StoreError, StoredAuth, WebhookRecord, testing,
};

/// Defines `NAME::sqlite` and `NAME::postgres`, each running `body(store, url)`.
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = testing::fresh_sqlite_url(dir.path());
                let store = flowhook_storage::connect(&url).await.expect("sqlite store");
                ($body)(store, url).await;
            }
            #[tokio::test]
            async fn postgres() {
                let Some(url) = testing::fresh_postgres_url(stringify!($name)).await else {
                    return;
                };
                let store = flowhook_storage::connect(&url)
                    .await
                    .expect("postgres store");
                ($body)(store, url).await;
            }
        }
    };
}

fn new_account(client_id: i64) -> NewAccount {
    NewAccount {
        id: AccountId::generate(),
        name: AccountName::parse("Acme").expect("name"),
        client_id,
        security_hash: format!("hash-{client_id}"),
        allow_http: false,
        timezone: TimeZone::parse("Asia/Kolkata").expect("tz"),
    }
}

fn webhook(account: AccountId, name: &str, is_default: bool) -> WebhookRecord {
    WebhookRecord {
        id: WebhookId::generate(),
        account_id: account,
        name: name.into(),
        method: HttpMethod::Post,
        url: WebhookUrl::parse("https://hooks.invalid/hook").expect("url"),
        auth: StoredAuth::Basic {
            username: "u".into(),
            password: Sealed("v1:sealed".into()),
        },
        body_type: BodyType::Json,
        headers: vec![HeaderPair {
            key: "X-Trace".into(),
            value: "1".into(),
        }],
        is_default,
        signing_secret: Sealed("v1:secret".into()),
        previous_secret: None,
        previous_until: None,
        last_check: None,
        created_at: 0,
        updated_at: 0,
    }
}

on_both!(
    accounts_round_trip,
    |store: Arc<dyn Store>, _url: String| async move {
        let new = new_account(100_000_001);
        let created = store.create_account(&new).await.expect("create");
        assert_eq!(created.name, "Acme");
        assert_eq!(created.timezone.name(), "Asia/Kolkata");
        assert!(!created.allow_http);
        let found = store
            .account_by_security_hash("hash-100000001")
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(found.id, new.id);
        assert!(
            store
                .account_by_security_hash("nope")
                .await
                .expect("lookup")
                .is_none()
        );

        let patched = store
            .update_account(
                new.id,
                &AccountPatch {
                    allow_http: Some(true),
                    calendar: Some(serde_json::json!({"hours": "09:00-18:00"})),
                    ..AccountPatch::default()
                },
            )
            .await
            .expect("update")
            .expect("exists");
        assert!(patched.allow_http);
        assert_eq!(
            patched.timezone.name(),
            "Asia/Kolkata",
            "untouched field kept"
        );
        assert_eq!(patched.calendar["hours"], "09:00-18:00");

        let list = IpWhitelist::parse(&["127.0.0.1/32", "::1"]).expect("list");
        assert!(store.set_whitelist(new.id, &list).await.expect("set"));
        let again = store.account(new.id).await.expect("get").expect("exists");
        assert_eq!(again.whitelist, list);
        assert_eq!(store.accounts().await.expect("list").len(), 1);
    }
);

on_both!(
    duplicate_client_ids_conflict,
    |store: Arc<dyn Store>, _url: String| async move {
        store.create_account(&new_account(7)).await.expect("first");
        let mut dup = new_account(7);
        dup.security_hash = "other".into();
        let err = store.create_account(&dup).await.expect_err("duplicate");
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
);

on_both!(
    webhook_crud_and_default_flip,
    |store: Arc<dyn Store>, _url: String| async move {
        let acct = store
            .create_account(&new_account(42))
            .await
            .expect("account")
            .id;
        let a = webhook(acct, "first", true);
        store.insert_webhook(&a).await.expect("insert a");
        let b = webhook(acct, "second", true);
        store.insert_webhook(&b).await.expect("insert b");

        let default = store
            .default_webhook(acct)
            .await
            .expect("default")
            .expect("some");
        assert_eq!(default.id, b.id, "the newest default wins");
        let a_now = store
            .webhook(acct, a.id)
            .await
            .expect("get")
            .expect("exists");
        assert!(!a_now.is_default, "the old default was cleared");
        assert_eq!(a_now.auth, a.auth);
        assert_eq!(a_now.headers, a.headers);

        let mut a2 = a_now.clone();
        a2.is_default = true;
        a2.name = "renamed".into();
        assert!(store.update_webhook(&a2).await.expect("update"));
        assert_eq!(
            store.default_webhook(acct).await.expect("d").expect("s").id,
            a.id
        );

        let dup = webhook(acct, "second", false);
        assert!(matches!(
            store.insert_webhook(&dup).await,
            Err(StoreError::Conflict(_))
        ));

        assert!(
            store
                .rotate_secret(acct, a.id, &Sealed("v1:new".into()), 123)
                .await
                .expect("rotate")
        );
        let rotated = store
            .webhook(acct, a.id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(rotated.signing_secret, Sealed("v1:new".into()));
        assert_eq!(rotated.previous_secret, Some(Sealed("v1:secret".into())));
        assert_eq!(rotated.previous_until, Some(123));

        let check = serde_json::json!({"ok": true, "status": 200});
        assert!(store.record_check(acct, a.id, &check).await.expect("check"));
        assert_eq!(
            store
                .webhook(acct, a.id)
                .await
                .expect("get")
                .expect("e")
                .last_check,
            Some(check)
        );

        assert_eq!(store.webhooks(acct).await.expect("list").len(), 2);
        assert!(store.delete_webhook(acct, b.id).await.expect("delete"));
        assert!(
            !store
                .delete_webhook(acct, b.id)
                .await
                .expect("delete again")
        );
        let other = AccountId::generate();
        assert!(
            store.webhook(other, a.id).await.expect("get").is_none(),
            "accounts are isolated"
        );
    }
);

on_both!(
    data_survives_reopening,
    |store: Arc<dyn Store>, url: String| async move {
        let acct = store
            .create_account(&new_account(9))
            .await
            .expect("account");
        store
            .insert_webhook(&webhook(acct.id, "kept", true))
            .await
            .expect("hook");
        drop(store);
        // Opening again runs the migrations again: they must be a no-op.
        let reopened = flowhook_storage::connect(&url).await.expect("reopen");
        assert_eq!(
            reopened.account(acct.id).await.expect("get"),
            Some(acct.clone())
        );
        assert_eq!(reopened.webhooks(acct.id).await.expect("list").len(), 1);
    }
);
