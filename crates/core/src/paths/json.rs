//! JSON response paths: RFC 9535 JSONPath through `serde_json_path`, plus the
//! dotted form of online path finders (`data.items[0].id`, `x.a.b`), which is
//! rewritten segment by segment into JSONPath so only one engine ever evaluates.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::{InvalidResponse, ResponseType};

const FORMS: &str = "a JSON path is either an RFC 9535 JSONPath starting with `$` \
    (`$.items[0].id`) or the dotted form rooted at `data` or `x` (`data.items[0].id`)";

/// Compiles `source` (trimmed, non-empty), returning the query and the JSONPath
/// text it was compiled from.
pub(super) fn compile(source: &str) -> Result<(JsonPath, String), String> {
    let normalized = if source.starts_with('$') {
        source.to_owned()
    } else {
        dotted_to_jsonpath(source)?
    };
    match JsonPath::parse(&normalized) {
        Ok(query) => Ok((query, normalized)),
        Err(e) if normalized == source => {
            Err(format!("at position {}: {}", e.position(), e.message()))
        }
        Err(e) => Err(format!(
            "as the JSONPath `{normalized}`, at position {}: {}",
            e.position(),
            e.message()
        )),
    }
}

/// Rewrites the dotted form into JSONPath: `data`/`x` becomes `$`, `.name` stays
/// when it is valid shorthand and becomes `['name']` otherwise, `[0]`, `[-1]`,
/// `[*]` and quoted `['name']` pass through.
fn dotted_to_jsonpath(source: &str) -> Result<String, String> {
    let root = ["data", "x"].into_iter().find(|root| {
        source
            .strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    });
    let Some(root) = root else {
        return Err(FORMS.to_owned());
    };
    let position = |rest: &str| source[..source.len() - rest.len()].chars().count() + 1;
    let mut out = String::from("$");
    let mut rest = &source[root.len()..];
    while !rest.is_empty() {
        if let Some(after_dot) = rest.strip_prefix('.') {
            let end = after_dot.find(['.', '[']).unwrap_or(after_dot.len());
            let name = &after_dot[..end];
            if name.is_empty() {
                return Err(format!(
                    "expected a name after `.` at position {}",
                    position(rest)
                ));
            }
            if name == "*" || is_shorthand(name) {
                out.push('.');
                out.push_str(name);
            } else {
                push_quoted(&mut out, name);
            }
            rest = &after_dot[end..];
        } else if let Some(after_bracket) = rest.strip_prefix('[') {
            let consumed = bracket_segment(after_bracket, &mut out)
                .ok_or_else(|| format!(
                    "at position {}: `[` must hold an index (`[0]`), `*` or a quoted name (`['a-b']`) and be closed with `]`",
                    position(rest)
                ))?;
            rest = &after_bracket[consumed..];
        } else {
            return Err(format!(
                "expected `.` or `[` at position {}",
                position(rest)
            ));
        }
    }
    Ok(out)
}

/// Is the JSONPath `normalized` made only of child segments — `.name`, `.*`,
/// `[0]`, `[*]`, `['name']`? Such a query costs no more than one walk down the
/// document: no descendant segment (`..`), filter or slice, whose cost can
/// grow with the document's size times itself.
pub(super) fn is_direct(normalized: &str) -> bool {
    let Some(mut rest) = normalized.strip_prefix('$') else {
        return false;
    };
    while !rest.is_empty() {
        if let Some(after_dot) = rest.strip_prefix('.') {
            let end = after_dot.find(['.', '[']).unwrap_or(after_dot.len());
            let name = &after_dot[..end];
            if !(name == "*" || is_shorthand(name)) {
                return false;
            }
            rest = &after_dot[end..];
        } else if let Some(after_bracket) = rest.strip_prefix('[') {
            // The segments the dotted form accepts in brackets: an index, `*`
            // or a quoted name.
            let Some(used) = bracket_segment(after_bracket, &mut String::new()) else {
                return false;
            };
            rest = &after_bracket[used..];
        } else {
            return false;
        }
    }
    true
}

/// Appends the JSONPath form of one bracketed segment (the text after `[`) and
/// returns how many bytes it used, including the closing `]`.
fn bracket_segment(text: &str, out: &mut String) -> Option<usize> {
    let inner_start = text.len() - text.trim_start().len();
    let inner = &text[inner_start..];
    let (piece, used) = match inner.chars().next()? {
        quote @ ('\'' | '"') => {
            let literal_len = quoted_literal_len(inner, quote)?;
            (inner[..literal_len].to_owned(), literal_len)
        }
        _ => {
            let end = inner.find(']')?;
            let content = inner[..end].trim_end();
            let piece = if content == "*" {
                "*".to_owned()
            } else {
                content.parse::<i64>().ok()?.to_string()
            };
            (piece, content.len())
        }
    };
    let after = &inner[used..];
    let close = after.len() - after.trim_start().len();
    if !after[close..].starts_with(']') {
        return None;
    }
    out.push('[');
    out.push_str(&piece);
    out.push(']');
    Some(inner_start + used + close + 1)
}

/// The byte length of the string literal opening `text` (quotes included), if it
/// is closed. Escapes are left for the JSONPath parser to judge.
fn quoted_literal_len(text: &str, quote: char) -> Option<usize> {
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == quote {
            return Some(i + c.len_utf8());
        }
    }
    None
}

/// RFC 9535 member-name shorthand, kept to ASCII so the output never depends on
/// how an engine reads the non-ASCII part of the grammar.
fn is_shorthand(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Appends `['name']` with the escapes of an RFC 9535 single-quoted literal.
fn push_quoted(out: &mut String, name: &str) {
    out.push_str("['");
    for c in name.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push_str("']");
}

/// Parses a response body as JSON.
pub(super) fn parse_body(body: &str) -> Result<Value, InvalidResponse> {
    serde_json::from_str(body).map_err(|e| InvalidResponse {
        kind: ResponseType::Json,
        reason: if body.trim().is_empty() {
            "the body is empty".to_owned()
        } else {
            e.to_string()
        },
    })
}

/// Evaluates one query: no match is `None`, one match its storage form, several
/// matches a compact JSON array of them.
pub(super) fn extract(query: &JsonPath, value: &Value) -> Option<String> {
    let mut nodes = query.query(value).all();
    match nodes.len() {
        0 => None,
        1 => nodes.pop().map(storage_form),
        _ => Some(Value::Array(nodes.into_iter().cloned().collect()).to_string()),
    }
}

/// The text stored for one value: strings unquoted, everything else as compact JSON.
fn storage_form(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ResponsePath, ResponseType};

    const BODY: &str = r#"{
        "data": {"items": [{"id": 7, "name": "first"}, {"id": 8, "name": "second"}]},
        "items": [{"id": "a1", "price": 3.5}, {"id": "a2", "price": 12}],
        "order-id": "X-1",
        "first name": "Ada",
        "it's": "quoted",
        "a": {"b": {"c": "deep"}},
        "flags": {"ok": true, "off": false},
        "nothing": null,
        "empty": "",
        "obj": {"k": 1, "l": [1, 2]},
        "list": [1, "two", null],
        "big": 123456789012345678901234,
        "neg": -4
    }"#;

    fn extract(source: &str) -> Option<String> {
        let path = ResponsePath::parse(ResponseType::Json, source);
        let path = path.unwrap_or_else(|e| panic!("{source}: {e}"));
        path.extract(BODY)
            .unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    #[test]
    fn extracts_values_in_their_storage_form() {
        let cases: &[(&str, Option<&str>)] = &[
            // RFC 9535 paths, nested and indexed.
            ("$.data.items[0].id", Some("7")),
            ("$.a.b.c", Some("deep")),
            ("$['a']['b']['c']", Some("deep")),
            ("$.items[1].id", Some("a2")),
            ("$.items[-1].price", Some("12")),
            ("$.items[0].price", Some("3.5")),
            // Both dotted roots mean `$`.
            ("data.items[0].id", Some("a1")),
            ("x.items[0].id", Some("a1")),
            ("x.a.b.c", Some("deep")),
            ("data.data.items[1].name", Some("second")),
            // Names that are not shorthand, written dotted or quoted.
            ("data.order-id", Some("X-1")),
            ("x.first name", Some("Ada")),
            ("x.it's", Some("quoted")),
            ("x['order-id']", Some("X-1")),
            ("x[\"first name\"]", Some("Ada")),
            ("data[ 'a' ].b[\"c\"]", Some("deep")),
            ("$['order-id']", Some("X-1")),
            // Every value kind.
            ("$.flags.ok", Some("true")),
            ("$.flags.off", Some("false")),
            ("$.nothing", Some("null")),
            ("$.empty", Some("")),
            ("$.neg", Some("-4")),
            ("$.big", Some("1.2345678901234567e+23")),
            ("$.obj", Some(r#"{"k":1,"l":[1,2]}"#)),
            ("$.obj.l", Some("[1,2]")),
            ("$.list", Some(r#"[1,"two",null]"#)),
            // Several matches become an array; one match is the value itself.
            ("$.items[*].id", Some(r#"["a1","a2"]"#)),
            ("x.items[*].id", Some(r#"["a1","a2"]"#)),
            ("$..c", Some("deep")),
            ("$.data..id", Some("[7,8]")),
            ("$.items[?@.price > 5].id", Some("a2")),
            ("$.items[?@.id == 'a1'].price", Some("3.5")),
            ("$.items[?@.price > 1].id", Some(r#"["a1","a2"]"#)),
            ("$.list[?@ == null]", Some("null")),
            ("x.obj.*", Some("[1,[1,2]]")),
            // Roots alone select the whole body.
            ("$.a", Some(r#"{"b":{"c":"deep"}}"#)),
            ("x.a", Some(r#"{"b":{"c":"deep"}}"#)),
            // Missing paths.
            ("$.missing", None),
            ("$.items[5].id", None),
            ("data.a.b.missing", None),
            ("$.items[?@.price > 100]", None),
            ("$.empty.deeper", None),
        ];
        for (source, want) in cases {
            assert_eq!(extract(source).as_deref(), *want, "{source}");
        }
    }

    #[test]
    fn bare_roots_select_the_document() {
        let body = r#"{"a":[1,2]}"#;
        for source in ["$", "data", "x"] {
            let path = ResponsePath::parse(ResponseType::Json, source);
            let got = path.ok().map(|p| p.extract(body));
            assert_eq!(got, Some(Ok(Some(body.to_owned()))), "{source}");
        }
        let scalar = ResponsePath::parse(ResponseType::Json, "x").ok();
        let got = scalar.map(|p| p.extract(r#""just text""#));
        assert_eq!(got, Some(Ok(Some("just text".to_owned()))));
    }

    #[test]
    fn dotted_paths_are_rewritten_to_jsonpath() {
        let cases = [
            ("data", "$"),
            ("x", "$"),
            ("data.items[0].id", "$.items[0].id"),
            ("x.a.b", "$.a.b"),
            ("x.a-b.c d", "$['a-b']['c d']"),
            ("x.it's\\", r"$['it\'s\\']"),
            ("x.1st", "$['1st']"),
            ("x.é", "$['é']"),
            ("x.a[*].b", "$.a[*].b"),
            ("x.*", "$.*"),
            ("x[ -1 ]", "$[-1]"),
            ("x['a\\'b']", r"$['a\'b']"),
            ("x[\"a\"][0]", "$[\"a\"][0]"),
            ("$.left.alone", "$.left.alone"),
        ];
        for (source, want) in cases {
            let path = ResponsePath::parse(ResponseType::Json, source);
            let got = path.as_ref().map(ResponsePath::normalized);
            assert_eq!(got, Ok(want), "{source}");
        }
    }

    #[test]
    fn invalid_paths_are_refused_with_a_reason() {
        let cases = [
            ("items[0]", "starting with `$`"),
            ("$items", "position"),
            ("data2.a", "starting with `$`"),
            ("xa", "starting with `$`"),
            ("a.b", "dotted form"),
            ("data.", "expected a name after `.` at position 5"),
            ("x..a", "expected a name after `.` at position 2"),
            ("x.a[", "at position 4"),
            ("x.a[0", "at position 4"),
            ("x.a[b]", "quoted name"),
            ("x.a[1:2]", "index"),
            ("x.a['b]", "closed"),
            ("x[0]b", "expected `.` or `[` at position 5"),
            ("x['\\q']", "as the JSONPath `$['\\q']`"),
            ("x[99999999999999999999]", "index"),
            ("$.a[", "position"),
            ("$[?@.a ==]", "position"),
            ("$.a.b[?length(@) ]", "position"),
            ("$.a b", "position"),
        ];
        for (source, fragment) in cases {
            match ResponsePath::parse(ResponseType::Json, source) {
                Ok(path) => panic!("{source} parsed as {path:?}"),
                Err(e) => assert!(e.reason.contains(fragment), "{source}: {e}"),
            }
        }
    }

    #[test]
    fn direct_paths_are_child_segments_only() {
        let direct = |source: &str| {
            ResponsePath::parse(ResponseType::Json, source)
                .expect("valid")
                .is_direct()
        };
        for source in [
            "$",
            "$.data.id",
            "$.items[0].id",
            "$.items[-1]",
            "$['order-id']",
            "$[\"a]b\"][ 2 ]",
            "$.items[*].id",
            "$.*",
            "data.items[0].id",
            "x.a-b",
        ] {
            assert!(direct(source), "{source} is direct");
        }
        for source in [
            "$..id",
            "$.items[?@.price > 5].id",
            "$.items[0:2]",
            "$.items[0,1]",
            "$[?@..a]",
            "$.items[?count(@..*) > 1]",
        ] {
            assert!(!direct(source), "{source} is not direct");
        }
        let xml = ResponsePath::parse(ResponseType::Xml, "/a/b").expect("valid");
        assert!(!xml.is_direct());
    }

    #[test]
    fn invalid_json_bodies_are_invalid_responses() {
        let Ok(path) = ResponsePath::parse(ResponseType::Json, "$.a") else {
            panic!("path should parse");
        };
        for body in [
            "",
            "  ",
            "{",
            "<a>1</a>",
            "{\"a\":1,}",
            "{\"a\":1} trailing",
        ] {
            match path.extract(body) {
                Ok(v) => panic!("{body:?} gave {v:?}"),
                Err(e) => {
                    assert_eq!(e.kind, ResponseType::Json);
                    assert!(!e.reason.is_empty());
                }
            }
        }
        let reason = path
            .extract("{\n  \"a\": tru}")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            reason.as_deref(),
            Some("the response is not valid JSON: expected ident at line 2 column 11")
        );
    }
}
