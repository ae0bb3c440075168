//! The OpenAPI document: what `/openapi.json` says, and the `/docs` page that
//! renders it.
//!
//! Handlers annotate their own success answers and the problems only they give
//! (a 409 for a taken name, a 429 for a rate limit). The problems that the
//! middleware, the extractors and the authentication give are declared once,
//! here, as shared responses under `components/responses`, and [`finish`]
//! attaches each to every operation it applies to: an operation with a body can
//! answer 400/413/415/422, one with a path id 404, one with credentials
//! 401/403, and every one 408/500/503. Every problem is
//! `application/problem+json` with the [`Problem`](super::problem::Problem)
//! schema. `scripts/api-contract.sh` (run by CI) holds the server to it.
//!
//! `/docs` renders the document with Redoc, whose bundle is compiled into the
//! binary (`assets/redoc`, refreshed by `scripts/vendor-redoc.sh`): the page
//! works offline and fetches nothing from elsewhere.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

/// The media type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "flowhook",
        description = "The webhook layer of a communications flow platform: webhook \
            destinations, flows with webhook widgets, and a durable, signed flow-end webhook.\n\n\
            Every call but the service probes and the short links (`custToken` in the body; \
            `GET /{code}` is public) takes `Authorization: Bearer <token>`: an \
            account's `security_id` (64 characters) or, for the operator's calls, the admin \
            token. Every error is an `application/problem+json` document whose `code` is \
            stable: branch on it, not on `detail`."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(flowhook_core::flow::WidgetDoc)),
    tags(
        (name = "accounts", description = "Tenants, their settings and IP whitelist"),
        (name = "webhooks", description = "The webhook registry and the check button"),
        (name = "flows", description = "Flow documents, validated and versioned"),
        (name = "executions", description = "Runs of flows, with variables and traces"),
        (name = "dashboard", description = "An account's last 24 hours at a glance (the admin UI's home page)"),
        (name = "deliveries", description = "The flow-end webhook: messages, attempts, resend"),
        (name = "agents", description = "Direct-dial agents, their breaks (set by `updatePauseStatusForCLI`) and the break report"),
        (name = "contacts", description = "Contacts' preferences: the `$user.key` values flows and `updateUserPreferences` keep"),
        (name = "internal", description = "Internal webhooks: the platform functions behind the `{method, keys}` envelope (also at the seeds' paths, such as `/centraloutboundwebhook-v1/{stage}/`)"),
        (name = "links", description = "Short links: made with an account's `custToken` (as the seeds do, no bearer token), followed at `GET /{code}` on the short domain, listed with their clicks"),
        (name = "bots", description = "Chat bots of `linkcreation`: base URL and token (shown as `***`)"),
        (name = "outbound", description = "Outbound requests (`createOutbound`'s REST form): one scheduled execution per contact number, followed and cancelled by `request-id`"),
        (name = "intents", description = "The built-in intent rules of `speechprocessing`: phrases, keywords, an optional regex and a priority"),
        (name = "reports", description = "Executions reports (the REST form of `pullreport`): built in the background, downloaded as CSV or JSON, or delivered to a webhook"),
        (name = "service", description = "Health, readiness, metrics")
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in ["admin_token", "security_id"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
    }
}

/// A problem that many operations can answer, declared once.
struct Shared {
    name: &'static str,
    status: &'static str,
    description: &'static str,
    applies: fn(&Value) -> bool,
}

fn always(_: &Value) -> bool {
    true
}

fn has_body(op: &Value) -> bool {
    op.get("requestBody").is_some()
}

fn has_credentials(op: &Value) -> bool {
    op.get("security").is_some()
}

fn has_param_in(op: &Value, place: &str) -> bool {
    op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == place))
}

const SHARED: &[Shared] = &[
    Shared {
        name: "BadRequest",
        status: "400",
        description: "`INVALID_JSON`: the body is not JSON; `INVALID_QUERY`: a query \
            parameter is malformed",
        applies: |op| has_body(op) || has_param_in(op, "query"),
    },
    Shared {
        name: "Unauthorized",
        status: "401",
        description: "`UNAUTHORIZED`: no `Authorization: Bearer` header, or an unknown key",
        applies: has_credentials,
    },
    Shared {
        name: "Forbidden",
        status: "403",
        description: "`IP_NOT_WHITELISTED`: the caller's address is not on the account's \
            whitelist; `ADMIN_ONLY`: the call needs the admin token",
        applies: has_credentials,
    },
    Shared {
        name: "NotFound",
        status: "404",
        description: "`NOT_FOUND`: no such resource in this account (a malformed id is \
            not found either)",
        applies: |op| has_param_in(op, "path"),
    },
    Shared {
        name: "RequestTimeout",
        status: "408",
        description: "`REQUEST_TIMEOUT`: the request took longer than the server's \
            `request_timeout_seconds`",
        applies: always,
    },
    Shared {
        name: "PayloadTooLarge",
        status: "413",
        description: "`BODY_TOO_LARGE`: the body is over 2 MiB",
        applies: has_body,
    },
    Shared {
        name: "UnsupportedMediaType",
        status: "415",
        description: "`UNSUPPORTED_MEDIA_TYPE`: the body was not sent as \
            `Content-Type: application/json`",
        applies: has_body,
    },
    Shared {
        name: "UnprocessableBody",
        status: "422",
        description: "`INVALID_BODY`: the JSON does not have the documented shape (a \
            missing or unknown field, a wrong type); other codes name a broken rule",
        applies: has_body,
    },
    Shared {
        name: "InternalError",
        status: "500",
        description: "`INTERNAL`: a failure of the server's own, logged there",
        applies: always,
    },
    Shared {
        name: "ServiceUnavailable",
        status: "503",
        description: "`BUSY`: the server is at its limit of requests in flight; retry \
            after `Retry-After` seconds",
        applies: always,
    },
];

/// The generated document with the shared problem responses attached, every
/// problem answered as `application/problem+json`, as served at `/openapi.json`.
pub fn finish(openapi: utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(openapi).expect("an OpenAPI document is JSON");
    super::internal::document_aliases(&mut doc);
    let problem = json!({"$ref": "#/components/schemas/Problem"});
    let responses: serde_json::Map<String, Value> = SHARED
        .iter()
        .map(|s| {
            let body = json!({
                "description": s.description,
                "content": {PROBLEM_JSON: {"schema": problem}},
            });
            (s.name.to_owned(), body)
        })
        .collect();
    doc["components"]["responses"] = Value::Object(responses);
    let Some(paths) = doc["paths"].as_object_mut() else {
        return doc;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            attach_problems(op, &problem);
        }
    }
    doc
}

fn attach_problems(op: &mut Value, problem: &Value) {
    let applicable: Vec<&Shared> = SHARED.iter().filter(|s| (s.applies)(op)).collect();
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    // A handler's own problem keeps its description; its body is a problem.
    for response in responses.values_mut() {
        let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        if content.get("application/json").map(|c| &c["schema"]) == Some(problem) {
            let body = content.remove("application/json").expect("checked above");
            content.insert(PROBLEM_JSON.to_owned(), body);
        }
    }
    for shared in applicable {
        responses
            .entry(shared.status)
            .or_insert_with(|| json!({"$ref": format!("#/components/responses/{}", shared.name)}));
    }
}

/// The example flow of the flow operations: a webhook widget that looks an
/// order up and maps the answer into variables (`examples/order-status.flow.json`,
/// which the tests run).
pub fn flow_example() -> Value {
    serde_json::from_str(include_str!("../../../../examples/order-status.flow.json"))
        .expect("the example flow is JSON")
}

/// The Redoc bundle (MIT), served at `/docs/redoc.standalone.js`.
const REDOC_JS: &str = include_str!("../../assets/redoc/redoc.standalone.js");

/// The page: relative URLs, so it also works behind a proxy's path prefix.
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>flowhook API</title>
</head>
<body>
<redoc spec-url="openapi.json" hide-download-button="false"></redoc>
<script src="docs/redoc.standalone.js"></script>
</body>
</html>
"#;

/// Scripts and the document come from this server only; Redoc styles itself
/// inline and renders in a worker made from a blob.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/openapi.json`, `/docs` and the viewer's script.
pub fn routes<S: Clone + Send + Sync + 'static>(document: &Value) -> axum::Router<S> {
    let json = serde_json::to_string_pretty(document).expect("a JSON value serializes");
    axum::Router::new()
        .route(
            "/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], json) }),
        )
        .route(
            "/docs",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                        (header::CONTENT_SECURITY_POLICY, DOCS_CSP),
                    ],
                    DOCS_HTML,
                )
                    .into_response()
            }),
        )
        // The page's URLs are relative to `/docs`; `/docs/` would break them.
        .route(
            "/docs/",
            get(|| async { axum::response::Redirect::permanent("../docs") }),
        )
        .route(
            "/docs/redoc.standalone.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (header::CACHE_CONTROL, "public, max-age=86400"),
                    ],
                    REDOC_JS,
                )
            }),
        )
}
