//! Storage of agents, their breaks, the account's default country code and
//! contacts' preferences, on SQLite and on PostgreSQL (see `support`).

use std::sync::Arc;

use flowhook_core::account::{AccountName, TimeZone};
use flowhook_core::agents::{AgentNumber, CountryCode};
use flowhook_core::ids::{AccountId, AgentId};
use flowhook_storage::{
    AccountPatch, AgentRecord, BreakFilter, NewAccount, Sealed, ShortTokenRecord, Store, StoreError,
};

#[macro_use]
mod support;

async fn account(store: &Arc<dyn Store>, client_id: i64) -> AccountId {
    let new = NewAccount {
        id: AccountId::generate(),
        name: AccountName::parse("Acme").expect("name"),
        client_id,
        security_hash: format!("hash-{client_id}"),
        allow_http: false,
        timezone: TimeZone::parse("Asia/Kolkata").expect("tz"),
        short_token: ShortTokenRecord {
            hash: format!("short-{client_id}"),
            sealed: Sealed("v2:test:short".into()),
        },
    };
    store.create_account(&new).await.expect("account").id
}

fn agent(account: AccountId, name: &str, cli: &str) -> AgentRecord {
    AgentRecord {
        id: AgentId::generate(),
        account_id: account,
        name: name.into(),
        number: AgentNumber::parse(cli, &CountryCode::india()).expect("number"),
        paused_since: None,
        created_at: 0,
        updated_at: 0,
    }
}

async fn added(store: &Arc<dyn Store>, account: AccountId, name: &str, cli: &str) -> AgentRecord {
    let a = agent(account, name, cli);
    store.insert_agent(&a).await.expect("insert agent");
    store
        .agent(account, a.id)
        .await
        .expect("read")
        .expect("stored")
}

fn window(from: i64, to: i64) -> BreakFilter {
    BreakFilter {
        from,
        to,
        agent: None,
        limit: 100,
    }
}

on_both!(
    agents_have_unique_numbers_per_account,
    |store: Arc<dyn Store>, _url: String| async move {
        let acct = account(&store, 1).await;
        let other = account(&store, 2).await;
        let priya = added(&store, acct, "Priya", "+91 81607 12345").await;
        assert_eq!(priya.name, "Priya");
        assert_eq!(priya.number.number(), "918160712345");
        assert_eq!(priya.paused_since, None);
        assert!(priya.created_at > 0 && priya.created_at == priya.updated_at);

        // The same number in another form is the same agent's.
        let twin = agent(acct, "Twin", "08160712345");
        match store.insert_agent(&twin).await {
            Err(StoreError::Conflict(msg)) => assert!(msg.contains("+918160712345"), "{msg}"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        // Another account may have it.
        added(&store, other, "Elsewhere", "918160712345").await;

        let ravi = added(&store, acct, "Ravi", "9198765432").await;
        let listed: Vec<String> = store
            .agents(acct)
            .await
            .expect("list")
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(listed, ["Priya", "Ravi"]);

        // An update to a taken number conflicts; to a free one it is kept.
        let mut moved = ravi.clone();
        moved.number = priya.number.clone();
        assert!(matches!(
            store.update_agent(&moved).await,
            Err(StoreError::Conflict(_))
        ));
        moved.number = AgentNumber::parse("7000000001", &CountryCode::india()).expect("n");
        moved.name = "Ravi K".into();
        assert!(store.update_agent(&moved).await.expect("update"));
        let again = store
            .agent(acct, ravi.id)
            .await
            .expect("get")
            .expect("there");
        assert_eq!(
            (again.name.as_str(), again.number.national.as_str()),
            ("Ravi K", "7000000001")
        );
        // Another account cannot reach it.
        let mut foreign = moved.clone();
        foreign.account_id = other;
        assert!(!store.update_agent(&foreign).await.expect("update"));
        assert!(store.agent(other, ravi.id).await.expect("get").is_none());
        assert!(!store.delete_agent(other, ravi.id).await.expect("delete"));

        assert!(store.delete_agent(acct, ravi.id).await.expect("delete"));
        assert!(!store.delete_agent(acct, ravi.id).await.expect("again"));
        assert_eq!(store.agents(acct).await.expect("list").len(), 1);
    }
);

on_both!(
    a_cli_finds_the_agent_of_its_likelier_reading,
    |store: Arc<dyn Store>, _url: String| async move {
        let acct = account(&store, 1).await;
        let national = added(&store, acct, "National", "9198765432").await;
        // An agent whose number is the other reading of the same digits.
        let odd = AgentRecord {
            number: AgentNumber {
                country_code: CountryCode::india(),
                national: "98765432".into(),
            },
            ..agent(acct, "Odd", "1111111111")
        };
        store.insert_agent(&odd).await.expect("insert");
        let numbers = |a: &str, b: &str| vec![a.to_owned(), b.to_owned()];
        let found = store
            .agent_by_number(acct, &numbers("919198765432", "9198765432"))
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(found.id, national.id);
        let found = store
            .agent_by_number(acct, &numbers("9198765432", "919198765432"))
            .await
            .expect("lookup")
            .expect("found");
        assert_eq!(found.id, odd.id);
        assert!(
            store
                .agent_by_number(acct, &numbers("910000000000", "0000000000"))
                .await
                .expect("lookup")
                .is_none()
        );
        assert!(
            store
                .agent_by_number(acct, &[])
                .await
                .expect("lookup")
                .is_none()
        );
        let other = account(&store, 2).await;
        assert!(
            store
                .agent_by_number(other, &numbers("919198765432", "9198765432"))
                .await
                .expect("lookup")
                .is_none()
        );
    }
);

on_both!(
    every_break_is_kept_and_a_paused_agent_stays_on_its_break,
    |store: Arc<dyn Store>, _url: String| async move {
        let acct = account(&store, 1).await;
        let a = added(&store, acct, "Priya", "8160712345").await;
        let id = a.id;
        let set = |paused: bool, at: i64| {
            let store = store.clone();
            async move {
                store
                    .set_agent_paused(acct, id, paused, at)
                    .await
                    .expect("set")
                    .expect("the agent")
            }
        };
        assert_eq!(set(false, 500).await.paused_since, None, "no break to end");
        assert_eq!(set(true, 1_000).await.paused_since, Some(1_000));
        assert_eq!(
            set(true, 2_000).await.paused_since,
            Some(1_000),
            "pausing a paused agent keeps its break"
        );
        assert_eq!(set(false, 3_000).await.paused_since, None);
        assert_eq!(set(false, 3_500).await.paused_since, None);
        assert_eq!(set(true, 5_000).await.paused_since, Some(5_000));
        // Another server's clock is behind: the break ends when it began.
        assert_eq!(set(false, 4_000).await.paused_since, None);
        assert_eq!(set(true, 6_000).await.paused_since, Some(6_000));

        let breaks = store
            .agent_breaks(acct, &window(0, 10_000))
            .await
            .expect("breaks");
        let intervals: Vec<(i64, Option<i64>)> =
            breaks.iter().map(|b| (b.started_at, b.ended_at)).collect();
        assert_eq!(
            intervals,
            [(1_000, Some(3_000)), (5_000, Some(5_000)), (6_000, None)]
        );
        assert!(
            breaks
                .iter()
                .all(|b| b.agent_id == a.id && b.agent_name == "Priya")
        );
        assert_eq!(breaks[0].number.number(), "918160712345");

        assert!(
            store
                .set_agent_paused(acct, AgentId::generate(), true, 1)
                .await
                .expect("set")
                .is_none(),
            "no such agent"
        );
        let other = account(&store, 2).await;
        assert!(
            store
                .set_agent_paused(other, a.id, true, 1)
                .await
                .expect("set")
                .is_none(),
            "another account's agent"
        );

        // Deleting the agent deletes its breaks.
        assert!(store.delete_agent(acct, a.id).await.expect("delete"));
        assert!(
            store
                .agent_breaks(acct, &window(0, 10_000))
                .await
                .expect("breaks")
                .is_empty()
        );
    }
);

on_both!(
    agents_paused_at_once_get_one_break,
    |store: Arc<dyn Store>, _url: String| async move {
        let acct = account(&store, 1).await;
        let id = added(&store, acct, "Priya", "8160712345").await.id;
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.set_agent_paused(acct, id, true, 1_000 + i).await })
            })
            .collect();
        for t in tasks {
            let after = t.await.expect("task").expect("set").expect("agent");
            assert!(after.paused_since.is_some());
        }
        let breaks = store
            .agent_breaks(acct, &window(0, 10_000))
            .await
            .expect("breaks");
        assert_eq!(breaks.len(), 1, "{breaks:?}");
        assert_eq!(breaks[0].ended_at, None);
    }
);

on_both!(
    a_report_reads_the_breaks_overlapping_its_window,
    |store: Arc<dyn Store>, _url: String| async move {
        let acct = account(&store, 1).await;
        let a = added(&store, acct, "A", "8160712345").await;
        let b = added(&store, acct, "B", "8160712346").await;
        let other = account(&store, 2).await;
        let theirs = added(&store, other, "Theirs", "8160712347").await;
        let at = |agent: &AgentRecord, account: AccountId, on: i64, off: Option<i64>| {
            let store = store.clone();
            let id = agent.id;
            async move {
                store
                    .set_agent_paused(account, id, true, on)
                    .await
                    .expect("on");
                if let Some(off) = off {
                    store
                        .set_agent_paused(account, id, false, off)
                        .await
                        .expect("off");
                }
            }
        };
        // Window [1000, 2000).
        at(&a, acct, 100, Some(1_000)).await; // ends as the window starts: out
        at(&a, acct, 1_100, Some(1_200)).await; // inside
        at(&a, acct, 1_900, Some(2_500)).await; // ends after it
        at(&a, acct, 2_000, Some(2_100)).await; // starts as it ends: out
        at(&b, acct, 500, Some(1_001)).await; // started before it
        at(&b, acct, 1_500, None).await; // goes on
        at(&theirs, other, 1_100, Some(1_200)).await; // another account's

        let all = store
            .agent_breaks(acct, &window(1_000, 2_000))
            .await
            .expect("report");
        let listed: Vec<(&str, i64, Option<i64>)> = all
            .iter()
            .map(|r| (r.agent_name.as_str(), r.started_at, r.ended_at))
            .collect();
        assert_eq!(
            listed,
            [
                ("B", 500, Some(1_001)),
                ("A", 1_100, Some(1_200)),
                ("B", 1_500, None),
                ("A", 1_900, Some(2_500)),
            ]
        );

        // An open break that began before the window is in it too.
        let later = store
            .agent_breaks(acct, &window(3_000, 4_000))
            .await
            .expect("report");
        assert_eq!(
            later.iter().map(|r| r.started_at).collect::<Vec<_>>(),
            [1_500]
        );

        let only_a = store
            .agent_breaks(
                acct,
                &BreakFilter {
                    agent: Some(a.id),
                    ..window(1_000, 2_000)
                },
            )
            .await
            .expect("report");
        assert_eq!(
            only_a.iter().map(|r| r.started_at).collect::<Vec<_>>(),
            [1_100, 1_900]
        );
        let first_two = store
            .agent_breaks(
                acct,
                &BreakFilter {
                    limit: 2,
                    ..window(1_000, 2_000)
                },
            )
            .await
            .expect("report");
        assert_eq!(
            first_two.iter().map(|r| r.started_at).collect::<Vec<_>>(),
            [500, 1_100]
        );
    }
);

on_both!(
    accounts_read_clis_under_a_default_country_code,
    |store: Arc<dyn Store>, _url: String| async move {
        let acct = account(&store, 1).await;
        let record = store.account(acct).await.expect("get").expect("there");
        assert_eq!(record.default_country_code.as_str(), "91");
        let patch = AccountPatch {
            default_country_code: Some(CountryCode::parse("44").expect("code")),
            ..AccountPatch::default()
        };
        let patched = store
            .update_account(acct, &patch)
            .await
            .expect("patch")
            .expect("there");
        assert_eq!(patched.default_country_code.as_str(), "44");
        // Cached reads see the change.
        let again = store.account(acct).await.expect("get").expect("there");
        assert_eq!(again.default_country_code.as_str(), "44");
        let untouched = store
            .update_account(acct, &AccountPatch::default())
            .await
            .expect("patch")
            .expect("there");
        assert_eq!(untouched.default_country_code.as_str(), "44");
    }
);

on_both!(
    a_contacts_preferences_are_replaced_at_once,
    |store: Arc<dyn Store>, _url: String| async move {
        let acct = account(&store, 1).await;
        let pair = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        store
            .set_user_key(acct, "919876543210", "language", "hi")
            .await
            .expect("set");
        store
            .set_user_key(acct, "919876543210", "tier", "gold")
            .await
            .expect("set");
        store
            .set_user_key(acct, "918000000000", "language", "en")
            .await
            .expect("set");
        store
            .replace_user_keys(
                acct,
                "919876543210",
                &[pair("language", "ta"), pair("city", "Chennai")],
            )
            .await
            .expect("replace");
        assert_eq!(
            store.user_keys(acct, "919876543210").await.expect("read"),
            [pair("city", "Chennai"), pair("language", "ta")],
            "tier was not sent, so it is gone"
        );
        assert_eq!(
            store.user_keys(acct, "918000000000").await.expect("read"),
            [pair("language", "en")],
            "another contact is untouched"
        );
        store
            .replace_user_keys(acct, "919876543210", &[])
            .await
            .expect("clear");
        assert!(
            store
                .user_keys(acct, "919876543210")
                .await
                .expect("read")
                .is_empty()
        );
    }
);
