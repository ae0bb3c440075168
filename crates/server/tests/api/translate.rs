//! `translateText` against local fakes of Google Cloud Translation v2 and
//! LibreTranslate that speak their request and answer formats, errors
//! included, on loopback; the provider key sealed at rest and never answered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowhook_core::ids::AccountId;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Account, Db, Options, TestApp, answered, assert_failed, internal, refused_port, spawn_app,
    spawn_with,
};

pub const GOOGLE_KEY: &str = "AIzaSyD562N7eElnnwMH6-secret";
pub const LIBRE_KEY: &str = "lt-key-7c1f-secret";

/// One request a fake provider received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Answerer = fn(&Seen) -> (u16, String, Duration);

/// A loopback HTTP server that records each request and answers with `f`.
pub struct Fake {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    pub async fn start(f: Answerer) -> Fake {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let log = log.clone();
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let seen = Seen {
                    method: parts.method.to_string(),
                    target: parts.uri.to_string(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                        .collect(),
                    body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                };
                let (status, body, delay) = f(&seen);
                log.lock().expect("lock").push(seen);
                tokio::time::sleep(delay).await;
                axum::response::Response::builder()
                    .status(status)
                    .header("content-type", "application/json; charset=utf-8")
                    .body(axum::body::Body::from(body))
                    .expect("response")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { addr, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// Google's error document.
fn google_error(code: u16, message: &str, reason: &str, status: &str) -> String {
    json!({"error": {"code": code, "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": status}})
    .to_string()
}

/// Cloud Translation v2: `POST /language/translate/v2?key=…` with
/// `{q, target, source?, format}`.
fn google(seen: &Seen) -> (u16, String, Duration) {
    let none = Duration::ZERO;
    let err = |status: u16, message: &str, reason: &str, code: &str| {
        (status, google_error(status, message, reason, code), none)
    };
    let Some(query) = seen.target.strip_prefix("/language/translate/v2?") else {
        return err(404, "Not Found", "notFound", "NOT_FOUND");
    };
    if query != format!("key={GOOGLE_KEY}") {
        let m = "API key not valid. Please pass a valid API key.";
        return err(400, m, "badRequest", "INVALID_ARGUMENT");
    }
    let b = &seen.body;
    let (Some(q), Some(target)) = (b["q"].as_str(), b["target"].as_str()) else {
        return err(
            400,
            "Missing required field target",
            "required",
            "INVALID_ARGUMENT",
        );
    };
    if q == "slow" {
        return (200, "{}".into(), Duration::from_secs(4));
    }
    let text = match (q, target) {
        ("Hello", "hi") => "नमस्ते",
        ("Hello", "ta") => "வணக்கம்",
        (_, "xx") => {
            return err(400, "Invalid Value", "invalid", "INVALID_ARGUMENT");
        }
        _ => "?",
    };
    let mut translation = json!({"translatedText": text});
    if b.get("source").is_none() {
        translation["detectedSourceLanguage"] = json!("en");
    }
    (
        200,
        json!({"data": {"translations": [translation]}}).to_string(),
        none,
    )
}

/// LibreTranslate: `POST /translate` with `{q, source, target, format, api_key}`.
fn libre(seen: &Seen) -> (u16, String, Duration) {
    let none = Duration::ZERO;
    let err = |status: u16, m: &str| (status, json!({"error": m}).to_string(), none);
    if seen.target != "/translate" {
        return err(404, "Not Found");
    }
    let b = &seen.body;
    if b["api_key"] != LIBRE_KEY {
        return err(403, "Invalid API key");
    }
    let (Some(q), Some(source), Some(target)) =
        (b["q"].as_str(), b["source"].as_str(), b["target"].as_str())
    else {
        return err(400, "Invalid request: missing q parameter");
    };
    if target == "xx" {
        return err(400, "xx is not supported");
    }
    let text = if q == "Bonjour" { "Hello" } else { "?" };
    let mut answer = json!({"translatedText": text});
    if source == "auto" {
        answer["detectedLanguage"] = json!({"confidence": 90.0, "language": "fr"});
    }
    (200, answer.to_string(), none)
}

/// Stores `providers` for `acct`.
pub async fn set_providers(app: &TestApp, acct: &Account, providers: Value) {
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{}", acct.id),
            &acct.key,
            Some(json!({"providers": providers})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Stores `settings` as `acct`'s `providers.translate`.
async fn use_translator(app: &TestApp, acct: &Account, settings: Value) {
    set_providers(app, acct, json!({ "translate": settings })).await;
}

/// `translateText` of `text` into `target` (from `source`, if given).
async fn translate(
    app: &TestApp,
    acct: &Account,
    text: &str,
    source: Option<&str>,
    target: &str,
) -> Value {
    internal(
        app,
        acct,
        "translateText",
        translate_keys(text, source, target),
    )
    .await
}

fn translate_keys(text: &str, source: Option<&str>, target: &str) -> Value {
    let mut keys = vec![
        json!({"name": "$flow.key.inputText", "value": text}),
        json!({"name": "$flow.key.targetLang", "value": target}),
    ];
    if let Some(source) = source {
        keys.push(json!({"name": "$flow.key.sourceLang", "value": source}));
    }
    Value::from(keys)
}

async fn google_through(db: Db) {
    let google = Fake::start(google).await;
    let options = Options {
        allow_cidrs: Some("127.0.0.1/32".into()),
        ..Options::default()
    };
    let Some(app) = spawn_with(db, options).await else {
        return;
    };
    let acct = app.create_account(true).await;
    use_translator(
        &app,
        &acct,
        json!({"provider": "google", "url": google.url(""), "api_key": GOOGLE_KEY}),
    )
    .await;

    // Names become codes; the key is the `key` query parameter.
    let answer = translate(&app, &acct, "Hello", Some("English"), "Hindi").await;
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
    assert_eq!(answered(&answer, "$flow.key.status"), Some("SUCCESS"));
    assert_eq!(answered(&answer, "$flow.key.translatedText"), Some("नमस्ते"));
    assert_eq!(
        answered(&answer, "$flow.key.detectedSourceLanguage"),
        Some("")
    );
    let sent = google.seen();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method, "POST");
    assert_eq!(
        sent[0].target,
        format!("/language/translate/v2?key={GOOGLE_KEY}")
    );
    assert_eq!(sent[0].header("content-type"), Some("application/json"));
    assert_eq!(
        sent[0].body,
        json!({"q": "Hello", "target": "hi", "source": "en", "format": "text"})
    );

    // Codes pass through; without a source Google detects it.
    let answer = translate(&app, &acct, "Hello", None, "ta").await;
    assert_eq!(
        answered(&answer, "$flow.key.translatedText"),
        Some("வணக்கம்"),
        "{answer}"
    );
    assert_eq!(
        answered(&answer, "$flow.key.detectedSourceLanguage"),
        Some("English")
    );
    assert_eq!(
        answered(&answer, "$flow.key.detectedSourceLanguageCode"),
        Some("en")
    );
    assert_eq!(
        google.seen()[1].body,
        json!({"q": "Hello", "target": "ta", "format": "text"})
    );

    // The key is sealed at rest: the stored settings hold no plaintext.
    let store = flowhook_storage::connect(&app.db_url).await.expect("store");
    let record = store
        .account(AccountId::parse(&acct.id).expect("id"))
        .await
        .expect("read")
        .expect("account");
    let stored = record.providers.to_string();
    assert!(!stored.contains(GOOGLE_KEY), "{stored}");
    assert!(
        record.providers["translate"]["api_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("sealed:")),
        "{stored}"
    );
    let (_, shown) = app
        .call(
            Method::GET,
            &format!("/v1/accounts/{}", acct.id),
            &acct.key,
            None,
        )
        .await;
    assert_eq!(shown["providers"]["translate"]["api_key"], "***");
}

#[tokio::test]
async fn google_translates_names_and_codes_with_the_sealed_key_sqlite() {
    google_through(Db::Sqlite).await;
}

#[tokio::test]
async fn google_translates_names_and_codes_with_the_sealed_key_postgres() {
    google_through(Db::Postgres).await;
}

#[tokio::test]
async fn google_errors_are_failed_with_googles_message_and_never_the_key() {
    let google = Fake::start(google).await;
    let app = crate::helpers::spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    let wrong = "AIzaWRONG-key+/=?&";
    use_translator(
        &app,
        &acct,
        json!({"url": google.url(""), "api_key": wrong}),
    )
    .await;
    let answer = translate(&app, &acct, "Hello", None, "hi").await;
    assert_failed(
        &answer,
        "Google answered HTTP 400: INVALID_ARGUMENT: API key not valid",
    );
    assert_eq!(
        answered(&answer, "$flow.key.status"),
        Some("FAILED"),
        "{answer}"
    );
    let text = answer.to_string();
    let encoded: String = url::form_urlencoded::byte_serialize(wrong.as_bytes()).collect();
    assert!(
        google.seen()[0].target.ends_with(&encoded),
        "the key was sent"
    );
    assert!(
        !text.contains(wrong) && !text.contains(&encoded) && !text.contains("AIzaWRONG"),
        "{text}"
    );

    // Google's own refusal of a target language.
    use_translator(
        &app,
        &acct,
        json!({"url": google.url(""), "api_key": GOOGLE_KEY}),
    )
    .await;
    let answer = translate(&app, &acct, "Hello", None, "xx").await;
    assert_failed(
        &answer,
        "Google answered HTTP 400: INVALID_ARGUMENT: Invalid Value",
    );

    // A language that is neither a known name nor a code: nothing is sent.
    let before = google.seen().len();
    let answer = translate(&app, &acct, "Hello", Some("Elvish"), "Hindi").await;
    assert_failed(
        &answer,
        "sourceLang: \"Elvish\" is not a language name or code",
    );
    let answer = translate(&app, &acct, "Hello", None, "Hindi-ish").await;
    assert_failed(&answer, "targetLang:");
    assert_eq!(answered(&answer, "$flow.key.status"), Some("FAILED"));
    let answer = internal(
        &app,
        &acct,
        "translateText",
        json!([{"name": "$flow.key.targetLang", "value": "hi"}]),
    )
    .await;
    assert_failed(&answer, "inputText: missing");
    assert_eq!(google.seen().len(), before);
}

#[tokio::test]
async fn the_envelopes_api_key_serves_only_an_account_without_one() {
    let google = Fake::start(google).await;
    let app = crate::helpers::spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    use_translator(&app, &acct, json!({"url": google.url("")})).await;
    let mut keys = translate_keys("Hello", None, "hi");
    keys.as_array_mut()
        .expect("keys")
        .push(json!({"name": "$flow.key.apiKey", "value": GOOGLE_KEY}));
    let answer = internal(&app, &acct, "translateText", keys.clone()).await;
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
    assert!(!answer.to_string().contains(GOOGLE_KEY));

    // With a stored key, the flow's is not used.
    use_translator(
        &app,
        &acct,
        json!({"url": google.url(""), "api_key": "stored-wrong"}),
    )
    .await;
    let answer = internal(&app, &acct, "translateText", keys).await;
    assert_failed(&answer, "API key not valid");
    assert!(
        google
            .seen()
            .last()
            .expect("sent")
            .target
            .ends_with("key=stored-wrong")
    );

    // No key anywhere: refused before sending.
    use_translator(&app, &acct, json!({"url": google.url("")})).await;
    let before = google.seen().len();
    let answer = translate(&app, &acct, "Hello", None, "hi").await;
    assert_failed(&answer, "apiKey: no API key");
    assert_eq!(google.seen().len(), before);
}

#[tokio::test]
async fn libretranslate_translates_detects_and_reports_its_errors_without_the_key() {
    let libre = Fake::start(libre).await;
    let app = crate::helpers::spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;
    use_translator(
        &app,
        &acct,
        json!({"provider": "libretranslate", "url": libre.url("/"), "api_key": LIBRE_KEY}),
    )
    .await;
    let answer = translate(&app, &acct, "Bonjour", Some("auto"), "English").await;
    assert_eq!(answer["status"], "SUCCESS", "{answer}");
    assert_eq!(answered(&answer, "$flow.key.translatedText"), Some("Hello"));
    assert_eq!(
        answered(&answer, "$flow.key.detectedSourceLanguage"),
        Some("French")
    );
    assert_eq!(
        answered(&answer, "$flow.key.detectedSourceLanguageCode"),
        Some("fr")
    );
    let sent = &libre.seen()[0];
    assert_eq!(
        (sent.method.as_str(), sent.target.as_str()),
        ("POST", "/translate")
    );
    assert_eq!(
        sent.body,
        json!({"q": "Bonjour", "source": "auto", "target": "en", "format": "text", "api_key": LIBRE_KEY})
    );

    let answer = translate(&app, &acct, "Bonjour", Some("French"), "xx").await;
    assert_failed(
        &answer,
        "LibreTranslate answered HTTP 400: xx is not supported",
    );
    assert_eq!(libre.seen()[1].body["source"], "fr");

    use_translator(
        &app,
        &acct,
        json!({"provider": "libretranslate", "url": libre.url(""), "api_key": "lt-wrong-secret"}),
    )
    .await;
    let answer = translate(&app, &acct, "Bonjour", None, "en").await;
    assert_failed(&answer, "LibreTranslate answered HTTP 403: Invalid API key");
    assert_eq!(answered(&answer, "$flow.key.status"), Some("FAILED"));
    assert!(!answer.to_string().contains("lt-wrong-secret"), "{answer}");
}

#[tokio::test]
async fn unreachable_slow_and_blocked_providers_fail_without_the_key() {
    let google = Fake::start(google).await;
    let app = crate::helpers::spawn_allowing("127.0.0.1/32").await;
    let acct = app.create_account(true).await;

    // Nothing listening: the egress error names no key (Google's is in the URL).
    let port = refused_port().await;
    use_translator(
        &app,
        &acct,
        json!({"url": format!("http://127.0.0.1:{port}"), "api_key": GOOGLE_KEY}),
    )
    .await;
    let answer = translate(&app, &acct, "Hello", None, "hi").await;
    assert_failed(
        &answer,
        "the translation provider (google) could not be reached: connection refused",
    );
    assert!(!answer.to_string().contains(GOOGLE_KEY), "{answer}");

    // Slower than the settings' timeout.
    use_translator(
        &app,
        &acct,
        json!({"url": google.url(""), "api_key": GOOGLE_KEY, "timeout_seconds": 1}),
    )
    .await;
    let started = std::time::Instant::now();
    let answer = translate(&app, &acct, "slow", None, "hi").await;
    assert_failed(&answer, "no complete response within 1 s");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!answer.to_string().contains(GOOGLE_KEY));

    // An https-only account may not name an http provider.
    let strict = app.create_account(false).await;
    use_translator(
        &app,
        &strict,
        json!({"url": google.url(""), "api_key": GOOGLE_KEY}),
    )
    .await;
    let answer = translate(&app, &strict, "Hello", None, "hi").await;
    assert_failed(
        &answer,
        "providers.translate.url: this account only allows https://",
    );

    // The egress guard: a server that does not allow loopback does not call it.
    let guarded = spawn_app().await;
    let acct = guarded.create_account(true).await;
    use_translator(
        &guarded,
        &acct,
        json!({"url": google.url(""), "api_key": GOOGLE_KEY}),
    )
    .await;
    let before = google.seen().len();
    let answer = translate(&guarded, &acct, "Hello", None, "hi").await;
    assert_failed(&answer, "destination blocked");
    assert_eq!(google.seen().len(), before);
}
