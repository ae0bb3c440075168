//! Storage of short links, short-link tokens and bots, on SQLite and on
//! PostgreSQL (see `support::on_both!`).

use std::sync::Arc;

use flowhook_core::account::{AccountName, TimeZone};
use flowhook_core::bots::{BotId, parse_base};
use flowhook_core::ids::AccountId;
use flowhook_core::links::{ShortBase, ShortCode};
use flowhook_storage::{
    AccountPatch, BotRecord, LinkFilter, NewAccount, NewLink, Resealer, Sealed, SealedField,
    ShortTokenRecord, Store, StoreError,
};

#[macro_use]
mod support;

fn token(hash: &str) -> ShortTokenRecord {
    ShortTokenRecord {
        hash: hash.to_owned(),
        sealed: Sealed(format!("v2:test:{hash}")),
    }
}

async fn account(store: &Arc<dyn Store>, client_id: i64) -> AccountId {
    let new = NewAccount {
        id: AccountId::generate(),
        name: AccountName::parse("Acme").expect("name"),
        client_id,
        security_hash: format!("hash-{client_id}"),
        allow_http: false,
        timezone: TimeZone::parse("UTC").expect("tz"),
        short_token: token(&format!("short-{client_id}")),
    };
    store.create_account(&new).await.expect("account").id
}

fn link(account: AccountId, code: &ShortCode, target: &str) -> NewLink {
    NewLink {
        code: code.clone(),
        account_id: account,
        long_url: target.to_owned(),
        short_url: format!("https://s.example/{code}"),
    }
}

on_both!(
    short_tokens_find_their_account_and_rotate,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store, 1).await;
        let found = store
            .account_by_short_token_hash("short-1")
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(found.id, a);
        assert_eq!(found.short_token, Some(Sealed("v2:test:short-1".into())));
        assert_eq!(found.short_base_url, None);

        // A second account cannot take the same token.
        let mut dup = NewAccount {
            id: AccountId::generate(),
            name: AccountName::parse("Other").expect("name"),
            client_id: 2,
            security_hash: "hash-2".into(),
            allow_http: false,
            timezone: TimeZone::parse("UTC").expect("tz"),
            short_token: token("short-1"),
        };
        let err = store.create_account(&dup).await.expect_err("taken");
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        dup.short_token = token("short-2");
        let b = store.create_account(&dup).await.expect("created").id;

        // Rotation: the old token stops finding the account at once (the
        // cached lookup included), the new one finds it.
        assert!(
            store
                .set_short_token(a, &token("rotated"), false)
                .await
                .expect("rotate")
        );
        assert!(
            store
                .account_by_short_token_hash("short-1")
                .await
                .expect("lookup")
                .is_none()
        );
        let rotated = store
            .account_by_short_token_hash("rotated")
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(rotated.id, a);
        assert_eq!(rotated.short_token, Some(Sealed("v2:test:rotated".into())));
        // Taking another account's token is a conflict; a token is kept when
        // only a missing one may be set.
        let err = store
            .set_short_token(b, &token("rotated"), false)
            .await
            .expect_err("taken");
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert!(
            !store
                .set_short_token(b, &token("never"), true)
                .await
                .expect("kept")
        );
        assert!(
            store
                .accounts_without_short_token()
                .await
                .expect("list")
                .is_empty()
        );

        // The custom short domain is set, kept by other changes, and reset.
        let base = ShortBase::parse("https://go.acme.example/s").expect("base");
        let set = AccountPatch {
            short_base_url: Some(Some(base.clone())),
            ..AccountPatch::default()
        };
        let patched = store.update_account(a, &set).await.expect("update");
        assert_eq!(patched.expect("exists").short_base_url, Some(base.clone()));
        let other = AccountPatch {
            allow_http: Some(true),
            ..AccountPatch::default()
        };
        let patched = store.update_account(a, &other).await.expect("update");
        assert_eq!(patched.expect("exists").short_base_url, Some(base));
        let reset = AccountPatch {
            short_base_url: Some(None),
            ..AccountPatch::default()
        };
        let patched = store.update_account(a, &reset).await.expect("update");
        assert_eq!(patched.expect("exists").short_base_url, None);
    }
);

on_both!(
    links_are_unique_listed_and_counted,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store, 1).await;
        let b = account(&store, 2).await;
        let code = ShortCode::generate();
        let stored = store
            .insert_link(&link(a, &code, "https://example.com/one"))
            .await
            .expect("insert");
        assert_eq!((stored.clicks, stored.last_click_at), (0, None));
        // A code is unique across accounts.
        let err = store
            .insert_link(&link(b, &code, "https://example.com/theirs"))
            .await
            .expect_err("taken");
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(
            store.link_target(&code).await.expect("read").as_deref(),
            Some("https://example.com/one")
        );
        let unknown = ShortCode::generate();
        assert_eq!(store.link_target(&unknown).await.expect("read"), None);

        // Batches from many servers at once: no click is lost.
        let mut adders = Vec::new();
        for i in 0..8 {
            let (store, code, unknown) = (store.clone(), code.clone(), unknown.clone());
            adders.push(tokio::spawn(async move {
                store
                    .add_clicks(&[(code, 5), (unknown, 1)], 1_000 + i)
                    .await
                    .expect("add")
            }));
        }
        for adder in adders {
            adder.await.expect("adder");
        }
        store.add_clicks(&[], 0).await.expect("nothing to add");

        let second = ShortCode::generate();
        store
            .insert_link(&link(a, &second, "https://example.com/two"))
            .await
            .expect("insert");
        store
            .insert_link(&link(b, &ShortCode::generate(), "https://example.com/b"))
            .await
            .expect("insert");
        let all = LinkFilter {
            limit: 100,
            ..LinkFilter::default()
        };
        let listed = store.links(a, &all).await.expect("list");
        let codes: Vec<&ShortCode> = listed.iter().map(|l| &l.code).collect();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(codes.contains(&&code) && codes.contains(&&second));
        assert!(listed[0].created_at >= listed[1].created_at, "newest first");
        let one = listed.iter().find(|l| l.code == code).expect("listed");
        assert_eq!(one.clicks, 40);
        assert_eq!(one.last_click_at, Some(1_007), "the latest click time");
        assert_eq!(one.short_url, format!("https://s.example/{code}"));
        let first_only = LinkFilter {
            limit: 1,
            ..LinkFilter::default()
        };
        assert_eq!(store.links(a, &first_only).await.expect("list").len(), 1);
        let future = LinkFilter {
            from: Some(one.created_at + 60_000),
            limit: 100,
            ..LinkFilter::default()
        };
        assert!(store.links(a, &future).await.expect("list").is_empty());
        let past = LinkFilter {
            to: Some(one.created_at - 60_000),
            limit: 100,
            ..LinkFilter::default()
        };
        assert!(store.links(a, &past).await.expect("list").is_empty());
    }
);

fn bot(account: AccountId, id: &str, token: &str) -> BotRecord {
    BotRecord {
        account_id: account,
        id: BotId::parse(id).expect("bot id"),
        name: format!("bot {id}"),
        base_url: parse_base("https://bot.example.com/start").expect("base"),
        token: Sealed(token.to_owned()),
        created_at: 0,
        updated_at: 0,
    }
}

on_both!(
    bots_crud_and_stable_unique_ids,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store, 1).await;
        let b = account(&store, 2).await;
        let id = BotId::parse("123").expect("id");
        store
            .insert_bot(&bot(a, "123", "v2:k:t1"))
            .await
            .expect("insert");
        let err = store
            .insert_bot(&bot(a, "123", "v2:k:t2"))
            .await
            .expect_err("taken");
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        // Ids are per account.
        store
            .insert_bot(&bot(b, "123", "v2:k:b"))
            .await
            .expect("theirs");
        store
            .insert_bot(&bot(a, "77", "v2:k:77"))
            .await
            .expect("second");

        let read = store.bot(a, &id).await.expect("read").expect("found");
        assert_eq!(read.token, Sealed("v2:k:t1".into()));
        assert_eq!(read.name, "bot 123");
        let mut changed = read.clone();
        changed.base_url = parse_base("https://bot.example.com/v2?x=1").expect("base");
        changed.token = Sealed("v2:k:new".into());
        assert!(store.update_bot(&changed).await.expect("update"));
        let read = store.bot(a, &id).await.expect("read").expect("found");
        assert_eq!(read.base_url.as_str(), "https://bot.example.com/v2?x=1");
        assert_eq!(read.token, Sealed("v2:k:new".into()));
        assert!(
            !store
                .update_bot(&bot(a, "nope", "v2:k:x"))
                .await
                .expect("update")
        );
        let ids: Vec<String> = store
            .bots(a)
            .await
            .expect("list")
            .iter()
            .map(|b| b.id.to_string())
            .collect();
        assert_eq!(ids, ["123", "77"]);

        // One id per (bot, cli), kept; callers racing agree.
        let first = store
            .bot_unique_id(a, &id, "918000000001", "cand-1")
            .await
            .expect("id");
        assert_eq!(first, "cand-1");
        let again = store
            .bot_unique_id(a, &id, "918000000001", "cand-2")
            .await
            .expect("id");
        assert_eq!(again, "cand-1");
        let mut racers = Vec::new();
        for i in 0..6 {
            let (store, id) = (store.clone(), id.clone());
            racers.push(tokio::spawn(async move {
                store
                    .bot_unique_id(a, &id, "918000000002", &format!("race-{i}"))
                    .await
                    .expect("id")
            }));
        }
        let mut answers = Vec::new();
        for r in racers {
            answers.push(r.await.expect("racer"));
        }
        answers.sort();
        answers.dedup();
        assert_eq!(answers.len(), 1, "{answers:?}");
        let seventy_seven = BotId::parse("77").expect("id");
        assert_eq!(
            store
                .bot_unique_id(a, &seventy_seven, "918000000001", "other-bot")
                .await
                .expect("id"),
            "other-bot",
            "another bot, another id"
        );

        // Deleting a bot forgets its callers' ids.
        assert!(store.delete_bot(a, &id).await.expect("delete"));
        assert!(!store.delete_bot(a, &id).await.expect("gone"));
        assert!(store.bot(a, &id).await.expect("read").is_none());
        assert!(
            store.bot(b, &id).await.expect("read").is_some(),
            "theirs stays"
        );
        store
            .insert_bot(&bot(a, "123", "v2:k:t3"))
            .await
            .expect("again");
        assert_eq!(
            store
                .bot_unique_id(a, &id, "918000000001", "fresh")
                .await
                .expect("id"),
            "fresh"
        );
    }
);

/// Marks every short-link and bot token it is shown; leaves the rest.
struct MarkTokens;

impl Resealer for MarkTokens {
    fn reseal(
        &self,
        _: AccountId,
        field: SealedField,
        stored: &str,
    ) -> Result<Option<String>, String> {
        Ok(match field {
            SealedField::ShortLinkToken | SealedField::BotToken => Some(format!("{stored}+")),
            _ => None,
        })
    }
}

on_both!(
    tokens_are_resealed_with_everything_else,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store, 1).await;
        store
            .insert_bot(&bot(a, "1", "v2:k:bot"))
            .await
            .expect("bot");
        let done = store
            .reseal_all(Arc::new(MarkTokens), None)
            .await
            .expect("reseal");
        assert_eq!((done.accounts, done.bots), (1, 1));
        let account = store.account(a).await.expect("read").expect("found");
        assert_eq!(account.short_token, Some(Sealed("v2:test:short-1+".into())));
        let bot = store
            .bot(a, &BotId::parse("1").expect("id"))
            .await
            .expect("read")
            .expect("found");
        assert_eq!(bot.token, Sealed("v2:k:bot+".into()));
    }
);
