//! A small W3C WebDriver client over `reqwest` (the protocol is JSON over
//! HTTP): one `chromedriver` process per [`Browser`], headless Chromium, and
//! the few commands the UI tests use, plus axe-core and screenshots.
//!
//! The tests need Debian's `chromium` and `chromium-driver` (`.ci/run`
//! installs them). Without them a test fails, unless `FLOWHOOK_UI_TESTS=skip`
//! says to skip it ([`Browser::start`] answers `None`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key of an element reference in WebDriver (the W3C web element identifier).
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// axe-core, vendored by `scripts/vendor-axe.sh`.
const AXE: &str = include_str!("vendor/axe.min.js");

/// A headless Chromium session driven through its own chromedriver.
pub struct Browser {
    driver: Child,
    /// Chromium's profile, removed with the browser.
    _profile: tempfile::TempDir,
    http: reqwest::Client,
    base: String,
    session: String,
}

/// An element of the page.
#[derive(Clone)]
pub struct Element(String);

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// A browser, or `None` when `FLOWHOOK_UI_TESTS=skip` (the skip is
    /// printed). Panics when Chromium or its driver is missing otherwise.
    pub async fn start() -> Option<Browser> {
        if std::env::var("FLOWHOOK_UI_TESTS").as_deref() == Ok("skip") {
            eprintln!("skipped: FLOWHOOK_UI_TESTS=skip");
            return None;
        }
        let driver = which("chromedriver").expect(
            "the UI tests need chromedriver: apt-get install chromium chromium-driver \
             (or set FLOWHOOK_UI_TESTS=skip to skip them)",
        );
        let chromium = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find_map(which)
            .expect("the UI tests need Chromium: apt-get install chromium chromium-driver");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if ready.is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let mut browser = Browser {
            driver: child,
            _profile: profile,
            http,
            base,
            session: String::new(),
        };
        let answer = browser
            .raw(reqwest::Method::POST, "/session", Some(caps))
            .await;
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Some(browser)
    }

    async fn raw(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_raw(method.clone(), path, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// A command; a WebDriver error (say, a stale element while a page
    /// loads) as `Err`.
    async fn try_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let v: Value = resp.json().await.expect("WebDriver answers JSON");
        if v["value"]["error"].is_string() {
            let mut e = v["value"].clone();
            e.as_object_mut().map(|o| o.remove("stacktrace"));
            return Err(e);
        }
        Ok(v["value"].clone())
    }

    async fn try_cmd(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let path = format!("/session/{}{path}", self.session);
        self.try_raw(method, &path, body).await
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.raw(method, &path, body).await
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn title(&self) -> String {
        self.cmd(reqwest::Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub async fn source(&self) -> String {
        self.cmd(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every element `css` selects.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT].as_str().map(|s| Element(s.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first element `css` selects, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find_all(css).await.into_iter().next() {
                return e;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no element `{css}` on {} ({})",
                self.url().await,
                self.title().await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element's text; empty when it went stale.
    pub async fn text(&self, e: &Element) -> String {
        self.try_cmd(
            reqwest::Method::GET,
            &format!("/element/{}/text", e.0),
            None,
        )
        .await
        .unwrap_or_default()
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The text of the first element `css` selects, retried while the page
    /// is being replaced (a form just posted).
    pub async fn text_of(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let e = self.find(css).await;
            match self
                .try_cmd(
                    reqwest::Method::GET,
                    &format!("/element/{}/text", e.0),
                    None,
                )
                .await
            {
                Ok(v) => return v.as_str().unwrap_or_default().to_owned(),
                Err(err) => assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "text of `{css}`: {err}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            let e = self.find(css).await;
            match self
                .try_cmd(
                    reqwest::Method::POST,
                    &format!("/element/{}/click", e.0),
                    Some(json!({})),
                )
                .await
            {
                Ok(_) => return,
                Err(err) => assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "click `{css}`: {err}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks what leads to another page (a link, a form's button) and waits
    /// until that page replaced this one.
    pub async fn submit(&self, css: &str) {
        let old = self.find("html").await;
        self.click(css).await;
        let started = Instant::now();
        while self
            .try_cmd(
                reqwest::Method::GET,
                &format!("/element/{}/name", old.0),
                None,
            )
            .await
            .is_ok()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "clicking `{css}` did not lead to another page"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Is `e` still on the page (not replaced by a navigation)?
    pub async fn is_current(&self, e: &Element) -> bool {
        self.try_cmd(
            reqwest::Method::GET,
            &format!("/element/{}/name", e.0),
            None,
        )
        .await
        .is_ok()
    }

    /// Replaces the field's value by typing `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/clear", e.0),
            Some(json!({})),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Sets a field's value at once (long flow documents).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.execute(
            "arguments[0].value = arguments[1];",
            json!([{ELEMENT: e.0}, text]),
        )
        .await;
    }

    /// Resizes the window (a phone is 390 × 844).
    pub async fn window_size(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Saves a screenshot as `target/ui-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let png = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("png");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("write screenshot");
    }

    /// Runs axe-core on the page; panics listing every serious or critical
    /// violation.
    pub async fn assert_accessible(&self) {
        self.execute(&format!("{AXE}\n;return true;"), json!([]))
            .await;
        let script = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, {resultTypes: ['violations']})
              .then(r => done(r.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)))
              .catch(e => done(['axe failed: ' + e]));"#;
        let found = self
            .cmd(
                reqwest::Method::POST,
                "/execute/async",
                Some(json!({"script": script, "args": []})),
            )
            .await;
        let list: Vec<String> = serde_json::from_value(found).unwrap_or_default();
        assert!(
            list.is_empty(),
            "accessibility violations on {} ({}):\n{}",
            self.url().await,
            self.title().await,
            list.join("\n")
        );
    }

    /// A page's checks in one: its title names where you are, axe finds
    /// nothing serious, and a screenshot is saved.
    pub async fn check_page(&self, name: &str, title_has: &str) {
        let title = self.title().await;
        assert!(
            title.contains(title_has),
            "title `{title}` should name `{title_has}`"
        );
        self.assert_accessible().await;
        self.screenshot(name).await;
    }
}

/// `target/ui-screenshots`, next to the test binary's `target/<profile>`.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/ui-<hash>
    exe.ancestors()
        .nth(3)
        .map(|t| t.join("ui-screenshots"))
        .expect("the test binary lives under target/")
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Best effort: end the browser before its driver.
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        let _ = reqwest::Client::new().delete(url).send().await;
                    });
                }
            })
            .join();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
