//! Execution heartbeats on a real (SQLite) store: a live execution of this
//! server survives the sweep, one whose server went silent is marked failed.

use std::sync::Arc;

use flowhook_core::account::{AccountName, SecurityId, TimeZone};
use flowhook_core::ids::{AccountId, ExecutionId, FlowId};
use flowhook_engine::egress::{Egress, EgressConfig};
use flowhook_engine::executions::{Executions, PRESUMED_GONE_AFTER, StartRequest};
use flowhook_engine::runner::Runner;
use flowhook_storage::{ExecutionRecord, NewAccount, now_millis};

#[tokio::test]
async fn live_executions_are_kept_and_silent_ones_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = flowhook_storage::connect(&flowhook_storage::testing::fresh_sqlite_url(dir.path()))
        .await
        .expect("store");
    let account = store
        .create_account(&NewAccount {
            id: AccountId::generate(),
            name: AccountName::parse("a").expect("name"),
            client_id: 1,
            security_hash: SecurityId::generate().lookup_hash(),
            allow_http: false,
            timezone: TimeZone::UTC,
        })
        .await
        .expect("account");
    let flow = store
        .insert_flow(
            account.id,
            &FlowId::generate(),
            "f",
            r#"{"name":"f","start":"e","widgets":{"e":{"type":"end"}}}"#,
        )
        .await
        .expect("flow");
    let executions = Executions::new(
        store.clone(),
        Runner::new(Egress::new(EgressConfig::default()).expect("egress")),
        Arc::new(tokio::sync::Notify::new()),
        flowhook_core::secret::MasterKey::parse(&"ab".repeat(32)).expect("key"),
    );
    // One execution running here (prepared, not yet run) ...
    let live = executions
        .prepare(
            &account,
            &flow,
            StartRequest {
                contact: "1".into(),
                ..StartRequest::default()
            },
        )
        .await
        .expect("prepared");
    // ... and one left behind by a server that died.
    let orphan = ExecutionRecord::running(
        ExecutionId::generate(),
        account.id,
        flow.id.as_str(),
        1,
        "2",
    );
    store.insert_execution(&orphan).await.expect("insert");

    let later = now_millis() + PRESUMED_GONE_AFTER.as_millis() as i64 + 1_000;
    executions.heartbeat_and_sweep(later).await;
    let status = |id| {
        let store = store.clone();
        async move {
            store
                .execution(account.id, id)
                .await
                .expect("get")
                .expect("exists")
                .status
        }
    };
    assert_eq!(status(live.id()).await, "running", "heartbeated, so alive");
    assert_eq!(status(orphan.id).await, "failed", "silent, so failed");

    // Once run, it leaves the live set and finishes normally.
    let done = executions.run(live).await.expect("runs");
    assert_eq!(done.status, "completed");
}
