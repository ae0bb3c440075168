//! HTTP vocabulary shared by the webhook registry, the webhook widget and the
//! delivery engine: the methods flowhook may send and the request body types.
//!
//! These are the closed sets of SPEC §4; anything else is refused when parsed.

use serde::{Deserialize, Deserializer, Serialize};

/// An HTTP method a webhook or webhook widget may use (SPEC §4).
///
/// Read with [`HttpMethod::parse`] wherever it comes from (flow documents, the
/// webhook registry, storage), so every boundary accepts the same spellings;
/// written in upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
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

    /// Other spellings of a method: the seeds write `OPTION`.
    const ALIASES: [(&'static str, HttpMethod); 1] = [("OPTION", HttpMethod::Options)];

    /// Parses a method name in any letter case (SPEC §4), reading the seeds'
    /// `OPTION` as `OPTIONS`.
    pub fn parse(s: &str) -> Option<HttpMethod> {
        let alias = HttpMethod::ALIASES.into_iter();
        HttpMethod::ALL
            .into_iter()
            .map(|m| (m.as_str(), m))
            .chain(alias)
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, m)| m)
    }
}

/// The schema says what [`HttpMethod::parse`] accepts: each name (and alias)
/// in any letter case, as a pattern generated from the same lists.
impl utoipa::PartialSchema for HttpMethod {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let any_case = |name: &str| -> String {
            name.chars()
                .map(|c| format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase()))
                .collect()
        };
        let names: Vec<String> = HttpMethod::ALL
            .iter()
            .map(|m| m.as_str())
            .chain(HttpMethod::ALIASES.iter().map(|(alias, _)| *alias))
            .map(any_case)
            .collect();
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(format!("^({})$", names.join("|"))))
            .description(Some(
                "GET POST PATCH DELETE PUT OPTIONS HEAD, in any letter case (OPTION reads as OPTIONS)",
            ))
            .examples(["POST"])
            .into()
    }
}

impl utoipa::ToSchema for HttpMethod {}

impl<'de> Deserialize<'de> for HttpMethod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        HttpMethod::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format_args!(
                "unknown method `{text}`; expected one of GET, POST, PATCH, DELETE, PUT, OPTIONS, HEAD (any letter case)"
            ))
        })
    }
}

impl std::fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body a request carries (SPEC §4 `body_type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema,
)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_in_any_case_and_option_is_options() {
        let cases = [
            ("GET", Some(HttpMethod::Get)),
            ("get", Some(HttpMethod::Get)),
            ("Post", Some(HttpMethod::Post)),
            ("pAtCh", Some(HttpMethod::Patch)),
            ("options", Some(HttpMethod::Options)),
            ("OPTION", Some(HttpMethod::Options)),
            ("option", Some(HttpMethod::Options)),
            ("head", Some(HttpMethod::Head)),
            ("CONNECT", None),
            ("TRACE", None),
            ("GET ", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(HttpMethod::parse(text), want, "{text:?}");
            let json = serde_json::to_string(text).expect("a string");
            assert_eq!(
                serde_json::from_str::<HttpMethod>(&json).ok(),
                want,
                "{text:?}"
            );
        }
    }

    #[test]
    fn methods_serialize_in_upper_case() {
        for method in HttpMethod::ALL {
            let json = serde_json::to_string(&method).expect("serializes");
            assert_eq!(json, format!("\"{}\"", method.as_str()));
            assert_eq!(HttpMethod::parse(method.as_str()), Some(method));
        }
        let err = serde_json::from_str::<HttpMethod>("\"FETCH\"").expect_err("unknown");
        assert!(err.to_string().contains("unknown method `FETCH`"), "{err}");
    }
}
