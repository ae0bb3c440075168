//! A contact's preferences at `/v1/contacts/{number}/preferences`: the same
//! `$user.key` values that flows and the preference methods read and write.

use reqwest::Method;
use serde_json::{Value, json};

use crate::flows::post_flow;
use crate::helpers::answered;
use crate::helpers::{Account, TestApp, spawn_app};

const CONTACT: &str = "919876543210";

fn path(number: &str) -> String {
    format!("/v1/contacts/{number}/preferences")
}

async fn put(app: &TestApp, acct: &Account, number: &str, body: Value) -> (u16, Value) {
    app.call(Method::PUT, &path(number), &acct.key, Some(body))
        .await
}

async fn get(app: &TestApp, acct: &Account, number: &str) -> Value {
    let (status, body) = app.call(Method::GET, &path(number), &acct.key, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn envelope(app: &TestApp, acct: &Account, body: Value) -> Value {
    let (status, answer) = app
        .call(Method::POST, "/internal", &acct.key, Some(body))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
    answer
}

#[tokio::test]
async fn preferences_are_replaced_and_read_back() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    assert_eq!(get(&app, &acct, CONTACT).await, json!({}));

    let (status, stored) = put(
        &app,
        &acct,
        CONTACT,
        json!({"language": "hi", "$user.key.tier": "gold", "favourite colour": "teal"}),
    )
    .await;
    assert_eq!(status, 200, "{stored}");
    let expected = json!({
        "$user.key.favourite colour": "teal",
        "$user.key.language": "hi",
        "$user.key.tier": "gold"
    });
    assert_eq!(stored, expected);
    assert_eq!(get(&app, &acct, CONTACT).await, expected);

    // What GET answers can be sent back; a name left out is deleted.
    let (status, replaced) = put(
        &app,
        &acct,
        CONTACT,
        json!({"$user.key.language": "ta", "$user.key.tier": "gold"}),
    )
    .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(
        replaced,
        json!({"$user.key.language": "ta", "$user.key.tier": "gold"})
    );

    // Contacts are separate, and so are accounts; a `+` is part of the number.
    assert_eq!(get(&app, &acct, "+919876543210").await, json!({}));
    let other = app.create_account(false).await;
    assert_eq!(get(&app, &other, CONTACT).await, json!({}));

    let (status, cleared) = put(&app, &acct, CONTACT, json!({})).await;
    assert_eq!((status, cleared), (200, json!({})));
    assert_eq!(get(&app, &acct, CONTACT).await, json!({}));
}

#[tokio::test]
async fn bad_numbers_and_names_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, _) = put(&app, &acct, CONTACT, json!({"language": "hi"})).await;
    assert_eq!(status, 200);

    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("k{i}"), json!("v"))).collect();
    let refused: &[(Value, u16, &str, &str)] = &[
        (
            json!({"$flow.key.x": "1"}),
            422,
            "INVALID_PREFERENCES",
            "$user.key.NAME or NAME",
        ),
        (
            json!({"$user.key.": "1"}),
            422,
            "INVALID_PREFERENCES",
            "$user.key.NAME or NAME",
        ),
        (
            json!({"$language": "1"}),
            422,
            "INVALID_PREFERENCES",
            "$user.key.NAME or NAME",
        ),
        (json!({"": "1"}), 422, "INVALID_PREFERENCES", "empty"),
        (
            json!({"bad\u{7}": "1"}),
            422,
            "INVALID_PREFERENCES",
            "control",
        ),
        (
            json!({"tier": "gold", "$user.key.tier": "silver"}),
            422,
            "INVALID_PREFERENCES",
            "$user.key.tier is given twice",
        ),
        (json!({"tier": 3}), 422, "INVALID_BODY", ""),
        (json!(["tier"]), 422, "INVALID_BODY", ""),
        (
            Value::Object(many),
            422,
            "INVALID_PREFERENCES",
            "at most 100",
        ),
    ];
    for (body, status, code, fragment) in refused {
        let (got, problem) = put(&app, &acct, CONTACT, body.clone()).await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (*status, Some(*code)),
            "{body}: {problem}"
        );
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(fragment), "{fragment:?} not in {detail:?}");
    }
    // A number with a space (or too long) is no contact.
    for number in ["91%2098", &"9".repeat(129)] {
        let (status, problem) = app.call(Method::GET, &path(number), &acct.key, None).await;
        assert_eq!(
            (status, &problem["code"]),
            (404, &json!("NOT_FOUND")),
            "{problem}"
        );
        let (status, _) = put(&app, &acct, number, json!({})).await;
        assert_eq!(status, 404);
    }
    assert_eq!(
        get(&app, &acct, CONTACT).await,
        json!({"$user.key.language": "hi"})
    );
}

#[tokio::test]
async fn the_api_the_methods_and_flows_share_one_store() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let contact = json!({"name": "$user.syskey.contactNumber", "value": CONTACT});

    // Written by the API, fetched by the method.
    put(&app, &acct, CONTACT, json!({"language": "hi"})).await;
    let fetched = envelope(
        &app,
        &acct,
        json!({"method": "fetchUserPreferences", "keys": [contact]}),
    )
    .await;
    assert_eq!(
        answered(&fetched, "$user.key.language"),
        Some("hi"),
        "{fetched}"
    );

    // Written by the method, read by the API.
    envelope(
        &app,
        &acct,
        json!({"method": "updateUserPreferences", "keys": [contact, {"name": "$user.key.language", "value": "ta"}]}),
    )
    .await;
    assert_eq!(
        get(&app, &acct, CONTACT).await,
        json!({"$user.key.language": "ta"})
    );

    // Read and written by a flow run for the contact.
    let flow = json!({
        "name": "prefs", "start": "use",
        "widgets": {
            "use": {"type": "store_variable",
                    "assign": {"$flow.key.lang": "$user.key.language", "$user.key.tier": "gold"},
                    "lines": [null]}
        }
    })
    .to_string();
    let (status, saved) = post_flow(&app, &acct.key, "/v1/flows", Method::POST, &flow).await;
    assert_eq!(status, 201, "{saved}");
    let (status, exec) = app
        .call(
            Method::POST,
            &format!("/v1/flows/{}/executions", saved["id"].as_str().expect("id")),
            &acct.key,
            Some(json!({"contact": CONTACT, "wait": true})),
        )
        .await;
    assert_eq!(status, 200, "{exec}");
    assert_eq!(exec["variables"]["$flow.key.lang"], "ta", "{exec}");
    assert_eq!(
        get(&app, &acct, CONTACT).await,
        json!({"$user.key.language": "ta", "$user.key.tier": "gold"})
    );
}
