//! Short links (SPEC §5): the `shortURL` method through `POST /internal` and
//! through a flow's in-process internal webhook, the seeds' endpoint with
//! `custToken`, the redirect and its click count, unknown codes, the
//! account's own short domain and token rotation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Account, Db, Options, TestApp, answered, assert_failed, internal, run_flow, spawn_app,
    spawn_with,
};

/// A client that does not follow redirects.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The code of a short URL (its last path segment).
fn code_of(short_url: &str) -> &str {
    short_url.rsplit('/').next().expect("a code")
}

/// A webhook of `acct` at this server's own internal endpoint.
pub async fn own_endpoint(app: &TestApp, acct: &Account) -> String {
    let (status, hook) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(json!({"name": "platform", "url": app.url("/internal")})),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    hook["id"].as_str().expect("id").to_owned()
}

/// A flow: assign `assign`, call `method` through `webhook` passing the
/// `$flow.key` group, record the line taken in `$flow.key.route`.
pub fn calling_flow(name: &str, webhook: &str, method: &str, assign: Value) -> String {
    json!({
        "name": name, "start": "set",
        "widgets": {
            "set": {"type": "store_variable", "assign": assign, "lines": ["fn"]},
            "fn": {"type": "internal_webhook", "webhook": webhook, "method": method, "pass": ["flow.key"], "lines": ["ok", "failed"]},
            "ok": {"type": "store_variable", "assign": {"$flow.key.route": "ok"}, "lines": [null]},
            "failed": {"type": "store_variable", "assign": {"$flow.key.route": "failed"}, "lines": [null]}
        }
    })
    .to_string()
}

/// The trace step of widget `fn`.
pub fn fn_step(exec: &Value) -> Value {
    exec["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .find(|s| s["widget"] == "fn")
        .expect("the fn step")
        .clone()
}

async fn links(app: &TestApp, acct: &Account) -> Vec<Value> {
    let (status, list) = app.call(Method::GET, "/v1/links", &acct.key, None).await;
    assert_eq!(status, 200, "{list}");
    list.as_array().expect("a list").clone()
}

#[tokio::test]
async fn short_url_runs_through_the_envelope_and_a_flow_in_process() {
    let app = spawn_app().await;
    // Registering the server's own http:// endpoint as a webhook needs
    // allow_http; the call itself never leaves the process.
    let acct = app.create_account(true).await;
    let answer = internal(
        &app,
        &acct,
        "shortURL",
        json!([{"name": "$flow.key.longUrl", "value": "https://example.com/orders?id=17"}]),
    )
    .await;
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
    let short = answered(&answer, "$flow.key.shortUrl").expect("shortUrl");
    assert!(short.starts_with(&app.url("/")), "default base: {short}");
    assert_eq!(code_of(short).len(), 10, "{short}");

    for (keys, fragment) in [
        (json!([]), "longUrl: missing"),
        (
            json!([{"name": "$flow.key.longUrl", "value": "ftp://example.com/f"}]),
            "longUrl: only http:// and https://",
        ),
        (
            json!([{"name": "$flow.key.longUrl", "value": "https://u:p@example.com/"}]),
            "longUrl: the URL may not hold a user name or password",
        ),
    ] {
        assert_failed(&internal(&app, &acct, "shortURL", keys).await, fragment);
    }

    // The widget naming the server's own endpoint runs it in process (the
    // egress policy allows no loopback here).
    let hook = own_endpoint(&app, &acct).await;
    let ok = calling_flow(
        "shorten",
        &hook,
        "shortURL",
        json!({"$flow.key.longUrl": "https://example.com/track/$flow.key.route"}),
    );
    let exec = run_flow(&app, &acct, &ok).await;
    let vars = &exec["variables"];
    assert_eq!(vars["$flow.key.route"], "ok", "{exec}");
    let short = vars["$flow.key.shortUrl"].as_str().expect("shortUrl");
    assert_eq!(fn_step(&exec)["detail"]["via"], "in-process", "{exec}");
    let target = no_redirects()
        .get(short)
        .send()
        .await
        .expect("redirect")
        .headers()["location"]
        .to_str()
        .expect("text")
        .to_owned();
    assert_eq!(target, "https://example.com/track/");

    let bad = calling_flow(
        "shorten_bad",
        &hook,
        "shortURL",
        json!({"$flow.key.longUrl": "mailto:someone@example.com"}),
    );
    let exec = run_flow(&app, &acct, &bad).await;
    assert_eq!(exec["variables"]["$flow.key.route"], "failed", "{exec}");
    let step = fn_step(&exec);
    assert_eq!(step["detail"]["answer"]["status"], "FAILED", "{step}");
    assert!(
        step["detail"]["answer"]["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("longUrl: "),
        "{step}"
    );
    assert_eq!(links(&app, &acct).await.len(), 2, "two links made");
}

#[tokio::test]
async fn redirects_count_clicks_and_other_paths_stay_what_they_were() {
    let mut app = spawn_app().await;
    let acct = app.create_account(false).await;
    let token = acct.body["short_token"].as_str().expect("token").to_owned();
    let (status, made) = app
        .call(
            Method::POST,
            "/UrlShortner/shortUrl",
            "unused",
            Some(json!({"custToken": token, "longUrl": "https://google.co.in"})),
        )
        .await;
    assert_eq!(status, 200, "{made}");
    let short = made["shortUrl"].as_str().expect("shortUrl").to_owned();
    let client = no_redirects();
    for _ in 0..3 {
        let resp = client.get(&short).send().await.expect("redirect");
        assert_eq!(resp.status(), 302);
        assert_eq!(resp.headers()["location"], "https://google.co.in/");
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    let head = client.head(&short).send().await.expect("head");
    assert_eq!(head.status(), 302, "a HEAD is answered, not counted");
    let listed = links(&app, &acct).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["clicks"], 3, "{listed:?}");
    assert_eq!(listed[0]["short_url"], short.as_str());
    assert_eq!(listed[0]["long_url"], "https://google.co.in/");
    assert!(listed[0]["last_click_at"].is_string(), "{listed:?}");

    // Clicks counted and not yet written survive a shutdown.
    client.get(&short).send().await.expect("redirect");
    app.stop().await;
    let app = app.restart().await;
    assert_eq!(links(&app, &acct).await[0]["clicks"], 4);

    // An unknown code is a page for a person.
    let unknown = client
        .get(app.url("/ZZZZZZZZZZ"))
        .send()
        .await
        .expect("answer");
    assert_eq!(unknown.status(), 404);
    assert!(
        unknown.headers()["content-type"]
            .to_str()
            .expect("text")
            .starts_with("text/html")
    );
    assert!(
        unknown
            .text()
            .await
            .expect("body")
            .contains("Link not found")
    );
    // Anything else at the root is the JSON problem of an unknown route.
    for path in [
        "/abc",
        "/ABCDEFGHIJK",
        "/ABCDE-GHIJ",
        "/%FF%FE%FD%FC%FB",
        "/v1",
    ] {
        let resp = client.get(app.url(path)).send().await.expect("answer");
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    // The routes beside it are untouched.
    for path in ["/docs", "/openapi.json", "/healthz", "/readyz", "/metrics"] {
        let resp = client.get(app.url(path)).send().await.expect("answer");
        assert_eq!(resp.status(), 200, "{path}");
    }
    let internal = client
        .get(app.url("/internal"))
        .send()
        .await
        .expect("answer");
    assert_eq!(
        internal.status(),
        405,
        "/internal takes POST only, as before"
    );
    let (status, _) = app
        .call(Method::GET, "/v1/links", "0".repeat(64).as_str(), None)
        .await;
    assert_eq!(status, 401, "listing needs the account's key");
}

#[tokio::test]
async fn the_seeds_endpoint_takes_the_cust_token_and_refuses_clearly() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let token = acct.body["short_token"].as_str().expect("token").to_owned();
    assert_eq!(token.len(), 32, "{token}");
    let post = |path: &'static str, body: Value| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(app.url(path))
                .json(&body)
                .send()
                .await
                .expect("answer");
            let status = resp.status().as_u16();
            let ctype = resp.headers()["content-type"]
                .to_str()
                .expect("text")
                .to_owned();
            (status, ctype, resp.json::<Value>().await.expect("json"))
        }
    };
    let (status, _, made) = post(
        "/UrlShortner/phonon/shortUrl",
        json!({"custToken": token, "longUrl": "https://example.com/a"}),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    assert!(
        made["shortUrl"]
            .as_str()
            .expect("url")
            .starts_with(&app.url("/"))
    );

    let (status, ctype, problem) = post(
        "/UrlShortner/shortUrl",
        json!({"custToken": "abcd1234", "longUrl": "https://example.com/a"}),
    )
    .await;
    assert_eq!((status, ctype.as_str()), (401, "application/problem+json"));
    assert_eq!(problem["code"], "UNAUTHORIZED");
    let (status, _, problem) = post(
        "/UrlShortner/shortUrl",
        json!({"custToken": token, "longUrl": "javascript:alert(1)"}),
    )
    .await;
    assert_eq!(
        (status, &problem["code"]),
        (422, &json!("INVALID_URL")),
        "{problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("longUrl: ")
    );
    let (status, _, problem) = post(
        "/UrlShortner/shortUrl",
        json!({"custToken": token, "longUrl": format!("https://example.com/{}", "x".repeat(4100))}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let (status, _, _) = post("/UrlShortner/shortUrl", json!({"custToken": token})).await;
    assert_eq!(status, 422, "longUrl is required");

    // The account's IP whitelist applies to its custToken as to its key.
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/whitelist",
            &acct.key,
            Some(json!({"entries": ["127.0.0.2/32"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, problem) = post(
        "/UrlShortner/shortUrl",
        json!({"custToken": token, "longUrl": "https://example.com/b"}),
    )
    .await;
    assert_eq!(
        (status, &problem["code"]),
        (403, &json!("IP_NOT_WHITELISTED")),
        "{problem}"
    );
    // Following a link is public all the same.
    let resp = no_redirects()
        .get(made["shortUrl"].as_str().expect("url"))
        .send()
        .await
        .expect("redirect");
    assert_eq!(resp.status(), 302);
}

#[tokio::test]
async fn short_tokens_rotate_and_only_the_new_one_works() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let other = app.create_account(false).await;
    let old = acct.body["short_token"].as_str().expect("token").to_owned();
    assert_ne!(old, other.body["short_token"].as_str().expect("token"));
    let path = format!("/v1/accounts/{}/short-token", acct.id);
    let (status, rotated) = app.call(Method::POST, &path, &acct.key, None).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["short_token"].as_str().expect("token").to_owned();
    assert_ne!(new, old);
    let (_, view) = app
        .call(
            Method::GET,
            &format!("/v1/accounts/{}", acct.id),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(
        view["short_token"],
        new.as_str(),
        "the settings show the new one"
    );
    let shorten = |token: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/UrlShortner/shortUrl"))
                .json(&json!({"custToken": token, "longUrl": "https://example.com/"}))
                .send()
                .await
                .expect("answer")
                .status()
                .as_u16()
        }
    };
    assert_eq!(shorten(old).await, 401, "the old token stopped working");
    assert_eq!(shorten(new.clone()).await, 200);
    // The operator may rotate it; another account may not (nor see it).
    let (status, by_admin) = app.admin(Method::POST, &path, None).await;
    assert_eq!(status, 200, "{by_admin}");
    assert_eq!(shorten(new).await, 401);
    let (status, _) = app.call(Method::POST, &path, &other.key, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_account_may_have_its_own_short_domain() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let account = format!("/v1/accounts/{}", acct.id);
    let (status, view) = app
        .call(
            Method::PATCH,
            &account,
            &acct.key,
            Some(json!({"short_base_url": "https://go.acme.example/s/"})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["short_base_url"], "https://go.acme.example/s/");
    let answer = internal(
        &app,
        &acct,
        "shortURL",
        json!([{"name": "$flow.key.longUrl", "value": "https://example.com/x"}]),
    )
    .await;
    let short = answered(&answer, "$flow.key.shortUrl")
        .expect("shortUrl")
        .to_owned();
    assert!(short.starts_with("https://go.acme.example/s/"), "{short}");
    // The code works on this server whichever domain points at it.
    let resp = no_redirects()
        .get(app.url(&format!("/{}", code_of(&short))))
        .send()
        .await
        .expect("redirect");
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "https://example.com/x");
    // Another account keeps the default.
    let other = app.create_account(false).await;
    let theirs = internal(
        &app,
        &other,
        "shortURL",
        json!([{"name": "$flow.key.longUrl", "value": "https://example.com/y"}]),
    )
    .await;
    assert!(
        answered(&theirs, "$flow.key.shortUrl")
            .expect("url")
            .starts_with(&app.url("/"))
    );

    for bad in [
        "https://go.acme.example/?q=1",
        "ftp://go.acme.example",
        "go.acme.example",
    ] {
        let (status, problem) = app
            .call(
                Method::PATCH,
                &account,
                &acct.key,
                Some(json!({"short_base_url": bad})),
            )
            .await;
        assert_eq!(
            (status, &problem["code"]),
            (422, &json!("INVALID_URL")),
            "{bad}: {problem}"
        );
    }
    let (status, view) = app
        .call(
            Method::PATCH,
            &account,
            &acct.key,
            Some(json!({"timezone": "UTC"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["short_base_url"], "https://go.acme.example/s/", "kept");
    let (status, view) = app
        .call(
            Method::PATCH,
            &account,
            &acct.key,
            Some(json!({"short_base_url": null})),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["short_base_url"], Value::Null);
    let answer = internal(
        &app,
        &acct,
        "shortURL",
        json!([{"name": "$flow.key.longUrl", "value": "https://example.com/x"}]),
    )
    .await;
    assert!(
        answered(&answer, "$flow.key.shortUrl")
            .expect("url")
            .starts_with(&app.url("/"))
    );
}

#[tokio::test]
async fn links_work_the_same_on_postgres() {
    let Some(app) = spawn_with(Db::Postgres, Options::default()).await else {
        return;
    };
    let acct = app.create_account(false).await;
    let answer = internal(
        &app,
        &acct,
        "shortURL",
        json!([{"name": "$flow.key.longUrl", "value": "https://example.com/pg"}]),
    )
    .await;
    let short = answered(&answer, "$flow.key.shortUrl")
        .expect("shortUrl")
        .to_owned();
    let client = no_redirects();
    for _ in 0..2 {
        let resp = client.get(&short).send().await.expect("redirect");
        assert_eq!(resp.headers()["location"], "https://example.com/pg");
    }
    assert_eq!(links(&app, &acct).await[0]["clicks"], 2);
}
