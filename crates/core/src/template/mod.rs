//! Templates: the text fields of widgets with `$…` variables in them (SPEC §2).
//!
//! A [`Template`] is parsed once, when a flow is saved, into literal and variable
//! segments; rendering is then a single pass over those segments with no regex
//! and no re-parsing. Rendering is context-aware ([`Context`]): a variable's value
//! is escaped for the place it lands in (a JSON string, XML text, a URL path or
//! query, a form value, a header), so a value can never change the structure of
//! the request around it. Literal text is never escaped: it is the flow author's.
//!
//! Grammar:
//! - `$` + namespace + `.` + `[A-Za-z0-9_]+` is a bare token (`$flow.key.orderId`);
//!   for `$call.` the longest known dotted name or alias is taken
//!   (`$call.cli.number.` is the variable `cli.number` followed by a literal `.`,
//!   `$call.cli` is another name of `$call.cli.number`); `$sys.datetime`.
//! - `${flow.key.any name}` is a braced token: any name without control characters.
//! - `$$` is a literal `$`; `$` followed by anything but a letter, `$` or `{` is a
//!   literal `$` as well (so `$5.00` needs no escaping).
//! - `$` followed by letters that do not start a known namespace is an error, so a
//!   misspelt variable (`$flwo.key.x`) is caught when the flow is saved rather than
//!   sent as text.

mod render;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::vars::{CALL_ALIASES, CALL_NAMES, Namespace, SYS_NAMES, VarName};

pub use render::{Context, RenderError, Rendered};

/// A parsed template. Keeps its source text, which is what it serializes as.
#[derive(Clone, Default)]
pub struct Template {
    source: String,
    segments: Vec<Segment>,
    /// Total length of the literal segments, to size the output buffer once.
    literal_len: usize,
}

/// One piece of a parsed template.
#[derive(Debug, Clone)]
enum Segment {
    Literal(Box<str>),
    Var {
        var: VarName,
        /// Whether the token sits in the scheme or authority of a URL (before the
        /// path starts), judged from the literal text before it. Only used by
        /// [`Context::Url`], but computed at parse time so rendering stays one pass.
        url_authority: bool,
        /// Whether the token sits outside a JSON string literal (a value position
        /// such as `{"n": $flow.key.n}`), judged from the literal text before it.
        /// Only used by [`Context::JsonString`], where such a value must be a JSON
        /// number, boolean or null, so it cannot add structure.
        json_bare: bool,
        /// Whether the token directly follows an unpaired backslash inside a JSON
        /// string (`"\$flow.key.x"`): the backslash would pair with the value's
        /// first character, so [`Context::JsonString`] refuses any value there.
        json_after_escape: bool,
    },
}

/// Why a template does not parse: the char offset (0-based) of the offending
/// token and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("position {position}: {message}")]
pub struct TemplateError {
    pub position: usize,
    pub message: String,
}

impl Template {
    /// Parses `source`, stopping at the first error.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        Parser::new(source).run()
    }

    /// The text the template was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables referenced, in order of appearance, with repeats.
    pub fn vars(&self) -> impl Iterator<Item = &VarName> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var { var, .. } => Some(var),
            Segment::Literal(_) => None,
        })
    }

    /// The text the template always renders to, when it has no variables.
    pub fn as_literal(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [] => Some(""),
            [Segment::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// Whether the source is empty.
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Template").field(&self.source).finish()
    }
}

/// Two templates are equal when their sources are: the segments follow from it.
impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for Template {}

impl std::str::FromStr for Template {
    type Err = TemplateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Template::parse(s)
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Template::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Where the literal text so far has left a URL, for [`Segment::Var::url_authority`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlState {
    /// Before any `:` — still in the scheme or a host name.
    Scheme,
    /// Just after `scheme:`.
    Colon,
    /// Just after `scheme:/`.
    ColonSlash,
    /// In the authority, after `://` (or after `host:`).
    Authority,
    /// In the path, query or fragment: tokens are percent-encoded there.
    Rest,
}

impl UrlState {
    fn advance(self, literal: &str) -> UrlState {
        let mut state = self;
        for b in literal.bytes() {
            state = match (state, b) {
                (UrlState::Rest, _) => return UrlState::Rest,
                (_, b'?' | b'#') => UrlState::Rest,
                (UrlState::Scheme, b':') => UrlState::Colon,
                (UrlState::Scheme, b'/') => UrlState::Rest,
                (UrlState::Colon, b'/') => UrlState::ColonSlash,
                (UrlState::Colon, _) => UrlState::Authority,
                (UrlState::ColonSlash, b'/') => UrlState::Authority,
                (UrlState::ColonSlash, _) => UrlState::Rest,
                (UrlState::Authority, b'/') => UrlState::Rest,
                (s, _) => s,
            };
        }
        state
    }
}

/// Whether the literal text so far has left a JSON document inside a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct JsonState {
    in_string: bool,
    /// The previous byte was a backslash inside a string.
    escaped: bool,
}

impl JsonState {
    fn advance(mut self, literal: &str) -> JsonState {
        for b in literal.bytes() {
            if self.escaped {
                self.escaped = false;
            } else if self.in_string && b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = !self.in_string;
            }
        }
        self
    }
}

struct Parser<'a> {
    source: &'a str,
    segments: Vec<Segment>,
    literal: String,
    literal_len: usize,
    url: UrlState,
    json: JsonState,
}

/// Whether `b` may appear in a bare variable name.
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The length of the leading run of `text` made of bytes satisfying `pred`.
fn run_len(text: &str, pred: impl Fn(u8) -> bool) -> usize {
    text.bytes().take_while(|&b| pred(b)).count()
}

impl<'a> Parser<'a> {
    fn new(source: &'a str) -> Parser<'a> {
        Parser {
            source,
            segments: Vec::new(),
            literal: String::new(),
            literal_len: 0,
            url: UrlState::Scheme,
            json: JsonState::default(),
        }
    }

    fn error(&self, byte_offset: usize, message: String) -> TemplateError {
        TemplateError {
            position: self.source[..byte_offset].chars().count(),
            message,
        }
    }

    fn flush_literal(&mut self) {
        if !self.literal.is_empty() {
            let text = std::mem::take(&mut self.literal);
            self.url = self.url.advance(&text);
            self.json = self.json.advance(&text);
            self.literal_len += text.len();
            self.segments.push(Segment::Literal(text.into_boxed_str()));
        }
    }

    fn push_var(&mut self, var: VarName) {
        self.flush_literal();
        let url_authority = self.url != UrlState::Rest;
        let json_bare = !self.json.in_string;
        let json_after_escape = self.json.in_string && self.json.escaped;
        // The value stands where the escaped character would; the literal after
        // it is read as if that character had been there.
        self.json.escaped = false;
        self.segments.push(Segment::Var {
            var,
            url_authority,
            json_bare,
            json_after_escape,
        });
    }

    fn run(mut self) -> Result<Template, TemplateError> {
        let source = self.source;
        let bytes = source.as_bytes();
        let mut i = 0;
        while let Some(offset) = source[i..].find('$') {
            let at = i + offset;
            self.literal.push_str(&source[i..at]);
            i = match bytes.get(at + 1) {
                Some(b'$') => {
                    self.literal.push('$');
                    at + 2
                }
                Some(b'{') => self.braced(at)?,
                Some(b) if b.is_ascii_alphabetic() => self.bare(at)?,
                _ => {
                    self.literal.push('$');
                    at + 1
                }
            };
        }
        self.literal.push_str(&source[i..]);
        self.flush_literal();
        Ok(Template {
            source: source.to_owned(),
            segments: self.segments,
            literal_len: self.literal_len,
        })
    }

    /// Parses `${…}` starting at byte `at`; returns the byte offset after it.
    fn braced(&mut self, at: usize) -> Result<usize, TemplateError> {
        let body_start = at + 2;
        let Some(len) = self.source[body_start..].find('}') else {
            return Err(self.error(
                at,
                "unclosed \"${\"; write \"$${\" for a literal \"${\"".to_owned(),
            ));
        };
        let body = &self.source[body_start..body_start + len];
        let Some((namespace, name)) = Namespace::split_prefix(body) else {
            return Err(self.error(
                at,
                format!(
                    "unknown variable namespace in \"${{{body}}}\"; expected one of \
                     flow.key., flow.syskey., user.key., user.syskey., call., sys."
                ),
            ));
        };
        let var = VarName::new(namespace, name).map_err(|e| self.error(at, e.to_string()))?;
        self.push_var(var);
        Ok(body_start + len + 1)
    }

    /// Parses a bare token starting at byte `at` (a `$` followed by a letter);
    /// returns the byte offset after it.
    fn bare(&mut self, at: usize) -> Result<usize, TemplateError> {
        let rest = &self.source[at + 1..];
        let Some((namespace, after)) = Namespace::split_prefix(rest) else {
            let word = &rest[..run_len(rest, |b| is_name_byte(b) || b == b'.')];
            return Err(self.error(
                at,
                format!(
                    "\"${word}\" is not a known variable (expected $flow.key., $flow.syskey., \
                     $user.key., $user.syskey., $call. or $sys.); write \"$$\" for a literal \"$\""
                ),
            ));
        };
        let name_start = at + 1 + namespace.prefix().len();
        let name_len = match namespace {
            Namespace::Call => longest_call_name(after).ok_or_else(|| {
                let word = &after[..run_len(after, |b| is_name_byte(b) || b == b'.')];
                self.error(
                    at,
                    format!(
                        "unknown call variable \"$call.{word}\"; known: {}; write \
                         \"${{call.{word}}}\" for another call detail",
                        known_call_names()
                            .map(|n| format!("$call.{n}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?,
            _ => run_len(after, is_name_byte),
        };
        let name = &after[..name_len];
        if name.is_empty() {
            return Err(self.error(
                at,
                format!("empty variable name after \"${}\"", namespace.prefix()),
            ));
        }
        if namespace == Namespace::Sys && !SYS_NAMES.contains(&name) {
            return Err(self.error(
                at,
                format!("unknown system variable \"$sys.{name}\"; known: $sys.datetime"),
            ));
        }
        let var = VarName::new(namespace, name).map_err(|e| self.error(at, e.to_string()))?;
        self.push_var(var);
        Ok(name_start + name_len)
    }
}

/// Every name a bare `$call.` token may use: the known names and their aliases.
fn known_call_names() -> impl Iterator<Item = &'static str> {
    CALL_NAMES
        .into_iter()
        .chain(CALL_ALIASES.into_iter().map(|(alias, _)| alias))
}

/// The byte length of the longest known call name at the start of `text` that is
/// not followed by another name character (`cli.numbers` is not `cli.number`+`s`).
/// An alias is not taken before a dot and a name character either, so a
/// misspelt longer name (`$call.cli.numbr`) is still reported, not read as
/// `$call.cli` followed by text.
fn longest_call_name(text: &str) -> Option<usize> {
    let continues = |at: usize, alias: bool| {
        let bytes = text.as_bytes();
        bytes.get(at).is_some_and(|&b| is_name_byte(b))
            || (alias
                && bytes.get(at) == Some(&b'.')
                && bytes.get(at + 1).is_some_and(|&b| is_name_byte(b)))
    };
    let names = CALL_NAMES.into_iter().map(|n| (n, false));
    let aliases = CALL_ALIASES.into_iter().map(|(a, _)| (a, true));
    names
        .chain(aliases)
        .filter(|(name, alias)| text.starts_with(name) && !continues(name.len(), *alias))
        .map(|(name, _)| name.len())
        .max()
}
