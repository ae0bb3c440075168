//! The pure half of the webhook widget (SPEC §4): rendering a request from the
//! widget's templates, judging the answer, mapping the response into variables
//! and the result variables every call sets. The engine adds only the sending.
//!
//! Promises:
//! - nothing is sent for a request that is not safe and complete: a mandatory
//!   header or query value that renders empty, a value that would inject a
//!   header line or escape the URL host, a JSON or XML body that is not valid
//!   after rendering, or an `http://` URL on an https-only account each give a
//!   [`Failure`] before any socket is opened;
//! - the result variables have the exact names and values of the SPEC table.

use crate::budget::Exceeded;
use crate::flow::widgets::{Auth, Request, Response};
use crate::http::{BodyType, HttpMethod};
use crate::paths::{Cancel, ResponseType, extract_all, extract_all_until};
use crate::template::{Context, RenderError, Template};
use crate::vars::{Lookup, Namespace, VarName};
use crate::webhook::{UrlError, WebhookUrl};

/// Why a call failed: the `error_reason` and `response_status_type` of SPEC §4,
/// plus `INVALID_REQUEST` for requests that cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Informational,
    Redirection,
    ClientError,
    ServerError,
    Timeout,
    ConnectionFailed,
    InvalidResponse,
    ResponseTooLarge,
    MappingFailed,
    MandatoryParameterMissing,
    HttpNotAllowed,
    DestinationBlocked,
    /// The rendered request is not valid (bad URL, invalid JSON/XML body, a value
    /// that cannot go where the template puts it). Nothing was sent.
    InvalidRequest,
}

impl Failure {
    /// `$flow.key.error_reason`.
    pub fn error_reason(self) -> &'static str {
        match self {
            Failure::Informational => "INFORMATIONAL",
            Failure::Redirection => "REDIRECTION",
            Failure::ClientError => "CLIENT_ERROR",
            Failure::ServerError => "SERVER_ERROR",
            Failure::Timeout => "TIMEOUT",
            Failure::ConnectionFailed => "CONNECTION_FAILED",
            Failure::InvalidResponse => "INVALID_RESPONSE",
            Failure::ResponseTooLarge => "RESPONSE_TOO_LARGE",
            Failure::MappingFailed => "MAPPING_FAILED",
            Failure::MandatoryParameterMissing => "MANDATORY_PARAMETER_MISSING",
            Failure::HttpNotAllowed => "HTTP_NOT_ALLOWED",
            Failure::DestinationBlocked => "DESTINATION_BLOCKED",
            Failure::InvalidRequest => "INVALID_REQUEST",
        }
    }

    /// `$flow.key.response_status_type`.
    pub fn status_type(self) -> &'static str {
        match self {
            Failure::Informational => "Informational",
            Failure::Redirection => "Redirection",
            Failure::ClientError => "Client Error",
            Failure::ServerError => "Server Error",
            Failure::Timeout => "Timeout",
            Failure::ConnectionFailed => "Connection Error",
            Failure::InvalidResponse | Failure::ResponseTooLarge => "Invalid Response",
            Failure::MappingFailed => "Mapping Error",
            Failure::MandatoryParameterMissing
            | Failure::HttpNotAllowed
            | Failure::DestinationBlocked
            | Failure::InvalidRequest => "Rejected",
        }
    }

    /// The failure an HTTP status is, if it is not 2xx.
    pub fn of_status(status: u16) -> Option<Failure> {
        match status {
            200..=299 => None,
            100..=199 => Some(Failure::Informational),
            300..=399 => Some(Failure::Redirection),
            400..=499 => Some(Failure::ClientError),
            _ => Some(Failure::ServerError),
        }
    }
}

/// A request ready to send, and what rendering it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRequest {
    pub method: HttpMethod,
    pub url: WebhookUrl,
    /// In order; includes `Content-Type` for a body and `Authorization` for basic auth.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Variables that were unset while rendering (each rendered as "").
    pub missing: Vec<VarName>,
}

/// A request that could not be built, with a message for the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub failure: Failure,
    pub message: String,
    /// Set when the request could not be built because the execution went over
    /// its budget (a template rendered too long): not something the flow can
    /// route, so the execution ends.
    pub exceeded: Option<Exceeded>,
}

/// A refusal of the request or response itself (not of the budget).
pub fn refuse(failure: Failure, message: impl Into<String>) -> Refusal {
    Refusal {
        failure,
        message: message.into(),
        exceeded: None,
    }
}

fn render_error(field: &str, e: &RenderError) -> Refusal {
    let mut refusal = refuse(Failure::InvalidRequest, format!("{field}: {e}"));
    if let RenderError::Budget(exceeded) = e {
        refusal.exceeded = Some(exceeded.clone());
    }
    refusal
}

/// Renders `request` against `vars`. `allow_http` is the account's policy.
pub fn render_request(
    request: &Request,
    vars: &dyn Lookup,
    allow_http: bool,
) -> Result<RenderedRequest, Refusal> {
    let mut missing = Vec::new();
    let mut render = |t: &Template, cx: Context, field: &str| -> Result<String, Refusal> {
        let mut out = String::new();
        t.render_into(vars, cx, &mut out, &mut missing)
            .map_err(|e| render_error(field, &e))?;
        Ok(out)
    };

    let mut url_text = render(&request.url, Context::Url, "url")?;
    let mut query = String::new();
    for p in &request.query {
        let value = render(&p.value, Context::Form, &format!("query {}", p.key))?;
        if value.is_empty() && p.mandatory {
            return Err(refuse(
                Failure::MandatoryParameterMissing,
                format!("mandatory query parameter `{}` is empty", p.key),
            ));
        }
        if !query.is_empty() {
            query.push('&');
        }
        query.extend(url::form_urlencoded::byte_serialize(p.key.as_bytes()));
        query.push('=');
        query.push_str(&value);
    }
    if !query.is_empty() {
        let (before, fragment) = match url_text.find('#') {
            Some(i) => (url_text[..i].to_owned(), url_text[i..].to_owned()),
            None => (url_text.clone(), String::new()),
        };
        let joiner = if before.contains('?') { '&' } else { '?' };
        url_text = format!("{before}{joiner}{query}{fragment}");
    }
    // URL parsers read `https:///x` as host `x`; an empty host (say, an unset
    // variable) must not silently become another destination.
    let empty_host = url_text
        .split_once("://")
        .is_some_and(|(_, rest)| rest.is_empty() || rest.starts_with(['/', '?', '#']));
    // Refusal messages land in traces: they show the URL without its query,
    // whose values may be credentials.
    let shown = url_text
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .to_owned();
    if empty_host {
        return Err(refuse(
            Failure::InvalidRequest,
            format!("url `{shown}` has an empty host"),
        ));
    }
    // A `.` or `..` path segment (also as `%2e`) would be resolved away by the
    // URL parser, letting a value climb out of the path the author wrote.
    if let Some(segment) = dot_segment(&url_text) {
        return Err(refuse(
            Failure::InvalidRequest,
            format!("url `{shown}` has a `{segment}` path segment"),
        ));
    }
    let url = WebhookUrl::parse(&url_text).map_err(|e| {
        refuse(
            Failure::InvalidRequest,
            format!("url `{shown}…` is not valid: {}", url_error(&e)),
        )
    })?;
    url.check_scheme(allow_http)
        .map_err(|e: UrlError| refuse(Failure::HttpNotAllowed, e.to_string()))?;

    let mut headers = Vec::new();
    for h in &request.headers {
        let value = render(&h.value, Context::Header, &format!("header {}", h.key))?;
        if value.is_empty() && h.mandatory {
            return Err(refuse(
                Failure::MandatoryParameterMissing,
                format!("mandatory header `{}` is empty", h.key),
            ));
        }
        headers.push((h.key.clone(), value));
    }
    if let Auth::Basic { username, password } = &request.auth {
        let user = render(username, Context::Plain, "auth.username")?;
        let pass = render(password, Context::Plain, "auth.password")?;
        headers.push(("Authorization".to_owned(), basic_auth(&user, &pass)));
    }

    let body = match request.body_type {
        BodyType::None => None,
        body_type => {
            let text = render(&request.body, Context::for_body(body_type), "body")?;
            check_body(body_type, &text)?;
            let has_type = headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
            if let (false, Some(ct)) = (has_type, body_type.content_type()) {
                headers.push(("Content-Type".to_owned(), ct.to_owned()));
            }
            Some(text)
        }
    };
    Ok(RenderedRequest {
        method: request.method,
        url,
        headers,
        body,
        missing,
    })
}

/// A URL error without the URL text (which may hold credentials in its query).
fn url_error(e: &UrlError) -> String {
    match e {
        UrlError::Malformed(text) => text
            .rsplit_once(": ")
            .map_or("malformed", |(_, reason)| reason)
            .to_owned(),
        other => other.to_string(),
    }
}

/// The first `.`/`..` segment (in any encoding) of a URL's path, if any.
fn dot_segment(url: &str) -> Option<&str> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_start = after_scheme.find('/')?;
    let path = &after_scheme[path_start..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    path.split('/').find(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

/// A JSON or XML body must be a valid document after rendering.
fn check_body(body_type: BodyType, text: &str) -> Result<(), Refusal> {
    let kind = match body_type {
        BodyType::Json => ResponseType::Json,
        BodyType::Xml => ResponseType::Xml,
        _ => return Ok(()),
    };
    extract_all(kind, text, &[])
        .map(|_| ())
        .map_err(|e| refuse(Failure::InvalidRequest, format!("body: {e}")))
}

/// The `Authorization` value of HTTP basic authentication.
pub fn basic_auth(username: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

/// The values of a response's mappings: `(save_in, value)` for each path found.
/// A missing mandatory path is a [`Failure::MappingFailed`] naming it; a body
/// that is not the declared type is [`Failure::InvalidResponse`]. With no
/// mappings the body is not read at all (an empty or plain-text answer is fine).
pub fn map_response(response: &Response, body: &str) -> Result<Vec<(VarName, String)>, Refusal> {
    map_response_until(response, body, &Cancel::default())
}

/// [`map_response`] that stops early once `cancel` is set. Its answer is then
/// meaningless (paths it did not finish read as not found): the caller that
/// cancelled reports the deadline instead.
pub fn map_response_until(
    response: &Response,
    body: &str,
    cancel: &Cancel,
) -> Result<Vec<(VarName, String)>, Refusal> {
    if response.mappings.is_empty() {
        return Ok(Vec::new());
    }
    let paths: Vec<_> = response.mappings.iter().map(|m| &m.path).collect();
    let values = if body.trim().is_empty() {
        vec![None; paths.len()]
    } else {
        extract_all_until(response.kind, body, &paths, cancel)
            .map_err(|e| refuse(Failure::InvalidResponse, e.to_string()))?
    };
    let mut mapped = Vec::new();
    for (m, value) in response.mappings.iter().zip(values) {
        match value {
            Some(v) => mapped.push((m.save_in.clone(), v)),
            None if m.mandatory => {
                return Err(refuse(
                    Failure::MappingFailed,
                    format!(
                        "mandatory path `{}` for {} was not found",
                        m.path, m.save_in
                    ),
                ));
            }
            None => {}
        }
    }
    Ok(mapped)
}

/// The names (in `$flow.key`) of the SPEC §4 result variables, in the order
/// [`result_variables`] sets them.
pub const RESULT_VARIABLES: [&str; 7] = [
    "response_status",
    "response_status_code",
    "response_duration",
    "response_raw",
    "response_error",
    "response_status_type",
    "error_reason",
];

/// The result variables of SPEC §4 for one call. `status` is 0 when no response
/// came; `body` is the (possibly cut) response body; on success the failure
/// variables are set to "" so a flow never sees a stale reason from an earlier call.
pub fn result_variables(
    status: u16,
    duration_secs: f64,
    body: &str,
    failure: Option<Failure>,
) -> Vec<(VarName, String)> {
    let var = |name: &str| VarName::new(Namespace::FlowKey, name).expect("a fixed, valid name");
    vec![
        (
            var("response_status"),
            if failure.is_none() {
                "SUCCESS"
            } else {
                "FAILED"
            }
            .to_owned(),
        ),
        (var("response_status_code"), status.to_string()),
        (var("response_duration"), format!("{duration_secs:.2}")),
        (
            var("response_raw"),
            if body.is_empty() {
                "null".to_owned()
            } else {
                body.to_owned()
            },
        ),
        (var("response_error"), failure.is_some().to_string()),
        (
            var("response_status_type"),
            failure.map(Failure::status_type).unwrap_or("").to_owned(),
        ),
        (
            var("error_reason"),
            failure.map(Failure::error_reason).unwrap_or("").to_owned(),
        ),
    ]
}

/// The result variables of a request sent without waiting (SPEC §4):
/// `response_status` is `SENT` and every other result variable is cleared,
/// so no value of an earlier call survives.
pub fn sent_variables() -> Vec<(VarName, String)> {
    result_variables(0, 0.0, "", None)
        .into_iter()
        .map(|(var, _)| {
            let value = if var.name() == "response_status" {
                "SENT"
            } else {
                ""
            };
            (var, value.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests;
