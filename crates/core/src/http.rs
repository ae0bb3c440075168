//! HTTP vocabulary shared by the webhook registry, the webhook widget and the
//! delivery engine: the methods flowhook may send and the request body types.
//!
//! These are the closed sets of SPEC §4; anything else is refused when parsed.

use serde::{Deserialize, Serialize};

/// An HTTP method a webhook or webhook widget may use (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    #[default]
    Post,
    Patch,
    Delete,
    Put,
    Options,
    Head,
}

impl HttpMethod {
    /// Every method, in the order of the SPEC table.
    pub const ALL: [HttpMethod; 7] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Patch,
        HttpMethod::Delete,
        HttpMethod::Put,
        HttpMethod::Options,
        HttpMethod::Head,
    ];

    /// The method as it goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Put => "PUT",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Head => "HEAD",
        }
    }

    /// Parses a method name, case-insensitively.
    pub fn parse(s: &str) -> Option<HttpMethod> {
        HttpMethod::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body a request carries (SPEC §4 `body_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BodyType {
    #[default]
    None,
    Json,
    Xml,
    Form,
    Text,
}

impl BodyType {
    /// The `Content-Type` sent with a body of this type; `None` sends no body.
    pub fn content_type(self) -> Option<&'static str> {
        match self {
            BodyType::None => None,
            BodyType::Json => Some("application/json"),
            BodyType::Xml => Some("application/xml"),
            BodyType::Form => Some("application/x-www-form-urlencoded"),
            BodyType::Text => Some("text/plain; charset=utf-8"),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BodyType::None => "none",
            BodyType::Json => "json",
            BodyType::Xml => "xml",
            BodyType::Form => "form",
            BodyType::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<BodyType> {
        [
            BodyType::None,
            BodyType::Json,
            BodyType::Xml,
            BodyType::Form,
            BodyType::Text,
        ]
        .into_iter()
        .find(|b| b.as_str().eq_ignore_ascii_case(s))
    }
}
