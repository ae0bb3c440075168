//! XML response paths: XPath 1.0 through `sxd-xpath` over `sxd-document`.
//!
//! `sxd-xpath` finds some mistakes only while evaluating (an unknown function, a
//! variable, a namespace prefix, a wrong argument count), and only for the parts
//! of the expression it reaches, and it panics on an unbound namespace prefix.
//! `validate` therefore adds a scan for names the engine cannot resolve and a
//! trial evaluation, so that a saved path does not fail later on the first real
//! response. Bodies are refused beyond [`MAX_XML_DEPTH`] levels, because both
//! crates slow down or recurse with depth, and beyond [`MAX_XML_NODES`] nodes,
//! because evaluation time grows with the node count.
//!
//! An expression with predicates can cost a power of the node count
//! (`//*[count(//*[count(//*) > 0]) > 0]`). The engine cannot be interrupted from
//! outside, so every predicate is evaluated through a guard function that checks
//! a [`Cancel`] flag: once the caller gives up, the evaluation stops at the next
//! predicate instead of running to its end.

use std::panic::AssertUnwindSafe;

use sxd_document::dom::Element;
use sxd_document::{Package, XmlChar};
use sxd_xpath::{Context, Factory, Value};

use super::{Cancel, InvalidResponse, ResponseType, line_column};
use crate::budget::MAX_XML_NODES;

/// The functions `sxd-xpath` provides: the XPath 1.0 core library without `id()`
/// and `lang()`.
const FUNCTIONS: &[&str] = &[
    "last",
    "position",
    "count",
    "local-name",
    "namespace-uri",
    "name",
    "string",
    "concat",
    "starts-with",
    "contains",
    "substring-before",
    "substring-after",
    "substring",
    "string-length",
    "normalize-space",
    "translate",
    "boolean",
    "not",
    "true",
    "false",
    "number",
    "sum",
    "floor",
    "ceiling",
    "round",
];

/// Names that may be followed by `(` without being function calls.
const NOT_FUNCTIONS: &[&str] = &[
    "node",
    "text",
    "comment",
    "processing-instruction",
    "and",
    "or",
    "div",
    "mod",
];

/// Checks that `source` is an XPath the engine can evaluate against any document.
pub(super) fn validate(source: &str) -> Result<(), String> {
    // `sxd-xpath` has `expect`s of its own; the checks below avoid the known ones
    // and a panic found later must still not take a request down with it.
    std::panic::catch_unwind(|| validate_unguarded(source))
        .unwrap_or_else(|_| Err("the XPath engine cannot handle this expression".to_owned()))
}

fn validate_unguarded(source: &str) -> Result<(), String> {
    let compiled = Factory::new()
        .build(source)
        .map_err(|e| format!("not a valid XPath 1.0 expression ({e})"))?;
    let Some(compiled) = compiled else {
        return Err("the path is empty".to_owned());
    };
    check_names(source)?;
    // Type errors (`count(1)`, `substring()`) surface on evaluation; an XPath 1.0
    // expression has no data-dependent types, so a tiny document finds them.
    let package = Package::new();
    let document = package.as_document();
    let probe = document.create_element("probe");
    document.root().append_child(probe);
    compiled
        .evaluate(&Context::new(), document.root())
        .map(drop)
        .map_err(|e| format!("cannot be evaluated: {e}"))
}

/// Rejects function names the engine does not know, variables and namespace
/// prefixes (nothing binds them; `sxd-xpath` panics on an unbound prefix). Names
/// are read with the engine's own character classes; literals are skipped.
fn check_names(source: &str) -> Result<(), String> {
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        let after_c = &rest[c.len_utf8()..];
        if c == '\'' || c == '"' {
            // The parser has already refused an unclosed literal.
            rest = after_c.find(c).map_or("", |end| &after_c[end + 1..]);
        } else if c == '$' {
            return Err("variables (`$name`) are not supported: none are defined".to_owned());
        } else if c == ':' {
            // `::` follows an axis name; any other colon belongs to a prefix.
            rest = after_c.strip_prefix(':').ok_or_else(|| prefix_error(""))?;
        } else if c.is_ncname_start_char() {
            let end = rest
                .find(|c: char| !c.is_ncname_char())
                .unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            if rest.starts_with(':') && !rest.starts_with("::") {
                return Err(prefix_error(name));
            }
            if rest.trim_start().starts_with('(')
                && !NOT_FUNCTIONS.contains(&name)
                && !FUNCTIONS.contains(&name)
            {
                return Err(format!(
                    "unknown function `{name}()`; the available functions are {}",
                    FUNCTIONS.join(", ")
                ));
            }
        } else {
            rest = after_c;
        }
    }
    Ok(())
}

fn prefix_error(prefix: &str) -> String {
    format!(
        "namespace prefixes (`{prefix}:`) are not supported; \
         match on the local name instead, e.g. `*[local-name()='Body']`"
    )
}

/// Deepest element nesting accepted in a response. `sxd-document` parses in time
/// quadratic in the depth (100 000 levels take a minute) and some `sxd-xpath`
/// operations recurse once per level (a stack overflow would abort the process),
/// so deeper documents are refused: first by a scan of the text, then for certain
/// on the parsed tree.
pub const MAX_XML_DEPTH: usize = 256;

/// Written before a body that opens with a DOCTYPE: `sxd-document` accepts a
/// DOCTYPE only after an XML declaration, although XML makes the declaration
/// optional.
const DECLARATION: &str = "<?xml version=\"1.0\"?>";

/// Parses a response body as XML. `sxd-document` expands only the predefined
/// entities, so a hostile DOCTYPE cannot make the document grow.
pub(super) fn parse_body(body: &str) -> Result<Package, InvalidResponse> {
    let invalid = |reason: String| InvalidResponse {
        kind: ResponseType::Xml,
        reason,
    };
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    if body.trim().is_empty() {
        return Err(invalid("the body is empty".to_owned()));
    }
    if raw_depth_exceeds(body, MAX_XML_DEPTH) {
        return Err(too_deep());
    }
    let parsed = if body.trim_start().starts_with("<!DOCTYPE") {
        sxd_document::parser::parse(&format!("{DECLARATION}{body}"))
            .map_err(|e| (e.location().saturating_sub(DECLARATION.len()), e))
    } else {
        sxd_document::parser::parse(body).map_err(|e| (e.location(), e))
    };
    let package = parsed.map_err(|(offset, e)| {
        let (line, column) = line_column(body, offset);
        invalid(format!("at line {line}, column {column} ({e})"))
    })?;
    let document = package.as_document();
    let mut elements: Vec<(Element<'_>, usize)> = document
        .root()
        .children()
        .into_iter()
        .filter_map(|child| child.element())
        .map(|element| (element, 1))
        .collect();
    if elements.is_empty() {
        return Err(invalid("there is no root element".to_owned()));
    }
    let mut nodes = document.root().children().len();
    while let Some((element, depth)) = elements.pop() {
        if depth > MAX_XML_DEPTH {
            return Err(too_deep());
        }
        let children = element.children();
        nodes += element.attributes().len() + children.len();
        if nodes > MAX_XML_NODES {
            return Err(invalid(format!(
                "the document has more than {MAX_XML_NODES} nodes (elements, attributes, text and comments); \
                 XPath evaluation time grows with the node count"
            )));
        }
        elements.extend(
            children
                .into_iter()
                .filter_map(|c| c.element())
                .map(|c| (c, depth + 1)),
        );
    }
    Ok(package)
}

fn too_deep() -> InvalidResponse {
    InvalidResponse {
        kind: ResponseType::Xml,
        reason: format!("elements are nested more than {MAX_XML_DEPTH} deep"),
    }
}

/// Whether start tags in raw XML text nest deeper than `limit`. Comments, CDATA,
/// processing instructions and declarations are skipped and quoted attribute
/// values respected, so a well-formed document is measured exactly; malformed
/// text stops the scan and is left to the parser to report.
fn raw_depth_exceeds(text: &str, limit: usize) -> bool {
    let mut depth = 0usize;
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        let skip_to = |end: &str| rest.find(end).map(|i| i + end.len());
        let used = if rest.starts_with("<!--") {
            skip_to("-->")
        } else if rest.starts_with("<![CDATA[") {
            skip_to("]]>")
        } else if rest.starts_with("<?") {
            skip_to("?>")
        } else if rest.starts_with("<!") {
            // A DOCTYPE may hold an internal subset in brackets, with `>` inside.
            match (rest.find('['), rest.find('>')) {
                (Some(open), Some(close)) if open < close => rest
                    .find(']')
                    .and_then(|end| rest[end..].find('>').map(|close| end + close + 1)),
                _ => skip_to(">"),
            }
        } else if rest.starts_with("</") {
            depth = depth.saturating_sub(1);
            skip_to(">")
        } else {
            let end = tag_end(rest);
            if end.is_some_and(|end| !rest[..end].ends_with('/')) {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            end.map(|end| end + 1)
        };
        let Some(used) = used else {
            return false;
        };
        rest = &rest[used..];
    }
    false
}

/// The byte index of the `>` closing the start tag that opens `tag`, skipping
/// quoted attribute values.
fn tag_end(tag: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tag.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// The function every predicate is wrapped in (see [`guarded`]). Not in
/// [`FUNCTIONS`], so a flow cannot call it.
const GUARD: &str = "flowhook-guard";

/// The identity function that stops the evaluation once `Cancel` is set.
struct Guard(Cancel);

impl sxd_xpath::function::Function for Guard {
    fn evaluate<'c, 'd>(
        &self,
        _: &sxd_xpath::context::Evaluation<'c, 'd>,
        mut args: Vec<Value<'d>>,
    ) -> Result<Value<'d>, sxd_xpath::function::Error> {
        if self.0.is_cancelled() {
            return Err(sxd_xpath::function::Error::Other(
                "the evaluation was stopped".to_owned(),
            ));
        }
        match (args.pop(), args.is_empty()) {
            (Some(value), true) => Ok(value),
            _ => Err(sxd_xpath::function::Error::ArgumentMissing),
        }
    }
}

/// `source` with every predicate `[p]` written `[flowhook-guard(p)]`. The guard
/// returns its argument unchanged, so a number still selects by position and
/// anything else is still read as a boolean. In XPath 1.0 `[` and `]` only
/// delimit predicates outside literals, and literals have no escapes.
fn guarded(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 16);
    let mut quote = None;
    for c in source.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '[') => {
                out.push('[');
                out.push_str(GUARD);
                out.push('(');
                continue;
            }
            (None, ']') => out.push(')'),
            _ => {}
        }
        out.push(c);
    }
    out
}

/// Evaluates each validated source (`None` entries are skipped) against the
/// document, with the root node as the context node. An evaluation error, which
/// validation makes unlikely, counts as not found; so does every path once
/// `cancel` is set (the caller has given up on the answer).
pub(super) fn extract_all(
    package: &Package,
    sources: &[Option<&str>],
    cancel: &Cancel,
) -> Vec<Option<String>> {
    let document = package.as_document();
    let factory = Factory::new();
    let mut context = Context::new();
    context.set_function(GUARD, Guard(cancel.clone()));
    sources
        .iter()
        .map(|source| {
            let evaluate = || {
                if cancel.is_cancelled() {
                    return None;
                }
                let compiled = factory.build(&guarded((*source)?)).ok()??;
                let value = compiled.evaluate(&context, document.root()).ok()?;
                storage_form(value)
            };
            // The same guard as in `validate`: an engine panic is "not found".
            std::panic::catch_unwind(AssertUnwindSafe(evaluate))
                .ok()
                .flatten()
        })
        .collect()
}

/// The text stored for an XPath result: the string-value of the first node in
/// document order, a string as is, a number as JSON number text, a boolean as
/// `true`/`false`. An empty node-set and a non-finite number are not found.
fn storage_form(value: Value<'_>) -> Option<String> {
    match value {
        Value::Nodeset(nodes) => nodes.document_order_first().map(|n| n.string_value()),
        Value::String(s) => Some(s),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Number(n) => number_text(n),
    }
}

/// A finite number as JSON number text: integers without a fraction (`3`, not
/// `3.0`), others in their shortest round-trip form.
fn number_text(n: f64) -> Option<String> {
    /// Largest magnitude below which every integer is exact in an `f64`.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if !n.is_finite() {
        return None;
    }
    if n.fract() == 0.0 && n.abs() < EXACT {
        // Exact by the bound above; `as` cannot truncate here. `-0` becomes `0`.
        return Some((n as i64).to_string());
    }
    serde_json::Number::from_f64(n).map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::{Cancel, ResponsePath, ResponseType, extract_all_until};
    use super::{MAX_XML_DEPTH, MAX_XML_NODES, guarded, number_text, raw_depth_exceeds};

    const BODY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<order id="o-17" paid="true">
  <status>shipped</status>
  <customer><name>Ada &amp; Co</name><email/></customer>
  <items>
    <item id="i1" qty="2"><price>3.50</price><sku>A</sku></item>
    <item id="i2" qty="1"><price>10</price><sku>B</sku></item>
    <item id="i3" qty="4"><price>0.25</price><sku>C</sku></item>
  </items>
  <note><![CDATA[<not markup>]]></note>
  <mixed>one <b>two</b> three</mixed>
</order>"#;

    fn extract(source: &str) -> Option<String> {
        let path = ResponsePath::parse(ResponseType::Xml, source);
        let path = path.unwrap_or_else(|e| panic!("{source}: {e}"));
        path.extract(BODY)
            .unwrap_or_else(|e| panic!("{source}: {e}"))
    }

    #[test]
    fn extracts_values_in_their_storage_form() {
        let cases: &[(&str, Option<&str>)] = &[
            // Elements, nested, by position and by predicate.
            ("/order/status", Some("shipped")),
            ("/order/customer/name", Some("Ada & Co")),
            ("//item[2]/sku", Some("B")),
            ("/order/items/item[last()]/price", Some("0.25")),
            ("//item[@id='i3']/sku", Some("C")),
            ("//item[price > 5]/@id", Some("i2")),
            ("/order/note", Some("<not markup>")),
            ("/order/mixed", Some("one two three")),
            ("/order/customer/email", Some("")),
            // Attributes.
            ("/order/@id", Some("o-17")),
            ("//item[1]/@id", Some("i1")),
            ("/order/items/item/@qty", Some("2")),
            ("//@paid", Some("true")),
            // A node-set gives its first node in document order.
            ("//sku", Some("A")),
            ("//item/@id | /order/@id", Some("o-17")),
            ("/order/customer", Some("Ada & Co")),
            // Strings, numbers and booleans.
            ("string(/order/status)", Some("shipped")),
            ("concat(//item[1]/sku, '-', //item[1]/@qty)", Some("A-2")),
            ("string(/order/missing)", Some("")),
            ("normalize-space(' a  b ')", Some("a b")),
            ("count(//item)", Some("3")),
            ("count(//missing)", Some("0")),
            ("sum(//item/@qty)", Some("7")),
            ("sum(//price)", Some("13.75")),
            ("number(//item[1]/price)", Some("3.5")),
            ("-1 * 0", Some("0")),
            ("1 div 3", Some("0.3333333333333333")),
            ("1 div 0", None),
            ("number('abc')", None),
            ("count(//item) > 2", Some("true")),
            ("boolean(//missing)", Some("false")),
            ("not(/order/@paid = 'true')", Some("false")),
            // Missing paths.
            ("/order/missing", None),
            ("//item[9]/@id", None),
            ("/order/@nope", None),
            ("/wrong/status", None),
        ];
        for (source, want) in cases {
            assert_eq!(extract(source).as_deref(), *want, "{source}");
        }
    }

    #[test]
    fn numbers_are_json_number_text() {
        let cases = [
            (3.0, Some("3")),
            (-0.0, Some("0")),
            (-42.0, Some("-42")),
            (3.5, Some("3.5")),
            (1e21, Some("1e+21")),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ];
        for (n, want) in cases {
            assert_eq!(number_text(n).as_deref(), want, "{n}");
        }
    }

    #[test]
    fn invalid_paths_are_refused_with_a_reason() {
        let cases = [
            ("/order/", "not a valid XPath"),
            ("//item[", "not a valid XPath"),
            ("//item[]", "not a valid XPath"),
            ("/order/status]", "not a valid XPath"),
            ("count(", "not a valid XPath"),
            ("'unclosed", "not a valid XPath"),
            ("foo(/a)", "unknown function `foo()`"),
            (
                "//item[upper-case(sku) = 'A']",
                "unknown function `upper-case()`",
            ),
            ("id('x')", "unknown function `id()`"),
            ("$total", "variables"),
            ("//item[@id = $id]", "variables"),
            ("/soap:Envelope/soap:Body", "namespace prefixes (`soap:`)"),
            ("//@xml:lang", "namespace prefixes (`xml:`)"),
            ("//p:*", "namespace prefixes (`p:`)"),
            ("/a/b :c", "not a valid XPath"),
            ("\u{110be}:\u{b3c}", "namespace prefixes"),
            ("count(1)", "cannot be evaluated"),
            ("substring()", "cannot be evaluated"),
            ("string(1, 2)", "cannot be evaluated"),
        ];
        for (source, fragment) in cases {
            match ResponsePath::parse(ResponseType::Xml, source) {
                Ok(path) => panic!("{source} parsed as {path:?}"),
                Err(e) => assert!(e.reason.contains(fragment), "{source}: {e}"),
            }
        }
    }

    #[test]
    fn names_inside_literals_and_axes_are_not_checked() {
        for source in [
            "//item[sku = 'foo(']",
            "//item[sku = \"$x\"]",
            "//item[sku = 'a:b']",
            "/child::order/descendant::item[1]/attribute::id",
            "//text()",
            "//item[1]/node()",
            "count(//item)-1",
            "//item[(1) and (2)]",
            "//item[position() mod 2 = 1]",
        ] {
            assert!(
                ResponsePath::parse(ResponseType::Xml, source).is_ok(),
                "{source}"
            );
        }
    }

    #[test]
    fn invalid_xml_bodies_are_invalid_responses() {
        let Ok(path) = ResponsePath::parse(ResponseType::Xml, "/a") else {
            panic!("path should parse");
        };
        for body in [
            "",
            "  \n",
            "<a>",
            "<a></b>",
            "{\"a\": 1}",
            "<a x='1' x='2'/>",
            "<a>&custom;</a>",
            "<a/><b/>",
            "<?xml version='1.0'?>",
            "<p:a/>",
        ] {
            match path.extract(body) {
                Ok(v) => panic!("{body:?} gave {v:?}"),
                Err(e) => {
                    assert_eq!(e.kind, ResponseType::Xml);
                    assert!(!e.reason.is_empty());
                }
            }
        }
        let reason = path.extract("<a>\n  <b></c>\n</a>").err().map(|e| e.reason);
        assert!(
            reason
                .as_deref()
                .is_some_and(|r| r.starts_with("at line 2, column ")),
            "{reason:?}"
        );
    }

    #[test]
    fn documents_with_a_prolog_or_a_default_namespace_parse() {
        let paths = ["/a/b", "/*[local-name()='a']/*[local-name()='b']"];
        let paths: Vec<_> = paths
            .iter()
            .filter_map(|p| ResponsePath::parse(ResponseType::Xml, p).ok())
            .collect();
        let one = Ok(Some("1".to_owned()));
        for body in [
            "\u{feff}<a><b>1</b></a>",
            "<!DOCTYPE a><a><b>1</b></a>",
            "\n  <!DOCTYPE a SYSTEM 'a.dtd'>\n<a><b>1</b></a>",
            "<?xml version='1.0'?><!DOCTYPE a [ <!ELEMENT a ANY> ] ><a><b>1</b></a>",
            "<!-- hello --><?pi x?><a><b>1</b></a>\n",
        ] {
            for path in &paths {
                assert_eq!(path.extract(body), one, "{path} {body:?}");
            }
        }
        // XPath 1.0: an unprefixed name matches only elements in no namespace.
        let with_namespace = "<a xmlns='urn:x'><b>1</b></a>";
        assert_eq!(paths[0].extract(with_namespace), Ok(None));
        assert_eq!(paths[1].extract(with_namespace), one);
        // Errors after a prepended declaration still point into the body.
        let reason = paths[0]
            .extract("<!DOCTYPE a>\n<a></b>")
            .err()
            .map(|e| e.reason);
        assert!(
            reason
                .as_deref()
                .is_some_and(|r| r.starts_with("at line 2, column ")),
            "{reason:?}"
        );
    }

    #[test]
    fn nesting_is_limited_before_parsing() {
        let nested = |depth: usize, inner: &str| {
            format!("{}{inner}{}", "<a>".repeat(depth), "</a>".repeat(depth))
        };
        let Ok(path) = ResponsePath::parse(ResponseType::Xml, "/") else {
            panic!("path should parse");
        };
        let at_limit = nested(MAX_XML_DEPTH, "x");
        assert_eq!(path.extract(&at_limit), Ok(Some("x".to_owned())));
        let too_deep = nested(MAX_XML_DEPTH + 1, "x");
        let reason = path.extract(&too_deep).err().map(|e| e.reason);
        assert_eq!(
            reason.as_deref(),
            Some("elements are nested more than 256 deep")
        );
        // A body far too deep is refused by the scan, before the slow parser runs.
        assert!(raw_depth_exceeds(&nested(100_000, ""), MAX_XML_DEPTH));
        let cases = [
            (nested(3, "<b/><c x='/>'/>"), 3),
            (nested(3, "<b x=\"a>b\" y='\"'>t</b>"), 4),
            (
                nested(2, "<!-- <c><c><c> --><![CDATA[<c><c>]]><?p <c> ?>"),
                2,
            ),
            (
                format!("<!DOCTYPE a [<!ENTITY e '<c>'>]>{}", nested(2, "")),
                2,
            ),
            (format!("<!DOCTYPE a>{}", nested(2, "")), 2),
        ];
        for (body, depth) in cases {
            assert!(!raw_depth_exceeds(&body, depth), "{body}");
            assert!(raw_depth_exceeds(&body, depth - 1), "{body}");
        }
    }

    #[test]
    fn predicates_are_guarded_outside_literals() {
        let cases = [
            ("/a/b", "/a/b"),
            ("//item[1]", "//item[flowhook-guard(1)]"),
            (
                "//a[b[@c='[x]']][2]",
                "//a[flowhook-guard(b[flowhook-guard(@c='[x]')])][flowhook-guard(2)]",
            ),
            ("//a[. = \"]\"]", "//a[flowhook-guard(. = \"]\")]"),
        ];
        for (source, want) in cases {
            assert_eq!(guarded(source), want, "{source}");
        }
        // Guarded predicates select exactly what the plain ones do.
        for (source, want) in [
            ("//item[2]/sku", Some("B")),
            ("//item[last()]/@id", Some("i3")),
            ("//item[price > 5][1]/@id", Some("i2")),
            ("//item[sku = 'C' or @qty = 2][2]/@id", Some("i3")),
            ("count(//item[position() mod 2 = 1])", Some("2")),
        ] {
            assert_eq!(extract(source).as_deref(), want, "{source}");
        }
    }

    #[test]
    fn a_cancelled_evaluation_finds_nothing() {
        let Ok(path) = ResponsePath::parse(ResponseType::Xml, "//item[1]/@id") else {
            panic!("path should parse");
        };
        let cancel = Cancel::default();
        cancel.cancel();
        let got = extract_all_until(ResponseType::Xml, BODY, &[&path], &cancel);
        assert_eq!(got, Ok(vec![None]));
    }

    #[test]
    fn a_pathological_predicate_stops_when_cancelled() {
        // Cubic in the node count: minutes to run to its end on this document.
        let body = format!("<r>{}</r>", "<a><b/></a>".repeat(3_000));
        let Ok(path) = ResponsePath::parse(
            ResponseType::Xml,
            "count(//*[count(//*[count(//*) > 0]) > 0])",
        ) else {
            panic!("path should parse");
        };
        let cancel = Cancel::default();
        let stopper = cancel.clone();
        let started = std::time::Instant::now();
        let timer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            stopper.cancel();
        });
        let got = extract_all_until(ResponseType::Xml, &body, &[&path], &cancel);
        let _ = timer.join();
        assert_eq!(got, Ok(vec![None]));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "stopped {:?} after starting",
            started.elapsed()
        );
    }

    #[test]
    fn documents_with_too_many_nodes_are_refused() {
        let Ok(path) = ResponsePath::parse(ResponseType::Xml, "count(//b)") else {
            panic!("path should parse");
        };
        // Each `<b x='1'>t</b>` is three nodes: element, attribute, text.
        let within = format!("<a>{}</a>", "<b x='1'>t</b>".repeat(MAX_XML_NODES / 3 - 1));
        assert!(path.extract(&within).is_ok());
        let over = format!("<a>{}</a>", "<b x='1'>t</b>".repeat(MAX_XML_NODES / 3 + 1));
        let reason = path
            .extract(&over)
            .err()
            .map(|e| e.reason)
            .unwrap_or_default();
        assert!(
            reason.contains(&format!("more than {MAX_XML_NODES} nodes")),
            "{reason}"
        );
    }
}
