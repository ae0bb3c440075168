//! The hot writes of concurrent callers (an execution's start, progress and
//! end with its outbox row, a delivery attempt), which PostgreSQL commits in
//! batches: every caller gets its own answer, a bad row fails only its own
//! caller, and an answer comes only after the commit. Each test runs on both
//! databases (SQLite's writer groups commits its own way; the promises are
//! the same).

use std::collections::HashMap;
use std::sync::Arc;

use flowhook_core::account::{AccountName, TimeZone};
use flowhook_core::http::{BodyType, HttpMethod};
use flowhook_core::ids::{AccountId, ExecutionId, WebhookId};
use flowhook_core::webhook::WebhookUrl;
use flowhook_storage::{
    AttemptOutcome, AttemptRecord, DeliveryFilter, DeliveryRecord, ExecutionRecord, NewAccount,
    Sealed, ShortTokenRecord, Store, StoreError, StoredAuth, WebhookRecord, now_millis,
};
use tokio::task::JoinSet;

#[macro_use]
mod support;

/// How many callers write at once.
const CALLERS: usize = 120;

/// An account with a flow-end webhook.
async fn account(store: &Arc<dyn Store>) -> (AccountId, WebhookId) {
    let account = store
        .create_account(&NewAccount {
            id: AccountId::generate(),
            name: AccountName::parse("Batch").expect("name"),
            client_id: 77,
            security_hash: "hash-77".into(),
            allow_http: false,
            timezone: TimeZone::parse("Asia/Kolkata").expect("tz"),
            short_token: ShortTokenRecord {
                hash: "short-77".into(),
                sealed: Sealed("v2:test:short".into()),
            },
        })
        .await
        .expect("account");
    let hook = WebhookRecord {
        id: WebhookId::generate(),
        account_id: account.id,
        name: "end".into(),
        method: HttpMethod::Post,
        url: WebhookUrl::parse("https://hooks.invalid/hook").expect("url"),
        auth: StoredAuth::None,
        body_type: BodyType::Json,
        headers: Vec::new(),
        is_default: true,
        signing_secret: Sealed("v1:secret".into()),
        previous_secret: None,
        previous_until: None,
        last_check: None,
        created_at: 0,
        updated_at: 0,
    };
    store.insert_webhook(&hook).await.expect("hook");
    (account.id, hook.id)
}

fn running(account: AccountId) -> ExecutionRecord {
    ExecutionRecord::running(ExecutionId::generate(), account, "Ab3dE6gH", 1, "c")
}

/// Starts `CALLERS` executions at once; all of them, once each answered.
async fn start_many(store: &Arc<dyn Store>, account: AccountId) -> Vec<ExecutionRecord> {
    let mut starts = JoinSet::new();
    for _ in 0..CALLERS {
        let store = store.clone();
        starts.spawn(async move {
            let exec = running(account);
            store.insert_execution(&exec).await.expect("start");
            exec
        });
    }
    starts.join_all().await
}

/// The outbox rows of `account`, by execution.
async fn outbox(store: &Arc<dyn Store>, account: AccountId) -> HashMap<ExecutionId, usize> {
    let filter = DeliveryFilter {
        limit: 10_000,
        ..DeliveryFilter::default()
    };
    let mut by_execution = HashMap::new();
    for d in store.deliveries(account, &filter).await.expect("list") {
        *by_execution.entry(d.execution_id).or_default() += 1;
    }
    by_execution
}

on_both!(
    concurrent_callers_get_their_own_answers,
    |store: Arc<dyn Store>, _url: String| async move {
        let (acct, hook) = account(&store).await;
        let execs = start_many(&store, acct).await;

        // Progress of every other execution, all at once.
        let mut saves = JoinSet::new();
        for (i, exec) in execs.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            let (store, id) = (store.clone(), exec.id);
            saves.spawn(async move {
                let vars = serde_json::json!({ "n": i });
                store.save_progress(acct, id, &vars).await.expect("save");
            });
        }
        saves.join_all().await;
        for (i, exec) in execs.iter().enumerate() {
            let stored = store
                .execution(acct, exec.id)
                .await
                .expect("read")
                .expect("stored");
            let vars = if i % 2 == 0 {
                serde_json::json!({ "n": i })
            } else {
                serde_json::json!({})
            };
            assert_eq!(stored.variables, vars, "execution {i}: its own progress");
        }

        // Ends, all at once: some with a message, some without, some raced
        // by a second end (only one may win, and only its message is
        // queued), some by a sweep that must lose (the execution is not
        // silent since 0).
        let mut ends = JoinSet::new();
        for (i, exec) in execs.iter().enumerate() {
            let mut ended = exec.clone();
            ended.status = "completed".into();
            let racers = if i % 4 == 2 { 2 } else { 1 };
            for _ in 0..racers {
                let (store, ended) = (store.clone(), ended.clone());
                let with_message = i % 4 != 1;
                ends.spawn(async move {
                    let message = with_message
                        .then(|| DeliveryRecord::new(acct, hook, ended.id, "{}".into()));
                    let won = store
                        .finish_execution(&ended, message.as_ref())
                        .await
                        .expect("end");
                    (i, ended.id, won)
                });
            }
            if i % 4 == 3 {
                let (store, ended) = (store.clone(), ended.clone());
                ends.spawn(async move {
                    let message = DeliveryRecord::new(acct, hook, ended.id, "{}".into());
                    let won = store
                        .end_if_silent(&ended, Some(&message), 0)
                        .await
                        .expect("sweep");
                    assert!(!won, "a sweep ends only silent executions");
                    (usize::MAX, ended.id, won)
                });
            }
        }
        let mut winners: HashMap<ExecutionId, usize> = HashMap::new();
        for (_, id, won) in ends.join_all().await {
            *winners.entry(id).or_default() += usize::from(won);
        }
        let queued = outbox(&store, acct).await;
        for (i, exec) in execs.iter().enumerate() {
            assert_eq!(winners[&exec.id], 1, "execution {i}: exactly one end wins");
            let stored = store
                .execution(acct, exec.id)
                .await
                .expect("read")
                .expect("stored");
            assert_eq!(stored.status, "completed");
            let messages = queued.get(&exec.id).copied().unwrap_or(0);
            assert_eq!(
                messages,
                usize::from(i % 4 != 1),
                "execution {i}: one message if its end had one"
            );
        }
    }
);

on_both!(
    a_bad_row_fails_only_its_caller,
    |store: Arc<dyn Store>, _url: String| async move {
        let (acct, hook) = account(&store).await;
        let taken = running(acct);
        store.insert_execution(&taken).await.expect("first start");

        // Among many new executions, three reuse a stored id and two new ids
        // are started twice at once.
        let twice = [running(acct), running(acct)];
        let mut starts = JoinSet::new();
        for i in 0..CALLERS {
            let exec = match i {
                0..3 => taken.clone(),
                3..7 => twice[i % 2].clone(),
                _ => running(acct),
            };
            let store = store.clone();
            starts.spawn(async move { (exec.id, store.insert_execution(&exec).await) });
        }
        let mut conflicts: HashMap<ExecutionId, usize> = HashMap::new();
        let mut started = Vec::new();
        for (id, result) in starts.join_all().await {
            match result {
                Ok(()) => started.push(id),
                Err(StoreError::Conflict(_)) => *conflicts.entry(id).or_default() += 1,
                Err(e) => panic!("only conflicts may fail: {e}"),
            }
        }
        assert_eq!(
            conflicts.get(&taken.id),
            Some(&3),
            "the stored id, each time"
        );
        for id in twice.iter().map(|e| e.id) {
            assert_eq!(conflicts.get(&id), Some(&1), "one of two starts of one id");
        }
        assert_eq!(conflicts.len(), 3, "no other start failed");
        assert_eq!(started.len(), CALLERS - 5);
        for id in started {
            assert!(store.execution(acct, id).await.expect("read").is_some());
        }

        // Attempts recorded at once: those under the wrong lease change
        // nothing, the others are recorded.
        for exec in start_many(&store, acct).await {
            let mut ended = exec;
            ended.status = "completed".into();
            let message = DeliveryRecord::new(acct, hook, ended.id, "{}".into());
            assert!(
                store
                    .finish_execution(&ended, Some(&message))
                    .await
                    .expect("end")
            );
        }
        let now = now_millis();
        let claimed = store
            .claim_deliveries("batch-test:1", now, 60_000, CALLERS as i64)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), CALLERS);
        let mut records = JoinSet::new();
        for (i, d) in claimed.iter().enumerate() {
            let store = store.clone();
            let lease = if i % 5 == 0 {
                "someone-else:1"
            } else {
                "batch-test:1"
            };
            let attempt = AttemptRecord {
                delivery_id: d.id,
                attempt: d.attempts + 1,
                at: now,
                status: Some(200),
                duration_us: 10,
                response: None,
                error: None,
            };
            records.spawn(async move {
                let recorded = store
                    .record_attempt(lease, &attempt, AttemptOutcome::Delivered)
                    .await
                    .expect("record");
                (i, attempt.delivery_id, recorded)
            });
        }
        for (i, id, recorded) in records.join_all().await {
            assert_eq!(
                recorded,
                i % 5 != 0,
                "attempt {i}: recorded iff its lease held"
            );
            let (delivery, attempts) = store
                .delivery(acct, id)
                .await
                .expect("read")
                .expect("stored");
            assert_eq!(attempts.len(), usize::from(recorded));
            let status = if recorded { "delivered" } else { "pending" };
            assert_eq!(delivery.status, status);
        }
    }
);

on_both!(
    an_answer_comes_after_its_commit,
    |store: Arc<dyn Store>, url: String| async move {
        let (acct, hook) = account(&store).await;
        // Another server on the same database: it sees only what committed.
        let other = flowhook_storage::connect(&url).await.expect("second store");
        let mut callers = JoinSet::new();
        for _ in 0..CALLERS {
            let (store, other) = (store.clone(), other.clone());
            callers.spawn(async move {
                let mut exec = running(acct);
                store.insert_execution(&exec).await.expect("start");
                assert!(
                    other
                        .execution(acct, exec.id)
                        .await
                        .expect("read")
                        .is_some(),
                    "a started execution is stored when its start is answered"
                );
                exec.status = "completed".into();
                let message = DeliveryRecord::new(acct, hook, exec.id, "{}".into());
                assert!(
                    store
                        .finish_execution(&exec, Some(&message))
                        .await
                        .expect("end")
                );
                let stored = other
                    .execution(acct, exec.id)
                    .await
                    .expect("read")
                    .expect("stored");
                assert_eq!(stored.status, "completed");
                assert!(
                    other
                        .delivery(acct, message.id)
                        .await
                        .expect("read")
                        .is_some(),
                    "an ended execution's message is stored when its end is answered"
                );
            });
        }
        callers.join_all().await;
    }
);
