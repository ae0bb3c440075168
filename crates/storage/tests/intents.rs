//! Storage of intent rules, on SQLite and on PostgreSQL (see
//! `support::on_both!`).

use std::sync::Arc;

use flowhook_core::account::{AccountName, TimeZone};
use flowhook_core::ids::AccountId;
use flowhook_core::intents::{IntentName, IntentRule};
use flowhook_storage::{NewAccount, Sealed, ShortTokenRecord, Store, StoreError};

#[macro_use]
mod support;

async fn account(store: &Arc<dyn Store>, client_id: i64) -> AccountId {
    let new = NewAccount {
        id: AccountId::generate(),
        name: AccountName::parse("Acme").expect("name"),
        client_id,
        security_hash: format!("hash-{client_id}"),
        allow_http: false,
        timezone: TimeZone::parse("UTC").expect("tz"),
        short_token: ShortTokenRecord {
            hash: format!("short-{client_id}"),
            sealed: Sealed(format!("v2:test:{client_id}")),
        },
    };
    store.create_account(&new).await.expect("account").id
}

fn rule(name: &str, phrases: &[&str], regex: Option<&str>, priority: i64) -> IntentRule {
    IntentRule::new(
        IntentName::parse(name).expect("name"),
        phrases.iter().map(|s| (*s).to_owned()).collect(),
        vec!["बिल".into(), "bill".into()],
        regex.map(str::to_owned),
        priority,
    )
    .expect("rule")
}

on_both!(
    intents_are_stored_per_account_read_back_updated_and_deleted,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store, 1).await;
        let b = account(&store, 2).await;
        let billing = rule("billing", &["pay my bill", "मेरा बिल"], Some(r"\d{4}"), 3);
        assert!(store.insert_intent(a, &billing, 10).await.expect("insert"));
        assert!(
            store
                .insert_intent(a, &rule("Agent", &["agent"], None, -1), 10)
                .await
                .expect("insert")
        );
        // The same name in another account is another rule.
        assert!(
            store
                .insert_intent(b, &rule("billing", &["x"], None, 0), 10)
                .await
                .expect("insert")
        );
        let again = store.insert_intent(a, &billing, 10).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

        let got = store
            .intent(a, &billing.name)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(got.rule, billing);
        assert_eq!(got.account_id, a);
        // By name in byte order: upper case first.
        let names: Vec<String> = store
            .intents(a)
            .await
            .expect("list")
            .iter()
            .map(|r| r.rule.name.to_string())
            .collect();
        assert_eq!(names, ["Agent", "billing"]);

        let changed = rule("billing", &["bill please"], None, 7);
        assert!(store.update_intent(a, &changed).await.expect("update"));
        assert_eq!(
            store
                .intent(a, &billing.name)
                .await
                .expect("read")
                .expect("found")
                .rule,
            changed
        );
        assert!(
            !store
                .update_intent(a, &rule("nope", &["x"], None, 0))
                .await
                .expect("update")
        );
        // b's rule is untouched.
        assert_eq!(
            store
                .intent(b, &billing.name)
                .await
                .expect("read")
                .expect("found")
                .rule
                .phrases,
            ["x"]
        );

        assert!(store.delete_intent(a, &billing.name).await.expect("delete"));
        assert!(!store.delete_intent(a, &billing.name).await.expect("delete"));
        assert!(
            store
                .intent(a, &billing.name)
                .await
                .expect("read")
                .is_none()
        );
        assert_eq!(store.intents(b).await.expect("list").len(), 1);
    }
);

on_both!(
    an_insert_past_the_cap_is_refused,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store, 1).await;
        for i in 0..3 {
            assert!(
                store
                    .insert_intent(a, &rule(&format!("r{i}"), &["x"], None, 0), 3)
                    .await
                    .expect("insert")
            );
        }
        assert!(
            !store
                .insert_intent(a, &rule("r3", &["x"], None, 0), 3)
                .await
                .expect("refused")
        );
        assert_eq!(store.intents(a).await.expect("list").len(), 3);
    }
);
