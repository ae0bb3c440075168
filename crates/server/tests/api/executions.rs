//! Executions over HTTP: every widget, root and line; variables of every
//! namespace; user keys across executions; the loop guard; the trace; restarts.

use reqwest::Method;
use serde_json::{Value, json};

use crate::flows::{GREETING, post_flow};
use crate::helpers::{TestApp, run_flow, spawn_app};

async fn save(app: &TestApp, key: &str, doc: &str) -> String {
    let (status, saved) = post_flow(app, key, "/v1/flows", Method::POST, doc).await;
    assert_eq!(status, 201, "{saved}");
    saved["id"].as_str().expect("id").to_owned()
}

async fn execute(app: &TestApp, key: &str, flow: &str, body: Value) -> Value {
    let (status, exec) = app
        .call(
            Method::POST,
            &format!("/v1/flows/{flow}/executions"),
            key,
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{exec}");
    exec
}

fn call(cli: &str) -> Value {
    json!({"cli.number": cli, "dnis.number": "912243692987", "did.number": "912243692987",
           "start": "2026-11-21T10:00:00+05:30", "duration": 57, "isdn": "16", "incoming": true})
}

fn path(exec: &Value) -> Vec<(String, String, Value)> {
    exec["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .map(|t| {
            (
                t["root"].as_str().expect("root").to_owned(),
                t["widget"].as_str().expect("widget").to_owned(),
                t["line"].clone(),
            )
        })
        .collect()
}

fn step(root: &str, widget: &str, line: Value) -> (String, String, Value) {
    (root.to_owned(), widget.to_owned(), line)
}

#[tokio::test]
async fn every_widget_root_and_line_runs() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save(&app, &acct.key, GREETING).await;

    // Condition case 0 (tier gold).
    let gold = execute(
        &app,
        &acct.key,
        &flow,
        json!({"contact": "918000374000", "call": call("918000374000"),
        "keys": {"$flow.key.name": "Asha", "$flow.key.tier": "gold"}, "wait": true}),
    )
    .await;
    assert_eq!(gold["status"], "completed", "{gold}");
    assert_eq!(
        path(&gold),
        vec![
            step("start", "remember", json!(0)),
            step("start", "vip", json!(0)),
            step("start", "gold", json!(0)),
            step("on_complete", "summary", json!(0)),
        ]
    );
    assert_eq!(gold["variables"]["$flow.key.route"], "priority");

    // Case 1 (regex on the CLI) and the last line (no case) into `end`.
    let india = execute(
        &app,
        &acct.key,
        &flow,
        json!({"contact": "918000374000", "call": call("918000374000"), "wait": true}),
    )
    .await;
    assert_eq!(path(&india)[1], step("start", "vip", json!(1)));
    assert_eq!(india["variables"]["$flow.key.route"], "in");
    let other = execute(
        &app,
        &acct.key,
        &flow,
        json!({"contact": "14155550100", "call": call("14155550100"), "wait": true}),
    )
    .await;
    assert_eq!(
        path(&other),
        vec![
            step("start", "remember", json!(0)),
            step("start", "vip", json!(2)),
            step("start", "other", Value::Null),
            step("on_complete", "summary", json!(0)),
        ]
    );

    // A remote hangup runs on_remote_hangup instead of the main path, then on_complete.
    let hung = execute(&app, &acct.key, &flow, json!({"contact": "918000374000", "call": call("918000374000"), "remote_hangup": true, "wait": true})).await;
    assert_eq!(
        path(&hung),
        vec![
            step("on_remote_hangup", "hung_up", json!(0)),
            step("on_complete", "summary", json!(0))
        ]
    );
    assert_eq!(hung["variables"]["$flow.key.route"], "hung_up");
}

#[tokio::test]
async fn variables_of_every_namespace_and_user_keys_persist() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let doc = json!({
        "name": "namespaces", "timezone": "Asia/Kolkata", "start": "read",
        "widgets": {
            "read": {"type": "store_variable", "assign": {
                "$flow.key.uuid": "$flow.syskey.phonon_uuid",
                "$flow.key.flow": "$flow.syskey.flowID",
                "$flow.key.contact": "$user.syskey.contactNumber",
                "$flow.key.account": "$user.syskey.accountID",
                "$flow.key.cli": "$call.cli.number",
                "$flow.key.incoming": "$call.incoming",
                "$flow.key.now": "$sys.datetime",
                "$flow.key.previous": "$user.key.visits",
                "$flow.syskey.delayMinutes": "5"
            }, "lines": ["seen"]},
            "seen": {"type": "condition", "cases": [{"when": {"var": "$user.key.visits", "op": "empty"}}], "lines": ["first", "again"]},
            "first": {"type": "store_variable", "assign": {"$user.key.visits": "1"}, "lines": [null]},
            "again": {"type": "store_variable", "assign": {"$user.key.visits": "${user.key.visits}+1"}, "lines": [null]}
        }
    });
    let flow = save(&app, &acct.key, &doc.to_string()).await;
    let body = json!({"contact": "918000374000", "call": call("918000374000"), "keys": {"$flow.syskey.campaign": "nov"}, "wait": true});
    let first = execute(&app, &acct.key, &flow, body.clone()).await;
    let v = &first["variables"];
    assert_eq!(v["$flow.key.uuid"], first["uuid"]);
    assert_eq!(v["$flow.key.flow"], flow.as_str());
    assert_eq!(v["$flow.key.contact"], "918000374000");
    assert_eq!(v["$flow.key.account"], acct.body["client_id"].to_string());
    assert_eq!(v["$flow.key.cli"], "918000374000");
    assert_eq!(v["$flow.key.incoming"], "true");
    assert!(
        v["$flow.key.now"]
            .as_str()
            .expect("now")
            .ends_with("+05:30"),
        "{v}"
    );
    assert_eq!(v["$flow.key.previous"], "");
    assert_eq!(v["$flow.syskey.campaign"], "nov");
    assert_eq!(v["$flow.syskey.delayMinutes"], "5");
    assert_eq!(v["$call.duration"], "57");
    assert_eq!(v["$user.key.visits"], "1");
    assert!(v.get("$sys.datetime").is_none());

    // The same contact again: $user.key.visits was stored.
    let second = execute(&app, &acct.key, &flow, body).await;
    assert_eq!(second["variables"]["$flow.key.previous"], "1");
    assert_eq!(path(&second)[1], step("start", "seen", json!(1)));
    assert_eq!(second["variables"]["$user.key.visits"], "1+1");
    // Another contact has its own.
    let stranger = execute(
        &app,
        &acct.key,
        &flow,
        json!({"contact": "14155550100", "call": call("14155550100"), "wait": true}),
    )
    .await;
    assert_eq!(stranger["variables"]["$flow.key.previous"], "");

    // `cli` is another name of `cli.number` (SPEC §2), in the call too.
    let by_alias = execute(
        &app,
        &acct.key,
        &flow,
        json!({"contact": "1", "call": {"cli": "14155550100"}, "wait": true}),
    )
    .await;
    assert_eq!(
        by_alias["variables"]["$call.cli.number"], "14155550100",
        "{by_alias}"
    );

    // Trigger input is checked.
    for (bad, mentions) in [
        (
            json!({"contact": "1", "call": {"cli.numbr": "1"}}),
            "cli.numbr",
        ),
        (
            json!({"contact": "1", "keys": {"$user.key.x": "1"}}),
            "$user.key.x",
        ),
        (
            json!({"contact": "1", "keys": {"flow.key.x": "1"}}),
            "flow.key.x",
        ),
        (json!({"contact": ""}), "contact"),
    ] {
        let (status, problem) = app
            .call(
                Method::POST,
                &format!("/v1/flows/{flow}/executions"),
                &acct.key,
                Some(bad),
            )
            .await;
        assert_eq!(status, 422, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains(mentions),
            "{problem}"
        );
    }
}

#[tokio::test]
async fn the_loop_guard_stops_at_1000_steps_and_the_trace_is_complete() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let doc = json!({
        "name": "spin", "start": "tick",
        "widgets": {
            "tick": {"type": "store_variable", "assign": {"$flow.key.n": "x"}, "lines": ["check"]},
            "check": {"type": "condition", "cases": [{"when": {"var": "$flow.key.stop", "op": "eq", "value": "yes"}}], "lines": [null, "tick"]}
        }
    });
    let flow = save(&app, &acct.key, &doc.to_string()).await;
    let exec = execute(
        &app,
        &acct.key,
        &flow,
        json!({"contact": "1", "wait": true}),
    )
    .await;
    assert_eq!(exec["status"], "failed");
    assert!(
        exec["reason"]
            .as_str()
            .expect("reason")
            .contains("loop guard"),
        "{}",
        exec["reason"]
    );
    let trace = exec["trace"].as_array().expect("trace");
    assert_eq!(trace.len(), 1000);
    for (i, t) in trace.iter().enumerate() {
        assert_eq!(t["step"], i + 1);
        for field in [
            "root",
            "widget",
            "type",
            "line",
            "next",
            "started_at",
            "duration_ms",
        ] {
            assert!(t.get(field).is_some(), "step {i} lacks {field}: {t}");
        }
    }
    assert_eq!(trace[0]["changed"], json!({"$flow.key.n": "x"}));
    assert_eq!(trace[1]["next"], "tick");
}

#[tokio::test]
async fn executions_are_stored_listed_and_survive_a_restart() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save(&app, &acct.key, GREETING).await;
    let (status, started) = app
        .call(
            Method::POST,
            &format!("/v1/flows/{flow}/executions"),
            &acct.key,
            Some(json!({"contact": "918000374000", "call": call("918000374000")})),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let uuid = started["uuid"].as_str().expect("uuid").to_owned();
    let mut done = Value::Null;
    for _ in 0..100 {
        let (_, got) = app
            .call(
                Method::GET,
                &format!("/v1/executions/{uuid}"),
                &acct.key,
                None,
            )
            .await;
        if got["status"] != "running" {
            done = got;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["trace"].as_array().expect("trace").len(), 4);

    let waited = execute(
        &app,
        &acct.key,
        &flow,
        json!({"contact": "14155550100", "call": call("14155550100"), "wait": true}),
    )
    .await;
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/v1/executions/{uuid}/hangup"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 409, "a finished execution cannot hang up");

    let app = app.restart().await;
    let (status, again) = app
        .call(
            Method::GET,
            &format!("/v1/executions/{uuid}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["trace"], done["trace"]);
    assert_eq!(again["variables"], done["variables"]);

    let (_, all) = app
        .call(
            Method::GET,
            &format!("/v1/executions?flow_id={flow}"),
            &acct.key,
            None,
        )
        .await;
    let uuids: Vec<&str> = all
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["uuid"].as_str().expect("uuid"))
        .collect();
    assert_eq!(
        uuids,
        vec![waited["uuid"].as_str().expect("uuid"), uuid.as_str()],
        "newest first"
    );
    assert!(all[0].get("trace").is_none(), "lists leave traces out");
    let (_, none) = app
        .call(
            Method::GET,
            "/v1/executions?from=2999-01-01T00:00:00Z",
            &acct.key,
            None,
        )
        .await;
    assert_eq!(none, json!([]));
    let (status, problem) = app
        .call(
            Method::GET,
            "/v1/executions?from=yesterday",
            &acct.key,
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("INVALID_QUERY"))
    );
    let other = app.create_account(false).await;
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1/executions/{uuid}"),
            &other.key,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

/// A chain of `store_variable` widgets, each doubling the previous value:
/// `$flow.key.v{i} = "$flow.key.v{i-1}$flow.key.v{i-1}"`.
fn doubling_flow(steps: usize) -> Value {
    let widgets: serde_json::Map<String, Value> = (1..=steps)
        .map(|i| {
            let next = if i < steps { json!(format!("d{}", i + 1)) } else { Value::Null };
            let value = format!("$flow.key.v{0}$flow.key.v{0}", i - 1);
            (
                format!("d{i}"),
                json!({"type": "store_variable", "assign": {format!("$flow.key.v{i}"): value}, "lines": [next]}),
            )
        })
        .collect();
    json!({"name": "doubling", "start": "d1", "widgets": widgets})
}

#[tokio::test]
async fn a_doubling_flow_fails_at_the_template_output_limit() {
    const LIMIT: usize = 256 * 1024;
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save(&app, &acct.key, &doubling_flow(40).to_string()).await;
    let started = std::time::Instant::now();
    let exec = execute(
        &app,
        &acct.key,
        &flow,
        json!({"contact": "1", "keys": {"$flow.key.v0": "x"}, "wait": true}),
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // 2^18 bytes is the limit itself; doubling that is one byte too many.
    assert_eq!(exec["status"], "failed");
    let reason = exec["reason"].as_str().unwrap_or_default();
    assert_eq!(
        reason,
        format!(
            "widget d19: execution budget exceeded: a rendered template is longer than the template output limit of {LIMIT} bytes"
        )
    );
    let vars = &exec["variables"];
    assert_eq!(vars["$flow.key.v18"].as_str().map(str::len), Some(LIMIT));
    assert!(
        vars.get("$flow.key.v19").is_none(),
        "{}",
        vars["$flow.key.v19"]
    );

    // The trace keeps a prefix of each value and its full length.
    let trace = exec["trace"].as_array().expect("trace");
    assert_eq!(trace.len(), 19);
    let last_ok = &trace[17];
    assert_eq!(last_ok["widget"], "d18");
    let shown = last_ok["changed"]["$flow.key.v18"].as_str().expect("shown");
    assert_eq!(shown, "x".repeat(1024));
    assert_eq!(last_ok["truncated"], json!({"$flow.key.v18": LIMIT}));
    assert_eq!(trace[1]["changed"], json!({"$flow.key.v2": "xxxx"}));
    assert!(trace[1].get("truncated").is_none(), "{}", trace[1]);
    assert_eq!(
        trace[18]["error"]
            .as_str()
            .map(|e| format!("widget d19: {e}"))
            .as_deref(),
        Some(reason)
    );

    // Stored the same way.
    let uuid = exec["uuid"].as_str().expect("uuid");
    let (status, stored) = app
        .call(
            Method::GET,
            &format!("/v1/executions/{uuid}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["status"], "failed");
    assert_eq!(stored["reason"], reason);
}

#[tokio::test]
async fn copies_of_a_large_value_fail_at_the_execution_variables_limit() {
    // Each copy is within the template and value limits; together they are not.
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let widgets: serde_json::Map<String, Value> = (1..=20)
        .map(|i| {
            let next = if i < 20 { json!(format!("c{}", i + 1)) } else { Value::Null };
            (
                format!("c{i}"),
                json!({"type": "store_variable", "assign": {format!("$flow.key.copy{i}"): "$flow.key.big"}, "lines": [next]}),
            )
        })
        .collect();
    let doc = json!({"name": "copies", "start": "c1", "widgets": widgets});
    let flow = save(&app, &acct.key, &doc.to_string()).await;
    let big = "y".repeat(256 * 1024);
    let exec = execute(
        &app,
        &acct.key,
        &flow,
        json!({"contact": "1", "keys": {"$flow.key.big": big}, "wait": true}),
    )
    .await;
    assert_eq!(exec["status"], "failed", "{}", exec["reason"]);
    // 4 MiB is `big` and 15 copies exactly; with the execution's own variables
    // (contact, ids) the 15th copy is already one too many.
    let reason = exec["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("widget c15: execution budget exceeded: setting $flow.key.copy15")
            && reason.contains("execution variables limit of 4194304 bytes"),
        "{reason}"
    );
    assert!(exec["variables"].get("$flow.key.copy15").is_none());
    assert!(exec["variables"].get("$flow.key.copy14").is_some());
}

/// Peak resident memory of this process (the server runs in it), in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .expect("VmHWM")
}

#[tokio::test]
async fn many_doubling_executions_at_once_keep_memory_bounded() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = save(&app, &acct.key, &doubling_flow(40).to_string()).await;
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (http, url, key) = (
            app.http.clone(),
            app.url(&format!("/v1/flows/{flow}/executions")),
            acct.key.clone(),
        );
        runs.spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .json(&json!({"contact": "1", "keys": {"$flow.key.v0": "x"}, "wait": true}))
                .send()
                .await
                .expect("send")
                .json::<Value>()
                .await
                .expect("json")
        });
    }
    while let Some(exec) = runs.join_next().await {
        let exec = exec.expect("run");
        assert_eq!(exec["status"], "failed", "{}", exec["reason"]);
    }
    // Unbounded, one execution alone would need 2^40 bytes. Bounded, 32 at
    // once stay within a few MB each (the whole test binary shares this peak).
    let peak = peak_rss_mb();
    assert!(peak < 1024.0, "peak RSS {peak:.0} MB");
}

#[tokio::test]
async fn credential_named_variables_show_as_stars() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let flow = r#"{"name": "creds", "start": "set", "widgets": {
        "set": {"type": "store_variable", "assign": {"$flow.key.apiKey": "k-secret-9", "$flow.key.orderId": "A-17"}, "lines": [null]}}}"#;
    let exec = run_flow(&app, &acct, flow).await;
    assert_eq!(exec["variables"]["$flow.key.apiKey"], "***", "{exec}");
    assert_eq!(exec["variables"]["$flow.key.orderId"], "A-17");
    assert!(!exec.to_string().contains("k-secret-9"), "{exec}");
}
