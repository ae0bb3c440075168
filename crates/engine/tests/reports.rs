//! Report requests on a real (SQLite) store, with no builder running: an
//! account may have a few reports waiting, not the whole queue.

use std::sync::Arc;

use flowhook_core::account::{AccountName, SecurityId, TimeZone};
use flowhook_core::budget::MAX_PENDING_REPORTS_PER_ACCOUNT;
use flowhook_core::ids::{AccountId, FlowId};
use flowhook_engine::reports::{Reports, ReportsConfig, Request, RequestError};
use flowhook_storage::{AccountRecord, NewAccount, Store};

fn ask(flow: &FlowId) -> Request<'_> {
    Request {
        flow_id: flow.as_str(),
        from: "2026-11-01",
        to: "2026-11-30",
        format: None,
        deliver_to: None,
    }
}

async fn account_with_flow(store: &Arc<dyn Store>, client_id: i64) -> (AccountRecord, FlowId) {
    let account = store
        .create_account(&NewAccount {
            id: AccountId::generate(),
            name: AccountName::parse("a").expect("name"),
            client_id,
            security_hash: SecurityId::generate().lookup_hash(),
            allow_http: false,
            timezone: TimeZone::UTC,
            short_token: flowhook_storage::ShortTokenRecord {
                hash: format!("unused-{client_id}"),
                sealed: flowhook_storage::Sealed("unused".into()),
            },
        })
        .await
        .expect("account");
    let flow = FlowId::generate();
    store
        .insert_flow(
            account.id,
            &flow,
            "f",
            r#"{"name":"f","start":"e","widgets":{"e":{"type":"end"}}}"#,
        )
        .await
        .expect("flow");
    (account, flow)
}

#[tokio::test]
async fn an_account_may_have_only_a_few_reports_waiting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = flowhook_storage::connect(&flowhook_storage::testing::fresh_sqlite_url(dir.path()))
        .await
        .expect("store");
    let reports = Reports::new(
        store.clone(),
        Arc::new(tokio::sync::Notify::new()),
        ReportsConfig::default(),
    );
    let (a, flow_a) = account_with_flow(&store, 1).await;
    let (b, flow_b) = account_with_flow(&store, 2).await;
    for _ in 0..MAX_PENDING_REPORTS_PER_ACCOUNT {
        reports.request(&a, ask(&flow_a)).await.expect("queued");
    }
    let refused = reports.request(&a, ask(&flow_a)).await;
    assert!(
        matches!(refused, Err(RequestError::TooMany(n)) if n == MAX_PENDING_REPORTS_PER_ACCOUNT),
        "{refused:?}"
    );
    // Another account is not held up by it.
    reports.request(&b, ask(&flow_b)).await.expect("queued");
}
