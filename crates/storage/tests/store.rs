//! Storage tests: every test runs on SQLite and on PostgreSQL (when
//! `FLOWHOOK_TEST_DATABASE_URL` is set; otherwise the PostgreSQL half says SKIPPED).

use std::sync::Arc;

use flowhook_core::account::{AccountName, IpWhitelist, TimeZone};
use flowhook_core::http::{BodyType, HttpMethod};
use flowhook_core::ids::{AccountId, WebhookId};
use flowhook_core::webhook::{HeaderPair, WebhookUrl};
use flowhook_storage::{
    AccountPatch, NewAccount, Sealed, ShortTokenRecord, Store, StoreError, StoredAuth,
    WebhookRecord, testing,
};

#[macro_use]
mod support;

fn new_account(client_id: i64) -> NewAccount {
    NewAccount {
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

/// Runs an execution to its end with a flow-end delivery, as the engine does.
async fn finish_with_delivery(
    store: &Arc<dyn Store>,
    acct: AccountId,
    hook: WebhookId,
    payload: String,
) {
    use flowhook_core::ids::ExecutionId;
    use flowhook_storage::{DeliveryRecord, ExecutionRecord};
    let mut exec = ExecutionRecord::running(ExecutionId::generate(), acct, "Ab3dE6gH", 1, "c");
    store.insert_execution(&exec).await.expect("insert");
    exec.status = "completed".into();
    let delivery = DeliveryRecord::new(acct, hook, exec.id, payload);
    store
        .finish_execution(&exec, Some(&delivery))
        .await
        .expect("finish with delivery");
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

on_both!(
    flows_keep_every_version,
    |store: Arc<dyn Store>, _url: String| async move {
        use flowhook_core::ids::FlowId;
        use flowhook_storage::StoreError;
        let acct = store
            .create_account(&new_account(11))
            .await
            .expect("account")
            .id;
        let id = FlowId::generate();
        let v1 = store
            .insert_flow(acct, &id, "order_status", "{\"v\":1}")
            .await
            .expect("insert");
        assert_eq!(v1.version, 1);
        let v2 = store
            .update_flow(acct, &id, "order_status", "{\"v\":2}")
            .await
            .expect("update")
            .expect("exists");
        assert_eq!((v2.version, v2.document.as_str()), (2, "{\"v\":2}"));
        let old = store
            .flow_version(acct, &id, 1)
            .await
            .expect("get")
            .expect("v1 kept");
        assert_eq!(old.document, "{\"v\":1}");
        assert_eq!(
            store
                .flow(acct, &id)
                .await
                .expect("get")
                .expect("current")
                .version,
            2
        );
        let dup = store
            .insert_flow(acct, &FlowId::generate(), "order_status", "{}")
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))));
        assert_eq!(store.flows(acct).await.expect("list").len(), 1);
        let other = store
            .create_account(&new_account(12))
            .await
            .expect("account")
            .id;
        assert!(
            store.flow(other, &id).await.expect("get").is_none(),
            "accounts are isolated"
        );
        assert!(!store.delete_flow(other, &id).await.expect("delete"));
        assert!(
            store
                .update_flow(other, &id, "x", "{}")
                .await
                .expect("update")
                .is_none()
        );
        assert!(store.delete_flow(acct, &id).await.expect("delete"));
        assert!(store.flow(acct, &id).await.expect("get").is_none());
    }
);

on_both!(
    executions_and_user_keys,
    |store: Arc<dyn Store>, _url: String| async move {
        use flowhook_core::ids::ExecutionId;
        use flowhook_storage::{ExecutionFilter, ExecutionRecord};
        use serde_json::json;
        let acct = store
            .create_account(&new_account(13))
            .await
            .expect("account")
            .id;
        let mut exec = ExecutionRecord {
            id: ExecutionId::generate(),
            account_id: acct,
            flow_id: "Ab3dE6gH".into(),
            flow_version: 1,
            contact: "918000000000".into(),
            status: "running".into(),
            reason: None,
            call: json!({"cli.number": "918000000000"}),
            recordings: json!([]),
            variables: json!({}),
            persisted: json!({}),
            trace: json!([]).into(),
            started_at: 1_000,
            finished_at: None,
        };
        store.insert_execution(&exec).await.expect("insert");
        exec.status = "completed".into();
        exec.variables = json!({"$flow.key.x": "1"});
        exec.trace = json!([{"widget": "a"}]).into();
        exec.finished_at = Some(2_000);
        store.finish_execution(&exec, None).await.expect("finish");
        assert_eq!(
            store.execution(acct, exec.id).await.expect("get"),
            Some(exec.clone())
        );

        let mut second = exec.clone();
        second.id = ExecutionId::generate();
        second.flow_id = "Zz9yY8xX".into();
        second.status = "running".into();
        second.started_at = 3_000;
        second.finished_at = None;
        store.insert_execution(&second).await.expect("insert");
        let all = ExecutionFilter {
            limit: 10,
            ..ExecutionFilter::default()
        };
        let listed = store.executions(acct, &all).await.expect("list");
        assert_eq!(
            listed.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![second.id, exec.id],
            "newest first"
        );
        let by_flow = ExecutionFilter {
            flow_id: Some("Ab3dE6gH".into()),
            ..all.clone()
        };
        assert_eq!(
            store.executions(acct, &by_flow).await.expect("list").len(),
            1
        );
        let window = ExecutionFilter {
            from: Some(2_500),
            to: Some(3_500),
            ..all.clone()
        };
        assert_eq!(
            store.executions(acct, &window).await.expect("list")[0].id,
            second.id
        );
        let stale = store
            .interrupted_executions(10_000, 100)
            .await
            .expect("list");
        assert_eq!(
            stale.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![second.id]
        );
        let mut ended = stale[0].clone();
        ended.status = "failed".into();
        ended.reason = Some("interrupted".into());
        assert!(store.finish_execution(&ended, None).await.expect("end"));
        let failed = store
            .execution(acct, second.id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(failed.status, "failed");
        // The status guard: an ended execution does not end again.
        let mut late = failed.clone();
        late.status = "completed".into();
        assert!(!store.finish_execution(&late, None).await.expect("late end"));
        let message = flowhook_storage::DeliveryRecord::new(
            acct,
            flowhook_core::ids::WebhookId::generate(),
            late.id,
            "{}".into(),
        );
        assert!(
            !store
                .finish_execution(&late, Some(&message))
                .await
                .expect("late end"),
            "a late end with a message ends nothing"
        );
        let all = flowhook_storage::DeliveryFilter {
            limit: 100,
            ..Default::default()
        };
        assert!(
            store
                .deliveries(acct, &all)
                .await
                .expect("outbox")
                .iter()
                .all(|d| d.execution_id != late.id),
            "and enqueues nothing"
        );
        assert_eq!(
            store
                .execution(acct, second.id)
                .await
                .expect("get")
                .expect("exists")
                .status,
            "failed"
        );

        store
            .set_user_key(acct, "918000000000", "language", "hi")
            .await
            .expect("set");
        store
            .set_user_key(acct, "918000000000", "language", "en")
            .await
            .expect("overwrite");
        store
            .set_user_key(acct, "918000000000", "tier", "gold")
            .await
            .expect("set");
        assert_eq!(
            store.user_keys(acct, "918000000000").await.expect("get"),
            vec![
                ("language".to_owned(), "en".to_owned()),
                ("tier".to_owned(), "gold".to_owned())
            ]
        );
        assert!(
            store
                .user_keys(acct, "other")
                .await
                .expect("get")
                .is_empty()
        );
    }
);

on_both!(
    the_outbox_claims_leases_and_records,
    |store: Arc<dyn Store>, _url: String| async move {
        use flowhook_storage::{
            AttemptOutcome, AttemptRecord, DeliveryFilter, DeliveryRecord, now_millis,
        };
        let acct = store
            .create_account(&new_account(21))
            .await
            .expect("account")
            .id;
        let hook = webhook(acct, "end", true);
        store.insert_webhook(&hook).await.expect("hook");

        // Deliveries are written with the end of their execution.
        for i in 0..5 {
            finish_with_delivery(&store, acct, hook.id, format!("{{\"n\":{i}}}")).await;
        }
        assert_eq!(store.queue_stats().await.expect("stats").pending, 5);

        let now = now_millis();
        let a = store
            .claim_deliveries("worker-a:1", now, 60_000, 3)
            .await
            .expect("claim");
        assert_eq!(a.len(), 3);
        let b = store
            .claim_deliveries("worker-b:1", now, 60_000, 10)
            .await
            .expect("claim");
        assert_eq!(b.len(), 2, "leased rows are not claimed twice");
        assert!(
            store
                .claim_deliveries("worker-c:1", now, 60_000, 10)
                .await
                .expect("claim")
                .is_empty()
        );

        // A failed attempt reschedules; the lease holder alone may record.
        let attempt = |d: &DeliveryRecord, status: Option<i64>| AttemptRecord {
            delivery_id: d.id,
            attempt: d.attempts + 1,
            at: now_millis(),
            status,
            duration_us: 1200,
            response: Some("busy".into()),
            error: Some("HTTP 503".into()),
        };
        assert!(
            !store
                .record_attempt(
                    "worker-b:1",
                    &attempt(&a[0], Some(503)),
                    AttemptOutcome::Retry { at: now + 1_000 }
                )
                .await
                .expect("record"),
            "not b's lease"
        );
        assert!(
            store
                .record_attempt(
                    "worker-a:1",
                    &attempt(&a[0], Some(503)),
                    AttemptOutcome::Retry { at: now + 1_000 }
                )
                .await
                .expect("record")
        );
        assert!(
            store
                .claim_deliveries("worker-c:1", now, 60_000, 10)
                .await
                .expect("claim")
                .is_empty(),
            "not due yet"
        );
        let retried = store
            .claim_deliveries("worker-c:1", now + 1_000, 60_000, 10)
            .await
            .expect("claim");
        assert_eq!(
            retried.iter().map(|d| d.id).collect::<Vec<_>>(),
            vec![a[0].id]
        );
        assert_eq!(retried[0].round_attempts, 1);

        // An expired lease is taken over (a crashed worker).
        let taken = store
            .claim_deliveries("worker-d:1", now + 61_000, 60_000, 10)
            .await
            .expect("claim");
        assert_eq!(taken.len(), 4, "a's two, b's two");
        let mut ok = attempt(&a[1], Some(200));
        ok.error = None;
        assert!(
            !store
                .record_attempt("worker-a:1", &ok, AttemptOutcome::Delivered)
                .await
                .expect("record"),
            "a lost its lease"
        );
        assert!(
            store
                .record_attempt("worker-d:1", &ok, AttemptOutcome::Delivered)
                .await
                .expect("record")
        );
        assert!(
            store
                .record_attempt("worker-d:1", &attempt(&a[2], None), AttemptOutcome::Failed)
                .await
                .expect("record")
        );

        let (delivered, log) = store
            .delivery(acct, a[1].id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            (delivered.status.as_str(), delivered.attempts, log.len()),
            ("delivered", 1, 1)
        );
        assert_eq!(log[0].status, Some(200));
        let (first, log) = store
            .delivery(acct, a[0].id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            (
                first.status.as_str(),
                log[0].attempt,
                log[0].response.as_deref()
            ),
            ("pending", 1, Some("busy"))
        );

        let failed = DeliveryFilter {
            status: Some("failed".into()),
            limit: 10,
            ..DeliveryFilter::default()
        };
        assert_eq!(
            store.deliveries(acct, &failed).await.expect("list").len(),
            1
        );
        assert_eq!(
            store
                .requeue_failed(acct, 0, now_millis() + 1)
                .await
                .expect("requeue"),
            1
        );
        assert!(
            store
                .deliveries(acct, &failed)
                .await
                .expect("list")
                .is_empty()
        );
        let (again, _) = store
            .delivery(acct, a[2].id)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(
            (again.status.as_str(), again.round_attempts, again.attempts),
            ("pending", 0, 1)
        );
        assert!(store.requeue(acct, a[1].id).await.expect("resend"));
        assert_eq!(
            store
                .release_leases(Some("worker-d"))
                .await
                .expect("release"),
            2
        );
        assert_eq!(
            store.release_leases(None).await.expect("release"),
            1,
            "worker-c still held one"
        );
    }
);

on_both!(
    concurrent_claims_never_overlap,
    |store: Arc<dyn Store>, _url: String| async move {
        use flowhook_storage::now_millis;
        let acct = store
            .create_account(&new_account(22))
            .await
            .expect("account")
            .id;
        let hook = webhook(acct, "end", true);
        store.insert_webhook(&hook).await.expect("hook");
        for _ in 0..200 {
            finish_with_delivery(&store, acct, hook.id, "{}".into()).await;
        }
        let now = now_millis();
        let claims = (0..8).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = store
                        .claim_deliveries(&format!("w{i}:1"), now, 60_000, 7)
                        .await
                        .expect("claim");
                    if batch.is_empty() {
                        break mine;
                    }
                    mine.extend(batch.into_iter().map(|d| d.id));
                }
            })
        });
        let mut all = Vec::new();
        for c in claims {
            all.extend(c.await.expect("join"));
        }
        let unique: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(
            (all.len(), unique.len()),
            (200, 200),
            "every delivery claimed exactly once"
        );
    }
);

on_both!(
    heartbeats_keep_running_executions_alive,
    |store: Arc<dyn Store>, _url: String| async move {
        use flowhook_core::ids::ExecutionId;
        use flowhook_storage::ExecutionRecord;
        let acct = store
            .create_account(&new_account(31))
            .await
            .expect("account")
            .id;
        let mut alive = ExecutionRecord::running(ExecutionId::generate(), acct, "Ab3dE6gH", 1, "a");
        let mut orphan =
            ExecutionRecord::running(ExecutionId::generate(), acct, "Ab3dE6gH", 1, "b");
        alive.started_at = 1_000;
        orphan.started_at = 1_000;
        store.insert_execution(&alive).await.expect("insert");
        store.insert_execution(&orphan).await.expect("insert");
        assert_eq!(
            store
                .heartbeat_executions("server-1", &[alive.id], 50_000)
                .await
                .expect("beat"),
            1
        );
        let silent = store
            .interrupted_executions(40_000, 100)
            .await
            .expect("sweep");
        assert_eq!(
            silent.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![orphan.id],
            "only the silent one"
        );
        // A sweep that read a stale list cannot end an execution whose server
        // heartbeated since: the end itself checks the silence again.
        let mut stale_view = alive.clone();
        stale_view.status = "failed".into();
        assert!(
            !store
                .end_if_silent(&stale_view, None, 40_000)
                .await
                .expect("sweep end"),
            "it heartbeated at 50,000"
        );
        let mut ended = silent[0].clone();
        ended.status = "failed".into();
        ended.reason = Some("interrupted: its server stopped while it ran".into());
        assert!(
            store
                .end_if_silent(&ended, None, 40_000)
                .await
                .expect("end")
        );
        let got = |id| {
            let store = store.clone();
            async move {
                store
                    .execution(acct, id)
                    .await
                    .expect("get")
                    .expect("exists")
            }
        };
        assert_eq!(got(alive.id).await.status, "running");
        let failed = got(orphan.id).await;
        assert_eq!(failed.status, "failed");
        assert!(failed.reason.expect("reason").contains("interrupted"));
        assert_eq!(
            store
                .interrupted_executions(60_000, 100)
                .await
                .expect("sweep")
                .len(),
            1,
            "its heartbeat grew old too"
        );
        // Progress is stored while running, and not after the end.
        let vars = serde_json::json!({"$flow.key.step": "2"});
        store
            .save_progress(acct, alive.id, &vars)
            .await
            .expect("progress");
        assert_eq!(got(alive.id).await.variables, vars);
        store
            .save_progress(acct, orphan.id, &vars)
            .await
            .expect("progress");
        assert_eq!(got(orphan.id).await.variables, serde_json::json!({}));
    }
);

on_both!(
    cached_reads_follow_every_write,
    |store: Arc<dyn Store>, _url: String| async move {
        use flowhook_core::ids::FlowId;
        let acct = store
            .create_account(&new_account(21))
            .await
            .expect("account");
        // Read once so that each lookup is cached, then change each record.
        let id = FlowId::generate();
        assert_eq!(store.flow(acct.id, &id).await.expect("flow"), None);
        store
            .insert_flow(acct.id, &id, "cached", "{\"v\":1}")
            .await
            .expect("insert");
        assert_eq!(
            store
                .flow(acct.id, &id)
                .await
                .expect("flow")
                .expect("saved")
                .version,
            1
        );
        store
            .update_flow(acct.id, &id, "cached", "{\"v\":2}")
            .await
            .expect("update");
        let flow = store
            .flow(acct.id, &id)
            .await
            .expect("flow")
            .expect("saved");
        assert_eq!((flow.version, flow.document.as_str()), (2, "{\"v\":2}"));

        assert_eq!(store.default_webhook(acct.id).await.expect("default"), None);
        let hook = webhook(acct.id, "first", true);
        store.insert_webhook(&hook).await.expect("hook");
        assert_eq!(
            store
                .default_webhook(acct.id)
                .await
                .expect("default")
                .map(|h| h.id),
            Some(hook.id)
        );
        assert_eq!(
            store
                .webhook(acct.id, hook.id)
                .await
                .expect("hook")
                .expect("saved")
                .last_check,
            None
        );
        let check = serde_json::json!({"ok": true});
        store
            .record_check(acct.id, hook.id, &check)
            .await
            .expect("check");
        assert_eq!(
            store
                .webhook(acct.id, hook.id)
                .await
                .expect("hook")
                .expect("saved")
                .last_check,
            Some(check)
        );

        let by_key = store
            .account_by_security_hash("hash-21")
            .await
            .expect("by key")
            .expect("found");
        assert!(!by_key.allow_http);
        let patch = AccountPatch {
            allow_http: Some(true),
            ..AccountPatch::default()
        };
        store.update_account(acct.id, &patch).await.expect("patch");
        let by_key = store
            .account_by_security_hash("hash-21")
            .await
            .expect("by key")
            .expect("found");
        assert!(by_key.allow_http);
    }
);

/// Two servers on one PostgreSQL database: a change made through one is seen
/// by the other even after the other cached the old record.
#[tokio::test]
async fn postgres_caches_follow_changes_made_by_another_server() {
    use flowhook_core::ids::FlowId;
    let Some(url) =
        testing::fresh_postgres_url("postgres_caches_follow_changes_made_by_another_server").await
    else {
        return;
    };
    let one = flowhook_storage::connect(&url).await.expect("one");
    let two = flowhook_storage::connect(&url).await.expect("two");
    let acct = one.create_account(&new_account(22)).await.expect("account");
    let id = FlowId::generate();
    one.insert_flow(acct.id, &id, "shared", "{\"v\":1}")
        .await
        .expect("insert");
    // `two` caches version 1 once its listener is up (until then it stores nothing).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    two.flow(acct.id, &id).await.expect("read");
    one.update_flow(acct.id, &id, "shared", "{\"v\":2}")
        .await
        .expect("update");
    loop {
        let seen = two
            .flow(acct.id, &id)
            .await
            .expect("read")
            .expect("flow")
            .version;
        if seen == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second server kept version {seen}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

on_both!(
    the_dashboard_counts_by_minute_outcome_and_destination,
    |store: Arc<dyn Store>, _url: String| async move {
        use flowhook_storage::{AttemptOutcome, AttemptRecord, now_millis};
        let acct = store
            .create_account(&new_account(31))
            .await
            .expect("account")
            .id;
        let other = store
            .create_account(&new_account(32))
            .await
            .expect("account")
            .id;
        let hook = webhook(acct, "end", true);
        store.insert_webhook(&hook).await.expect("hook");
        let since = now_millis() - 3_600_000;
        for i in 0..3 {
            finish_with_delivery(&store, acct, hook.id, format!("{{\"n\":{i}}}")).await;
        }
        let elsewhere = webhook(other, "end", true);
        store.insert_webhook(&elsewhere).await.expect("hook");
        finish_with_delivery(&store, other, elsewhere.id, "{}".into()).await;

        let now = now_millis();
        let claimed = store
            .claim_deliveries("w:1", now, 60_000, 10)
            .await
            .expect("claim");
        let mine: Vec<_> = claimed.iter().filter(|d| d.account_id == acct).collect();
        assert_eq!(mine.len(), 3);
        for (d, (us, outcome)) in mine.iter().zip([
            (10_000, AttemptOutcome::Delivered),
            (30_000, AttemptOutcome::Failed),
            (20_000, AttemptOutcome::Delivered),
        ]) {
            let attempt = AttemptRecord {
                delivery_id: d.id,
                attempt: 1,
                at: now_millis(),
                status: Some(200),
                duration_us: us,
                response: None,
                error: None,
            };
            assert!(
                store
                    .record_attempt("w:1", &attempt, outcome)
                    .await
                    .expect("record")
            );
        }

        let d = store.dashboard(acct, since).await.expect("dashboard");
        assert_eq!(
            d.executions_per_minute.iter().map(|m| m.count).sum::<i64>(),
            3,
            "{d:?}"
        );
        assert!(
            d.executions_per_minute
                .iter()
                .all(|m| m.status == "completed" && m.minute % 60_000 == 0)
        );
        assert_eq!(
            d.deliveries_by_status,
            vec![("delivered".to_owned(), 2), ("failed".to_owned(), 1)]
        );
        assert_eq!((d.backlog, d.oldest_pending_at), (0, None));
        assert_eq!(d.destinations.len(), 1);
        assert_eq!(d.destinations[0].webhook_id, hook.id.to_string());
        assert_eq!(d.destinations[0].attempts, 3);
        assert_eq!(d.destinations[0].p95_ms, 30.0);
        // The other account's pending delivery is its own.
        let theirs = store.dashboard(other, since).await.expect("dashboard");
        assert_eq!(theirs.backlog, 1);
        assert!(theirs.oldest_pending_at.is_some());
        // Nothing before the window.
        let later = store
            .dashboard(acct, now_millis() + 60_000)
            .await
            .expect("dashboard");
        assert!(later.executions_per_minute.is_empty() && later.deliveries_by_status.is_empty());
    }
);
