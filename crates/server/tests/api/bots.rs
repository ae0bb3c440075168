//! Chat bots and `linkcreation` (SPEC §5): `/v1/bots` with the token
//! masked, the method through `POST /internal` and through a flow's
//! in-process internal webhook, stable `botUniqueID`s, and bot tokens
//! surviving a master-key rotation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Account, MASTER_KEY, Options, TestApp, answered, assert_failed, internal, run_flow, spawn_app,
};
use crate::links::{calling_flow, fn_step, own_endpoint};

async fn create_bot(app: &TestApp, acct: &Account, body: Value) -> (u16, Value) {
    app.call(Method::POST, "/v1/bots", &acct.key, Some(body))
        .await
}

/// The keys of a `linkcreation` call.
fn keys(cli: &str, bot: &str, token: &str) -> Value {
    json!([
        {"name": "$flow.key.cli", "value": cli},
        {"name": "$flow.key.botid", "value": bot},
        {"name": "$flow.key.token", "value": token},
        {"name": "$flow.key.name", "value": "Asha K"},
        {"name": "$flow.key.apiKey", "value": "never-in-a-link"},
        {"name": "$flow.syskey.flowID", "value": "Ab3dE6gH"}
    ])
}

/// Where a short link leads.
async fn target(short: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = client.get(short).send().await.expect("redirect");
    assert_eq!(resp.status(), 302, "{short}");
    resp.headers()["location"]
        .to_str()
        .expect("text")
        .to_owned()
}

#[tokio::test]
async fn bots_are_managed_with_their_token_masked() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, bot) = create_bot(
        &app,
        &acct,
        json!({"id": "123", "base_url": "https://bot.example.com/chat", "token": "tok-1"}),
    )
    .await;
    assert_eq!(status, 201, "{bot}");
    assert_eq!(bot["token"], "***");
    assert_eq!(bot["name"], "123", "the name defaults to the id");
    assert!(!bot.to_string().contains("tok-1"), "{bot}");
    let (status, dup) = create_bot(
        &app,
        &acct,
        json!({"id": "123", "base_url": "https://bot.example.com/", "token": "x"}),
    )
    .await;
    assert_eq!((status, &dup["code"]), (409, &json!("CONFLICT")), "{dup}");
    for (body, code) in [
        (
            json!({"id": "a b", "base_url": "https://b.example/", "token": "t"}),
            "INVALID_BOT_ID",
        ),
        (
            json!({"id": "7", "base_url": "https://u:p@b.example/", "token": "t"}),
            "INVALID_URL",
        ),
        (
            json!({"id": "7", "base_url": "https://b.example/", "token": "***"}),
            "INVALID_TOKEN",
        ),
        (
            json!({"id": "7", "base_url": "https://b.example/", "token": "t", "name": " "}),
            "INVALID_NAME",
        ),
    ] {
        let (status, problem) = create_bot(&app, &acct, body.clone()).await;
        assert_eq!(
            (status, &problem["code"]),
            (422, &json!(code)),
            "{body}: {problem}"
        );
    }

    // An update without a token keeps it; `***` keeps it; a new one replaces it.
    let path = "/v1/bots/123";
    let update = |body: Value| app.call(Method::PUT, path, &acct.key, Some(body));
    let (status, updated) =
        update(json!({"name": "Orders", "base_url": "https://bot.example.com/v2?src=ivr"})).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["base_url"], "https://bot.example.com/v2?src=ivr");
    assert_eq!(updated["name"], "Orders");
    assert_eq!(updated["token"], "***");
    let call = || {
        internal(
            &app,
            &acct,
            "linkcreation",
            keys("918000000001", "123", "tok-1"),
        )
    };
    assert_eq!(call().await["status"], "SUCCESS", "the token was kept");
    let (status, _) =
        update(json!({"base_url": "https://bot.example.com/v2", "token": "***"})).await;
    assert_eq!(status, 200);
    assert_eq!(call().await["status"], "SUCCESS", "`***` keeps the token");
    let (status, _) =
        update(json!({"base_url": "https://bot.example.com/v2", "token": "tok-2"})).await;
    assert_eq!(status, 200);
    assert_failed(&call().await, "token: not the token of bot 123");
    let (status, problem) = update(json!({"base_url": "nope"})).await;
    assert_eq!(
        (status, &problem["code"]),
        (422, &json!("INVALID_URL")),
        "{problem}"
    );

    let (status, list) = app.call(Method::GET, "/v1/bots", &acct.key, None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().expect("list").len(), 1);
    assert_eq!(list[0]["name"], "123", "a PUT replaces: no name is the id");
    assert!(!list.to_string().contains("tok-2"), "{list}");

    // Another account sees none of it.
    let other = app.create_account(false).await;
    let (status, _) = app.call(Method::GET, path, &other.key, None).await;
    assert_eq!(status, 404);
    let (status, _) = app.call(Method::DELETE, path, &other.key, None).await;
    assert_eq!(status, 404);

    let (status, _) = app.call(Method::DELETE, path, &acct.key, None).await;
    assert_eq!(status, 204);
    let (status, _) = app.call(Method::GET, path, &acct.key, None).await;
    assert_eq!(status, 404);
    let (status, _) = app.call(Method::DELETE, path, &acct.key, None).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(Method::GET, "/v1/bots/not%20an%20id", &acct.key, None)
        .await;
    assert_eq!(status, 404);
    assert_failed(&call().await, "botid: this account has no bot 123");

    // At rest the token is sealed: the database file never holds it.
    let path = app.db_url.trim_start_matches("sqlite://").to_owned();
    let (status, _) = create_bot(
        &app,
        &acct,
        json!({"id": "9", "base_url": "https://b.example/", "token": "plain-token-9f8e7d"}),
    )
    .await;
    assert_eq!(status, 201);
    let mut raw = std::fs::read(&path).expect("database");
    if let Ok(wal) = std::fs::read(format!("{path}-wal")) {
        raw.extend(wal);
    }
    let needle = b"plain-token-9f8e7d";
    assert!(
        !raw.windows(needle.len()).any(|w| w == needle),
        "the bot token is stored in the clear"
    );
}

#[tokio::test]
async fn link_creation_runs_through_the_envelope_and_a_flow_in_process() {
    let app = spawn_app().await;
    // Registering the server's own http:// endpoint as a webhook needs
    // allow_http; the call itself never leaves the process.
    let acct = app.create_account(true).await;
    let (status, _) = create_bot(
        &app,
        &acct,
        json!({"id": "123", "base_url": "https://bot.example.com/chat?src=ivr", "token": "tok-1"}),
    )
    .await;
    assert_eq!(status, 201);

    let first = internal(
        &app,
        &acct,
        "linkcreation",
        keys("918160700000", "123", "tok-1"),
    )
    .await;
    assert_eq!(first["status"], "SUCCESS", "{first}");
    let short = answered(&first, "$flow.key.shortenUrl").expect("shortenUrl");
    assert!(short.starts_with(&app.url("/")), "{short}");
    assert_eq!(
        target(short).await,
        "https://bot.example.com/chat?src=ivr&cli=918160700000&name=Asha+K",
        "cli and the customer's details; not botid, token, credentials or other groups"
    );
    let id = answered(&first, "$flow.key.botUniqueID")
        .expect("botUniqueID")
        .to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let again = internal(
        &app,
        &acct,
        "linkcreation",
        keys("918160700000", "123", "tok-1"),
    )
    .await;
    assert_eq!(
        answered(&again, "$flow.key.botUniqueID"),
        Some(id.as_str()),
        "stable per bot and cli"
    );
    assert_ne!(
        answered(&again, "$flow.key.shortenUrl"),
        Some(short),
        "a new link each call"
    );
    let other_cli = internal(
        &app,
        &acct,
        "linkcreation",
        keys("918160700001", "123", "tok-1"),
    )
    .await;
    assert_ne!(
        answered(&other_cli, "$flow.key.botUniqueID"),
        Some(id.as_str())
    );

    for (keys, fragment) in [
        (
            keys("918160700000", "123", "wrong"),
            "token: not the token of bot 123",
        ),
        (
            keys("918160700000", "999", "tok-1"),
            "botid: this account has no bot 999",
        ),
        (
            keys("918160700000", "a/b", "tok-1"),
            "botid: \"a/b\" is not a bot id",
        ),
        (
            keys("9181 607", "123", "tok-1"),
            "cli: \"9181 607\" is not a caller number",
        ),
        (
            json!([{"name": "$flow.key.botid", "value": "123"}, {"name": "$flow.key.token", "value": "tok-1"}]),
            "cli: missing",
        ),
        (
            json!([{"name": "$flow.key.cli", "value": "91"}]),
            "botid: missing",
        ),
        (
            json!([{"name": "$flow.key.cli", "value": "91"}, {"name": "$flow.key.botid", "value": "123"}]),
            "token: missing",
        ),
    ] {
        assert_failed(&internal(&app, &acct, "linkcreation", keys).await, fragment);
    }
    // Another account's token of the same bot id opens nothing.
    let other = app.create_account(false).await;
    assert_failed(
        &internal(
            &app,
            &other,
            "linkcreation",
            keys("918160700000", "123", "tok-1"),
        )
        .await,
        "botid: this account has no bot 123",
    );

    // The same through a flow: the widget runs it in process, and the trace
    // shows the token masked.
    let hook = own_endpoint(&app, &acct).await;
    let assign = |token: &str| {
        json!({"$flow.key.cli": "918160700000", "$flow.key.botid": "123",
               "$flow.key.token": token, "$flow.key.orderId": "A-17"})
    };
    let exec = run_flow(
        &app,
        &acct,
        &calling_flow("bot_link", &hook, "linkcreation", assign("tok-1")),
    )
    .await;
    let vars = &exec["variables"];
    assert_eq!(vars["$flow.key.route"], "ok", "{exec}");
    assert_eq!(vars["$flow.key.botUniqueID"], id.as_str(), "{vars}");
    let link = vars["$flow.key.shortenUrl"].as_str().expect("shortenUrl");
    assert_eq!(
        target(link).await,
        "https://bot.example.com/chat?src=ivr&cli=918160700000&orderId=A-17"
    );
    let step = fn_step(&exec);
    assert_eq!(step["detail"]["via"], "in-process", "{step}");
    let sent = step["detail"]["request"]["keys"].to_string();
    assert!(
        sent.contains("\"***\"") && !sent.contains("tok-1"),
        "{sent}"
    );

    let exec = run_flow(
        &app,
        &acct,
        &calling_flow("bot_link_bad", &hook, "linkcreation", assign("tok-x")),
    )
    .await;
    assert_eq!(exec["variables"]["$flow.key.route"], "failed", "{exec}");
    assert_eq!(
        fn_step(&exec)["detail"]["answer"]["error"],
        "token: not the token of bot 123"
    );
}

#[tokio::test]
async fn bot_and_short_link_tokens_survive_a_master_key_rotation() {
    const NEW_KEY: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    let mut app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, _) = create_bot(
        &app,
        &acct,
        json!({"id": "1", "base_url": "https://bot.example.com/", "token": "tok-r"}),
    )
    .await;
    assert_eq!(status, 201);
    let short_token = acct.body["short_token"].clone();
    app.stop().await;
    let store = flowhook_storage::connect(&app.db_url).await.expect("store");
    let old = flowhook_core::secret::MasterKey::parse(MASTER_KEY).expect("key");
    let new = flowhook_core::secret::MasterKey::parse(NEW_KEY).expect("key");
    let done = flowhook::sealing::rotate(&*store, &old, &new)
        .await
        .expect("rotates");
    assert_eq!((done.accounts, done.bots), (1, 1), "{done:?}");
    let app = app
        .restart_with(Options {
            master_key: Some(NEW_KEY.into()),
            ..Options::default()
        })
        .await;
    let (_, view) = app
        .call(
            Method::GET,
            &format!("/v1/accounts/{}", acct.id),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(
        view["short_token"], short_token,
        "the same token, re-sealed"
    );
    let answer = internal(&app, &acct, "linkcreation", keys("91", "1", "tok-r")).await;
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
}
