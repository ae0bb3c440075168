//! The admin UI in a real browser: headless Chromium driven through
//! WebDriver ([`webdriver`]) against a real server on port 0. Every page is
//! checked for its title, run through axe-core (no serious or critical
//! violation) and photographed into `target/ui-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; `FLOWHOOK_UI_TESTS=skip`
//! skips the browser tests where they cannot run.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

/// What `helpers` expects of the API suite's `flows` module.
mod flows {
    use serde_json::Value;

    use crate::helpers::TestApp;

    pub async fn post_flow(
        app: &TestApp,
        key: &str,
        path: &str,
        method: reqwest::Method,
        text: &str,
    ) -> (u16, Value) {
        let resp = app
            .http
            .request(method, app.url(path))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(text.to_owned())
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

mod pages;
mod security;
mod webdriver;
