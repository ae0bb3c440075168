//! Table-driven and property tests for parsing and rendering templates.

use proptest::prelude::*;

use super::*;
use crate::vars::{Lookup, Variables};

fn var(text: &str) -> VarName {
    VarName::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn vars_of(pairs: &[(&str, &str)]) -> Variables {
    pairs
        .iter()
        .map(|(k, v)| (var(k), (*v).to_owned()))
        .collect()
}

/// Renders with every variable resolved to its own canonical name in brackets,
/// which shows exactly where the tokens were cut.
struct Echo;
impl Lookup for Echo {
    fn get(&self, var: &VarName) -> Option<std::borrow::Cow<'_, str>> {
        Some(format!("[{var}]").into())
    }
}

#[test]
fn parses_valid_templates() {
    let cases: &[(&str, &str)] = &[
        ("", ""),
        ("plain text", "plain text"),
        ("$flow.key.orderId", "[$flow.key.orderId]"),
        ("id=$flow.key.order_Id9!", "id=[$flow.key.order_Id9]!"),
        (
            "$flow.syskey.flowID/$user.key.lang",
            "[$flow.syskey.flowID]/[$user.key.lang]",
        ),
        ("$user.syskey.contactNumber", "[$user.syskey.contactNumber]"),
        ("$call.cli.number.", "[$call.cli.number]."),
        // `$call.cli` is another name of `$call.cli.number` (SPEC §2).
        ("$call.cli", "[$call.cli.number]"),
        ("$call.cli.", "[$call.cli.number]."),
        ("to $call.cli!", "to [$call.cli.number]!"),
        ("${call.cli}", "[$call.cli.number]"),
        ("$call.agent.dnis.number", "[$call.agent.dnis.number]"),
        ("$call.start-$call.hangup", "[$call.start]-[$call.hangup]"),
        ("at $sys.datetime.", "at [$sys.datetime]."),
        ("${flow.key.any name}", "[$flow.key.any name]"),
        ("${call.foo}", "[$call.foo]"),
        ("a$${flow.key.x}", "a${flow.key.x}"),
        ("$$flow.key.x", "$flow.key.x"),
        ("$5.00 and $ and $", "$5.00 and $ and $"),
        ("$${", "${"),
        ("$.{x}", "$.{x}"),
        ("ünï $flow.key.a ü", "ünï [$flow.key.a] ü"),
    ];
    for (source, want) in cases {
        let template = Template::parse(source).unwrap_or_else(|e| panic!("{source:?}: {e}"));
        assert_eq!(template.source(), *source);
        let rendered = template
            .render(&Echo, Context::Plain)
            .expect("plain never fails");
        assert_eq!(rendered.text, *want, "{source:?}");
    }
}

#[test]
fn rejects_invalid_templates_with_positions() {
    let cases: &[(&str, usize, &str)] = &[
        ("https://x.com/${flow.key.a", 14, "unclosed \"${\""),
        ("$flwo.key.x", 0, "\"$flwo.key.x\" is not a known variable"),
        ("cost: $USD", 6, "write \"$$\" for a literal"),
        ("$flow.keys.x", 0, "not a known variable"),
        ("$flow.key", 0, "not a known variable"),
        (
            "ab $flow.key.",
            3,
            "empty variable name after \"$flow.key.\"",
        ),
        ("é$flow.key.-", 1, "empty variable name"),
        (
            "$call.foo",
            0,
            "unknown call variable \"$call.foo\"; known: $call.cli.number",
        ),
        ("$call.cli.numbers", 0, "unknown call variable"),
        (
            "$call.cli.numbr",
            0,
            "unknown call variable \"$call.cli.numbr\"",
        ),
        ("$call.clis", 0, "unknown call variable"),
        ("$call.", 0, "unknown call variable"),
        ("$sys.time", 0, "unknown system variable \"$sys.time\""),
        (
            "x ${flows.key.a}",
            2,
            "unknown variable namespace in \"${flows.key.a}\"",
        ),
        ("${flow.key.}", 0, "empty"),
        ("${flow.key.a\tb}", 0, "control characters"),
        ("${sys.foo}", 0, "unknown system variable"),
    ];
    for (source, position, message) in cases {
        let err = Template::parse(source).expect_err(source);
        assert_eq!(err.position, *position, "{source:?}: {err}");
        assert!(err.message.contains(message), "{source:?}: {err}");
    }
}

#[test]
fn lists_vars_in_order() {
    let template = Template::parse("$flow.key.a ${user.key.b c} $flow.key.a").expect("valid");
    let got: Vec<String> = template.vars().map(ToString::to_string).collect();
    assert_eq!(got, ["$flow.key.a", "$user.key.b c", "$flow.key.a"]);
    assert_eq!(template.as_literal(), None);
    assert_eq!(
        Template::parse("a$$b").expect("valid").as_literal(),
        Some("a$b")
    );
}

/// A value that exercises every escaping rule at once.
const NASTY: &str = "a\"b<c&d/e\nf";

#[test]
fn escapes_values_for_each_context() {
    let vars = vars_of(&[
        ("$flow.key.v", NASTY),
        ("$flow.key.host", "api.example.com:8443"),
    ]);
    let cases: &[(&str, Context, Result<&str, &str>)] = &[
        ("<$flow.key.v>", Context::Plain, Ok("<a\"b<c&d/e\nf>")),
        (
            r#"{"v":"$flow.key.v"}"#,
            Context::JsonString,
            Ok(r#"{"v":"a\"b<c&d/e\nf"}"#),
        ),
        (
            "<v a='$flow.key.v'/>",
            Context::Xml,
            Ok("<v a='a&quot;b&lt;c&amp;d/e\nf'/>"),
        ),
        (
            "v=$flow.key.v&w=1",
            Context::Form,
            Ok("v=a%22b%3Cc%26d%2Fe%0Af&w=1"),
        ),
        ("Bearer $flow.key.v", Context::Header, Err("$flow.key.v")),
        (
            "Bearer $flow.key.host",
            Context::Header,
            Ok("Bearer api.example.com:8443"),
        ),
        (
            "https://$flow.key.host/o/$flow.key.v?q=$flow.key.v#$flow.key.v",
            Context::Url,
            Ok(
                "https://api.example.com:8443/o/a%22b%3Cc%26d%2Fe%0Af?q=a%22b%3Cc%26d%2Fe%0Af#a%22b%3Cc%26d%2Fe%0Af",
            ),
        ),
        ("https://$flow.key.v/x", Context::Url, Err("$flow.key.v")),
        ("$flow.key.v", Context::Url, Err("$flow.key.v")),
        ("http://h:$flow.key.v", Context::Url, Err("$flow.key.v")),
        (
            "/relative/$flow.key.v",
            Context::Url,
            Ok("/relative/a%22b%3Cc%26d%2Fe%0Af"),
        ),
        ("h?$flow.key.v", Context::Url, Ok("h?a%22b%3Cc%26d%2Fe%0Af")),
    ];
    for (source, context, want) in cases {
        let template = Template::parse(source).expect("valid");
        let got = template.render(&vars, *context);
        match (want, got) {
            (Ok(want), Ok(rendered)) => {
                assert_eq!(rendered.text, *want, "{source:?} in {context:?}");
                assert!(rendered.missing.is_empty());
            }
            (Err(name), Err(err)) => {
                let (RenderError::HeaderInjection { var }
                | RenderError::UnsafeUrlValue { var }
                | RenderError::UnsafeJsonValue { var }) = err
                else {
                    panic!("{source:?} in {context:?}: {err}");
                };
                assert_eq!(var.to_string(), *name, "{source:?} in {context:?}");
            }
            (want, got) => panic!("{source:?} in {context:?}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn rendering_is_capped_at_the_template_output_limit() {
    use crate::budget::{Exceeded, MAX_RENDERED_BYTES};
    let quarter = "x".repeat(MAX_RENDERED_BYTES / 4);
    let vars = vars_of(&[("$flow.key.q", &quarter)]);
    let four = Template::parse("$flow.key.q$flow.key.q$flow.key.q$flow.key.q").expect("valid");
    let rendered = four
        .render(&vars, Context::Plain)
        .expect("exactly at the limit");
    assert_eq!(rendered.text.len(), MAX_RENDERED_BYTES);
    for context in Context::ALL {
        // A literal byte more than the limit, where each context accepts it.
        let source = match context {
            Context::JsonString => "\"$flow.key.q$flow.key.q$flow.key.q$flow.key.q\"",
            Context::Url => "https://h/$flow.key.q$flow.key.q$flow.key.q$flow.key.q",
            _ => "$flow.key.q$flow.key.q$flow.key.q$flow.key.q!",
        };
        let over = Template::parse(source).expect("valid");
        assert_eq!(
            over.render(&vars, context),
            Err(RenderError::Budget(Exceeded::RenderedTemplate)),
            "{context:?}"
        );
    }
    // Escaping counts: within the limit as raw text, over it once encoded.
    let accents = "é".repeat(MAX_RENDERED_BYTES / 4);
    let vars_accents = vars_of(&[("$flow.key.q", &accents)]);
    let url = Template::parse("https://h/$flow.key.q").expect("valid");
    assert_eq!(
        url.render(&vars_accents, Context::Url),
        Err(RenderError::Budget(Exceeded::RenderedTemplate)),
        "é is 6 bytes percent-encoded"
    );
    // The limit is per template: a shared buffer with earlier output is fine.
    let mut out = "y".repeat(MAX_RENDERED_BYTES);
    let mut missing = Vec::new();
    four.render_into(&vars, Context::Plain, &mut out, &mut missing)
        .expect("its own output is within the limit");
    assert_eq!(out.len(), 2 * MAX_RENDERED_BYTES);
}

#[test]
fn escapes_special_cases() {
    let cases: &[(&str, Context, &str)] = &[
        ("\\ \t \u{1} é", Context::JsonString, "\\\\ \\t \\u0001 é"),
        ("'\u{1}\u{FFFF}é", Context::Xml, "&apos;\u{FFFD}\u{FFFD}é"),
        ("a b~é*", Context::Form, "a+b%7E%C3%A9*"),
        ("a b~é*", Context::Url, "https://x/a%20b~%C3%A9%2A"),
    ];
    for (value, context, want) in cases {
        let vars = vars_of(&[("$flow.key.v", value)]);
        // A JSON value is escaped as string content, so the token opens a string.
        let (source, prefix) = match context {
            Context::Url => ("https://x/$flow.key.v", ""),
            Context::JsonString => ("\"$flow.key.v", "\""),
            _ => ("$flow.key.v", ""),
        };
        let rendered = Template::parse(source)
            .expect("valid")
            .render(&vars, *context);
        assert_eq!(
            rendered.expect("renders").text,
            format!("{prefix}{want}"),
            "{value:?} in {context:?}"
        );
    }
}

#[test]
fn unset_variables_render_empty_and_are_reported_once() {
    let template = Template::parse("$flow.key.a-$flow.key.b-$flow.key.a").expect("valid");
    // A number, so that it is also accepted outside quotes in JSON.
    let vars = vars_of(&[("$flow.key.b", "7")]);
    for context in Context::ALL {
        let rendered = template.render(&vars, context).expect("renders");
        assert_eq!(rendered.text, "-7-", "{context:?}");

        assert_eq!(rendered.missing, [var("$flow.key.a")]);
    }
}

#[test]
fn serde_round_trips_and_rejects_bad_templates() {
    let template: Template = serde_json::from_str(r#""x $flow.key.a""#).expect("valid");
    assert_eq!(
        serde_json::to_string(&template).expect("ser"),
        r#""x $flow.key.a""#
    );
    let err = serde_json::from_str::<Template>(r#""${flow.key.a""#).expect_err("bad");
    assert!(err.to_string().contains("position 0: unclosed"), "{err}");
}

/// The body of the `fuzz/fuzz_targets/template.rs` target: parsing and rendering
/// arbitrary text must never panic, and what parses must round-trip its source.
pub(crate) fn fuzz_body(text: &str) {
    let Ok(template) = Template::parse(text) else {
        return;
    };
    assert_eq!(template.source(), text);
    let values = ["", NASTY, "plain", "é\u{0}\r\n%", text];
    for value in values {
        let vars: Variables = template
            .vars()
            .map(|v| (v.clone(), value.to_owned()))
            .collect();
        for context in Context::ALL {
            let _ = template.render(&vars, context);
        }
    }
}

fn template_source() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "([a-z ./?#:]|\\$|\\$\\$|\\$\\{|\\}|flow\\.key\\.|call\\.cli\\.number|sys\\.datetime|user\\.|\\$flow\\.key\\.[a-z]{1,3}){0,12}",
    ]
}

proptest! {
    #[test]
    fn parse_never_panics_and_keeps_source(source in template_source()) {
        if let Ok(template) = Template::parse(&source) {
            prop_assert_eq!(template.source(), source.as_str());
        }
    }

    #[test]
    fn fuzz_equivalent(source in template_source()) {
        fuzz_body(&source);
    }

    #[test]
    fn json_string_rendering_is_valid_json(value in any::<String>()) {
        let vars = vars_of(&[("$flow.key.v", &value)]);
        let template = Template::parse("\"$flow.key.v\"").expect("valid");
        let rendered = template.render(&vars, Context::JsonString).expect("never fails in a string");
        let parsed: String = serde_json::from_str(&rendered.text)

            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed, value);
    }

    #[test]
    fn text_without_dollar_renders_to_itself(source in "[^$]*") {
        let template = Template::parse(&source).expect("no tokens, no errors");
        for context in Context::ALL {
            let rendered = template.render(&Variables::new(), context).expect("renders");
            prop_assert_eq!(&rendered.text, &source);
        }
    }

    #[test]
    fn url_values_never_add_structure(value in any::<String>()) {
        let vars = vars_of(&[("$flow.key.v", &value)]);
        let template = Template::parse("https://h/p/$flow.key.v?q=$flow.key.v").expect("valid");
        let text = template.render(&vars, Context::Url).expect("path and query encode").text;
        prop_assert_eq!(text.matches('/').count(), 4);
        prop_assert_eq!(text.matches('?').count(), 1);
        prop_assert_eq!(text.matches('=').count(), 1);
        let encoded = &text["https://h/p/".len()..];
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%?=".contains(&b)));
    }
}
