//! The admin web UI: server-rendered pages under `/ui/`, built into the
//! binary (templates and the stylesheet are embedded; no build step, no CDN).
//!
//! Rules of the module:
//! - **No business rule twice.** A page does what the API does by calling the
//!   API's own operation — the handler functions in [`crate::api`], whose
//!   extractors are plain values — and renders its answer or its problem.
//!   A 422 problem is shown beside the field or widget it names.
//! - **Sessions and CSRF** are [`session`] (a signed `HttpOnly`,
//!   `SameSite=Strict` cookie with its expiry inside the signature) and
//!   [`csrf`] (a token per session in every form). The IP whitelist admits
//!   an account's session on every request, as it admits API calls.
//! - **Escaping.** Templates (`templates/*.html`, minijinja) autoescape every
//!   value; the SVG of [`svg`] escapes its own text. Nothing secret is
//!   rendered: views are the API's, which mask secrets, and a signing secret
//!   or security id appears once, on the page that made it.
//!
//! `/` redirects to `/ui/`, which never collides with short-link codes
//! (`GET /{code}`) or the API; `/ui/` is not in the OpenAPI document.

pub mod account;
pub mod console;
pub mod csrf;
pub mod dashboard;
pub mod deliveries;
pub mod executions;
pub mod flows;
pub mod operator;
pub mod session;
pub mod sign_in;
pub mod svg;
pub mod webhooks;

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Environment;
use serde::Serialize;

use crate::api::problem::ApiError;
use crate::state::AppState;
use session::{Keys, Me, Session, SignedIn};

/// The templates, embedded: (name, source).
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("error.html", include_str!("templates/error.html")),
    ("sign_in.html", include_str!("templates/sign_in.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("webhooks.html", include_str!("templates/webhooks.html")),
    ("webhook.html", include_str!("templates/webhook.html")),
    (
        "webhook_fields.html",
        include_str!("templates/webhook_fields.html"),
    ),
    ("account.html", include_str!("templates/account.html")),
    ("operator.html", include_str!("templates/operator.html")),
    ("flows.html", include_str!("templates/flows.html")),
    ("flow.html", include_str!("templates/flow.html")),
    (
        "flow_errors.html",
        include_str!("templates/flow_errors.html"),
    ),
    ("executions.html", include_str!("templates/executions.html")),
    ("execution.html", include_str!("templates/execution.html")),
    ("deliveries.html", include_str!("templates/deliveries.html")),
    ("delivery.html", include_str!("templates/delivery.html")),
    ("console.html", include_str!("templates/console.html")),
];

const STYLESHEET: &str = include_str!("assets/app.css");
/// The one script (optional: the check button answering in place).
const SCRIPT: &str = include_str!("assets/app.js");

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html` templates autoescape (minijinja's default for the suffix).
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env
    })
}

/// SVG made by [`svg`] (escaped there), to place in a template as is.
pub fn trusted_svg(svg: String) -> minijinja::Value {
    minijinja::Value::from_safe_string(svg)
}

/// Renders `template` with `context`; `page` supplies what every page shows.
pub fn render(
    state: &AppState,
    page: &Page<'_>,
    template: &str,
    context: minijinja::Value,
) -> Result<Html<String>, UiError> {
    let keys = Keys::from_state(state);
    let (who, name) = match page.me {
        Some(Me::Account(a)) => ("account", a.name.as_str()),
        Some(Me::Operator) => ("operator", "Operator"),
        None => ("anonymous", ""),
    };
    let base = minijinja::context! {
        title => page.title,
        section => page.section,
        who => who,
        who_name => name,
        csrf => csrf::token(&keys, page.session),
        version => env!("CARGO_PKG_VERSION"),
    };
    let html = templates()
        .get_template(template)
        .and_then(|t| t.render(minijinja::context! { ..base, ..context }))
        .map_err(|e| UiError::internal(format!("template {template}: {e:#}")))?;
    Ok(Html(html))
}

/// What every page shows: where you are and who you are.
pub struct Page<'a> {
    /// The `<title>` and heading: says where you are.
    pub title: &'a str,
    /// The navigation entry to mark as current.
    pub section: &'a str,
    pub me: Option<&'a Me>,
    pub session: &'a Session,
}

impl<'a> Page<'a> {
    pub fn of(signed: &'a SignedIn, section: &'a str, title: &'a str) -> Page<'a> {
        Page {
            title,
            section,
            me: Some(&signed.me),
            session: &signed.session,
        }
    }
}

/// The API's view of something, as a template value.
pub fn value(v: impl Serialize) -> minijinja::Value {
    minijinja::Value::from_serialize(&v)
}

/// JSON written for people (indented), for `<pre>` blocks.
pub fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A problem's per-field messages, keyed by the field or widget they name;
/// `fallback` takes the messages that name neither (by the problem's code).
pub fn field_errors(
    e: &ApiError,
    by_code: impl Fn(&str) -> &'static str,
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    if let Some(items) = e.errors.as_deref().and_then(|v| v.as_array()) {
        for item in items {
            let message = item["message"].as_str().unwrap_or_default().to_owned();
            let key = item["widget"]
                .as_str()
                .or_else(|| item["field"].as_str())
                .unwrap_or("");
            out.entry(key.to_owned()).or_default().push(message);
        }
    }
    if out.is_empty() {
        out.entry(by_code(e.code).to_owned())
            .or_default()
            .push(e.detail.clone());
    }
    out
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum UiError {
    /// Not signed in (or the session ended): to the sign-in page.
    SignIn,
    /// A form post without the session's CSRF token.
    Csrf,
    Forbidden(String),
    Status(StatusCode, String),
    /// A problem from the API's operation.
    Api(ApiError),
}

impl UiError {
    pub fn internal(cause: impl std::fmt::Display) -> UiError {
        UiError::Api(ApiError::internal(cause))
    }

    pub fn forbidden(message: &str) -> UiError {
        UiError::Forbidden(message.to_owned())
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> UiError {
        UiError::Api(e)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            UiError::SignIn => return Redirect::to("/ui/sign-in").into_response(),
            UiError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form refused",
                "The form did not carry this session's security token (it may be from an old page, or from another site). Go back, reload the page and send it again.".to_owned(),
            ),
            UiError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            UiError::Status(s, m) => (s, "Something is wrong", m),
            UiError::Api(e) => (
                e.status,
                match e.status {
                    StatusCode::NOT_FOUND => "Not found",
                    StatusCode::FORBIDDEN => "Not allowed",
                    s if s.is_server_error() => "Server error",
                    _ => "Something is wrong",
                },
                e.detail,
            ),
        };
        let body = templates()
            .get_template("error.html")
            .and_then(|t| {
                t.render(minijinja::context! {
                    title => heading, heading => heading, message => message,
                    status => status.as_u16(), who => "anonymous",
                })
            })
            .unwrap_or_else(|_| "error".to_owned());
        (status, Html(body)).into_response()
    }
}

/// An embedded asset, cached for an hour.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}

/// Every UI route, with the session layer. Mounted beside the API.
pub fn router(state: &AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/ui/", get(dashboard::home))
        .route("/ui/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/ui/sign-out", post(sign_in::sign_out))
        .route("/ui/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/ui/webhooks/{id}",
            get(webhooks::show).post(webhooks::update),
        )
        .route("/ui/webhooks/{id}/check", post(webhooks::check))
        .route("/ui/webhooks/{id}/rotate", post(webhooks::rotate))
        .route("/ui/account", get(account::show))
        .route("/ui/account/settings", post(account::settings))
        .route("/ui/account/whitelist", post(account::whitelist))
        .route("/ui/account/providers", post(account::providers))
        .route("/ui/accounts", get(operator::list).post(operator::create))
        .route("/ui/accounts/{id}/http", post(operator::set_http))
        .route("/ui/flows", get(flows::list).post(flows::create))
        .route("/ui/flows/{id}", get(flows::show).post(flows::update))
        .route("/ui/flows/{id}/on-complete", post(flows::on_complete))
        .route(
            "/ui/flows/{id}/widgets/{widget}/test",
            post(flows::test_widget),
        )
        .route("/ui/flows/{id}/executions", post(flows::start_execution))
        .route("/ui/executions", get(executions::list))
        .route("/ui/executions/{uuid}", get(executions::show))
        .route("/ui/deliveries", get(deliveries::list))
        .route("/ui/deliveries/recover", post(deliveries::recover))
        .route("/ui/deliveries/{id}", get(deliveries::show))
        .route("/ui/deliveries/{id}/resend", post(deliveries::resend))
        .route("/ui/console", get(console::form).post(console::send))
        .route(
            "/ui/{*rest}",
            get(|| async {
                UiError::Status(StatusCode::NOT_FOUND, "There is no such page.".into())
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            session::layer,
        ));
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route(
            "/ui/assets/app.css",
            get(|| async { asset("text/css", STYLESHEET) }),
        )
        .route(
            "/ui/assets/app.js",
            get(|| async { asset("text/javascript", SCRIPT) }),
        )
        .merge(pages)
}
