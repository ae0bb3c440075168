//! Storage of outbound requests and their schedule, on SQLite and on
//! PostgreSQL (see `support::on_both!`): the checksum window, leased claims,
//! a start that stores the execution only under a live lease, cancellation.

use std::sync::Arc;

use flowhook_core::account::{AccountName, TimeZone};
use flowhook_core::ids::{AccountId, ExecutionId, OutboundCallId, OutboundRequestId};
use flowhook_storage::{
    ExecutionRecord, NewAccount, OutboundCallRecord, OutboundRequestRecord, Sealed,
    ShortTokenRecord, Store, Stored,
};

#[macro_use]
mod support;

async fn account(store: &Arc<dyn Store>) -> AccountId {
    let new = NewAccount {
        id: AccountId::generate(),
        name: AccountName::parse("Acme").expect("name"),
        client_id: 1,
        security_hash: "hash-1".into(),
        allow_http: false,
        timezone: TimeZone::parse("UTC").expect("tz"),
        short_token: ShortTokenRecord {
            hash: "short-1".into(),
            sealed: Sealed("v2:test:short-1".into()),
        },
    };
    store.create_account(&new).await.expect("account").id
}

fn request(account: AccountId, checksum: &str, at: i64) -> OutboundRequestRecord {
    OutboundRequestRecord {
        id: OutboundRequestId::generate(),
        account_id: account,
        flow_id: "Ab3dE6gH".into(),
        flow_version: None,
        source: "api".into(),
        result_code: 200,
        invalid: serde_json::json!([]),
        checksum: checksum.into(),
        created_at: at,
    }
}

fn calls(r: &OutboundRequestRecord, due: &[i64]) -> Vec<OutboundCallRecord> {
    due.iter()
        .enumerate()
        .map(|(i, due)| OutboundCallRecord {
            id: OutboundCallId::generate(),
            request_id: r.id,
            account_id: r.account_id,
            flow_id: r.flow_id.clone(),
            flow_version: None,
            contact: format!("91998000000{i}"),
            client_id: Some("c".into()),
            keys: serde_json::json!({"Name": "Asha"}),
            execution_id: ExecutionId::generate(),
            status: "scheduled".into(),
            error: None,
            due_at: *due,
            started_at: None,
        })
        .collect()
}

fn execution(call: &OutboundCallRecord) -> ExecutionRecord {
    ExecutionRecord::running(
        call.execution_id,
        call.account_id,
        &call.flow_id,
        1,
        &call.contact,
    )
}

on_both!(
    an_identical_request_within_the_window_is_a_repeat,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store).await;
        let first = request(a, "sum-1", 1_000);
        let stored = store
            .insert_outbound(&first, &calls(&first, &[5_000]), 0)
            .await
            .expect("insert");
        assert_eq!(stored, Stored::New);
        // Within the window: nothing stored, the first one named.
        let again = request(a, "sum-1", 2_000);
        let stored = store
            .insert_outbound(&again, &calls(&again, &[5_000]), 1_000)
            .await
            .expect("insert");
        assert_eq!(stored, Stored::Repeated(first.id));
        assert!(
            store
                .outbound_request(a, again.id)
                .await
                .expect("read")
                .is_none()
        );
        // After the window the same checksum is a new request.
        let later = request(a, "sum-1", 100_000);
        let stored = store
            .insert_outbound(&later, &calls(&later, &[5_000]), 1_001)
            .await
            .expect("insert");
        assert_eq!(stored, Stored::New);
        let (read, read_calls) = store
            .outbound_request(a, later.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(read, later);
        assert_eq!(read_calls.len(), 1);
        assert_eq!(read_calls[0].call.keys, serde_json::json!({"Name": "Asha"}));
    }
);

on_both!(
    a_call_starts_once_and_only_under_its_lease,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store).await;
        let r = request(a, "sum-2", 1_000);
        let planned = calls(&r, &[10, 20, 1_000_000]);
        store
            .insert_outbound(&r, &planned, 0)
            .await
            .expect("insert");
        assert_eq!(store.next_outbound_due(0).await.expect("next"), Some(10));
        let backlog = store.outbound_backlog(500).await.expect("backlog");
        assert_eq!((backlog.due, backlog.oldest_due_at), (2, Some(10)));

        // Two claimers: the second gets nothing while the first's lease holds.
        let mine = store
            .claim_outbound_calls("srv-a:1", 500, 10_000, 10)
            .await
            .expect("claim");
        assert_eq!(mine.len(), 2, "only what is due");
        let theirs = store
            .claim_outbound_calls("srv-b:1", 600, 10_000, 10)
            .await
            .expect("claim");
        assert!(theirs.is_empty());
        assert_eq!(
            store.next_outbound_due(600).await.expect("next"),
            Some(1_000_000)
        );

        // A start under another lease stores nothing; under its own, once.
        let call = &mine[0];
        assert!(
            !store
                .start_outbound_call(call.id, "srv-b:1", &execution(call))
                .await
                .expect("start")
        );
        assert!(
            store
                .execution(a, call.execution_id)
                .await
                .expect("read")
                .is_none()
        );
        assert!(
            store
                .start_outbound_call(call.id, "srv-a:1", &execution(call))
                .await
                .expect("start")
        );
        assert!(
            !store
                .start_outbound_call(call.id, "srv-a:1", &execution(call))
                .await
                .expect("start again"),
            "started once"
        );
        assert!(
            store
                .execution(a, call.execution_id)
                .await
                .expect("read")
                .is_some()
        );

        // The other claimed call's lease expires: another server takes it.
        let taken = store
            .claim_outbound_calls("srv-b:2", 20_000, 10_000, 10)
            .await
            .expect("claim");
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].id, mine[1].id);
        assert!(
            !store
                .fail_outbound_call(mine[1].id, "srv-a:1", "late")
                .await
                .expect("fail"),
            "the old lease records nothing"
        );
        // Deferred: kept leased until then.
        assert!(
            store
                .defer_outbound_call(taken[0].id, "srv-b:2", 50_000)
                .await
                .expect("defer")
        );
        assert!(
            store
                .claim_outbound_calls("srv-a:3", 40_000, 10_000, 10)
                .await
                .expect("claim")
                .is_empty()
        );
        assert_eq!(
            store
                .release_outbound_leases(Some("srv-b"))
                .await
                .expect("release"),
            1
        );

        // Cancelling takes every call not started; a started one stays.
        assert_eq!(store.cancel_outbound(a, r.id).await.expect("cancel"), 2);
        let (_, views) = store
            .outbound_request(a, r.id)
            .await
            .expect("read")
            .expect("found");
        let states: Vec<(&str, Option<&str>)> = views
            .iter()
            .map(|v| (v.call.status.as_str(), v.execution_status.as_deref()))
            .collect();
        assert_eq!(
            states,
            [
                ("started", Some("running")),
                ("cancelled", None),
                ("cancelled", None)
            ]
        );
        assert!(
            store
                .claim_outbound_calls("srv-a:4", 2_000_000, 10_000, 10)
                .await
                .expect("claim")
                .is_empty(),
            "a cancelled call is never claimed"
        );
        // Another account sees nothing.
        assert_eq!(
            store
                .cancel_outbound(AccountId::generate(), r.id)
                .await
                .expect("cancel"),
            0
        );
    }
);
