//! Storage of executions reports, on SQLite and on PostgreSQL (see
//! `support::on_both!`): claiming with a lease, chunks, the end with its
//! delivery, rebuilding after a lost lease, and keyset pages of executions.

use std::sync::Arc;

use flowhook_core::account::{AccountName, TimeZone};
use flowhook_core::ids::{AccountId, ExecutionId, WebhookId};
use flowhook_storage::{
    DeliveryRecord, ExecutionRecord, NewAccount, ReportEnd, ReportPage, ReportRecord, Sealed,
    ShortTokenRecord, Store,
};

#[macro_use]
mod support;

async fn account(store: &Arc<dyn Store>, client_id: i64) -> AccountId {
    let new = NewAccount {
        id: AccountId::generate(),
        name: AccountName::parse(&format!("Acme {client_id}")).expect("name"),
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

async fn execution(store: &Arc<dyn Store>, account: AccountId, flow: &str, at: i64) -> ExecutionId {
    let mut e = ExecutionRecord::running(ExecutionId::generate(), account, flow, 1, "919800000000");
    e.started_at = at;
    e.variables = serde_json::json!({"$flow.key.n": at.to_string()});
    store.insert_execution(&e).await.expect("execution");
    e.id
}

fn chunks_text(chunks: &[(i64, String)]) -> String {
    chunks.iter().map(|(_, d)| d.as_str()).collect()
}

on_both!(
    a_build_is_leased_chunked_and_ended_with_its_delivery,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store, 1).await;
        let hook = WebhookId::generate();
        let report =
            ReportRecord::queued(a, "Ab3dE6gH", 0, 1000, "Asia/Kolkata", "csv", Some(hook));
        store.insert_report(&report).await.expect("insert");
        let stored = store
            .report(a, report.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(stored, report);
        // Another account does not see it.
        let b = account(&store, 2).await;
        assert!(store.report(b, report.id).await.expect("read").is_none());
        assert_eq!(store.reports(a, 10).await.expect("list").len(), 1);

        let now = flowhook_storage::now_millis();
        let claimed = store
            .claim_report("w1:1", now, 60_000)
            .await
            .expect("claim")
            .expect("one queued");
        assert_eq!(claimed.id, report.id);
        assert_eq!(claimed.status, "building");
        // Leased: nobody else claims it.
        assert!(
            store
                .claim_report("w2:1", now, 60_000)
                .await
                .expect("claim")
                .is_none()
        );

        assert!(
            store
                .report_progress(report.id, "w1:1", Some(3), 0, now + 60_000)
                .await
                .expect("progress")
        );
        assert!(
            store
                .append_report_chunk(report.id, "w1:1", 0, "a,b\n", 1, 4, now + 60_000)
                .await
                .expect("chunk")
        );
        assert!(
            store
                .append_report_chunk(report.id, "w1:1", 1, "\"x\ny\",2\n", 3, 12, now + 60_000)
                .await
                .expect("chunk")
        );
        // A lease that does not hold it writes nothing.
        assert!(
            !store
                .append_report_chunk(report.id, "w2:1", 2, "no", 9, 99, now)
                .await
                .expect("chunk")
        );
        assert!(
            !store
                .report_progress(report.id, "w2:1", Some(9), 9, now)
                .await
                .expect("progress")
        );

        let delivery = DeliveryRecord::new(a, hook, ExecutionId::nil(), "{\"report\":1}".into());
        let end = ReportEnd::Ready {
            rows: 3,
            size_bytes: 12,
            undelivered: None,
        };
        assert!(
            !store
                .finish_report(report.id, "w2:1", &end, Some(&delivery))
                .await
                .expect("finish")
        );
        assert!(
            store
                .finish_report(report.id, "w1:1", &end, Some(&delivery))
                .await
                .expect("finish")
        );
        let done = store
            .report(a, report.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(done.status, "ready");
        assert_eq!(
            (done.rows_done, done.rows_total, done.size_bytes),
            (3, Some(3), 12)
        );
        assert_eq!(done.delivery_id, Some(delivery.id));
        assert!(done.finished_at.is_some());
        let (queued, _) = store
            .delivery(a, delivery.id)
            .await
            .expect("read")
            .expect("queued with the end");
        assert_eq!(queued.payload, "{\"report\":1}");
        assert_eq!(queued.execution_id, ExecutionId::nil());

        let chunks = store
            .report_chunks(report.id, 0, 100)
            .await
            .expect("chunks");
        assert_eq!(chunks_text(&chunks), "a,b\n\"x\ny\",2\n");
        let tail = store.report_chunks(report.id, 1, 1).await.expect("chunks");
        assert_eq!(tail, vec![(1, "\"x\ny\",2\n".to_owned())]);
        // Ended once: not claimed again, not ended again.
        assert!(
            store
                .claim_report("w3:1", now + 120_000, 60_000)
                .await
                .expect("claim")
                .is_none()
        );
        assert!(
            !store
                .finish_report(
                    report.id,
                    "w1:1",
                    &ReportEnd::Failed { error: "x".into() },
                    None
                )
                .await
                .expect("finish")
        );
    }
);

on_both!(
    a_build_whose_lease_is_lost_starts_over,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store, 1).await;
        let report = ReportRecord::queued(a, "Ab3dE6gH", 0, 1000, "UTC", "json", None);
        store.insert_report(&report).await.expect("insert");
        let now = flowhook_storage::now_millis();
        store
            .claim_report("dead:1", now, 1_000)
            .await
            .expect("claim")
            .expect("claimed");
        assert!(
            store
                .append_report_chunk(report.id, "dead:1", 0, "[stale", 5, 6, now + 1_000)
                .await
                .expect("chunk")
        );

        // Before the lease expires nobody else takes it; after, it starts over.
        assert!(
            store
                .claim_report("live:1", now + 500, 60_000)
                .await
                .expect("claim")
                .is_none()
        );
        let again = store
            .claim_report("live:1", now + 2_000, 60_000)
            .await
            .expect("claim")
            .expect("expired lease claimed");
        assert_eq!(
            (again.status.as_str(), again.rows_done, again.size_bytes),
            ("building", 0, 0)
        );
        assert!(
            store
                .report_chunks(report.id, 0, 10)
                .await
                .expect("chunks")
                .is_empty()
        );
        // The dead builder's late writes are refused.
        assert!(
            !store
                .append_report_chunk(report.id, "dead:1", 1, "late", 6, 10, now)
                .await
                .expect("chunk")
        );

        // Releasing a worker's leases (or all, at an embedded start) makes
        // the report claimable at once.
        assert_eq!(
            store
                .release_report_leases(Some("other"))
                .await
                .expect("release"),
            0
        );
        assert_eq!(
            store
                .release_report_leases(Some("live"))
                .await
                .expect("release"),
            1
        );
        assert!(
            store
                .claim_report("next:1", now + 2_000, 60_000)
                .await
                .expect("claim")
                .is_some()
        );
        assert_eq!(store.release_report_leases(None).await.expect("release"), 1);
        let end = ReportEnd::Failed {
            error: "the flow is gone".into(),
        };
        store
            .claim_report("next:2", now + 2_000, 60_000)
            .await
            .expect("claim")
            .expect("claimed");
        assert!(
            store
                .finish_report(report.id, "next:2", &end, None)
                .await
                .expect("finish")
        );
        let failed = store
            .report(a, report.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(
            (failed.status.as_str(), failed.error.as_deref()),
            ("failed", Some("the flow is gone"))
        );
    }
);

on_both!(
    executions_are_read_in_keyset_pages,
    |store: Arc<dyn Store>, _url: String| async move {
        let a = account(&store, 1).await;
        let b = account(&store, 2).await;
        let mut expected = Vec::new();
        // Two at the same instant, to exercise the id tie-break; the range
        // is [100, 200).
        for at in [100, 150, 150, 150, 199] {
            expected.push((at, execution(&store, a, "Flow0001", at).await));
        }
        expected.sort();
        for at in [99, 200] {
            execution(&store, a, "Flow0001", at).await;
        }
        execution(&store, a, "Flow0002", 120).await;
        execution(&store, b, "Flow0001", 120).await;

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = ReportPage {
                account: a,
                flow_id: "Flow0001",
                from: 100,
                to: 200,
                after,
                limit: 2,
            };
            let rows = store.report_rows(&page).await.expect("page");
            assert!(rows.len() <= 2);
            let Some(last) = rows.last() else { break };
            after = Some(last.key());
            seen.extend(rows.iter().map(|r| (r.started_at, r.id)));
            assert!(rows.iter().all(|r| r.variables.contains("$flow.key.n")));
        }
        assert_eq!(seen, expected);
    }
);
