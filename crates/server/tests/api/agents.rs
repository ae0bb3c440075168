//! Direct-dial agents at `/v1/agents` (with the account's default country
//! code) and the break report at `/v1/agents/breaks`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::answered;
use crate::helpers::{Account, TestApp, spawn_app};
use crate::pause_status::{call, create_agent};

async fn post(app: &TestApp, acct: &Account, body: Value) -> (u16, Value) {
    app.call(Method::POST, "/v1/agents", &acct.key, Some(body))
        .await
}

fn assert_problem(status: u16, body: &Value, expected: (u16, &str), fragment: &str) {
    assert_eq!(
        (status, body["code"].as_str()),
        (expected.0, Some(expected.1)),
        "{body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(fragment), "{fragment:?} not in {detail:?}");
}

#[tokio::test]
async fn agents_are_kept_by_their_number_in_any_form() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, priya) = post(&app, &acct, json!({"name": "Priya", "cli": "08160712345"})).await;
    assert_eq!(status, 201, "{priya}");
    assert_eq!(priya["name"], "Priya");
    assert_eq!(priya["cli"], "+918160712345");
    assert_eq!(priya["country_code"], "91");
    assert_eq!(
        (&priya["paused"], &priya["paused_since"]),
        (&json!(false), &Value::Null)
    );
    let priya_id = priya["id"].as_str().expect("id").to_owned();

    let (status, sam) = post(
        &app,
        &acct,
        json!({"name": "Sam", "cli": "(212) 555-1234", "country_code": "1"}),
    )
    .await;
    assert_eq!(status, 201, "{sam}");
    assert_eq!(
        (&sam["cli"], &sam["country_code"]),
        (&json!("+12125551234"), &json!("1"))
    );
    let sam_id = sam["id"].as_str().expect("id").to_owned();

    // One number, however it is written.
    for twin in ["918160712345", "+91 81607 12345", "8160712345"] {
        let (status, body) = post(&app, &acct, json!({"name": "Twin", "cli": twin})).await;
        assert_problem(status, &body, (409, "CONFLICT"), "+918160712345");
    }
    // Another account may have it.
    let other = app.create_account(false).await;
    let (status, _) = post(&app, &other, json!({"name": "Priya", "cli": "8160712345"})).await;
    assert_eq!(status, 201);

    let refused: &[(Value, (u16, &str), &str)] = &[
        (
            json!({"name": "X", "cli": "81607-ABCDE"}),
            (422, "INVALID_CLI"),
            "is not a phone number",
        ),
        (
            json!({"name": "X", "cli": "123"}),
            (422, "INVALID_CLI"),
            "has 3 digits",
        ),
        (
            json!({"name": "X", "cli": "+44 7911 123456"}),
            (422, "INVALID_CLI"),
            "does not start with the country code 91",
        ),
        (
            json!({"name": "  ", "cli": "7000000001"}),
            (422, "INVALID_NAME"),
            "empty",
        ),
        (
            json!({"name": "X", "cli": "7000000001", "country_code": "091"}),
            (422, "INVALID_COUNTRY_CODE"),
            "country_code",
        ),
        (json!({"name": "X"}), (422, "INVALID_BODY"), "cli"),
        (
            json!({"name": "X", "cli": "7000000001", "team": "a"}),
            (422, "INVALID_BODY"),
            "team",
        ),
    ];
    for (body, expected, fragment) in refused {
        let (status, problem) = post(&app, &acct, body.clone()).await;
        assert_problem(status, &problem, *expected, fragment);
    }

    let (status, list) = app.call(Method::GET, "/v1/agents", &acct.key, None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["Priya", "Sam"]);

    // Update: a new name and number; a taken number conflicts.
    let path = format!("/v1/agents/{priya_id}");
    let (status, moved) = app
        .call(
            Method::PUT,
            &path,
            &acct.key,
            Some(json!({"name": "Priya S", "cli": "+91 70000 00002"})),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (&moved["name"], &moved["cli"]),
        (&json!("Priya S"), &json!("+917000000002"))
    );
    assert_eq!(moved["created_at"], priya["created_at"]);
    let (status, taken) = app
        .call(
            Method::PUT,
            &path,
            &acct.key,
            Some(json!({"name": "Priya", "cli": "+1 212 555 1234", "country_code": "1"})),
        )
        .await;
    assert_problem(status, &taken, (409, "CONFLICT"), "+12125551234");

    // Not found: unknown, malformed, or another account's.
    let unknown = "/v1/agents/01932c6e-8a4f-7d3a-9f1e-2b7c4d5e6f70";
    for (method, path, key) in [
        (Method::GET, unknown, &acct.key),
        (Method::GET, "/v1/agents/nope", &acct.key),
        (Method::GET, path.as_str(), &other.key),
        (Method::DELETE, path.as_str(), &other.key),
        (Method::DELETE, unknown, &acct.key),
    ] {
        let (status, body) = app.call(method.clone(), path, key, None).await;
        assert_problem(status, &body, (404, "NOT_FOUND"), "agent");
    }
    let (status, body) = app
        .call(
            Method::PUT,
            unknown,
            &acct.key,
            Some(json!({"name": "X", "cli": "7000000003"})),
        )
        .await;
    assert_problem(status, &body, (404, "NOT_FOUND"), "agent");

    let (status, _) = app.call(Method::DELETE, &path, &acct.key, None).await;
    assert_eq!(status, 204);
    let (status, _) = app.call(Method::GET, &path, &acct.key, None).await;
    assert_eq!(status, 404);
    let (_, list) = app.call(Method::GET, "/v1/agents", &acct.key, None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], sam_id.as_str());
}

#[tokio::test]
async fn the_accounts_default_country_code_reads_numbers_without_one() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let me = format!("/v1/accounts/{}", acct.id);
    assert_eq!(acct.body["default_country_code"], "91", "{}", acct.body);
    let india = create_agent(&app, &acct, "Priya", "8160712345").await;

    let (status, bad) = app
        .call(
            Method::PATCH,
            &me,
            &acct.key,
            Some(json!({"default_country_code": "0"})),
        )
        .await;
    assert_eq!(status, 422, "{bad}");
    let (status, patched) = app
        .call(
            Method::PATCH,
            &me,
            &acct.key,
            Some(json!({"default_country_code": "44"})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["default_country_code"], "44");

    // New agents default to it; saved ones keep their own.
    let (status, uk) = post(&app, &acct, json!({"name": "Ollie", "cli": "07911 123456"})).await;
    assert_eq!(status, 201, "{uk}");
    assert_eq!(
        (&uk["cli"], &uk["country_code"]),
        (&json!("+447911123456"), &json!("44"))
    );
    let (_, priya) = app
        .call(Method::GET, &format!("/v1/agents/{india}"), &acct.key, None)
        .await;
    assert_eq!(priya["cli"], "+918160712345");

    // A cli without a code is read under the account's; the Indian agent is
    // still found by its full number, with or without `+`.
    for (cli, expected) in [
        ("7911123456", "true"),
        ("447911123456", "true"),
        ("918160712345", "true"),
        ("+918160712345", "true"),
        ("8160712345", "false"),
    ] {
        let answer = call(
            &app,
            &acct,
            "updatePauseStatusForCLI",
            &[("pause", "true"), ("cli", cli)],
        )
        .await;
        assert_eq!(
            answered(&answer, "$flow.key.cli_pause_update"),
            Some(expected),
            "{cli}: {answer}"
        );
    }
}

/// The milliseconds of an RFC 3339 time.
fn ms(value: &Value) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .timestamp_millis()
}

async fn report(app: &TestApp, acct: &Account, query: &str) -> Value {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/v1/agents/breaks{query}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn set_break(app: &TestApp, acct: &Account, cli: &str, pause: bool) {
    let answer = call(
        app,
        acct,
        "updatePauseStatusForCLI",
        &[
            ("pause", if pause { "true" } else { "false" }),
            ("cli", cli),
        ],
    )
    .await;
    assert_eq!(
        answered(&answer, "$flow.key.cli_pause_update"),
        Some("true"),
        "{answer}"
    );
}

/// Checks every row's duration against its times and the window, and every
/// total against its rows; the number of breaks per agent id.
fn check_counts(report: &Value) -> Vec<(String, u64)> {
    let from = ms(&report["from"]);
    let until = ms(&report["to"]).min(ms(&report["generated_at"]));
    let rows = report["breaks"].as_array().expect("breaks");
    let mut sums: Vec<(String, u64, i64)> = Vec::new();
    for row in rows {
        let started = ms(&row["started_at"]);
        let end = match &row["ended_at"] {
            Value::Null => until,
            ended => ms(ended).min(until),
        };
        let counted = (end - started.max(from)).max(0);
        assert_eq!(
            row["duration_seconds"],
            json!(counted as f64 / 1000.0),
            "{row}"
        );
        let agent = row["agent_id"].as_str().expect("agent").to_owned();
        match sums.iter_mut().find(|(a, ..)| *a == agent) {
            Some((_, n, total)) => {
                *n += 1;
                *total += counted;
            }
            None => sums.push((agent, 1, counted)),
        }
    }
    let totals = report["totals"].as_array().expect("totals");
    assert_eq!(totals.len(), sums.len(), "{report}");
    for (agent, n, total) in &sums {
        let line = totals
            .iter()
            .find(|t| t["agent_id"] == agent.as_str())
            .unwrap_or_else(|| panic!("no total for {agent}: {report}"));
        assert_eq!(line["breaks"], *n, "{line}");
        assert_eq!(
            line["duration_seconds"],
            json!(*total as f64 / 1000.0),
            "{line}"
        );
    }
    sums.into_iter().map(|(a, n, _)| (a, n)).collect()
}

#[tokio::test]
async fn the_break_report_lists_every_interval_with_durations_and_totals() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let a = create_agent(&app, &acct, "Asha", "8160712345").await;
    let b = create_agent(&app, &acct, "Bilal", "8160712346").await;
    create_agent(&app, &acct, "Chen, never on break", "8160712347").await;

    set_break(&app, &acct, "8160712345", true).await;
    set_break(&app, &acct, "8160712345", true).await; // the same break goes on
    set_break(&app, &acct, "+918160712345", false).await;
    set_break(&app, &acct, "08160712346", true).await;
    set_break(&app, &acct, "8160712346", false).await;
    set_break(&app, &acct, "918160712345", true).await; // open

    let all = report(&app, &acct, "").await;
    let rows = all["breaks"].as_array().expect("breaks");
    let shape: Vec<(&str, &str, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default(),
                r["cli"].as_str().unwrap_or_default(),
                r["ended_at"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("Asha", "+918160712345", false),
            ("Bilal", "+918160712346", false),
            ("Asha", "+918160712345", true),
        ],
        "{all}"
    );
    // Closed breaks count from start to end; the window is the last 24 hours.
    for row in &rows[..2] {
        let whole = ms(&row["ended_at"]) - ms(&row["started_at"]);
        assert!(whole >= 0);
        assert_eq!(
            row["duration_seconds"],
            json!(whole as f64 / 1000.0),
            "{row}"
        );
    }
    assert_eq!(ms(&all["to"]) - ms(&all["from"]), 24 * 3600 * 1000, "{all}");
    // By default the window ends just after now.
    assert_eq!(ms(&all["to"]), ms(&all["generated_at"]) + 1, "{all}");
    let counts = check_counts(&all);
    assert_eq!(counts, [(a.clone(), 2), (b.clone(), 1)]);
    let totals = all["totals"].as_array().expect("totals");
    assert_eq!(totals[0]["name"], "Asha");
    assert_eq!(totals[0]["cli"], "+918160712345");

    // The open break counts up to the window's end when that comes before now.
    let open_start = ms(&rows[2]["started_at"]);
    let to = chrono::DateTime::from_timestamp_millis(open_start + 1)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let clipped = report(&app, &acct, &format!("?agent={a}&to={to}")).await;
    assert_eq!(
        clipped["breaks"].as_array().map(Vec::len),
        Some(2),
        "{clipped}"
    );
    assert!(clipped["breaks"][1]["ended_at"].is_null(), "{clipped}");
    let open = clipped["breaks"][1]["duration_seconds"].as_f64();
    assert!(open.is_some_and(|s| s <= 0.001), "{clipped}");
    assert_eq!(check_counts(&clipped), [(a.clone(), 2)]);

    // Before the first break there is nothing; the agent filter keeps one agent.
    let first = ms(&rows[0]["started_at"]);
    let before = chrono::DateTime::from_timestamp_millis(first)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let empty = report(&app, &acct, &format!("?to={before}")).await;
    assert_eq!(
        (&empty["breaks"], &empty["totals"]),
        (&json!([]), &json!([])),
        "{empty}"
    );
    let only_b = report(&app, &acct, &format!("?agent={b}")).await;
    assert_eq!(check_counts(&only_b), [(b.clone(), 1)]);

    // Another account sees none of them.
    let other = app.create_account(false).await;
    assert_eq!(report(&app, &other, "").await["breaks"], json!([]));

    // A window must run forwards; the query must parse.
    let (status, problem) = app
        .call(
            Method::GET,
            &format!("/v1/agents/breaks?from={to}&to={before}"),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(
        (status, &problem["code"]),
        (422, &json!("INVALID_WINDOW")),
        "{problem}"
    );
    for query in ["?agent=nope", "?from=yesterday", "?week=1"] {
        let (status, problem) = app
            .call(
                Method::GET,
                &format!("/v1/agents/breaks{query}"),
                &acct.key,
                None,
            )
            .await;
        assert_eq!(
            (status, &problem["code"]),
            (400, &json!("INVALID_QUERY")),
            "{query}: {problem}"
        );
    }

    // An agent's breaks go with it.
    let (status, _) = app
        .call(Method::DELETE, &format!("/v1/agents/{a}"), &acct.key, None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(check_counts(&report(&app, &acct, "").await), [(b, 1)]);
}
