//! The UI's guarantees over plain HTTP (no browser needed): where the pages
//! live, the session cookie, CSRF refusals, the IP whitelist, the dashboard
//! API, and that no secret is rendered twice.

use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app};

/// A visitor without a browser: keeps the session cookie by hand.
pub struct Visitor<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    pub cookie: String,
}

/// The value of the page's first hidden `csrf` field.
pub fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a csrf field") + 19;
    html[at..].split('"').next().expect("value").to_owned()
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Visitor<'a> {
        Visitor {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: String::new(),
        }
    }

    fn keep(&mut self, resp: &reqwest::Response) {
        if let Some(c) = resp.headers().get(SET_COOKIE) {
            let c = c.to_str().expect("text");
            self.cookie = c.split(';').next().expect("pair").to_owned();
        }
    }

    pub async fn get(&mut self, path: &str) -> (u16, String, Option<String>) {
        let resp = self
            .http
            .get(self.app.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .expect("send");
        self.keep(&resp);
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().expect("text").to_owned());
        (status, resp.text().await.expect("body"), location)
    }

    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> (u16, String, Option<String>) {
        let mut req = self
            .http
            .post(self.app.url(path))
            .header(COOKIE, &self.cookie)
            .form(form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let resp = req.send().await.expect("send");
        self.keep(&resp);
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().expect("text").to_owned());
        (status, resp.text().await.expect("body"), location)
    }

    /// Signs in with `token`; panics unless it works.
    pub async fn sign_in(&mut self, token: &str) {
        let (_, html, _) = self.get("/ui/sign-in").await;
        let csrf = csrf_of(&html);
        let (status, _, location) = self
            .post("/ui/sign-in", &[("csrf", &csrf), ("token", token)], None)
            .await;
        assert_eq!(
            (status, location.as_deref()),
            (303, Some("/ui/")),
            "signed in"
        );
    }
}

#[tokio::test]
async fn the_pages_live_under_ui_and_need_a_session() {
    let app = spawn_app().await;
    let mut v = Visitor::new(&app);
    let (status, _, location) = v.get("/").await;
    assert_eq!((status, location.as_deref()), (303, Some("/ui/")));
    let (status, _, location) = v.get("/ui/").await;
    assert_eq!((status, location.as_deref()), (303, Some("/ui/sign-in")));
    let resp = reqwest::get(app.url("/ui/sign-in")).await.expect("send");
    let cookie = resp.headers()[SET_COOKIE]
        .to_str()
        .expect("text")
        .to_owned();
    for part in [
        "flowhook_ui=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/ui",
        "Max-Age=",
    ] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    // A forged or altered cookie is nobody.
    let mut forged = Visitor::new(&app);
    forged.sign_in(ADMIN_TOKEN).await;
    let (payload, tag) = forged.cookie.split_once('.').expect("signed");
    forged.cookie = format!("{}A.{tag}", payload);
    let (status, _, location) = forged.get("/ui/accounts").await;
    assert_eq!((status, location.as_deref()), (303, Some("/ui/sign-in")));
    // A short-link code is still a short-link code, not a page.
    let (status, body, _) = v.get("/abcdefghij").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("Link not found"), "{body}");
    let (status, body, _) = v.get("/ui/no-such-page").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("There is no such page"), "{body}");
    // Pages are not API operations; the dashboard is.
    let doc = app.get_json("/openapi.json").await;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.keys().all(|p| !p.starts_with("/ui")));
    assert!(paths.contains_key("/v1/dashboard"));
}

#[tokio::test]
async fn a_form_post_without_the_session_token_is_refused() {
    let app = spawn_app().await;
    let acct = app.create_account(true).await;
    let mut v = Visitor::new(&app);
    // Even signing in needs the token of the form's session.
    let (_, _, _) = v.get("/ui/sign-in").await;
    let (status, body, _) = v.post("/ui/sign-in", &[("token", &acct.key)], None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Form refused"), "{body}");
    v.sign_in(&acct.key).await;
    let form = [
        ("name", "CRM"),
        ("method", "POST"),
        ("url", "https://crm.example.com/h"),
        ("auth", "none"),
        ("body_type", "json"),
    ];
    let (status, body, _) = v.post("/ui/webhooks", &form, None).await;
    assert_eq!(status, 403, "no token: {body}");
    let (_, html, _) = v.get("/ui/webhooks").await;
    let csrf = csrf_of(&html);
    let mut with = form.to_vec();
    with.push(("csrf", "AAAA"));
    let (status, _, _) = v.post("/ui/webhooks", &with, None).await;
    assert_eq!(status, 403, "a wrong token");
    with.pop();
    with.push(("csrf", &csrf));
    let (status, _, _) = v
        .post("/ui/webhooks", &with, Some("https://evil.example"))
        .await;
    assert_eq!(status, 403, "another site's origin");
    let (_, hooks) = app.call(Method::GET, "/v1/webhooks", &acct.key, None).await;
    assert_eq!(hooks, json!([]), "nothing was made");
    let origin = format!("http://{}", app.addr);
    let (status, body, _) = v.post("/ui/webhooks", &with, Some(&origin)).await;
    assert_eq!(status, 200, "{body}");
    // The signing secret is on that page only; the security id on none.
    assert!(body.contains("whsec_"), "shown once");
    let (_, hooks) = app.call(Method::GET, "/v1/webhooks", &acct.key, None).await;
    let id = hooks[0]["id"].as_str().expect("id");
    let (_, page, _) = v.get(&format!("/ui/webhooks/{id}")).await;
    assert!(!page.contains("whsec_"), "never again");
    let token = acct.body["short_token"]
        .as_str()
        .expect("a short-link token")
        .to_owned();
    for path in ["/ui/", "/ui/account", "/ui/webhooks"] {
        let (_, page, _) = v.get(path).await;
        assert!(!page.contains(&acct.key), "{path} shows the security id");
        assert!(!page.contains(&token), "{path} shows the short-link token");
    }
    // A session from another session's token is refused too.
    let mut other = Visitor::new(&app);
    other.sign_in(&acct.key).await;
    let (status, _, _) = other.post("/ui/webhooks", &with, None).await;
    assert_eq!(status, 403);
    // Signing out ends the session, also for a copy of its cookie.
    let copied = v.cookie.clone();
    let (status, _, location) = v.post("/ui/sign-out", &[("csrf", &csrf)], None).await;
    assert_eq!((status, location.as_deref()), (303, Some("/ui/sign-in")));
    let (status, _, _) = v.get("/ui/webhooks").await;
    assert_eq!(status, 303);
    v.cookie = copied;
    let (status, _, location) = v.get("/ui/webhooks").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/ui/sign-in")),
        "a copied cookie of a signed-out session signs nobody in"
    );
}

#[tokio::test]
async fn a_session_that_no_longer_resolves_gets_the_sign_in_form() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let mut v = Visitor::new(&app);
    v.sign_in(&acct.key).await;
    let (status, page, location) = v.get("/ui/sign-in").await;
    assert_eq!((status, location.as_deref()), (303, Some("/ui/")), "{page}");
    // The account's whitelist no longer admits this browser: its session
    // no longer resolves, and sign in shows the form rather than sending
    // the browser home again.
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/whitelist",
            &acct.key,
            Some(json!({"entries": ["127.0.0.2"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, page, _) = v.get("/ui/sign-in").await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"token\""), "{page}");
}

#[tokio::test]
async fn the_ip_whitelist_applies_to_the_ui() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let mut v = Visitor::new(&app);
    v.sign_in(&acct.key).await;
    let (status, _, _) = v.get("/ui/webhooks").await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/whitelist",
            &acct.key,
            Some(json!({"entries": ["127.0.0.2"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body, _) = v.get("/ui/webhooks").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("not in this account&#x27;s IP whitelist") || body.contains("IP whitelist"),
        "{body}"
    );
    let mut fresh = Visitor::new(&app);
    let (_, html, _) = fresh.get("/ui/sign-in").await;
    let (status, body, _) = fresh
        .post(
            "/ui/sign-in",
            &[("csrf", &csrf_of(&html)), ("token", &acct.key)],
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("does not allow sign-in from here"), "{body}");
}

#[tokio::test]
async fn the_dashboard_is_one_api_call() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, d) = app
        .call(Method::GET, "/v1/dashboard", &acct.key, None)
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        d["deliveries"],
        json!({"delivered": 0, "failed": 0, "pending": 0})
    );
    assert_eq!(d["outbox"]["backlog"], 0);
    assert!(d["executions_per_minute"].as_array().is_some());
    let (status, _) = app.admin(Method::GET, "/v1/dashboard", None).await;
    assert_eq!(status, 401, "an account's call");
}

#[tokio::test]
async fn recovering_a_window_of_failures_says_what_it_did() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let mut v = Visitor::new(&app);
    v.sign_in(&acct.key).await;
    let (_, html, _) = v.get("/ui/deliveries").await;
    let csrf = csrf_of(&html);
    let (status, body, _) = v
        .post(
            "/ui/deliveries/recover",
            &[
                ("csrf", &csrf),
                ("from", "2026-01-01T00:00"),
                ("to", "2026-01-02T00:00"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("0 failed deliveries queued again"), "{body}");
    let (status, body, _) = v
        .post(
            "/ui/deliveries/recover",
            &[
                ("csrf", &csrf),
                ("from", "2026-01-02T00:00"),
                ("to", "2026-01-01T00:00"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains(r#"id="window-error""#),
        "beside the window: {body}"
    );
    let (status, body, _) = v
        .get("/ui/executions?status=completed&from=yesterday")
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("The filter is not valid"), "{body}");
}

#[tokio::test]
async fn the_check_button_works_without_javascript() {
    let app = crate::helpers::spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    let port = crate::helpers::refused_port().await;
    let (status, hook) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(json!({"name": "Gone", "url": format!("http://127.0.0.1:{port}/x")})),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let id = hook["id"].as_str().expect("id");
    let mut v = Visitor::new(&app);
    v.sign_in(&acct.key).await;
    let (_, html, _) = v.get(&format!("/ui/webhooks/{id}")).await;
    let (status, body, _) = v
        .post(
            &format!("/ui/webhooks/{id}/check"),
            &[("csrf", &csrf_of(&html))],
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let result = &body[body.find(r#"id="check-result""#).expect("the result")..];
    assert!(
        result.contains("✗ Failed") && result.contains("CONNECTION_REFUSED"),
        "{result}"
    );
}
