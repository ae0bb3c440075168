//! Rendering a parsed [`Template`] in a [`Context`].
//!
//! Promise: whatever the variable values are, the rendered text keeps the
//! structure the literal text gave it — a value cannot close a JSON string, open
//! an XML element, add a URL path segment or query parameter, or start a new
//! header. Values that cannot be made safe (CR/LF in a header, a slash in a host
//! name) are refused with a [`RenderError`] instead of being sent.

use crate::budget::{Exceeded, MAX_RENDERED_BYTES};
use crate::http::BodyType;
use crate::vars::{Lookup, VarName};

use super::{Segment, Template};

/// Where a rendered template lands, which decides how values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// No escaping: assignments, text bodies, values stored in variables.
    Plain,
    /// A JSON document: inside a string literal, `"`, `\` and control characters
    /// are escaped (no quotes are added; the literal text provides them); outside
    /// quotes (`{"n": $flow.key.n}`) only a number, `true`, `false` or `null` is
    /// accepted, anything else is refused.
    JsonString,
    /// XML text or attribute values: `& < > " '` become entities. Characters XML
    /// 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF) become U+FFFD.
    Xml,
    /// An `application/x-www-form-urlencoded` value: space becomes `+`, everything
    /// but `A-Za-z0-9*-._` is percent-encoded.
    Form,
    /// An HTTP header value: values are used as they are, but a value with CR, LF
    /// or another control character (tab excepted) is refused.
    Header,
    /// A URL: in the path, query and fragment every byte but `A-Za-z0-9-._~` is
    /// percent-encoded (so `/`, `?`, `&`, `=` in a value stay data); in the scheme
    /// and authority only `A-Za-z0-9.-:` is accepted, anything else is refused.
    Url,
}

impl Context {
    /// Every context, for tests and fuzzing.
    pub const ALL: [Context; 6] = [
        Context::Plain,
        Context::JsonString,
        Context::Xml,
        Context::Form,
        Context::Header,
        Context::Url,
    ];

    /// The context a request body of `body_type` is rendered in.
    pub fn for_body(body_type: BodyType) -> Context {
        match body_type {
            BodyType::Json => Context::JsonString,
            BodyType::Xml => Context::Xml,
            BodyType::Form => Context::Form,
            BodyType::None | BodyType::Text => Context::Plain,
        }
    }
}

/// The result of rendering: the text, and the variables that were unset (each
/// once, in order of first use). Unset variables render as "".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub missing: Vec<VarName>,
}

/// A value that cannot be placed safely where the template puts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error(
        "the value of {var} contains CR, LF or another control character and cannot go into a header"
    )]
    HeaderInjection { var: VarName },
    #[error(
        "the value of {var} cannot go into the scheme or host of a URL (only letters, digits, '.', '-' and ':' are allowed there)"
    )]
    UnsafeUrlValue { var: VarName },
    #[error(
        "the value of {var} stands outside quotes in a JSON body (or right after a backslash in a string), where only a number, true, false or null may go; put the variable in quotes, without a backslash before it, to send it as a string"
    )]
    UnsafeJsonValue { var: VarName },
    /// The rendering grew past [`MAX_RENDERED_BYTES`]: not a property of the
    /// value's place but of the execution's budget, so callers end the execution.
    #[error(transparent)]
    Budget(#[from] Exceeded),
}

/// A value in a JSON value position (outside quotes): only a scalar literal, so
/// it cannot open an object or array or close the one it is in.
fn push_json_scalar(out: &mut String, value: &str, var: &VarName) -> Result<(), RenderError> {
    let value = value.trim();
    let scalar = matches!(value, "true" | "false" | "null")
        || serde_json::from_str::<serde_json::Value>(value).is_ok_and(|v| v.is_number());
    if !scalar {
        return Err(RenderError::UnsafeJsonValue { var: var.clone() });
    }
    out.push_str(value);
    Ok(())
}

impl Template {
    /// Renders the template against `vars`, escaping values for `context`.
    pub fn render(&self, vars: &dyn Lookup, context: Context) -> Result<Rendered, RenderError> {
        let mut rendered = Rendered {
            text: String::with_capacity(self.literal_len + 16 * self.segments.len()),
            missing: Vec::new(),
        };
        self.render_into(vars, context, &mut rendered.text, &mut rendered.missing)?;
        Ok(rendered)
    }

    /// Renders by appending to `out` and `missing`, so callers that render many
    /// templates can reuse buffers. On error `out` holds a partial rendering.
    ///
    /// What this template appends is capped at [`MAX_RENDERED_BYTES`]; past it the
    /// rendering stops with [`RenderError::Budget`] before the value is copied
    /// (escaping only lengthens a value, so its raw length is checked first).
    pub fn render_into(
        &self,
        vars: &dyn Lookup,
        context: Context,
        out: &mut String,
        missing: &mut Vec<VarName>,
    ) -> Result<(), RenderError> {
        let start = out.len();
        let over = |out: &String, adding: usize| out.len() - start + adding > MAX_RENDERED_BYTES;
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) if over(out, text.len()) => {
                    return Err(Exceeded::RenderedTemplate.into());
                }
                Segment::Literal(text) => out.push_str(text),
                Segment::Var {
                    var,
                    url_authority,
                    json_bare,
                    json_after_escape,
                } => match vars.get(var) {
                    Some(value) if over(out, value.len()) => {
                        return Err(Exceeded::RenderedTemplate.into());
                    }
                    Some(_) if context == Context::JsonString && *json_after_escape => {
                        return Err(RenderError::UnsafeJsonValue { var: var.clone() });
                    }
                    Some(value) if context == Context::JsonString && *json_bare => {
                        push_json_scalar(out, &value, var)?
                    }
                    Some(value) => push_value(out, &value, var, context, *url_authority)?,
                    None => {
                        if !missing.contains(var) {
                            missing.push(var.clone());
                        }
                    }
                },
            }
        }
        if over(out, 0) {
            return Err(Exceeded::RenderedTemplate.into());
        }
        Ok(())
    }
}

fn push_value(
    out: &mut String,
    value: &str,
    var: &VarName,
    context: Context,
    url_authority: bool,
) -> Result<(), RenderError> {
    match context {
        Context::Plain => out.push_str(value),
        Context::JsonString => push_json_escaped(out, value),
        Context::Xml => push_xml_escaped(out, value),
        Context::Form => push_form_encoded(out, value),
        Context::Header => {
            if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(RenderError::HeaderInjection { var: var.clone() });
            }
            out.push_str(value);
        }
        Context::Url if url_authority => {
            let safe = value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
            if !safe {
                return Err(RenderError::UnsafeUrlValue { var: var.clone() });
            }
            out.push_str(value);
        }
        Context::Url => push_percent_encoded(out, value),
    }
    Ok(())
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex_byte(out: &mut String, prefix: char, b: u8) {
    out.push(prefix);
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 0xf)] as char);
}

/// Copies runs of bytes that need no escaping in one go; `escape` is called for
/// the others, byte by byte.
///
/// `needs_escape` must treat all non-ASCII bytes alike (escape all or none).
/// Then a non-empty run always starts and ends at char boundaries: it either
/// follows an escaped ASCII byte, or the last byte of a fully escaped char.
fn push_escaped(
    out: &mut String,
    value: &str,
    needs_escape: impl Fn(u8) -> bool,
    escape: impl Fn(&mut String, u8),
) {
    let mut start = 0;
    for (i, b) in value.bytes().enumerate() {
        if needs_escape(b) {
            if start < i {
                out.push_str(&value[start..i]);
            }
            escape(out, b);
            start = i + 1;
        }
    }
    if start < value.len() {
        out.push_str(&value[start..]);
    }
}

fn push_json_escaped(out: &mut String, value: &str) {
    push_escaped(
        out,
        value,
        |b| b < 0x20 || b == b'"' || b == b'\\',
        |out, b| match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                out.push_str("\\u00");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
        },
    );
}

fn push_xml_escaped(out: &mut String, value: &str) {
    let mut start = 0;
    for (i, c) in value.char_indices() {
        let replacement = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            '\t' | '\n' | '\r' => continue,
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => "\u{FFFD}",
            _ => continue,
        };
        out.push_str(&value[start..i]);
        out.push_str(replacement);
        start = i + c.len_utf8();
    }
    out.push_str(&value[start..]);
}

fn push_form_encoded(out: &mut String, value: &str) {
    push_escaped(
        out,
        value,
        |b| !(b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_')),
        |out, b| {
            if b == b' ' {
                out.push('+');
            } else {
                push_hex_byte(out, '%', b);
            }
        },
    );
}

fn push_percent_encoded(out: &mut String, value: &str) {
    push_escaped(
        out,
        value,
        |b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')),
        |out, b| push_hex_byte(out, '%', b),
    );
}
