//! Executions reports over HTTP: `POST /v1/reports` and `pullreport` build
//! the same CSV and JSON files (columns, quoting, the union of keys,
//! persisted values, the range's edges in the account's zone), account
//! isolation, refused input, delivery to a signed webhook through the outbox,
//! the download, and a build cut off by a dead server built again.

use std::sync::Arc;
use std::time::Duration;

use flowhook_core::ids::{AccountId, ExecutionId};
use flowhook_core::secret::SigningSecret;
use flowhook_storage::{ExecutionRecord, ReportRecord, Store};
use reqwest::Method;
use serde_json::{Value, json};

use crate::flows::post_flow;
use crate::helpers::{
    Account, Db, Options, TestApp, TestReceiver, answered, assert_failed, internal, spawn_with,
};

/// Runs each test of this file on SQLite and on PostgreSQL (which says
/// SKIPPED without `FLOWHOOK_TEST_DATABASE_URL`).
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(crate::helpers::Db::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(crate::helpers::Db::Postgres).await;
            }
        }
    )*};
}

on_both!(
    csv_and_json_list_the_range_with_every_key_and_persisted_value,
    pullreport_builds_the_same_report,
    bad_requests_are_refused_with_the_field_named,
    an_account_sees_only_its_reports,
    a_report_is_delivered_signed_through_the_outbox,
    a_build_cut_off_by_a_dead_server_is_built_again,
);

const FLOW: &str = r#"{
  "name": "NAME", "start": "s",
  "widgets": {"s": {"type": "store_variable", "assign": {"$flow.key.x": "1"}, "lines": [null]}}
}"#;

struct Setup {
    app: TestApp,
    acct: Account,
    store: Arc<dyn Store>,
    account: AccountId,
    flow: String,
}

async fn setup(db: Db) -> Option<Setup> {
    let app = spawn_with(
        db,
        Options {
            allow_cidrs: Some("127.0.0.1/32".into()),
            ..Options::default()
        },
    )
    .await?;
    let acct = app.create_account(true).await;
    let flow = save_flow(&app, &acct, "survey").await;
    let store = flowhook_storage::connect(&app.db_url).await.expect("store");
    let account = AccountId::parse(&acct.id).expect("account id");
    Some(Setup {
        app,
        acct,
        store,
        account,
        flow,
    })
}

async fn save_flow(app: &TestApp, acct: &Account, name: &str) -> String {
    let flow = FLOW.replace("NAME", name);
    let (status, saved) = post_flow(app, &acct.key, "/v1/flows", Method::POST, &flow).await;
    assert_eq!(status, 201, "{saved}");
    saved["id"].as_str().expect("id").to_owned()
}

fn millis(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("time")
        .timestamp_millis()
}

/// Stores an execution as the engine would have.
async fn execution(
    s: &Setup,
    flow: &str,
    started: &str,
    finished_after_ms: Option<i64>,
    variables: Value,
    persisted: Value,
) -> String {
    let id = ExecutionId::generate();
    let mut e = ExecutionRecord::running(id, s.account, flow, 2, "919800000001");
    e.started_at = millis(started);
    if let Some(after) = finished_after_ms {
        e.status = "completed".into();
        e.finished_at = Some(e.started_at + after);
    }
    e.variables = variables;
    e.persisted = persisted;
    s.store.insert_execution(&e).await.expect("insert");
    id.to_string()
}

/// Three executions in 2026-11-21 (Asia/Kolkata, the account's zone), both
/// edges included, and three outside it; their ids in start order.
async fn november_21(s: &Setup) -> Vec<String> {
    let at_start = execution(
        s,
        &s.flow,
        "2026-11-21T00:00:00+05:30",
        Some(1000),
        json!({"$flow.key.orderId": "A-1"}),
        json!({}),
    )
    .await;
    let quoted = execution(
        s,
        &s.flow,
        "2026-11-21T10:00:00+05:30",
        Some(57_250),
        json!({
            "$flow.key.orderId": "A-17",
            "$flow.key.note": "a, \"quoted\"\nline",
            "$flow.syskey.secretish": "not a key column",
            "$user.key.language": "hi"
        }),
        json!({"$flow.key.orderStatus": "shipped"}),
    )
    .await;
    let at_end = execution(
        s,
        &s.flow,
        "2026-11-21T23:59:59.999+05:30",
        None,
        json!({"$flow.key.other": "x"}),
        json!({}),
    )
    .await;
    for outside in ["2026-11-20T23:59:59.999+05:30", "2026-11-22T00:00:00+05:30"] {
        execution(
            s,
            &s.flow,
            outside,
            Some(1),
            json!({"$flow.key.late": "1"}),
            json!({}),
        )
        .await;
    }
    let other_flow = save_flow(&s.app, &s.acct, "another").await;
    execution(
        s,
        &other_flow,
        "2026-11-21T10:00:00+05:30",
        Some(1),
        json!({"$flow.key.elsewhere": "1"}),
        json!({}),
    )
    .await;
    vec![at_start, quoted, at_end]
}

async fn ask(s: &Setup, body: Value) -> (u16, Value) {
    s.app
        .call(Method::POST, "/v1/reports", &s.acct.key, Some(body))
        .await
}

/// Polls the report until it is no longer queued or building.
async fn finished(app: &TestApp, key: &str, id: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, report) = app
            .call(Method::GET, &format!("/v1/reports/{id}"), key, None)
            .await;
        assert_eq!(status, 200, "{report}");
        if report["status"] == "ready" || report["status"] == "failed" {
            return report;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never finished: {report}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The file: status, content type, disposition, body.
async fn download(app: &TestApp, key: &str, id: &str) -> (u16, String, String, String) {
    let resp = app
        .http
        .get(app.url(&format!("/v1/reports/{id}/file")))
        .bearer_auth(key)
        .send()
        .await
        .expect("download");
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (ty, disposition) = (header("content-type"), header("content-disposition"));
    (
        resp.status().as_u16(),
        ty,
        disposition,
        resp.text().await.expect("body"),
    )
}

fn expected_csv(ids: &[String]) -> String {
    format!(
        "uuid,contact,status,start,end,duration,$flow.key.note,$flow.key.orderId,$flow.key.other,persisted.$flow.key.orderStatus\r\n\
         {},919800000001,completed,2026-11-21T00:00:00.000+05:30,2026-11-21T00:00:01.000+05:30,1.000,,A-1,,\r\n\
         {},919800000001,completed,2026-11-21T10:00:00.000+05:30,2026-11-21T10:00:57.250+05:30,57.250,\"a, \"\"quoted\"\"\nline\",A-17,,shipped\r\n\
         {},919800000001,running,2026-11-21T23:59:59.999+05:30,,,,,x,\r\n",
        ids[0], ids[1], ids[2]
    )
}

async fn csv_and_json_list_the_range_with_every_key_and_persisted_value(db: Db) {
    let Some(s) = setup(db).await else { return };
    let ids = november_21(&s).await;

    let (status, asked) = ask(
        &s,
        json!({"flow_id": s.flow, "from": "2026-11-21", "to": "2026-11-21"}),
    )
    .await;
    assert_eq!(status, 202, "{asked}");
    assert_eq!(asked["status"], "queued");
    assert_eq!(asked["format"], "csv");
    let id = asked["id"].as_str().expect("id");
    let report = finished(&s.app, &s.acct.key, id).await;
    assert_eq!(report["status"], "ready", "{report}");
    assert_eq!(
        (report["rows_done"].as_i64(), report["rows_total"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(report["from"], "2026-11-20T18:30:00.000Z");
    assert_eq!(report["to"], "2026-11-21T18:30:00.000Z");
    assert_eq!(report["time_zone"], "Asia/Kolkata");
    assert!(
        report["file_url"]
            .as_str()
            .expect("url")
            .ends_with(&format!("/v1/reports/{id}/file"))
    );

    let (status, ty, disposition, csv) = download(&s.app, &s.acct.key, id).await;
    assert_eq!(status, 200);
    assert_eq!(ty, "text/csv; charset=utf-8");
    assert_eq!(
        disposition,
        format!("attachment; filename=\"report-{}-{id}.csv\"", s.flow)
    );
    assert_eq!(csv, expected_csv(&ids));
    assert_eq!(report["size_bytes"].as_u64(), Some(csv.len() as u64));

    // The same table as JSON, with date-times for the range.
    let (status, asked) = ask(&s, json!({
        "flow_id": s.flow, "from": "2026-11-21T00:00:00+05:30", "to": "2026-11-21T18:30:00Z", "format": "json"
    }))
    .await;
    assert_eq!(status, 202, "{asked}");
    let id = asked["id"].as_str().expect("id");
    assert_eq!(finished(&s.app, &s.acct.key, id).await["status"], "ready");
    let (status, ty, disposition, text) = download(&s.app, &s.acct.key, id).await;
    assert_eq!((status, ty.as_str()), (200, "application/json"));
    assert!(disposition.ends_with(".json\""), "{disposition}");
    let rows: Value = serde_json::from_str(&text).expect("a JSON array");
    assert_eq!(rows.as_array().expect("array").len(), 3);
    assert_eq!(
        rows[1],
        json!({
            "uuid": ids[1], "contact": "919800000001", "status": "completed",
            "start": "2026-11-21T10:00:00.000+05:30", "end": "2026-11-21T10:00:57.250+05:30",
            "duration": 57.25, "$flow.key.note": "a, \"quoted\"\nline", "$flow.key.orderId": "A-17",
            "$flow.key.other": null, "persisted.$flow.key.orderStatus": "shipped"
        })
    );
    assert_eq!(rows[2]["end"], Value::Null);
    assert_eq!(rows[2]["duration"], Value::Null);

    // An empty range is a file with its heading only.
    let (_, asked) = ask(
        &s,
        json!({"flow_id": s.flow, "from": "2020-01-01", "to": "2020-01-02"}),
    )
    .await;
    let id = asked["id"].as_str().expect("id");
    let report = finished(&s.app, &s.acct.key, id).await;
    assert_eq!(
        (report["status"].as_str(), report["rows_total"].as_i64()),
        (Some("ready"), Some(0))
    );
    let (_, _, _, csv) = download(&s.app, &s.acct.key, id).await;
    assert_eq!(csv, "uuid,contact,status,start,end,duration\r\n");
    // Listed newest first.
    let (_, list) = s
        .app
        .call(Method::GET, "/v1/reports", &s.acct.key, None)
        .await;
    assert_eq!(list.as_array().expect("list").len(), 3);
    assert_eq!(list[0]["id"], asked["id"]);
}

async fn pullreport_builds_the_same_report(db: Db) {
    let Some(s) = setup(db).await else { return };
    let ids = november_21(&s).await;
    let answer = internal(
        &s.app,
        &s.acct,
        "pullreport",
        json!([
            {"name": "$flow.key.flowID", "value": s.flow},
            {"name": "$flow.key.fromDate", "value": "2026-11-21"},
            {"name": "$flow.key.toDate", "value": "2026-11-21"}
        ]),
    )
    .await;
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
    assert_eq!(answered(&answer, "$flow.key.reportStatus"), Some("queued"));
    let id = answered(&answer, "$flow.key.reportID").expect("reportID");
    assert_eq!(finished(&s.app, &s.acct.key, id).await["status"], "ready");
    let (_, _, _, csv) = download(&s.app, &s.acct.key, id).await;
    assert_eq!(csv, expected_csv(&ids));

    let keys = |flow: &str, from: &str, to: &str, extra: Value| {
        let mut keys = vec![
            json!({"name": "$flow.key.flowID", "value": flow}),
            json!({"name": "$flow.key.fromDate", "value": from}),
            json!({"name": "$flow.key.toDate", "value": to}),
        ];
        keys.extend(extra.as_array().cloned().unwrap_or_default());
        Value::Array(keys)
    };
    let cases = [
        (
            keys("Zz9Zz9Zz", "2026-11-21", "2026-11-21", json!([])),
            "flowID: this account has no flow Zz9Zz9Zz",
        ),
        (
            keys(&s.flow, "2026-11-22", "2026-11-21", json!([])),
            "toDate: the range is empty",
        ),
        (
            keys(&s.flow, "21st November", "2026-11-21", json!([])),
            "fromDate: \"21st November\" is not an ISO 8601 date",
        ),
        (
            keys(
                &s.flow,
                "2026-11-21",
                "2026-11-21",
                json!([{"name": "format", "value": "xml"}]),
            ),
            "format: \"xml\" is not a report format",
        ),
        (
            keys(
                &s.flow,
                "2026-11-21",
                "2026-11-21",
                json!([{"name": "deliverTo", "value": "01932c6e-8a4f-7d3a-9f1e-2b7c4d5e6f70"}]),
            ),
            "deliverTo: this account has no webhook",
        ),
        (
            json!([{"name": "fromDate", "value": "2026-11-21"}]),
            "flowID: missing",
        ),
    ];
    for (keys, fragment) in cases {
        assert_failed(
            &internal(&s.app, &s.acct, "pullreport", keys).await,
            fragment,
        );
    }
}

async fn bad_requests_are_refused_with_the_field_named(db: Db) {
    let Some(s) = setup(db).await else { return };
    let cases = [
        (
            json!({"flow_id": "Zz9Zz9Zz", "from": "2026-11-21", "to": "2026-11-22"}),
            "UNKNOWN_FLOW",
            "flow_id: this account has no flow",
        ),
        (
            json!({"flow_id": s.flow, "from": "2026-11-22", "to": "2026-11-21"}),
            "INVALID_RANGE",
            "to: the range is empty",
        ),
        (
            json!({"flow_id": s.flow, "from": "2026-11-21T10:00:00Z", "to": "2026-11-21T10:00:00Z"}),
            "INVALID_RANGE",
            "to: the range is empty",
        ),
        (
            json!({"flow_id": s.flow, "from": "yesterday!", "to": "2026-11-21"}),
            "INVALID_RANGE",
            "from: \"yesterday!\" is not an ISO 8601",
        ),
        (
            json!({"flow_id": s.flow, "from": "2026-11-21", "to": "2026-11-22", "deliver_to": "01932c6e-8a4f-7d3a-9f1e-2b7c4d5e6f70"}),
            "UNKNOWN_WEBHOOK",
            "deliver_to: this account has no webhook",
        ),
        (
            json!({"flow_id": s.flow, "from": "2026-11-21", "to": "2026-11-22", "format": "xml"}),
            "INVALID_BODY",
            "unknown variant",
        ),
        (
            json!({"flow_id": "short", "from": "2026-11-21", "to": "2026-11-22"}),
            "INVALID_BODY",
            "flow_id: a flow id is 8 characters",
        ),
    ];
    for (body, code, fragment) in cases {
        let (status, problem) = ask(&s, body.clone()).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["code"], code, "{body}: {problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(fragment), "{fragment:?} not in {detail:?}");
    }
    let (status, _) = s
        .app
        .call(Method::GET, "/v1/reports/not-a-uuid", &s.acct.key, None)
        .await;
    assert_eq!(status, 404);
}

async fn an_account_sees_only_its_reports(db: Db) {
    let Some(s) = setup(db).await else { return };
    november_21(&s).await;
    let (_, asked) = ask(
        &s,
        json!({"flow_id": s.flow, "from": "2026-11-21", "to": "2026-11-21"}),
    )
    .await;
    let id = asked["id"].as_str().expect("id");
    finished(&s.app, &s.acct.key, id).await;

    let other = s.app.create_account(true).await;
    for path in [
        format!("/v1/reports/{id}"),
        format!("/v1/reports/{id}/file"),
    ] {
        let (status, problem) = s.app.call(Method::GET, &path, &other.key, None).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{path}"
        );
    }
    let (_, list) = s
        .app
        .call(Method::GET, "/v1/reports", &other.key, None)
        .await;
    assert_eq!(list, json!([]));
    // Nor can it report on the first account's flow.
    let (status, problem) = s
        .app
        .call(
            Method::POST,
            "/v1/reports",
            &other.key,
            Some(json!({"flow_id": s.flow, "from": "2026-11-21", "to": "2026-11-21"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("UNKNOWN_FLOW"))
    );
}

async fn a_report_is_delivered_signed_through_the_outbox(db: Db) {
    let Some(s) = setup(db).await else { return };
    let ids = november_21(&s).await;
    let receiver = TestReceiver::start().await;
    let (status, hook) = s
        .app
        .call(
            Method::POST,
            "/v1/webhooks",
            &s.acct.key,
            Some(json!({
                "name": "reports", "method": "POST", "url": receiver.url("/reports")
            })),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let (hook_id, secret) = (
        hook["id"].as_str().expect("id"),
        hook["signing_secret"].as_str().expect("secret"),
    );

    let (status, asked) = ask(
        &s,
        json!({
            "flow_id": s.flow, "from": "2026-11-21", "to": "2026-11-21", "deliver_to": hook_id
        }),
    )
    .await;
    assert_eq!(status, 202, "{asked}");
    let id = asked["id"].as_str().expect("id");
    let report = finished(&s.app, &s.acct.key, id).await;
    assert_eq!(
        (report["status"].as_str(), &report["error"]),
        (Some("ready"), &Value::Null)
    );
    let got = receiver
        .wait_for("/reports", 1, Duration::from_secs(20))
        .await;
    assert_eq!(got.len(), 1);
    let r = &got[0];
    let signing = SigningSecret::parse(secret).expect("secret");
    let ts: i64 = r
        .header("webhook-timestamp")
        .expect("ts")
        .parse()
        .expect("ts");
    let expected = signing.sign(r.header("webhook-id").expect("id"), ts, &r.body);
    assert!(
        r.header("webhook-signature")
            .expect("sig")
            .split(' ')
            .any(|s| s == expected)
    );
    let doc: Value = serde_json::from_slice(&r.body).expect("json");
    assert_eq!(doc["type"], "report.ready");
    assert_eq!(doc["reportId"], id);
    assert_eq!(doc["flowId"], s.flow.as_str());
    assert_eq!(doc["rows"], 3);
    assert_eq!(doc["csv"], expected_csv(&ids));

    // The delivery is the outbox's, with its attempts.
    let delivery = report["delivery_id"].as_str().expect("delivery id");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, d) = s
            .app
            .call(
                Method::GET,
                &format!("/v1/deliveries/{delivery}"),
                &s.acct.key,
                None,
            )
            .await;
        if d["status"] == "delivered" {
            assert_eq!(d["attempts"].as_array().map(Vec::len), Some(1), "{d}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{d}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // A file over 8 MiB is ready to download, not delivered.
    let big = "x".repeat(1024 * 1024);
    for i in 0..9 {
        execution(
            &s,
            &s.flow,
            &format!("2026-12-01T10:00:0{i}+05:30"),
            Some(1),
            json!({"$flow.key.big": big}),
            json!({}),
        )
        .await;
    }
    let (_, asked) = ask(
        &s,
        json!({
            "flow_id": s.flow, "from": "2026-12-01", "to": "2026-12-01", "deliver_to": hook_id
        }),
    )
    .await;
    let id = asked["id"].as_str().expect("id");
    let report = finished(&s.app, &s.acct.key, id).await;
    assert_eq!(report["status"], "ready");
    assert_eq!(report["delivery_id"], Value::Null);
    let error = report["error"].as_str().expect("why not delivered");
    assert!(error.contains("over the 8388608 bytes (8 MiB)"), "{error}");
    let (status, _, _, csv) = download(&s.app, &s.acct.key, id).await;
    assert_eq!(status, 200);
    assert_eq!(
        csv.len() as i64,
        report["size_bytes"].as_i64().expect("size")
    );
    assert!(csv.len() > 9 * 1024 * 1024);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.requests_to("/reports").len(), 1);
}

async fn a_build_cut_off_by_a_dead_server_is_built_again(db: Db) {
    let Some(s) = setup(db).await else { return };
    let ids = november_21(&s).await;
    let Setup {
        mut app,
        acct,
        store,
        account,
        flow,
    } = s;
    // While no server runs: a report a server claimed and wrote a piece of,
    // then died with. A long lease on SQLite (the next start takes it back:
    // an embedded database has one server); on PostgreSQL one that has just
    // expired, which any live server claims.
    app.stop().await;
    let (from, to) = (
        millis("2026-11-21T00:00:00+05:30"),
        millis("2026-11-22T00:00:00+05:30"),
    );
    let report = ReportRecord::queued(account, &flow, from, to, "Asia/Kolkata", "csv", None);
    store.insert_report(&report).await.expect("insert");
    let lease_ms = match db {
        Db::Sqlite => 3_600_000,
        Db::Postgres => 1,
    };
    let now = flowhook_storage::now_millis() - 10;
    let claimed = store
        .claim_report("dead-server:1", now, lease_ms)
        .await
        .expect("claim");
    assert_eq!(claimed.map(|r| r.status), Some("building".to_owned()));
    assert!(
        store
            .append_report_chunk(
                report.id,
                "dead-server:1",
                0,
                "half a stale file",
                1,
                17,
                now + lease_ms
            )
            .await
            .expect("chunk")
    );

    let app = app.restart().await;
    let id = report.id.to_string();
    let done = finished(&app, &acct.key, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["rows_done"].as_i64()),
        (Some("ready"), Some(3)),
        "{done}"
    );
    let (_, _, _, csv) = download(&app, &acct.key, &id).await;
    assert!(!csv.contains("stale"), "{csv}");
    // The execution left running is ended as interrupted by an embedded
    // server's start, so only the rows before it are compared whole.
    let expected = expected_csv(&ids);
    let before_last = expected.find(&ids[2]).expect("third row");
    assert_eq!(csv[..before_last], expected[..before_last]);
    assert!(csv[before_last..].starts_with(&ids[2]), "{csv}");
    assert!(csv.ends_with(",x,\r\n"), "{csv}");
}
