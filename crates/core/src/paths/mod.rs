//! Response paths: how the webhook widget picks values out of a response body
//! (SPEC §4, "Paths").
//!
//! A mapping names one value in a JSON or XML response. For JSON it is an RFC 9535
//! JSONPath (`$.items[0].id`) or the dotted form that online path finders produce,
//! with the root written `data` or `x` (`data.items[0].id`); for XML it is an
//! XPath 1.0 expression (`/order/status`, `//item[1]/@id`).
//!
//! What this module promises:
//!
//! - A [`ResponsePath`] is checked completely when a flow is saved
//!   ([`ResponsePath::parse`]); a path that parses is never rejected later for its
//!   syntax. Dotted JSON paths are rewritten once into proper JSONPath.
//! - [`extract_all`] parses a body once, as the declared [`ResponseType`], and
//!   evaluates every path against it. A body that is not valid JSON / XML is an
//!   [`InvalidResponse`]; a path that selects nothing is `None`.
//! - Found values are turned into the text stored in a variable by one rule:
//!   strings as they are, numbers and booleans as their JSON text (`42`, `3.5`,
//!   `true`), objects and arrays as compact JSON, JSON `null` as `null`.
//!
//! The engines are real ones (`serde_json_path`, `sxd-xpath`); none of their
//! values cross a call boundary, so a `ResponsePath` is `Send + Sync` and can live
//! in a flow shared between threads.

mod json;
mod xml;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use serde_json_path::JsonPath;

/// Longest path accepted, in characters. Paths are typed by people; the cap keeps
/// the recursive-descent parsers of both engines far away from their stack limits.
pub const MAX_PATH_LEN: usize = 1024;

/// Deepest nesting of brackets and parentheses accepted in a path, for the same
/// reason as [`MAX_PATH_LEN`].
pub const MAX_PATH_NESTING: usize = 32;

/// The declared type of a webhook response body (SPEC §4 `type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ResponseType {
    /// A JSON body, addressed with JSONPath.
    #[default]
    Json,
    /// An XML body, addressed with XPath 1.0.
    Xml,
}

impl ResponseType {
    /// The name used in flow documents: `json` or `xml`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::Json => "json",
            ResponseType::Xml => "xml",
        }
    }
}

impl fmt::Display for ResponseType {
    /// Upper-case, for messages: `JSON`, `XML`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResponseType::Json => "JSON",
            ResponseType::Xml => "XML",
        })
    }
}

/// A response path that cannot be used, with a message meant for the flow author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} path `{path}`: {reason}")]
pub struct PathError {
    /// The response type the path was written for.
    pub kind: ResponseType,
    /// The path as it was given.
    pub path: String,
    /// What is wrong, with the position when the engine reports one.
    pub reason: String,
}

/// A response body that is not valid for its declared type (SPEC §4
/// `INVALID_RESPONSE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the response is not valid {kind}: {reason}")]
pub struct InvalidResponse {
    /// The declared type the body failed to parse as.
    pub kind: ResponseType,
    /// Why, with a line and column when known.
    pub reason: String,
}

/// A validated response path, parsed once when the flow is saved.
///
/// Two paths are equal when they have the same type and the same source text.
#[derive(Clone)]
pub struct ResponsePath {
    kind: ResponseType,
    source: String,
    compiled: Compiled,
}

#[derive(Clone)]
enum Compiled {
    Json {
        query: JsonPath,
        normalized: String,
    },
    /// The compiled form of `sxd-xpath` is neither `Send` nor `Sync`, so only the
    /// validated source is kept; compiling it again per extraction is cheap.
    Xml,
}

impl ResponsePath {
    /// Parses and fully validates `source` as a path for `kind` responses.
    ///
    /// Surrounding whitespace is ignored. JSON accepts an RFC 9535 JSONPath
    /// starting with `$`, or the dotted form rooted at `data` or `x`. XML accepts
    /// an XPath 1.0 expression using the core functions and no namespace prefixes
    /// or variables (nothing would bind them).
    pub fn parse(kind: ResponseType, source: &str) -> Result<ResponsePath, PathError> {
        let source = source.trim();
        let error = |reason: String| PathError {
            kind,
            path: source.to_owned(),
            reason,
        };
        if source.is_empty() {
            return Err(error("the path is empty".to_owned()));
        }
        let len = source.chars().count();
        if len > MAX_PATH_LEN {
            return Err(error(format!(
                "the path is {len} characters long; at most {MAX_PATH_LEN} are allowed"
            )));
        }
        let escapes = kind == ResponseType::Json;
        if nesting_depth(source, escapes) > MAX_PATH_NESTING {
            return Err(error(format!(
                "brackets and parentheses are nested more than {MAX_PATH_NESTING} deep"
            )));
        }
        let compiled = match kind {
            ResponseType::Json => {
                let (query, normalized) = json::compile(source).map_err(error)?;
                Compiled::Json { query, normalized }
            }
            ResponseType::Xml => {
                xml::validate(source).map_err(error)?;
                Compiled::Xml
            }
        };
        Ok(ResponsePath {
            kind,
            source: source.to_owned(),
            compiled,
        })
    }

    /// The response type this path is written for.
    pub fn kind(&self) -> ResponseType {
        self.kind
    }

    /// The path as the flow author wrote it (trimmed); this is what flows store.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The expression actually evaluated: for dotted JSON paths the equivalent
    /// JSONPath (`data.a-b[0]` → `$['a-b'][0]`), otherwise the source itself.
    pub fn normalized(&self) -> &str {
        match &self.compiled {
            Compiled::Json { normalized, .. } => normalized,
            Compiled::Xml => &self.source,
        }
    }

    /// Does this path cost no more than one walk down the document, whatever
    /// the document? True for JSON paths of names, indices and wildcards only
    /// (`$.data.id`, `data.items[0].id`); false for descendant segments,
    /// filters and slices, and for every XPath.
    pub fn is_direct(&self) -> bool {
        match &self.compiled {
            Compiled::Json { normalized, .. } => json::is_direct(normalized),
            Compiled::Xml => false,
        }
    }

    /// Extracts this one path from `body`; see [`extract_all`].
    pub fn extract(&self, body: &str) -> Result<Option<String>, InvalidResponse> {
        let mut values = extract_all(self.kind, body, &[self])?;
        Ok(values.pop().flatten())
    }
}

impl PartialEq for ResponsePath {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.source == other.source
    }
}

impl Eq for ResponsePath {}

impl fmt::Debug for ResponsePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponsePath")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .field("normalized", &self.normalized())
            .finish()
    }
}

impl fmt::Display for ResponsePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Lets the caller of an extraction give up on it from another thread: the
/// extraction then stops as soon as it can (between paths, and for XPath at the
/// next predicate) and reports the remaining paths as not found. Cheap to clone;
/// clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Asks every extraction holding this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Parses `body` once as `kind` and evaluates each path against it.
///
/// The result has one entry per path, in order: `Some(text)` is the value to store
/// (see the module documentation for the storage form), `None` means the path
/// selected nothing. A path written for the other response type also gives
/// `None`. The body is parsed even when `paths` is empty, so the call doubles as
/// the check that a response matches its declared type.
pub fn extract_all(
    kind: ResponseType,
    body: &str,
    paths: &[&ResponsePath],
) -> Result<Vec<Option<String>>, InvalidResponse> {
    extract_all_until(kind, body, paths, &Cancel::default())
}

/// [`extract_all`] that stops once `cancel` is set; the paths it did not finish
/// are `None`. The caller that cancelled knows it did, and does not use them.
pub fn extract_all_until(
    kind: ResponseType,
    body: &str,
    paths: &[&ResponsePath],
    cancel: &Cancel,
) -> Result<Vec<Option<String>>, InvalidResponse> {
    match kind {
        ResponseType::Json => {
            let value = json::parse_body(body)?;
            Ok(paths
                .iter()
                .map(|path| match &path.compiled {
                    // `serde_json_path` cannot be interrupted inside one query.
                    _ if cancel.is_cancelled() => None,
                    Compiled::Json { query, .. } => json::extract(query, &value),
                    Compiled::Xml => None,
                })
                .collect())
        }
        ResponseType::Xml => {
            let package = xml::parse_body(body)?;
            let sources: Vec<Option<&str>> = paths
                .iter()
                .map(|path| (path.kind == ResponseType::Xml).then_some(path.source.as_str()))
                .collect();
            Ok(xml::extract_all(&package, &sources, cancel))
        }
    }
}

/// The deepest nesting of `(` and `[` outside string literals. JSONPath literals
/// use backslash escapes; XPath literals have none.
fn nesting_depth(source: &str, backslash_escapes: bool) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<char> = None;
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) if c == '\\' && backslash_escapes => {
                chars.next();
            }
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' | '[' => {
                    depth += 1;
                    max = max.max(depth);
                }
                ')' | ']' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
    }
    max
}

/// The 1-based line and column of byte `offset` in `text`, for error messages.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_send_sync<T: Send + Sync + Clone + fmt::Debug>() {}

    #[test]
    fn response_path_is_shareable_between_threads() {
        assert_send_sync::<ResponsePath>();
        assert_send_sync::<PathError>();
        assert_send_sync::<InvalidResponse>();
    }

    #[test]
    fn response_type_serde_is_lowercase_and_defaults_to_json() {
        assert_eq!(ResponseType::default(), ResponseType::Json);
        assert_eq!(
            serde_json::to_string(&ResponseType::Xml).ok().as_deref(),
            Some("\"xml\"")
        );
        let parsed: Result<ResponseType, _> = serde_json::from_str("\"json\"");
        assert_eq!(parsed.ok(), Some(ResponseType::Json));
        let parsed: Result<ResponseType, _> = serde_json::from_str("\"JSON\"");
        assert!(parsed.is_err());
    }

    #[test]
    fn empty_long_and_deep_paths_are_refused() {
        for kind in [ResponseType::Json, ResponseType::Xml] {
            let long = format!("$.{}", "a".repeat(MAX_PATH_LEN));
            let deep_json = format!("$[?{}@.a{}]", "(".repeat(40), ")".repeat(40));
            let deep_xml = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
            for source in ["", "   ", &long, &deep_json, &deep_xml] {
                assert!(
                    ResponsePath::parse(kind, source).is_err(),
                    "{kind} {source:.40}"
                );
            }
        }
    }

    #[test]
    fn paths_nested_up_to_the_limit_parse_and_evaluate() {
        let n = MAX_PATH_NESTING;
        let json = format!("$[?{}@.a == 1{}].a", "(".repeat(n - 1), ")".repeat(n - 1));
        let xml = format!("{}count(//a){}", "(".repeat(n - 1), ")".repeat(n - 1));
        let cases = [
            (ResponseType::Json, json, r#"[{"a":1}]"#),
            (ResponseType::Xml, xml, "<a/>"),
        ];
        for (kind, source, body) in cases {
            let got = ResponsePath::parse(kind, &source).map(|p| p.extract(body));
            assert_eq!(got, Ok(Ok(Some("1".to_owned()))), "{source}");
        }
    }

    #[test]
    fn path_error_names_the_path_and_the_forms() {
        let err = ResponsePath::parse(ResponseType::Json, "items[0]").err();
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("invalid JSON path `items[0]`"),
            "{message}"
        );
        assert!(message.contains("`$`"), "{message}");
        assert!(message.contains("`data`"), "{message}");
    }

    #[test]
    fn paths_compare_by_type_and_source() {
        let a = ResponsePath::parse(ResponseType::Json, " $.a ").ok();
        let b = ResponsePath::parse(ResponseType::Json, "$.a").ok();
        let c = ResponsePath::parse(ResponseType::Json, "x.a").ok();
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.map(|p| p.to_string()).as_deref(), Some("$.a"));
    }

    #[test]
    fn extract_all_keeps_order_and_ignores_paths_of_the_other_type() {
        let json = |s: &str| ResponsePath::parse(ResponseType::Json, s);
        let (Ok(a), Ok(b), Ok(missing)) = (json("$.a"), json("data.b"), json("$.zzz")) else {
            panic!("paths should parse");
        };
        let Ok(xpath) = ResponsePath::parse(ResponseType::Xml, "/a") else {
            panic!("xpath should parse");
        };
        let got = extract_all(
            ResponseType::Json,
            r#"{"a":1,"b":"two"}"#,
            &[&b, &missing, &a, &xpath],
        );
        let want = vec![Some("two".to_owned()), None, Some("1".to_owned()), None];
        assert_eq!(got, Ok(want));
        assert_eq!(extract_all(ResponseType::Json, "{}", &[]), Ok(vec![]));
        assert!(extract_all(ResponseType::Json, "", &[]).is_err());
        assert!(extract_all(ResponseType::Xml, "", &[]).is_err());
    }

    #[test]
    fn line_column_counts_characters() {
        assert_eq!(line_column("abc", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("é\né", 5), (2, 2));
        assert_eq!(line_column("é", 1), (1, 1));
    }

    proptest! {
        #[test]
        fn parse_never_panics(source in any::<String>()) {
            let _ = ResponsePath::parse(ResponseType::Json, &source);
            let _ = ResponsePath::parse(ResponseType::Xml, &source);
        }

        #[test]
        fn parse_never_panics_on_path_like_text(source in r"[$.x a-z0-9\[\]()'@*/:?=<>!|,\x22\\-]{0,40}") {
            for kind in [ResponseType::Json, ResponseType::Xml] {
                if let Ok(path) = ResponsePath::parse(kind, &source) {
                    let body = match kind {
                        ResponseType::Json => r#"{"a":[1,{"b":"c"}],"x":null}"#,
                        ResponseType::Xml => "<a><b id='1'>c</b><b/></a>",
                    };
                    prop_assert!(path.extract(body).is_ok());
                }
            }
        }
    }
}
