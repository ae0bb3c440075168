//! Accounts, authentication and the IP whitelist.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Db, MASTER_KEY, Options, TestApp, spawn_app, spawn_with};

async fn accounts_and_whitelist(db: Db) {
    let Some(app) = spawn_with(db, Options::default()).await else {
        return;
    };
    let acct = app.create_account(false).await;
    assert_eq!(acct.key.len(), 64);
    assert!(acct.body["client_id"].as_i64().expect("numeric client_id") >= 100_000_000);
    assert_eq!(acct.body["allow_http"], false);
    assert_eq!(acct.body["timezone"], "Asia/Kolkata");

    // The account reads itself with its key; the key is not shown again.
    let (status, me) = app
        .call(
            Method::GET,
            &format!("/v1/accounts/{}", acct.id),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{me}");
    assert!(me.get("security_id").is_none());

    // A whitelist without the caller's address locks it out with IP_NOT_WHITELISTED.
    let (status, body) = app
        .call(
            Method::PUT,
            "/v1/whitelist",
            &acct.key,
            Some(json!({"entries": ["127.0.0.2/32", "::1"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["entries"], json!(["127.0.0.2/32", "::1/128"]));
    let (status, body) = app.call(Method::GET, "/v1/webhooks", &acct.key, None).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "IP_NOT_WHITELISTED");

    // The operator can undo the lock-out; then an allowing list lets calls through.
    let (status, _) = app
        .admin(
            Method::PATCH,
            &format!("/v1/accounts/{}", acct.id),
            Some(json!({"whitelist": []})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/whitelist",
            &acct.key,
            Some(json!({"entries": ["127.0.0.1"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.call(Method::GET, "/v1/webhooks", &acct.key, None).await;
    assert_eq!(status, 200);
    let (_, list) = app
        .call(Method::GET, "/v1/whitelist", &acct.key, None)
        .await;
    assert_eq!(list["entries"], json!(["127.0.0.1/32"]));
}

#[tokio::test]
async fn accounts_and_whitelist_on_sqlite() {
    accounts_and_whitelist(Db::Sqlite).await;
}

#[tokio::test]
async fn accounts_and_whitelist_on_postgres() {
    accounts_and_whitelist(Db::Postgres).await;
}

#[tokio::test]
async fn account_management_needs_the_admin_token() {
    let app = spawn_app().await;
    let body = Some(json!({"name": "x"}));
    let resp = app
        .http
        .post(app.url("/v1/accounts"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let (status, problem) = app
        .call(Method::POST, "/v1/accounts", "wrong-token", body.clone())
        .await;
    assert_eq!(status, 403);
    assert_eq!(problem["code"], "ADMIN_ONLY");
    let acct = app.create_account(false).await;
    let (status, _) = app
        .call(Method::POST, "/v1/accounts", &acct.key, body)
        .await;
    assert_eq!(status, 403, "an account key is not the admin token");
    let (status, _) = app
        .call(Method::GET, "/v1/webhooks", &"0".repeat(64), None)
        .await;
    assert_eq!(status, 401, "unknown keys are refused");
}

#[tokio::test]
async fn allow_http_is_the_operators_decision() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let path = format!("/v1/accounts/{}", acct.id);
    let (status, problem) = app
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"allow_http": true})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(problem["code"], "ADMIN_ONLY");
    let (status, body) = app
        .admin(Method::PATCH, &path, Some(json!({"allow_http": true})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["allow_http"], true);
    let (status, body) = app
        .call(Method::PATCH, &path, &acct.key, Some(json!({"timezone": "Europe/Berlin", "providers": {"translate": {"api_key": "k-123", "url": "u"}, "nlu": [{"token": "t-456"}]}})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["timezone"], "Europe/Berlin");
    assert_eq!(
        body["providers"]["translate"]["api_key"], "***",
        "provider keys never come back"
    );
    assert_eq!(body["providers"]["translate"]["url"], "u");
    assert_eq!(
        body["providers"]["nlu"][0]["token"], "***",
        "inside arrays too"
    );
    assert!(!body.to_string().contains("t-456"));
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(
                json!({"providers": {"api_keys": ["k-a", "k-b"], "translate": {"api_key": "***"}}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["providers"]["api_keys"],
        json!(["***", "***"]),
        "strings in arrays under a secret key"
    );
    assert_eq!(body["providers"]["translate"]["api_key"], "***");
    let (status, problem) = app
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"providers": {"fresh": {"token": "***"}}})),
        )
        .await;
    assert_eq!(
        status, 422,
        "a mask with nothing stored is refused: {problem}"
    );
    // A bad field changes nothing, not even the fields before it.
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"whitelist": ["127.0.0.2"], "timezone": "Mars/Base"})),
        )
        .await;
    assert_eq!(status, 422);
    let (_, me) = app.call(Method::GET, &path, &acct.key, None).await;
    assert_eq!(me["whitelist"], json!([]), "the whitelist was not written");

    let other = app.create_account(false).await;
    let (status, _) = app.call(Method::GET, &path, &other.key, None).await;
    assert_eq!(status, 404, "accounts cannot see each other");
}

/// A whitelisted call as `key`, with `X-Forwarded-For` when given.
async fn whitelist_status(app: &TestApp, key: &str, forwarded_for: Option<&str>) -> u16 {
    let mut req = app.http.get(app.url("/v1/whitelist")).bearer_auth(key);
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send()
        .await
        .expect("reaches the server")
        .status()
        .as_u16()
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    for trusted in [None, Some("127.0.0.1/32")] {
        let options = Options {
            trusted_proxies: trusted.map(Into::into),
            ..Options::default()
        };
        let app = spawn_with(Db::Sqlite, options).await.expect("sqlite");
        let acct = app.create_account(false).await;
        let (status, _) = app
            .call(
                Method::PUT,
                "/v1/whitelist",
                &acct.key,
                Some(json!({"entries": ["127.0.0.2/32"]})),
            )
            .await;
        assert_eq!(status, 200);
        // The test client is 127.0.0.1, which the whitelist does not hold.
        assert_eq!(whitelist_status(&app, &acct.key, None).await, 403);
        let forwarded = whitelist_status(&app, &acct.key, Some("127.0.0.2")).await;
        match trusted {
            None => assert_eq!(
                forwarded, 403,
                "no trusted proxy: the header is not believed"
            ),
            Some(_) => assert_eq!(
                forwarded, 200,
                "the trusted proxy's header names the client"
            ),
        }
        // A client's own entry sits left of the proxy's and is never believed.
        assert_eq!(
            whitelist_status(&app, &acct.key, Some("127.0.0.2, 127.0.0.3")).await,
            403
        );
        if trusted.is_some() {
            // Whitelisting the proxy's own address does not let in whoever
            // hides the chain: no header, or one that is not text, is refused.
            let put = app
                .http
                .put(app.url("/v1/whitelist"))
                .bearer_auth(&acct.key)
                .header("x-forwarded-for", "127.0.0.2")
                .json(&json!({"entries": ["127.0.0.2/32", "127.0.0.1/32"]}))
                .send()
                .await
                .expect("send");
            assert_eq!(put.status(), 200);
            assert_eq!(
                whitelist_status(&app, &acct.key, None).await,
                403,
                "the proxy alone is not a caller"
            );
            let unreadable = app
                .http
                .get(app.url("/v1/whitelist"))
                .bearer_auth(&acct.key)
                .header(
                    "x-forwarded-for",
                    reqwest::header::HeaderValue::from_bytes(b"\xff").expect("obs-text"),
                )
                .send()
                .await
                .expect("send");
            assert_eq!(unreadable.status(), 403);
        }
    }
}

#[tokio::test]
async fn a_reordered_provider_list_keeps_each_secret_with_its_entry() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let path = format!("/v1/accounts/{}", acct.id);
    let providers = json!({"nlu": [{"name": "a", "token": "t-a"}, {"name": "b", "token": "t-b"}]});
    let (status, shown) = app
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"providers": providers})),
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    let list = &shown["providers"]["nlu"];
    assert_eq!(list[0]["token"], "***");
    let (id_a, id_b) = (list[0]["id"].clone(), list[1]["id"].clone());
    assert!(
        id_a.is_string() && id_a != id_b,
        "each entry has its own id: {list}"
    );

    // The client swaps the entries and sends what it was shown.
    let swapped = json!({"nlu": [list[1].clone(), list[0].clone()]});
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"providers": swapped})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let store = flowhook_storage::connect(&app.db_url).await.expect("store");
    let account = flowhook_core::ids::AccountId::parse(&acct.id).expect("id");
    let record = store.account(account).await.expect("get").expect("account");
    let key = flowhook_core::secret::MasterKey::parse(MASTER_KEY).expect("key");
    let opened = flowhook_core::providers::open(&record.providers, &key, account).expect("opens");
    assert_eq!(
        opened["nlu"][0],
        json!({"id": id_b, "name": "b", "token": "t-b"})
    );
    assert_eq!(
        opened["nlu"][1],
        json!({"id": id_a, "name": "a", "token": "t-a"})
    );

    // A `***` in an entry without its id has nothing to keep.
    let (status, problem) = app
        .call(
            Method::PATCH,
            &path,
            &acct.key,
            Some(json!({"providers": {"nlu": [{"name": "b", "token": "***"}]}})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("nlu[id="),
        "{problem}"
    );
}
