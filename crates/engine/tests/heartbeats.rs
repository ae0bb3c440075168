//! Execution heartbeats on a real (SQLite) store: a live execution of this
//! server survives the sweep, one whose server went silent is marked failed,
//! and the maintenance loop's period runs on tokio's clock (tested paused).

use std::sync::Arc;
use std::time::Duration;

use flowhook_core::account::{AccountName, SecurityId, TimeZone};
use flowhook_core::ids::{AccountId, ExecutionId, FlowId};
use flowhook_engine::egress::{Egress, EgressConfig};
use flowhook_engine::executions::{Executions, HEARTBEAT_EVERY, PRESUMED_GONE_AFTER, StartRequest};
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
            short_token: flowhook_storage::ShortTokenRecord {
                hash: "unused".into(),
                sealed: flowhook_storage::Sealed("unused".into()),
            },
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

/// An execution left `running` by a server silent for longer than
/// [`PRESUMED_GONE_AFTER`] (by the wall clock, which the database uses).
fn orphan_of(account: AccountId, flow: &FlowId) -> ExecutionRecord {
    let mut orphan =
        ExecutionRecord::running(ExecutionId::generate(), account, flow.as_str(), 1, "2");
    orphan.started_at = now_millis() - PRESUMED_GONE_AFTER.as_millis() as i64 - 1_000;
    orphan
}

#[tokio::test(start_paused = true)]
async fn maintenance_rounds_follow_the_heartbeat_period_without_real_waiting() {
    let real = std::time::Instant::now();
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
            short_token: flowhook_storage::ShortTokenRecord {
                hash: "unused".into(),
                sealed: flowhook_storage::Sealed("unused".into()),
            },
        })
        .await
        .expect("account");
    let flow = FlowId::generate();
    let executions = Arc::new(Executions::new(
        store.clone(),
        Runner::new(Egress::new(EgressConfig::default()).expect("egress")),
        Arc::new(tokio::sync::Notify::new()),
        flowhook_core::secret::MasterKey::parse(&"ab".repeat(32)).expect("key"),
    ));
    let orphan = orphan_of(account.id, &flow);
    store.insert_execution(&orphan).await.expect("insert");
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

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let maintenance = tokio::spawn(executions.clone().maintain(stopped));
    // Let the loop start its first wait, then move tokio's clock in small
    // steps until the silent server's execution is marked failed.
    tokio::task::yield_now().await;
    let period = tokio::time::Instant::now();
    let step = Duration::from_millis(100);
    while status(orphan.id).await == "running" {
        assert!(
            period.elapsed() <= HEARTBEAT_EVERY * 10,
            "the first round never came"
        );
        tokio::time::advance(step).await;
    }
    // A round never comes before its period. (Waiting on the database lets
    // tokio's idle clock jump to the next timer, so the time is read from the
    // clock, and only the lower bound is exact.)
    let first = period.elapsed();
    assert!(
        first >= HEARTBEAT_EVERY,
        "the first round comes one period after the start, not after {first:?}"
    );

    // Another silent execution is swept by the next round, one period later.
    let second = orphan_of(account.id, &flow);
    store.insert_execution(&second).await.expect("insert");
    while status(second.id).await == "running" {
        assert!(
            period.elapsed() <= HEARTBEAT_EVERY * 20,
            "the second round never came"
        );
        tokio::time::advance(step).await;
    }
    let both = period.elapsed();
    assert!(
        both >= HEARTBEAT_EVERY * 2,
        "the second round comes a period after the first ({first:?}), not at {both:?}"
    );

    // Stopping ends the loop in the middle of its wait.
    stop.send(true).expect("maintenance listens");
    tokio::time::timeout(Duration::from_millis(10), maintenance)
        .await
        .expect("stops at once")
        .expect("no panic");
    assert!(
        real.elapsed() < HEARTBEAT_EVERY,
        "two periods passed on the paused clock, not the real one"
    );
}
