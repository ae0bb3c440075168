//! `spawn_app()` and the recording test receiver.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use flowhook::config::{Config, RawSettings};
use flowhook::startup::Application;
use reqwest::Method;
use serde_json::{Value, json};

use crate::flows::post_flow;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const MASTER_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Which database a test server uses.
#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Options of a test server.
#[derive(Clone, Default)]
pub struct Options {
    /// FLOWHOOK_EGRESS_ALLOW_CIDRS.
    pub allow_cidrs: Option<String>,
    /// FLOWHOOK_RETRY_SCHEDULE.
    pub retry_schedule: Option<String>,
    /// FLOWHOOK_MASTER_KEY, when not [`MASTER_KEY`].
    pub master_key: Option<String>,
    /// FLOWHOOK_TRUSTED_PROXIES.
    pub trusted_proxies: Option<String>,
    pub max_running: Option<usize>,
    pub max_running_per_account: Option<usize>,
    pub request_timeout_seconds: Option<u64>,
    pub max_connections: Option<usize>,
}

/// A running server and what is needed to talk to it and restart it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub db_url: String,
    options: Options,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Arc<tempfile::TempDir>,
}

/// A server on SQLite.
pub async fn spawn_app() -> TestApp {
    spawn_with(Db::Sqlite, Options::default())
        .await
        .expect("sqlite is always available")
}

/// A server on SQLite whose egress client may reach `cidrs` (loopback receivers).
pub async fn spawn_allowing(cidrs: &str) -> TestApp {
    spawn_with(
        Db::Sqlite,
        Options {
            allow_cidrs: Some(cidrs.into()),
            ..Options::default()
        },
    )
    .await
    .expect("sqlite is always available")
}

/// A server on the given database; `None` when PostgreSQL is not configured
/// (the skip has been printed).
pub async fn spawn_with(db: Db, options: Options) -> Option<TestApp> {
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let db_url = match db {
        Db::Sqlite => flowhook_storage::testing::fresh_sqlite_url(dir.path()),
        Db::Postgres => flowhook_storage::testing::fresh_postgres_url("api test").await?,
    };
    Some(start(db_url, options, dir).await)
}

async fn start(db_url: String, options: Options, dir: Arc<tempfile::TempDir>) -> TestApp {
    let config = Config::validate(RawSettings {
        listen: Some("127.0.0.1:0".into()),
        database_url: Some(db_url.clone()),
        data_dir: Some(dir.path().to_path_buf()),
        admin_token: Some(ADMIN_TOKEN.into()),
        master_key: Some(
            options
                .master_key
                .clone()
                .unwrap_or_else(|| MASTER_KEY.into()),
        ),
        egress_allow_cidrs: options.allow_cidrs.clone(),
        retry_schedule: options.retry_schedule.clone(),
        trusted_proxies: options.trusted_proxies.clone(),
        max_running_executions: options.max_running,
        max_running_executions_per_account: options.max_running_per_account,
        request_timeout_seconds: options.request_timeout_seconds,
        max_connections: options.max_connections,
        ..RawSettings::default()
    })
    .expect("valid test config");
    let app = Application::build(config).await.expect("server builds");
    let addr = app.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.run_until(async {
            let _ = rx.await;
        })
        .await
        .expect("server runs");
    });
    TestApp {
        addr,
        http: reqwest::Client::new(),
        db_url,
        options,
        shutdown: Some(tx),
        task: Some(task),
        _dir: dir,
    }
}

/// An account made through the API.
pub struct Account {
    pub id: String,
    pub key: String,
    pub body: Value,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the server and starts a new one on the same database and folder.
    pub async fn restart(self) -> TestApp {
        let options = self.options.clone();
        self.restart_with(options).await
    }

    /// Stops the server (and waits until it stopped); the database stays.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server stopped cleanly");
        }
    }

    /// Stops the server and starts a new one on the same database and folder,
    /// with other options.
    pub async fn restart_with(mut self, options: Options) -> TestApp {
        self.stop().await;
        start(self.db_url.clone(), options, self._dir.clone()).await
    }

    /// An unauthenticated GET of a service endpoint; the body as text.
    pub async fn get_text(&self, path: &str) -> String {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request reaches the server")
            .text()
            .await
            .expect("body")
    }

    /// An unauthenticated GET of a service endpoint; the body as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        serde_json::from_str(&self.get_text(path).await).expect("json")
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call(method, path, ADMIN_TOKEN, body).await
    }

    /// A JSON call with a bearer token; answers status and JSON body (Null if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request reaches the server");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn create_account(&self, allow_http: bool) -> Account {
        let (status, body) = self
            .admin(
                reqwest::Method::POST,
                "/v1/accounts",
                Some(json!({"name": "Acme", "allow_http": allow_http, "timezone": "Asia/Kolkata"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        Account {
            id: body["id"].as_str().expect("id").to_owned(),
            key: body["security_id"].as_str().expect("key").to_owned(),
            body,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the receiver answers on a path.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub delay: std::time::Duration,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            content_type: "application/json",
            headers: Vec::new(),
            delay: std::time::Duration::ZERO,
        }
    }

    pub fn xml(body: &str) -> Reply {
        Reply {
            content_type: "application/xml",
            ..Reply::json(200, body)
        }
    }

    pub fn delayed(mut self, delay: std::time::Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }
}

/// A stand-in for a customer's server: records every request and answers with
/// the reply configured for the longest matching path prefix (default: 200
/// `{"received":true}`, or the status set by `answer_with`).
pub struct TestReceiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub status: Arc<Mutex<u16>>,
    replies: Replies,
}

/// Path prefix → the replies still to give there.
type Replies = Arc<Mutex<Vec<(String, Vec<Reply>)>>>;

impl TestReceiver {
    pub async fn start() -> TestReceiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(Mutex::new(200u16));
        let replies: Replies = Arc::new(Mutex::new(Vec::new()));
        let (rec, st, rep) = (received.clone(), status.clone(), replies.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (rec, st, rep) = (rec.clone(), st.clone(), rep.clone());
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let path = parts.uri.to_string();
                rec.lock().expect("lock").push(Received {
                    method: parts.method.to_string(),
                    path: path.clone(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect(),
                    body: body.to_vec(),
                });
                let reply = rep
                    .lock()
                    .expect("lock")
                    .iter_mut()
                    .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
                    .max_by_key(|(prefix, _)| prefix.len())
                    .map(|(_, replies)| {
                        // A sequence: each reply once, the last one for ever after.
                        if replies.len() > 1 {
                            replies.remove(0)
                        } else {
                            replies[0].clone()
                        }
                    })
                    .unwrap_or_else(|| {
                        Reply::json(*st.lock().expect("lock"), "{\"received\":true}")
                    });
                tokio::time::sleep(reply.delay).await;
                let mut response = axum::response::Response::builder()
                    .status(reply.status)
                    .header("content-type", reply.content_type);
                for (k, v) in &reply.headers {
                    response = response.header(*k, v);
                }
                response
                    .body(axum::body::Body::from(reply.body))
                    .expect("response")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestReceiver {
            addr,
            received,
            status,
            replies,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(prefix))
            .collect()
    }

    pub fn answer_with(&self, status: u16) {
        *self.status.lock().expect("lock") = status;
    }

    /// Answers requests under `prefix` with `reply`.
    pub fn on(&self, prefix: &str, reply: Reply) {
        self.on_sequence(prefix, vec![reply]);
    }

    /// Answers requests under `prefix` with each reply in turn, then the last
    /// one for ever.
    pub fn on_sequence(&self, prefix: &str, replies: Vec<Reply>) {
        let mut all = self.replies.lock().expect("lock");
        all.retain(|(p, _)| p != prefix);
        all.push((prefix.to_owned(), replies));
    }

    /// Waits until at least `n` requests under `prefix` arrived (at most `within`).
    pub async fn wait_for(
        &self,
        prefix: &str,
        n: usize,
        within: std::time::Duration,
    ) -> Vec<Received> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let seen = self.requests_to(prefix);
            if seen.len() >= n || std::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// A loopback port with nothing listening: bound, read, then closed.
pub async fn refused_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

// Internal webhooks: the envelope endpoint and flows that call it.

/// The value of the key named `name` (`$flow.key.shortUrl`) in an envelope's
/// answer.
pub fn answered<'a>(answer: &'a Value, name: &str) -> Option<&'a str> {
    answer["keys"]
        .as_array()?
        .iter()
        .find(|k| k["name"] == name)
        .and_then(|k| k["value"].as_str())
}

/// `POST /internal` for `acct`.
pub async fn internal(app: &TestApp, acct: &Account, method: &str, keys: Value) -> Value {
    let (status, answer) = app
        .call(
            Method::POST,
            "/internal",
            &acct.key,
            Some(json!({"method": method, "keys": keys})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// Asserts a `FAILED` answer whose error contains `fragment`.
pub fn assert_failed(answer: &Value, fragment: &str) {
    assert_eq!(answer["status"], "FAILED", "{answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains(fragment), "{fragment:?} not in {error:?}");
}

/// Saves `flow` for `acct`, runs it for contact `919876543210` and reads the
/// whole execution back.
pub async fn run_flow(app: &TestApp, acct: &Account, flow: &str) -> Value {
    run_flow_with(app, acct, flow, json!({"contact": "919876543210"})).await
}

/// Saves `flow` for `acct`, runs it with `start` (waiting for its end) and
/// reads the whole execution back.
pub async fn run_flow_with(app: &TestApp, acct: &Account, flow: &str, mut start: Value) -> Value {
    start["wait"] = json!(true);
    let (status, saved) = post_flow(app, &acct.key, "/v1/flows", Method::POST, flow).await;
    assert_eq!(status, 201, "{saved}");
    let id = saved["id"].as_str().expect("id");
    let (status, exec) = app
        .call(
            Method::POST,
            &format!("/v1/flows/{id}/executions"),
            &acct.key,
            Some(start),
        )
        .await;
    assert_eq!(status, 200, "{exec}");
    let uuid = exec["uuid"].as_str().expect("uuid");
    let (_, full) = app
        .call(
            Method::GET,
            &format!("/v1/executions/{uuid}"),
            &acct.key,
            None,
        )
        .await;
    full
}
