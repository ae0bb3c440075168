//! Every page in headless Chromium: what the issue's scenarios need to see,
//! with each page's title, accessibility (axe-core) and screenshot checked by
//! [`Browser::check_page`].

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    ADMIN_TOKEN, Options, Reply, TestApp, TestReceiver, refused_port, spawn_allowing, spawn_with,
};
use crate::webdriver::Browser;

async fn sign_in(b: &Browser, app: &TestApp, token: &str) {
    b.goto(&app.url("/ui/sign-in")).await;
    b.type_into("#f-token", token).await;
    b.submit("form button[type=submit]").await;
    b.find("header nav").await;
}

/// Reloads the current page until `css` shows text containing `want`.
async fn wait_for_text(b: &Browser, css: &str, want: &str) -> String {
    let started = Instant::now();
    loop {
        let found = b.find_all(css).await;
        let mut texts = Vec::new();
        for e in &found {
            texts.push(b.text(e).await);
        }
        if let Some(t) = texts.iter().find(|t| t.contains(want)) {
            return t.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "`{css}` never showed `{want}` on {} ({}): {texts:?}",
            b.url().await,
            b.title().await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let url = b.url().await;
        b.goto(&url).await;
    }
}

/// Waits (without reloading) until `css` shows text containing `want`.
async fn wait_in_place(b: &Browser, css: &str, want: &str) -> String {
    let started = Instant::now();
    loop {
        let text = b.text_of(css).await;
        if text.contains(want) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "`{css}` never showed `{want}`: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sign_in_and_the_webhooks_page_check_button() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let rx = TestReceiver::start().await;
    let app = spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;

    b.goto(&app.url("/")).await;
    b.find("#f-token").await;
    b.check_page("sign-in", "Sign in").await;
    b.type_into("#f-token", "not-a-key").await;
    b.submit("form button[type=submit]").await;
    assert!(
        b.text_of("#sign-in-error")
            .await
            .contains("neither a security id nor the admin token")
    );
    sign_in(&b, &app, &acct.key).await;
    assert!(b.title().await.starts_with("Dashboard"));
    b.check_page("dashboard", "Dashboard").await;

    // Add a webhook pointing at the local receiver, check it: the tick.
    b.submit("a[href='/ui/webhooks']").await;
    b.check_page("webhooks", "Webhooks").await;
    b.type_into("#f-name", "Receiver <script>window.xss=1</script>")
        .await;
    b.type_into("#f-url", &rx.url("/hook")).await;
    b.submit("form[action='/ui/webhooks'] button[type=submit]")
        .await;
    let secret = b.text_of("#signing-secret").await;
    assert!(secret.contains("whsec_"), "{secret}");
    assert!(
        b.title().await.contains("Receiver <script>"),
        "the name is text in the title"
    );
    // The check answers in place (the page's one script).
    let page = b.find("html").await;
    b.click("form[action$='/check'] button").await;
    let result = wait_in_place(&b, "#check-result", "HTTP 200").await;
    assert!(result.contains("✓ OK"), "{result}");
    assert!(b.is_current(&page).await, "the page was not replaced");
    assert!(b.find_all("#check-result .tick").await.len() == 1);
    b.check_page("webhook-checked", "Webhook").await;
    assert_eq!(rx.requests_to("/hook").len(), 1);
    b.goto(&app.url("/ui/webhooks")).await;
    let list = b.text_of("table").await;
    assert!(
        list.contains("Receiver <script>window.xss=1</script>"),
        "shown as text: {list}"
    );
    assert_eq!(
        b.execute("return window.xss === undefined;", json!([]))
            .await,
        json!(true)
    );

    // A field error beside its field.
    b.type_into("#f-name", "Broken").await;
    b.type_into("#f-url", "ftp://example.com/x").await;
    b.submit("form[action='/ui/webhooks'] button[type=submit]")
        .await;
    let error = b.text_of("#url-error").await;
    assert!(!error.is_empty(), "the URL's error is beside the URL field");
    assert_eq!(
        b.execute(
            "return document.querySelector('#f-url').getAttribute('aria-describedby');",
            json!([])
        )
        .await,
        json!("url-error")
    );
    b.check_page("webhook-field-error", "Webhooks").await;

    // A refused port: the reason in words.
    let port = refused_port().await;
    b.type_into("#f-name", "Nobody home").await;
    b.type_into("#f-url", &format!("http://127.0.0.1:{port}/hook"))
        .await;
    b.submit("form[action='/ui/webhooks'] button[type=submit]")
        .await;
    b.click("form[action$='/check'] button").await;
    let result = wait_in_place(&b, "#check-result", "Failed").await;
    assert!(result.to_lowercase().contains("refused"), "{result}");

    // Rotating shows a new secret once.
    b.submit("form[action$='/rotate'] button").await;
    assert!(b.text_of("#signing-secret").await.contains("whsec_"));
    b.goto(&b.url().await).await;
    assert!(!b.source().await.contains("whsec_"), "shown only once");
}

/// A flow with a webhook widget calling the receiver; `name` as given.
fn flow(name: &str, rx: &TestReceiver) -> String {
    json!({
        "name": name,
        "start": "lookup",
        "webhook_on_complete": true,
        "widgets": {
            "lookup": {
                "type": "webhook",
                "request": {"method": "POST", "url": rx.url("/lookup"), "body_type": "json",
                            "body": "{\"order\": \"$flow.key.orderId\"}"},
                "response": {"type": "json", "mappings": [{"save_in": "$flow.key.status", "path": "$.status"}]},
                "lines": ["found", "missing"]
            },
            "found": {"type": "store_variable", "assign": {"$flow.key.route": "status_$flow.key.status"}, "lines": [null]},
            "missing": {"type": "end"}
        }
    })
    .to_string()
}

#[tokio::test]
async fn flows_executions_and_deliveries() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let rx = TestReceiver::start().await;
    rx.on("/lookup", Reply::json(200, r#"{"status": "shipped"}"#));
    rx.on("/end", Reply::json(500, "down"));
    let app = spawn_with(
        crate::helpers::Db::Sqlite,
        Options {
            allow_cidrs: Some("127.0.0.1/32".into()),
            retry_schedule: Some("0".into()),
            ..Options::default()
        },
    )
    .await
    .expect("sqlite");
    let acct = app.create_account(true).await;
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(json!({"name": "End", "url": rx.url("/end"), "is_default": true})),
        )
        .await;
    assert_eq!(status, 201);
    sign_in(&b, &app, &acct.key).await;

    // An invalid flow: the error is beside the widget it names, and the
    // flow's name (with a script in it) is shown as text.
    b.goto(&app.url("/ui/flows")).await;
    b.check_page("flows", "Flows").await;
    let mut bad: serde_json::Value =
        serde_json::from_str(&flow("<script>window.xss=1</script>", &rx)).expect("json");
    bad["widgets"]["found"]["lines"] = json!(["nowhere"]);
    b.fill("#f-document", &bad.to_string()).await;
    b.submit("form[action='/ui/flows'] button[type=submit]")
        .await;
    let beside = b.text_of(".widget-error[data-widget='found']").await;
    assert!(
        beside.contains("found") && beside.contains("nowhere"),
        "{beside}"
    );
    let errors = b.text_of("#flow-errors").await;
    assert!(
        errors.contains("<script>window.xss=1</script>"),
        "the name as text: {errors}"
    );
    assert_eq!(
        b.execute("return window.xss === undefined;", json!([]))
            .await,
        json!(true)
    );
    assert_eq!(
        b.find_all("svg.flow g.widget.invalid[data-widget='found']")
            .await
            .len(),
        1,
        "marked on the picture"
    );
    let under = b.text_of("svg.flow text.widget-error-text").await;
    assert!(
        under.contains("nowhere"),
        "the message under the box: {under}"
    );
    b.check_page("flow-invalid", "Flows").await;

    // A valid flow: its picture, boxes and labelled arrows.
    b.fill("#f-document", &flow("orders", &rx)).await;
    b.submit("form[action='/ui/flows'] button[type=submit]")
        .await;
    b.find("#flow-picture svg").await;
    assert!(b.title().await.starts_with("Flow orders"));
    assert_eq!(b.find_all("#flow-picture g.widget").await.len(), 3);
    let arrows = b.find_all("#flow-picture g.line").await;
    assert_eq!(arrows.len(), 2);
    let labels = b.text_of("#flow-picture svg").await;
    assert!(
        labels.contains("success") && labels.contains("failed"),
        "{labels}"
    );
    b.check_page("flow", "Flow orders").await;

    // The widget test button.
    b.click("details summary").await;
    b.fill("textarea[name=variables]", "$flow.key.orderId = A-17")
        .await;
    b.submit("form[action$='/widgets/lookup/test'] button")
        .await;
    let tested = b.text_of("#test-result").await;
    assert!(
        tested.contains("shipped") && tested.contains("A-17"),
        "{tested}"
    );

    // Run an execution and read its trace; the path is on the picture.
    b.fill("#f-keys", "$flow.key.orderId = A-18").await;
    b.submit("form[action$='/executions'] button").await;
    let status = b.text_of("#execution-status").await;
    assert!(status.contains("completed"), "{status}");
    let trace = b.text_of("#trace").await;
    assert!(
        trace.contains("lookup") && trace.contains("found"),
        "{trace}"
    );
    assert!(b.text_of("#variables").await.contains("status_shipped"));
    assert_eq!(b.find_all("svg.flow g.widget.ran").await.len(), 2);
    assert_eq!(b.find_all("svg.flow g.line.taken").await.len(), 1);
    b.check_page("execution", "Execution").await;
    b.goto(&app.url("/ui/executions?status=completed")).await;
    assert!(b.text_of("table").await.contains("completed"));
    b.check_page("executions", "Executions").await;

    // The flow-end delivery fails (500 twice); resend it and see the new attempt.
    b.goto(&app.url("/ui/deliveries?status=failed")).await;
    wait_for_text(&b, "table", "failed").await;
    b.check_page("deliveries", "Deliveries").await;
    b.submit("table a").await;
    assert_eq!(b.find_all("#attempts tr.attempt").await.len(), 2);
    rx.on("/end", Reply::json(200, "ok"));
    b.submit("form[action$='/resend'] button").await;
    wait_for_text(&b, "#delivery-status", "delivered").await;
    assert_eq!(b.find_all("#attempts tr.attempt").await.len(), 3);
    assert!(b.text_of("#attempts").await.contains("HTTP 200"));
    b.check_page("delivery", "Delivery").await;

    // The Details toggle saves a new version without the flow-end webhook.
    b.goto(&app.url("/ui/flows")).await;
    b.submit("table a").await;
    b.click("#f-webhook_on_complete").await;
    b.submit("form[action$='/on-complete'] button").await;
    assert!(b.text_of(".notice.ok").await.contains("off"));
    let (_, flows) = app.call(Method::GET, "/v1/flows", &acct.key, None).await;
    assert_eq!(flows[0]["version"], 2);
    assert_eq!(flows[0]["document"]["webhook_on_complete"], false);

    // The dashboard counts what happened.
    b.goto(&app.url("/ui/")).await;
    assert!(b.text_of(".legend").await.contains("completed: 1"));
    b.check_page("dashboard-busy", "Dashboard").await;

    // On a phone: nothing wider than the screen, still accessible.
    b.window_size(390, 844).await;
    for (path, name, title) in [
        ("/ui/", "phone-dashboard", "Dashboard"),
        ("/ui/flows", "phone-flows", "Flows"),
    ] {
        b.goto(&app.url(path)).await;
        let overflow = b
            .execute(
                "return document.documentElement.scrollWidth - window.innerWidth;",
                json!([]),
            )
            .await;
        assert!(
            overflow.as_i64().unwrap_or(0) <= 0,
            "{path} is wider than a phone: {overflow}"
        );
        b.check_page(name, title).await;
    }
}

#[tokio::test]
async fn account_console_and_operator_pages() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let app = spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(false).await;
    sign_in(&b, &app, &acct.key).await;

    b.goto(&app.url("/ui/account")).await;
    b.check_page("account", "Account").await;
    b.type_into("#f-timezone", "Mars/Olympus").await;
    b.submit("form[action='/ui/account/settings'] button").await;
    assert!(!b.text_of("#timezone-error").await.is_empty());
    b.type_into("#f-timezone", "Asia/Kolkata").await;
    b.submit("form[action='/ui/account/settings'] button").await;
    assert!(b.text_of(".notice.ok").await.contains("saved"));
    let shown = b
        .execute(
            "return document.getElementById('f-timezone').value;",
            json!([]),
        )
        .await;
    assert_eq!(shown, "Asia/Kolkata", "the page shows what was saved");
    b.fill("#f-whitelist", "127.0.0.1\n10.0.0.0/8").await;
    b.submit("form[action='/ui/account/whitelist'] button")
        .await;
    assert!(b.text_of(".notice.ok").await.contains("Whitelist saved"));
    let (_, me) = app
        .call(
            Method::GET,
            &format!("/v1/accounts/{}", acct.id),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(me["timezone"], "Asia/Kolkata");

    // Providers: a secret is sealed and shown as ***; sent back as *** it
    // stays; text that is not JSON is refused beside the field.
    b.fill("#f-providers", "{\"translate\": {\"provider\": \"libretranslate\", \"url\": \"https://127.0.0.1:9\", \"api_key\": \"k-secret-1\"}}").await;
    b.submit("form[action='/ui/account/providers'] button")
        .await;
    assert!(b.text_of(".notice.ok").await.contains("Providers saved"));
    assert!(
        !b.source().await.contains("k-secret-1"),
        "the secret is never on a page"
    );
    b.submit("form[action='/ui/account/providers'] button")
        .await;
    assert!(b.text_of(".notice.ok").await.contains("Providers saved"));
    let (_, me) = app
        .call(
            Method::GET,
            &format!("/v1/accounts/{}", acct.id),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(me["providers"]["translate"]["api_key"], "***", "{me}");
    assert_eq!(me["providers"]["translate"]["provider"], "libretranslate");
    b.fill("#f-providers", "{not json").await;
    b.submit("form[action='/ui/account/providers'] button")
        .await;
    assert!(!b.text_of("#providers-error").await.is_empty());

    // The upload form reads a chosen file into its document field.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("picked.flow.json");
    std::fs::write(
        &file,
        r#"{"name": "picked", "start": "e", "widgets": {"e": {"type": "end"}}}"#,
    )
    .expect("write");
    b.goto(&app.url("/ui/flows")).await;
    b.type_into("#f-file", &file.display().to_string()).await;
    let mut read = String::new();
    for _ in 0..50 {
        read = b
            .execute(
                "return document.getElementById('f-document').value;",
                json!([]),
            )
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if read.contains("picked") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(read.contains("\"picked\""), "{read}");

    b.goto(&app.url("/ui/console?method=validateDateTime"))
        .await;
    b.check_page("console", "Internal webhooks").await;
    b.type_into("input[name='key:inputDate']", "2026-12-07")
        .await;
    b.type_into("input[name='key:inputTime']", "11:00").await;
    b.submit("form[method=post][action='/ui/console'] button")
        .await;
    let answer = b.text_of("#console-status").await;
    assert!(answer.contains("SUCCESS"), "{answer}");
    b.goto(&app.url("/ui/console?method=shortURL")).await;
    b.submit("form[method=post][action='/ui/console'] button")
        .await;
    assert!(
        b.text_of("#console-status").await.contains("longUrl"),
        "the missing key is named"
    );

    // Sign out; the operator's pages.
    b.submit(".sign-out button").await;
    b.find("#f-token").await;
    sign_in(&b, &app, ADMIN_TOKEN).await;
    assert!(b.title().await.starts_with("Accounts"));
    b.check_page("operator-accounts", "Accounts").await;
    b.type_into("#f-name", "Beta").await;
    b.submit("form[action='/ui/accounts'] button[type=submit]")
        .await;
    let created = b.text_of("#security-id").await;
    assert!(created.contains("Beta"), "{created}");
    b.submit(&format!(
        "form[action='/ui/accounts/{}/http'] button",
        acct.id
    ))
    .await;
    assert!(b.text_of(".notice.ok").await.contains("now allowed"));
    let (_, me) = app
        .admin(Method::GET, &format!("/v1/accounts/{}", acct.id), None)
        .await;
    assert_eq!(me["allow_http"], true);
    b.goto(&app.url("/ui/webhooks")).await;
    assert!(b.source().await.contains("belongs to an account"));
}
