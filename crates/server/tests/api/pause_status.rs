//! `updatePauseStatusForCLI` and `getPauseStatusForCLI` (SPEC §5): through the
//! envelope at `POST /internal` (and an alias), and through a flow whose
//! `internal_webhook` widget names the server's own URL, with good and bad
//! keys. The agents themselves are made through `/v1/agents`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Account, Db, Options, TestApp, answered, assert_failed, internal, run_flow_with, spawn_app,
    spawn_with,
};
use crate::internal::register;

/// Creates an agent through the API; its id.
pub(crate) async fn create_agent(app: &TestApp, acct: &Account, name: &str, cli: &str) -> String {
    let (status, agent) = app
        .call(
            Method::POST,
            "/v1/agents",
            &acct.key,
            Some(json!({"name": name, "cli": cli})),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    agent["id"].as_str().expect("id").to_owned()
}

/// Calls a method through `POST /internal` with `$flow.key.*` keys.
pub(crate) async fn call(
    app: &TestApp,
    acct: &Account,
    method: &str,
    keys: &[(&str, &str)],
) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(name, value)| json!({"name": format!("$flow.key.{name}"), "value": value}))
        .collect();
    internal(app, acct, method, json!(keys)).await
}

async fn agent(app: &TestApp, acct: &Account, id: &str) -> Value {
    let (status, agent) = app
        .call(Method::GET, &format!("/v1/agents/{id}"), &acct.key, None)
        .await;
    assert_eq!(status, 200, "{agent}");
    agent
}

/// An RFC 3339 time as Unix milliseconds.
fn millis(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .timestamp_millis()
}

async fn pausing_and_asking_through_the_envelope(db: Db) {
    let Some(app) = spawn_with(db, Options::default()).await else {
        return;
    };
    let acct = app.create_account(false).await;
    let id = create_agent(&app, &acct, "Priya", "8160712345").await;

    // Off break, in every form of the number.
    let status = call(
        &app,
        &acct,
        "getPauseStatusForCLI",
        &[("cli", "918160712345")],
    )
    .await;
    assert_eq!(status["status"], "SUCCESS", "{status}");
    assert_eq!(
        answered(&status, "$flow.key.cli_pause_status"),
        Some("false")
    );
    assert_eq!(answered(&status, "$flow.key.cli_pause_since"), Some(""));

    let paused = call(
        &app,
        &acct,
        "updatePauseStatusForCLI",
        &[("pause", "true"), ("cli", "+91 81607 12345")],
    )
    .await;
    assert_eq!(paused["status"], "SUCCESS", "{paused}");
    assert_eq!(
        paused["keys"],
        json!([{"name": "$flow.key.cli_pause_update", "value": "true"}])
    );
    let stored = agent(&app, &acct, &id).await;
    assert_eq!(stored["paused"], true, "{stored}");
    let since = stored["paused_since"]
        .as_str()
        .expect("paused_since")
        .to_owned();

    let status = call(
        &app,
        &acct,
        "getPauseStatusForCLI",
        &[("cli", "08160712345")],
    )
    .await;
    assert_eq!(
        answered(&status, "$flow.key.cli_pause_status"),
        Some("true")
    );
    let shown = answered(&status, "$flow.key.cli_pause_since").expect("since");
    // In the account's zone, to the second.
    assert!(shown.ends_with("+05:30"), "{shown}");
    assert_eq!(
        millis(shown),
        millis(&since) / 1000 * 1000,
        "{shown} vs {since}"
    );

    // Pausing again keeps the break it is on.
    let again = call(
        &app,
        &acct,
        "updatePauseStatusForCLI",
        &[("pause", "TRUE"), ("cli", "0091 8160712345")],
    )
    .await;
    assert_eq!(answered(&again, "$flow.key.cli_pause_update"), Some("true"));
    assert_eq!(
        agent(&app, &acct, &id).await["paused_since"],
        since.as_str()
    );

    // Through an alias of the seeds, off break.
    let (_, unpaused) = app
        .call(
            Method::POST,
            "/centraloutboundwebhook-v1/prod/",
            &acct.key,
            Some(json!({"method": "updatePauseStatusForCLI", "keys": [
                {"name": "$flow.key.pause", "value": "false"},
                {"name": "$flow.key.cli", "value": "8160712345"}
            ]})),
        )
        .await;
    assert_eq!(
        answered(&unpaused, "$flow.key.cli_pause_update"),
        Some("true"),
        "{unpaused}"
    );
    let stored = agent(&app, &acct, &id).await;
    assert_eq!(
        (&stored["paused"], &stored["paused_since"]),
        (&json!(false), &Value::Null)
    );
    let status = call(
        &app,
        &acct,
        "getPauseStatusForCLI",
        &[("cli", "8160712345")],
    )
    .await;
    assert_eq!(
        answered(&status, "$flow.key.cli_pause_status"),
        Some("false")
    );
    assert_eq!(answered(&status, "$flow.key.cli_pause_since"), Some(""));

    // An unknown agent: the update says false, as the seeds do; the status
    // question fails, naming the cli.
    let unknown = call(
        &app,
        &acct,
        "updatePauseStatusForCLI",
        &[("pause", "true"), ("cli", "9000000000")],
    )
    .await;
    assert_eq!(unknown["status"], "SUCCESS", "{unknown}");
    assert_eq!(
        answered(&unknown, "$flow.key.cli_pause_update"),
        Some("false")
    );
    let unknown = call(
        &app,
        &acct,
        "getPauseStatusForCLI",
        &[("cli", "9000000000")],
    )
    .await;
    assert_failed(
        &unknown,
        "cli: no agent of this account has the number \"9000000000\"",
    );

    // Another account's agent is unknown here.
    let other = app.create_account(false).await;
    let theirs = call(
        &app,
        &other,
        "updatePauseStatusForCLI",
        &[("pause", "true"), ("cli", "8160712345")],
    )
    .await;
    assert_eq!(
        answered(&theirs, "$flow.key.cli_pause_update"),
        Some("false")
    );
    assert_eq!(agent(&app, &acct, &id).await["paused"], false);
}

#[tokio::test]
async fn pausing_and_asking_through_the_envelope_on_sqlite() {
    pausing_and_asking_through_the_envelope(Db::Sqlite).await;
}

#[tokio::test]
async fn pausing_and_asking_through_the_envelope_on_postgres() {
    pausing_and_asking_through_the_envelope(Db::Postgres).await;
}

#[tokio::test]
async fn bad_keys_fail_naming_the_key_and_change_nothing() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let id = create_agent(&app, &acct, "Priya", "8160712345").await;
    let update = "updatePauseStatusForCLI";
    /// A method, its `$flow.key.*` keys, and what its error says.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let table: &[Case] = &[
        (update, &[("cli", "8160712345")], "pause: missing"),
        (
            update,
            &[("pause", " "), ("cli", "8160712345")],
            "pause: missing",
        ),
        (
            update,
            &[("pause", "maybe"), ("cli", "8160712345")],
            "pause: \"maybe\" is neither true nor false",
        ),
        (
            update,
            &[("pause", "1"), ("cli", "8160712345")],
            "pause: \"1\"",
        ),
        (update, &[("pause", "true")], "cli: missing"),
        (
            update,
            &[("pause", "true"), ("cli", "81607-ABCDE")],
            "cli: \"81607-ABCDE\" is not a phone number",
        ),
        (
            update,
            &[("pause", "true"), ("cli", "123")],
            "cli: \"123\" has 3 digits",
        ),
        (
            update,
            &[("pause", "true"), ("cli", "+1234567890123456")],
            "has 16 digits",
        ),
        ("getPauseStatusForCLI", &[], "cli: missing"),
        (
            "getPauseStatusForCLI",
            &[("cli", "agent seven")],
            "cli: \"agent seven\" is not a phone number",
        ),
        (
            "getPauseStatusForCLI",
            &[("cli", "+")],
            "cli: \"+\" has 0 digits",
        ),
    ];
    for (method, keys, fragment) in table {
        let answer = call(&app, &acct, method, keys).await;
        assert_failed(&answer, fragment);
    }
    let stored = agent(&app, &acct, &id).await;
    assert_eq!(stored["paused"], false, "{stored}");
    let (_, report) = app
        .call(Method::GET, "/v1/agents/breaks", &acct.key, None)
        .await;
    assert_eq!(report["breaks"], json!([]), "{report}");
}

/// An inbound flow for agents: the caller's number is the agent's cli.
/// `set` stores `$flow.key.pause` and `$flow.key.cli` (from `$call.cli.number`),
/// `pause` sets the break, `ask` reads it back; `route` says which line ran.
fn break_line_flow(name: &str, webhook: &str, pause: &str) -> String {
    json!({
        "name": name, "start": "set",
        "widgets": {
            "set": {"type": "store_variable",
                    "assign": {"$flow.key.pause": pause, "$flow.key.cli": "$call.cli.number"},
                    "lines": ["pause"]},
            "pause": {"type": "internal_webhook", "webhook": webhook, "method": "updatePauseStatusForCLI",
                      "pass": ["flow.key"], "lines": ["ask", "failed"]},
            "ask": {"type": "internal_webhook", "webhook": webhook, "method": "getPauseStatusForCLI",
                    "pass": ["flow.key"], "lines": ["ok", "failed"]},
            "ok": {"type": "store_variable", "assign": {"$flow.key.route": "ok"}, "lines": [null]},
            "failed": {"type": "store_variable", "assign": {"$flow.key.route": "failed"}, "lines": [null]}
        }
    })
    .to_string()
}

/// Saves `flow` and runs it for a call from `cli`; the execution with its trace.
async fn run_call(app: &TestApp, acct: &Account, flow: &str, cli: &str) -> Value {
    let start = json!({"contact": cli, "call": {"cli.number": cli, "incoming": true}});
    let full = run_flow_with(app, acct, flow, start).await;
    assert_eq!(full["status"], "completed", "{full}");
    full
}

/// The trace step of widget `id`.
fn step<'a>(exec: &'a Value, id: &str) -> &'a Value {
    exec["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .find(|s| s["widget"] == id)
        .unwrap_or_else(|| panic!("no step {id}: {exec}"))
}

#[tokio::test]
async fn an_agent_calls_in_to_go_on_and_off_break_through_a_flow() {
    // No loopback in the egress policy: the widget's calls stay in process.
    let app = spawn_app().await;
    let acct = app.create_account(true).await;
    let id = create_agent(&app, &acct, "Priya", "+91 81607 12345").await;
    let hook = register(&app, &acct, &app.url("/internal")).await;

    let exec = run_call(
        &app,
        &acct,
        &break_line_flow("break_on", &hook, "true"),
        "918160712345",
    )
    .await;
    let vars = &exec["variables"];
    assert_eq!(vars["$flow.key.cli_pause_update"], "true", "{vars}");
    assert_eq!(vars["$flow.key.cli_pause_status"], "true", "{vars}");
    let since = vars["$flow.key.cli_pause_since"].as_str().expect("since");
    assert!(since.ends_with("+05:30"), "{since}");
    assert_eq!(vars["$flow.key.route"], "ok", "{vars}");
    for widget in ["pause", "ask"] {
        let detail = &step(&exec, widget)["detail"];
        assert_eq!(detail["via"], "in-process", "{detail}");
        assert_eq!(detail["answer"]["status"], "SUCCESS", "{detail}");
    }
    assert_eq!(
        step(&exec, "pause")["detail"]["request"]["method"],
        "updatePauseStatusForCLI"
    );
    let stored = agent(&app, &acct, &id).await;
    assert_eq!(stored["paused"], true, "{stored}");

    // The same line, to end the break, from the number without its code.
    let exec = run_call(
        &app,
        &acct,
        &break_line_flow("break_off", &hook, "false"),
        "8160712345",
    )
    .await;
    let vars = &exec["variables"];
    assert_eq!(vars["$flow.key.cli_pause_update"], "true", "{vars}");
    assert_eq!(vars["$flow.key.cli_pause_status"], "false", "{vars}");
    assert_eq!(vars["$flow.key.cli_pause_since"], "", "{vars}");
    assert_eq!(agent(&app, &acct, &id).await["paused"], false);

    // A caller who is no agent: the update answers false (success line), the
    // question fails (failure line).
    let exec = run_call(
        &app,
        &acct,
        &break_line_flow("stranger", &hook, "true"),
        "917000000000",
    )
    .await;
    let vars = &exec["variables"];
    assert_eq!(vars["$flow.key.cli_pause_update"], "false", "{vars}");
    assert_eq!(vars["$flow.key.route"], "failed", "{vars}");
    let answer = &step(&exec, "ask")["detail"]["answer"];
    assert_eq!(answer["status"], "FAILED", "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cli: no agent"),
        "{answer}"
    );

    // A bad key takes the failure line, with the error in the trace.
    let exec = run_call(
        &app,
        &acct,
        &break_line_flow("bad_pause", &hook, "maybe"),
        "918160712345",
    )
    .await;
    assert_eq!(exec["variables"]["$flow.key.route"], "failed", "{exec}");
    assert!(
        exec["variables"]
            .get("$flow.key.cli_pause_update")
            .is_none(),
        "{exec}"
    );
    let answer = &step(&exec, "pause")["detail"]["answer"];
    assert_eq!(answer["status"], "FAILED", "{answer}");
    assert_eq!(
        answer["error"],
        "pause: \"maybe\" is neither true nor false"
    );
    assert_eq!(agent(&app, &acct, &id).await["paused"], false);
}
