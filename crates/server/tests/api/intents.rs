//! `/v1/intents` (the built-in rules) and `speechprocessing`: by those rules
//! through `POST /internal` and a flow's `internal_webhook` widget, and by an
//! account's NLU endpoint (a local fake).

use std::time::Duration;

use flowhook_core::ids::AccountId;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Account, Db, Options, TestApp, answered, assert_failed, internal, refused_port, run_flow,
    spawn_app, spawn_with,
};
use crate::internal::register;
use crate::translate::{Fake, Seen, set_providers};

const NLU_TOKEN: &str = "nlu-token-9f8e-secret";

async fn create(app: &TestApp, acct: &Account, body: Value) -> (u16, Value) {
    app.call(Method::POST, "/v1/intents", &acct.key, Some(body))
        .await
}

fn speech(text: &str) -> Value {
    json!([
        {"name": "$flow.key.cli", "value": "9181607000"},
        {"name": "$flow.key.speechText", "value": text}
    ])
}

async fn crud(db: Db) {
    let Some(app) = spawn_with(db, Options::default()).await else {
        return;
    };
    let acct = app.create_account(false).await;
    let other = app.create_account(false).await;
    let (status, made) = create(
        &app,
        &acct,
        json!({"name": "billing", "phrases": ["pay my bill", "मेरा बिल"], "keywords": ["bill", "invoice"], "regex": "invoice (no|number) \\d+", "priority": 5}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["name"], "billing");
    assert_eq!(made["phrases"], json!(["pay my bill", "मेरा बिल"]));
    assert_eq!(made["priority"], 5);
    let (status, _) = create(
        &app,
        &acct,
        json!({"name": "agent", "phrases": ["talk to an agent"]}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, dup) = create(&app, &acct, json!({"name": "billing", "keywords": ["x"]})).await;
    assert_eq!(
        (status, dup["code"].as_str()),
        (409, Some("CONFLICT")),
        "{dup}"
    );

    let (status, list) = app.call(Method::GET, "/v1/intents", &acct.key, None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(names, ["agent", "billing"]);

    let (status, got) = app
        .call(Method::GET, "/v1/intents/billing", &acct.key, None)
        .await;
    assert_eq!(
        (status, &got["regex"]),
        (200, &json!("invoice (no|number) \\d+"))
    );
    let (status, put) = app
        .call(
            Method::PUT,
            "/v1/intents/billing",
            &acct.key,
            Some(json!({"keywords": ["bill"], "priority": -2})),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(
        (&put["phrases"], &put["regex"], &put["priority"]),
        (&json!([]), &Value::Null, &json!(-2))
    );

    // Another account sees none of them and cannot touch them.
    let (_, theirs) = app.call(Method::GET, "/v1/intents", &other.key, None).await;
    assert_eq!(theirs, json!([]));
    for method in [Method::GET, Method::DELETE] {
        let (status, _) = app
            .call(method, "/v1/intents/billing", &other.key, None)
            .await;
        assert_eq!(status, 404);
    }
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/intents/billing",
            &other.key,
            Some(json!({"keywords": ["x"]})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = create(
        &app,
        &other,
        json!({"name": "billing", "keywords": ["theirs"]}),
    )
    .await;
    assert_eq!(status, 201, "the same name in another account");

    let (status, _) = app
        .call(Method::DELETE, "/v1/intents/billing", &acct.key, None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .call(Method::DELETE, "/v1/intents/billing", &acct.key, None)
        .await;
    assert_eq!(status, 404);
    let (_, theirs) = app
        .call(Method::GET, "/v1/intents/billing", &other.key, None)
        .await;
    assert_eq!(theirs["keywords"], json!(["theirs"]));
}

#[tokio::test]
async fn intents_are_created_listed_replaced_and_deleted_per_account_sqlite() {
    crud(Db::Sqlite).await;
}

#[tokio::test]
async fn intents_are_created_listed_replaced_and_deleted_per_account_postgres() {
    crud(Db::Postgres).await;
}

#[tokio::test]
async fn an_account_has_at_most_500_intents() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    for i in 0..500 {
        let (status, body) = create(
            &app,
            &acct,
            json!({"name": format!("i{i}"), "keywords": ["k"]}),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, problem) =
        create(&app, &acct, json!({"name": "one_more", "keywords": ["k"]})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("TOO_MANY_INTENTS")),
        "{problem}"
    );
    // Another account is not affected.
    let other = app.create_account(false).await;
    let (status, _) = create(&app, &other, json!({"name": "one_more", "keywords": ["k"]})).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn bad_rules_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let many: Vec<String> = (0..101).map(|i| format!("p{i}")).collect();
    for (body, code, field) in [
        (
            json!({"name": "x", "regex": "(unclosed"}),
            "INVALID_REGEX",
            "regex",
        ),
        (
            json!({"name": "x", "regex": "a{1000}{1000}"}),
            "INVALID_REGEX",
            "regex",
        ),
        (json!({"name": "x"}), "INVALID_PHRASES", "phrases"),
        (
            json!({"name": "x", "phrases": ["?!"]}),
            "INVALID_PHRASES",
            "phrases",
        ),
        (
            json!({"name": "x", "phrases": many}),
            "INVALID_PHRASES",
            "phrases",
        ),
        (
            json!({"name": "x", "keywords": ["k".repeat(201)]}),
            "INVALID_KEYWORDS",
            "keywords",
        ),
        (
            json!({"name": "x", "keywords": ["k"], "priority": 1_000_001}),
            "INVALID_PRIORITY",
            "priority",
        ),
        (
            json!({"name": "has space", "keywords": ["k"]}),
            "INVALID_INTENT_NAME",
            "name",
        ),
    ] {
        let (status, problem) = create(&app, &acct, body.clone()).await;
        assert_eq!(status, 422, "{body} → {problem}");
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, _) = create(
        &app,
        &acct,
        json!({"name": "x", "keywords": ["k"], "extra": 1}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = create(&app, &acct, json!({"name": "x", "keywords": ["k"]})).await;
    assert_eq!(status, 201);
    let (status, problem) = app
        .call(
            Method::PUT,
            "/v1/intents/x",
            &acct.key,
            Some(json!({"regex": "[z-a]"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("INVALID_REGEX")),
        "{problem}"
    );
    let (_, kept) = app
        .call(Method::GET, "/v1/intents/x", &acct.key, None)
        .await;
    assert_eq!(
        kept["keywords"],
        json!(["k"]),
        "a refused update changes nothing"
    );
}

async fn built_in(db: Db) {
    let Some(app) = spawn_with(db, Options::default()).await else {
        return;
    };
    let acct = app.create_account(false).await;
    // No rules yet: FAILURE, saying how to add them.
    let answer = internal(&app, &acct, "speechprocessing", speech("pay my bill")).await;
    assert_failed(&answer, "POST /v1/intents");
    assert_eq!(answered(&answer, "$flow.key.status"), Some("FAILURE"));

    for body in [
        json!({"name": "billing", "phrases": ["pay my bill"], "keywords": ["bill", "payment"], "priority": 1}),
        json!({"name": "balance", "keywords": ["balance", "bill"], "priority": 2}),
        json!({"name": "order", "regex": "order (no|number) \\d{4,}"}),
    ] {
        let (status, made) = create(&app, &acct, body).await;
        assert_eq!(status, 201, "{made}");
    }
    let answer = internal(&app, &acct, "speechprocessing", speech("Pay my bill!")).await;
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
    assert_eq!(answered(&answer, "$flow.key.status"), Some("SUCCESS"));
    assert_eq!(answered(&answer, "$flow.key.intent"), Some("billing"));
    assert_eq!(answered(&answer, "$flow.key.confidence"), Some("1"));
    let reason = answered(&answer, "$flow.key.intentReason").expect("reason");
    assert!(
        reason.contains("rule \"billing\"")
            && reason.contains("phrase \"pay my bill\" is the whole text"),
        "{reason}"
    );

    // Keywords tie on coverage (1 of 2): priority 2 beats 1.
    let answer = internal(&app, &acct, "speechprocessing", speech("my bill")).await;
    assert_eq!(
        answered(&answer, "$flow.key.intent"),
        Some("balance"),
        "{answer}"
    );
    assert_eq!(answered(&answer, "$flow.key.confidence"), Some("0.55"));

    let answer = internal(
        &app,
        &acct,
        "speechprocessing",
        speech("ORDER number 123456"),
    )
    .await;
    assert_eq!(
        answered(&answer, "$flow.key.intent"),
        Some("order"),
        "{answer}"
    );

    let answer = internal(&app, &acct, "speechprocessing", speech("good morning")).await;
    assert_failed(&answer, "no intent matched");
    assert_eq!(answered(&answer, "$flow.key.status"), Some("FAILURE"));
    assert_eq!(answered(&answer, "$flow.key.intent"), Some(""));
    assert_eq!(answered(&answer, "$flow.key.confidence"), Some("0"));

    let answer = internal(
        &app,
        &acct,
        "speechprocessing",
        json!([{"name": "$flow.key.cli", "value": "91"}]),
    )
    .await;
    assert_failed(&answer, "speechText: missing");
}

#[tokio::test]
async fn built_in_rules_answer_speechprocessing_sqlite() {
    built_in(Db::Sqlite).await;
}

#[tokio::test]
async fn built_in_rules_answer_speechprocessing_postgres() {
    built_in(Db::Postgres).await;
}

#[tokio::test]
async fn a_widget_runs_speechprocessing_and_its_trace_explains_the_match() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, _) = create(
        &app,
        &acct,
        json!({"name": "agent", "phrases": ["talk to an agent"], "keywords": ["agent"]}),
    )
    .await;
    assert_eq!(status, 201);
    let hook = register(&app, &acct, &app.url("/hdfcsenseforthwebhook-v1/prod/")).await;
    let flow = |text: &str, name: &str| {
        json!({
            "name": name, "start": "set",
            "widgets": {
                "set": {"type": "store_variable", "assign": {"$flow.key.cli": "9181607000", "$flow.key.speechText": text}, "lines": ["nlu"]},
                "nlu": {"type": "internal_webhook", "webhook": hook, "method": "speechprocessing", "pass": ["flow.key"], "lines": ["ok", "failed"]},
                "ok": {"type": "store_variable", "assign": {"$flow.key.route": "ok"}, "lines": [null]},
                "failed": {"type": "store_variable", "assign": {"$flow.key.route": "failed"}, "lines": [null]}
            }
        })
        .to_string()
    };
    let exec = run_flow(
        &app,
        &acct,
        &flow("I want to talk to an agent please", "nlu_ok"),
    )
    .await;
    let vars = &exec["variables"];
    assert_eq!(vars["$flow.key.route"], "ok", "{exec}");
    assert_eq!(vars["$flow.key.intent"], "agent");
    assert_eq!(vars["$flow.key.status"], "SUCCESS");
    let step = exec["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .find(|s| s["widget"] == "nlu")
        .expect("the nlu step")
        .clone();
    assert_eq!(step["detail"]["via"], "in-process", "{step}");
    let keys = step["detail"]["answer"]["keys"].to_string();
    assert!(
        keys.contains("phrase \\\"talk to an agent\\\" is in the text"),
        "{keys}"
    );

    let exec = run_flow(&app, &acct, &flow("what is the weather", "nlu_none")).await;
    let vars = &exec["variables"];
    assert_eq!(vars["$flow.key.route"], "failed", "{exec}");
    assert_eq!(vars["$flow.key.status"], "FAILURE");
    assert_eq!(vars["$flow.key.intent"], "");
}

/// An NLU endpoint: `POST /nlu` with a bearer token and `{text, cli}`.
fn nlu(seen: &Seen) -> (u16, String, Duration) {
    let none = Duration::ZERO;
    if seen.header("authorization") != Some(&format!("Bearer {NLU_TOKEN}")) {
        return (401, json!({"error": "bad token"}).to_string(), none);
    }
    let answer = match seen.body["text"].as_str().unwrap_or_default() {
        t if t.contains("bill") => {
            json!({"intent": "billing", "confidence": 0.934, "explanation": "model v3"})
        }
        "garbage" => return (200, "<html>oops</html>".into(), none),
        "down" => return (503, json!({"error": "overloaded"}).to_string(), none),
        _ => json!({"intent": "", "confidence": 0.1}),
    };
    (200, answer.to_string(), none)
}

#[tokio::test]
async fn an_nlu_endpoint_answers_with_its_token_sealed_and_never_shown() {
    let fake = Fake::start(nlu).await;
    let app = crate::helpers::spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    set_providers(
        &app,
        &acct,
        json!({"nlu": {"url": fake.url("/nlu"), "token": NLU_TOKEN, "language": "hi"}}),
    )
    .await;

    let answer = internal(&app, &acct, "speechprocessing", speech("my bill please")).await;
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
    assert_eq!(answered(&answer, "$flow.key.intent"), Some("billing"));
    assert_eq!(answered(&answer, "$flow.key.confidence"), Some("0.934"));
    assert_eq!(
        answered(&answer, "$flow.key.intentReason"),
        Some("model v3")
    );
    let sent = &fake.seen()[0];
    assert_eq!(
        (sent.method.as_str(), sent.target.as_str()),
        ("POST", "/nlu")
    );
    assert_eq!(
        sent.body,
        json!({"text": "my bill please", "cli": "9181607000", "language": "hi"})
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));

    for (text, fragment) in [
        ("nothing here", "the NLU endpoint found no intent"),
        ("garbage", "the NLU endpoint's answer is not JSON"),
        ("down", "the NLU endpoint answered HTTP 503"),
    ] {
        let answer = internal(&app, &acct, "speechprocessing", speech(text)).await;
        assert_failed(&answer, fragment);
        assert_eq!(
            answered(&answer, "$flow.key.status"),
            Some("FAILURE"),
            "{answer}"
        );
        assert!(!answer.to_string().contains(NLU_TOKEN));
    }

    // A wrong token is the endpoint's 401; an unreachable endpoint an egress error.
    set_providers(
        &app,
        &acct,
        json!({"nlu": {"url": fake.url("/nlu"), "token": "wrong-token-secret"}}),
    )
    .await;
    let answer = internal(&app, &acct, "speechprocessing", speech("bill")).await;
    assert_failed(&answer, "the NLU endpoint answered HTTP 401");
    assert!(!answer.to_string().contains("wrong-token-secret"));
    let port = refused_port().await;
    set_providers(
        &app,
        &acct,
        json!({"nlu": {"url": format!("http://127.0.0.1:{port}/nlu"), "token": NLU_TOKEN}}),
    )
    .await;
    let answer = internal(&app, &acct, "speechprocessing", speech("bill")).await;
    assert_failed(
        &answer,
        "the NLU endpoint could not be reached: connection refused",
    );

    // Sealed at rest.
    let store = flowhook_storage::connect(&app.db_url).await.expect("store");
    let record = store
        .account(AccountId::parse(&acct.id).expect("id"))
        .await
        .expect("read")
        .expect("account");
    assert!(
        !record.providers.to_string().contains(NLU_TOKEN),
        "{}",
        record.providers
    );
    assert!(
        record.providers["nlu"]["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("sealed:"))
    );

    // Settings that are not an endpoint say so.
    set_providers(&app, &acct, json!({"nlu": [{"token": "t"}]})).await;
    let answer = internal(&app, &acct, "speechprocessing", speech("bill")).await;
    assert_failed(&answer, "providers.nlu: must be an object");
}
