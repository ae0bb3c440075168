//! Property tests of the flow document parser ([`parse_flow`]): arbitrary text
//! and flow-shaped JSON never make it panic, and a flow that parses serializes
//! to a document that parses back to the same document. [`fuzz_body`] is also
//! the body of the `flow` fuzz target (`fuzz/fuzz_targets/flow.rs`).
//!
//! Few cases per run: validation compiles paths and regexes, and `cargo test`
//! must stay quick. The fuzz target is the place for long runs.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Value, json};

use super::parse_flow;

/// Parses `text`; if it is a flow, checks the serialize → parse round trip.
pub(crate) fn fuzz_body(text: &str) {
    let Ok(flow) = parse_flow(text) else {
        return;
    };
    let again = serde_json::to_string(&flow).expect("a flow serializes");
    let reparsed = parse_flow(&again).unwrap_or_else(|e| panic!("{again}: {e:?}"));
    assert_eq!(reparsed.document(), flow.document(), "{again}");
}

const IDS: [&str; 4] = ["a", "b", "c", "d"];

fn line() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        prop::sample::select(&IDS[..]).prop_map(|id| json!(id))
    ]
}

fn lines(max: usize) -> impl Strategy<Value = Value> {
    prop::collection::vec(line(), 0..=max).prop_map(Value::Array)
}

/// Template-like text: variables of every namespace, braces, dollars.
fn template() -> impl Strategy<Value = String> {
    "([a-z /:?=]|\\$|\\$\\$|\\$\\{|\\}|\\$flow\\.key\\.[a-z]{1,2}|\\$call\\.cli(\\.number)?|\\$sys\\.datetime|https://h/){0,8}"
}

fn variable() -> impl Strategy<Value = String> {
    "\\$(flow\\.key|flow\\.syskey|user\\.key|user\\.syskey|call|sys|nope)\\.[a-z.]{0,4}"
}

fn path() -> impl Strategy<Value = String> {
    "(\\$|data|x|/|//)?([a-z.@*/\\[\\]()'=0-9 ]|count\\(|\\.\\.){0,10}"
}

fn widget() -> impl Strategy<Value = Value> {
    prop_oneof![
        (prop::collection::vec((variable(), template()), 0..4), lines(2)).prop_map(
            |(assign, lines)| {
                let assign: serde_json::Map<String, Value> =
                    assign.into_iter().map(|(k, v)| (k, json!(v))).collect();
                json!({"type": "store_variable", "assign": assign, "lines": lines})
            }
        ),
        (
            prop::collection::vec(
                (
                    variable(),
                    prop::sample::select(&["eq", "ne", "regex", "empty", "gt", "bad"][..]),
                    prop::option::of(template()),
                ),
                0..3
            ),
            lines(4)
        )
            .prop_map(|(cases, lines)| {
                let cases: Vec<Value> = cases
                    .into_iter()
                    .map(|(var, op, value)| json!({"when": {"var": var, "op": op, "value": value}}))
                    .collect();
                json!({"type": "condition", "cases": cases, "lines": lines})
            }),
        (
            prop::sample::select(&["GET", "post", "OPTION", "Put", "fetch"][..]),
            template(),
            prop::sample::select(&["json", "xml"][..]),
            prop::collection::vec((variable(), path()), 0..3),
            lines(3)
        )
            .prop_map(|(method, url, kind, mappings, lines)| {
                let mappings: Vec<Value> = mappings
                    .into_iter()
                    .map(|(save_in, path)| json!({"save_in": save_in, "path": path}))
                    .collect();
                json!({"type": "webhook",
                       "request": {"method": method, "url": url, "headers": [{"key": "X-A", "value": "$flow.key.a"}]},
                       "response": {"type": kind, "mappings": mappings},
                       "lines": lines})
            }),
        Just(json!({"type": "end"})),
    ]
}

/// A flow-shaped document: mostly valid structure, random content.
fn flow_document() -> impl Strategy<Value = String> {
    (
        prop::collection::btree_map(prop::sample::select(&IDS[..]), widget(), 1..4),
        prop::sample::select(&IDS[..]),
        prop::option::of(prop::sample::select(&IDS[..])),
    )
        .prop_map(|(widgets, start, on_complete)| {
            json!({"name": "p", "start": start, "on_complete": on_complete, "widgets": widgets})
                .to_string()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn parse_never_panics_on_text(text in any::<String>()) {
        fuzz_body(&text);
    }

    #[test]
    fn flow_shaped_documents_round_trip(text in flow_document()) {
        fuzz_body(&text);
    }
}

#[test]
fn generated_documents_are_sometimes_valid_flows() {
    // Guards the strategy itself: the round trip above must be reached.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let valid = (0..200)
        .filter_map(|_| flow_document().new_tree(&mut runner).ok())
        .filter(|tree| parse_flow(&tree.current()).is_ok())
        .count();
    assert!(
        valid >= 5,
        "only {valid} of 200 generated documents were valid flows"
    );
}
