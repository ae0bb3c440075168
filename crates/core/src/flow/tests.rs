//! Tests of flow parsing, validation and widget semantics.

use serde_json::{Value, json};

use super::widgets::{Auth, PassGroup};
use super::*;
use crate::template::Context;
use crate::vars::{VarName, Variables};

/// The SPEC §3 example with its requests filled in.
fn example() -> Value {
    json!({
        "name": "order_status",
        "channel": "voice",
        "timezone": "Asia/Kolkata",
        "webhook_on_complete": true,
        "start": "greet",
        "on_complete": "notify",
        "ui": {"zoom": 1.5},
        "widgets": {
            "greet": {"type": "store_variable",
                      "assign": {"$flow.key.z": "first", "$flow.key.cli": "$call.cli.number", "$flow.key.a": "$flow.key.z!"},
                      "lines": ["lookup"], "ui": {"x": 10, "y": 20}},
            "lookup": {"type": "webhook",
                       "request": {"method": "GET", "url": "https://api.example.com/orders/$flow.key.cli",
                                   "auth": {"type": "basic", "username": "u", "password": "$flow.syskey.pw"},
                                   "headers": [{"key": "X-Id", "value": "$flow.key.cli", "mandatory": true}],
                                   "query": [{"key": "q", "value": "1"}]},
                       "response": {"timeout_seconds": 10,
                                    "mappings": [{"save_in": "$flow.key.status", "path": "$.status", "mandatory": true}]},
                       "lines": ["ok", "failed"]},
            "ok": {"type": "condition", "description": "shipped?",
                   "cases": [{"when": {"var": "$flow.key.status", "op": "eq", "value": "shipped"}},
                             {"when": {"var": "$flow.key.status", "op": "regex", "value": "^pend(ing)?$"}},
                             {"when": {"var": "$flow.key.status", "op": "empty"}}],
                   "lines": [null, null]},
            "failed": {"type": "end"},
            "notify": {"type": "internal_webhook", "webhook": "01932c6e-8a4f-7d3a-9f1e-2b7c4d5e6f70", "method": "createOutbound",
                       "pass": ["flow.key", "call"], "lines": [null, null]}
        }
    })
}

fn parse(value: &Value) -> Result<Flow, Vec<FlowError>> {
    parse_flow(&value.to_string())
}

fn var(text: &str) -> VarName {
    VarName::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn flow_is_shareable_across_threads() {
    fn assert_traits<T: Clone + Send + Sync + fmt::Debug>() {}
    assert_traits::<Flow>();
    assert_traits::<crate::template::Template>();
}

#[test]
fn parses_the_spec_example() {
    let flow = parse(&example()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(flow.settings().name, "order_status");
    assert_eq!(flow.settings().timezone, chrono_tz::Asia::Kolkata);
    assert!(flow.settings().webhook_on_complete);
    assert_eq!(flow.roots().start.as_str(), "greet");
    assert_eq!(
        flow.roots().on_complete.as_ref().map(WidgetId::as_str),
        Some("notify")
    );

    let lookup = flow.widget("lookup").expect("exists");
    let WidgetKind::Webhook(webhook) = &lookup.kind else {
        panic!("{lookup:?}")
    };
    assert_eq!(webhook.request.method, crate::http::HttpMethod::Get);
    assert!(matches!(webhook.request.auth, Auth::Basic { .. }));
    assert_eq!(webhook.response.timeout_seconds, 10);
    assert!(webhook.response.wait_for_response);
    assert_eq!(
        webhook.response.mappings[0].save_in,
        var("$flow.key.status")
    );
    assert_eq!(lookup.next(0).map(WidgetId::as_str), Some("ok"));

    let ok = flow.widget("ok").expect("exists");
    assert_eq!(ok.lines.len(), 4, "padded to cases + 1");
    assert_eq!(ok.description.as_deref(), Some("shipped?"));

    let notify = flow.widget("notify").expect("exists");
    let WidgetKind::InternalWebhook(internal) = &notify.kind else {
        panic!("{notify:?}")
    };
    assert_eq!(
        internal.pass.iter().copied().collect::<Vec<_>>(),
        [PassGroup::Call, PassGroup::FlowKey]
    );
    assert_eq!(flow.widget("failed").map(|w| w.lines.len()), Some(0));
}

#[test]
fn serializes_back_to_the_same_document() {
    let flow = parse(&example()).expect("valid");
    let json = serde_json::to_value(&flow).expect("serialize");
    assert_eq!(json, example());
    let again: Flow = serde_json::from_value(json).expect("deserialize validates");
    assert_eq!(again.document(), flow.document());
}

#[test]
fn defaults_apply() {
    let flow = parse(&json!({
        "name": "n", "start": "a",
        "widgets": {"a": {"type": "webhook", "request": {"url": "https://x"}}}
    }))
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(flow.settings().channel, Channel::Voice);
    assert_eq!(flow.settings().timezone, chrono_tz::UTC);
    assert!(!flow.settings().webhook_on_complete);
    let WidgetKind::Webhook(w) = &flow.widget("a").expect("a").kind else {
        panic!()
    };
    assert_eq!(w.request.method, crate::http::HttpMethod::Post);
    assert_eq!(w.request.body_type, crate::http::BodyType::None);
    assert_eq!(w.response.timeout_seconds, 60);
    assert_eq!(flow.widget("a").expect("a").lines, [None, None]);
}

/// Applies `edit` to the example and expects exactly these errors (widget,
/// message fragment), in order.
fn expect_errors(edit: impl FnOnce(&mut Value), want: &[(Option<&str>, &str)]) {
    let mut doc = example();
    edit(&mut doc);
    let errors = parse(&doc).expect_err("should be invalid");
    assert_eq!(errors.len(), want.len(), "{errors:#?}");
    for (error, (widget, fragment)) in errors.iter().zip(want) {
        assert_eq!(error.widget.as_deref(), *widget, "{errors:#?}");
        assert!(
            error.message.contains(fragment),
            "{fragment:?} not in {errors:#?}"
        );
    }
}

#[test]
fn reports_validation_errors() {
    type Edit = fn(&mut Value);
    type Expected = &'static [(Option<&'static str>, &'static str)];
    let cases: &[(Edit, Expected)] = &[
        (
            |d| d["name"] = json!("order status"),
            &[(None, "name: \"order status\" is not a flow name")],
        ),
        (
            |d| d["timezone"] = json!("Mars/Olympus"),
            &[(None, "timezone: unknown time zone")],
        ),
        (
            |d| d["on_complete"] = json!("nope"),
            &[
                (None, "on_complete: unknown widget \"nope\""),
                (Some("notify"), "unreachable"),
            ],
        ),
        (
            |d| d["widgets"]["lookup"]["lines"] = json!(["ok", "gone"]),
            &[
                (Some("lookup"), "lines[1]: unknown widget \"gone\""),
                (Some("failed"), "unreachable"),
            ],
        ),
        (
            |d| {
                d["widgets"]["lookup"]["request"]["url"] =
                    json!("https://api.example.com/${flow.key.x")
            },
            &[(Some("lookup"), "request.url: position 24: unclosed \"${\"")],
        ),
        (
            |d| d["widgets"]["lookup"]["request"]["url"] = json!("ftp://x"),
            &[(Some("lookup"), "request.url: must start with https://")],
        ),
        (
            |d| d["widgets"]["lookup"]["request"]["headers"][0]["key"] = json!("X Id"),
            &[(
                Some("lookup"),
                "request.headers[0]: `X Id` is not a valid header name",
            )],
        ),
        (
            |d| d["widgets"]["lookup"]["request"]["headers"][0]["key"] = json!("Host"),
            &[(Some("lookup"), "header `Host` is set by flowhook")],
        ),
        (
            |d| d["widgets"]["lookup"]["request"]["headers"][0]["value"] = json!("a\r\nX-Evil: 1"),
            &[(Some("lookup"), "without CR, LF or NUL")],
        ),
        (
            |d| {
                d["widgets"]["lookup"]["request"]["headers"][0]["key"] = json!("authorization");
                d["widgets"]["lookup"]["request"]["auth"] =
                    json!({"type": "basic", "username": "u", "password": "p"});
            },
            &[(Some("lookup"), "an Authorization header and basic auth")],
        ),
        (
            |d| d["widgets"]["lookup"]["request"]["body"] = json!("{}"),
            &[(Some("lookup"), "request.body: body_type is none")],
        ),
        (
            |d| d["widgets"]["lookup"]["response"]["timeout_seconds"] = json!(61),
            &[(
                Some("lookup"),
                "response.timeout_seconds: must be between 1 and 60, got 61",
            )],
        ),
        (
            |d| d["widgets"]["lookup"]["response"]["timeout_seconds"] = json!(0),
            &[(Some("lookup"), "got 0")],
        ),
        (
            |d| d["widgets"]["lookup"]["response"]["mappings"][0]["save_in"] = json!("$call.state"),
            &[(
                Some("lookup"),
                "response.mappings[0].save_in: $call.state is read-only",
            )],
        ),
        (
            |d| d["widgets"]["lookup"]["response"]["mappings"][0]["path"] = json!("items[0]"),
            &[(
                Some("lookup"),
                "response.mappings[0].path: invalid JSON path",
            )],
        ),
        (
            |d| {
                d["widgets"]["lookup"]["response"]["type"] = json!("xml");
                d["widgets"]["lookup"]["response"]["mappings"][0]["path"] = json!("/order[");
            },
            &[(
                Some("lookup"),
                "response.mappings[0].path: invalid XML path",
            )],
        ),
        (
            |d| d["widgets"]["lookup"]["lines"] = json!(["ok", "failed", null]),
            &[(
                Some("lookup"),
                "lines: 3 given, but this webhook widget has 2",
            )],
        ),
        (
            |d| d["widgets"]["greet"]["assign"] = json!({"$user.syskey.accountID": "1"}),
            &[(
                Some("greet"),
                "assign[\"$user.syskey.accountID\"]: $user.syskey.accountID is read-only",
            )],
        ),
        (
            |d| d["widgets"]["greet"]["assign"] = json!({"$flow.key.a": "$flwo.key.b"}),
            &[(Some("greet"), "assign[\"$flow.key.a\"]: position 0:")],
        ),
        (
            |d| d["widgets"]["greet"]["assign"] = json!({"flow.key.a": "x"}),
            &[(Some("greet"), "starts with `$`")],
        ),
        (
            |d| d["widgets"]["ok"]["cases"][0]["when"]["op"] = json!("equals"),
            &[(Some("ok"), "cases[0].when.op: unknown operator \"equals\"")],
        ),
        (
            |d| d["widgets"]["ok"]["cases"][1]["when"]["value"] = json!("(unclosed"),
            &[(Some("ok"), "cases[1].when.value: invalid regex")],
        ),
        (
            |d| d["widgets"]["ok"]["cases"][0]["when"] = json!({"var": "$flow.key.s", "op": "gt"}),
            &[(Some("ok"), "cases[0].when.value: required for op gt")],
        ),
        (
            |d| {
                d["widgets"]["ok"]["cases"][0]["when"]["var"] = json!("$nope");
                d["widgets"]["ok"]["lines"] = json!([null, null, null, null]);
            },
            &[(Some("ok"), "cases[0].when.var")],
        ),
        (
            |d| d["widgets"]["notify"]["pass"] = json!(["sys"]),
            &[(Some("notify"), "pass[0]: unknown group \"sys\"")],
        ),
        (
            |d| d["widgets"]["notify"]["method"] = json!(""),
            &[(
                Some("notify"),
                "method: unknown method \"\"; expected one of validateDateTime",
            )],
        ),
        (
            |d| d["widgets"]["bad id!"] = json!({"type": "end"}),
            &[
                (Some("bad id!"), "invalid widget id"),
                (Some("bad id!"), "unreachable"),
            ],
        ),
        (
            |d| d["widgets"]["lost"] = json!({"type": "end"}),
            &[(Some("lost"), "unreachable")],
        ),
        (
            |d| {
                d["widgets"]["ok"]["lines"] = json!(["loop", "loop", "loop", "loop"]);
                d["widgets"]["loop"] =
                    json!({"type": "store_variable", "assign": {}, "lines": ["ok"]});
            },
            &[
                (Some("loop"), "cycle without an exit"),
                (Some("ok"), "cycle without an exit"),
            ],
        ),
    ];
    for (edit, want) in cases {
        expect_errors(edit, want);
    }
}

#[test]
fn reports_shape_errors_per_widget() {
    let mut doc = example();
    doc["widgets"]["greet"]["colour"] = json!("red");
    doc["widgets"]["ok"]["type"] = json!("switch");
    doc["widgets"]["failed"] = json!({"lines": []});
    let errors = parse(&doc).expect_err("invalid");
    let got: Vec<(Option<&str>, &str)> = errors
        .iter()
        .map(|e| (e.widget.as_deref(), e.message.as_str()))
        .collect();
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(got[0].0, Some("failed"));
    assert!(got[0].1.contains("missing field `type`"), "{got:#?}");
    assert_eq!(got[1].0, Some("greet"));
    assert!(got[1].1.contains("unknown field `colour`"), "{got:#?}");
    assert_eq!(got[2].0, Some("ok"));
    assert!(got[2].1.contains("unknown variant `switch`"), "{got:#?}");
    assert!(!got[2].1.contains(" at line "), "{got:#?}");
}

#[test]
fn reports_document_errors() {
    let cases: &[(&str, &str)] = &[
        ("{", "invalid flow document: EOF"),
        ("[]", "invalid flow document: expected a JSON object"),
        (r#"{"name": "n", "widgets": {}}"#, "missing field `start`"),
        (
            r#"{"name": "n", "start": "a", "widgets": {}, "extra": 1}"#,
            "unknown field `extra`",
        ),
        (
            r#"{"name": "n", "start": "a", "widgets": {}, "channel": "fax"}"#,
            "unknown variant `fax`",
        ),
    ];
    for (json, fragment) in cases {
        let errors = parse_flow(json).expect_err(json);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].widget, None);
        assert!(errors[0].message.contains(fragment), "{json}: {errors:?}");
    }
}

#[test]
fn flow_errors_serialize_for_the_api() {
    let error = FlowError {
        widget: Some("w".into()),
        message: "m".into(),
    };
    assert_eq!(
        serde_json::to_value(&error).expect("ser"),
        json!({"widget": "w", "message": "m"})
    );
    assert_eq!(error.to_string(), "widget \"w\": m");
}

/// Written with keys out of alphabetical order: `json!` would sort them.
const ORDERED: &str = r#"{"name": "n", "start": "s", "widgets": {"s": {"type": "store_variable",
    "assign": {"$flow.key.z": "first", "$flow.key.cli": "$call.cli.number", "$flow.key.a": "$flow.key.z!"}}}}"#;

#[test]
fn assignment_order_is_kept_through_parse_and_serialize() {
    let flow = parse_flow(ORDERED).unwrap_or_else(|e| panic!("{e:?}"));
    let WidgetKind::StoreVariable(store) = &flow.widget("s").expect("s").kind else {
        panic!()
    };
    let targets: Vec<String> = store.assign.iter().map(|a| a.target.to_string()).collect();
    assert_eq!(targets, ["$flow.key.z", "$flow.key.cli", "$flow.key.a"]);
    let text = serde_json::to_string(&flow).expect("serialize");
    let again = parse_flow(&text).expect("valid");
    assert_eq!(again.document(), flow.document());
    assert!(
        text.find("$flow.key.z") < text.find("\"$flow.key.a\""),
        "{text}"
    );
}

#[test]
fn store_variable_applies_in_order() {
    let flow = parse_flow(ORDERED).expect("valid");
    let WidgetKind::StoreVariable(store) = &flow.widget("s").expect("s").kind else {
        panic!()
    };
    let mut vars = Variables::new();
    vars.insert(var("$call.cli.number"), "9190".into());
    vars.insert(var("$flow.key.z"), "first".into());
    let changed = store.apply(&mut vars).expect("within budget");
    assert_eq!(
        changed,
        [var("$flow.key.cli"), var("$flow.key.a")],
        "z was already \"first\""
    );
    assert_eq!(
        vars.get(&var("$flow.key.a")).map(String::as_str),
        Some("first!")
    );
    assert_eq!(
        vars.get(&var("$flow.key.cli")).map(String::as_str),
        Some("9190")
    );
    assert!(
        store.apply(&mut vars).expect("within budget").is_empty(),
        "applying again changes nothing"
    );

    let mut fresh = Variables::new();
    let changed = store.apply(&mut fresh).expect("within budget");
    assert_eq!(changed.len(), 3);
    assert_eq!(
        fresh.get(&var("$flow.key.a")).map(String::as_str),
        Some("first!"),
        "sees z"
    );
}

#[test]
fn condition_picks_the_first_matching_line() {
    let flow = parse(&example()).expect("valid");
    let WidgetKind::Condition(condition) = &flow.widget("ok").expect("ok").kind else {
        panic!()
    };
    let cases: &[(Option<&str>, usize)] = &[
        (Some("shipped"), 0),
        (Some("pending"), 1),
        (Some("pend"), 1),
        (None, 2),
        (Some(""), 2),
        (Some("lost"), 3),
    ];
    for (status, line) in cases {
        let mut vars = Variables::new();
        if let Some(status) = status {
            vars.insert(var("$flow.key.status"), (*status).into());
        }
        assert_eq!(condition.select_line(&vars), Ok(*line), "{status:?}");
    }
}

#[test]
fn webhook_templates_render_in_their_contexts() {
    let flow = parse(&example()).expect("valid");
    let WidgetKind::Webhook(w) = &flow.widget("lookup").expect("lookup").kind else {
        panic!()
    };
    let mut vars = Variables::new();
    vars.insert(var("$flow.key.cli"), "a/b c".into());
    let url = w.request.url.render(&vars, Context::Url).expect("renders");
    assert_eq!(url.text, "https://api.example.com/orders/a%2Fb%20c");
    vars.insert(var("$flow.key.cli"), "x\r\nEvil: 1".into());
    assert!(
        w.request.headers[0]
            .value
            .render(&vars, Context::Header)
            .is_err()
    );
}

#[test]
fn call_cli_is_another_name_of_call_cli_number() {
    let doc = json!({
        "name": "alias", "start": "s",
        "widgets": {
            "s": {"type": "store_variable", "assign": {"$flow.key.who": "caller $call.cli"}, "lines": ["c"]},
            "c": {"type": "condition",
                  "cases": [{"when": {"var": "$call.cli", "op": "eq", "value": "${call.cli}"}}],
                  "lines": [null, null]}
        }
    });
    let flow = parse(&doc).unwrap_or_else(|e| panic!("{e:?}"));
    let mut vars = Variables::new();
    vars.insert(var("$call.cli.number"), "918000000000".into());
    let WidgetKind::StoreVariable(store) = &flow.widget("s").expect("s").kind else {
        panic!()
    };
    store.apply(&mut vars).expect("within budget");
    assert_eq!(
        vars.get(&var("$flow.key.who")).map(String::as_str),
        Some("caller 918000000000")
    );
    let WidgetKind::Condition(condition) = &flow.widget("c").expect("c").kind else {
        panic!()
    };
    assert_eq!(condition.cases[0].var, var("$call.cli.number"));
    assert_eq!(condition.select_line(&vars), Ok(0), "the case matched");
    // The document keeps what the author wrote.
    let text = serde_json::to_string(&flow).expect("serialize");
    assert!(text.contains("caller $call.cli\""), "{text}");
}

#[test]
fn methods_are_read_in_any_case_and_option_is_options() {
    use crate::http::HttpMethod;
    for (written, method) in [
        ("get", HttpMethod::Get),
        ("Post", HttpMethod::Post),
        ("OPTION", HttpMethod::Options),
        ("option", HttpMethod::Options),
        ("options", HttpMethod::Options),
    ] {
        let mut doc = example();
        doc["widgets"]["lookup"]["request"]["method"] = json!(written);
        let flow = parse(&doc).unwrap_or_else(|e| panic!("{written}: {e:?}"));
        let WidgetKind::Webhook(w) = &flow.widget("lookup").expect("lookup").kind else {
            panic!()
        };
        assert_eq!(w.request.method, method, "{written}");
    }
    let mut doc = example();
    doc["widgets"]["lookup"]["request"]["method"] = json!("FETCH");
    let errors = parse(&doc).expect_err("unknown method");
    assert_eq!(errors[0].widget.as_deref(), Some("lookup"), "{errors:#?}");
    assert!(
        errors[0].message.contains("unknown method `FETCH`"),
        "{errors:#?}"
    );
}

#[test]
fn shape_limits_are_checked_naming_the_widget() {
    use crate::budget::{
        MAX_ASSIGNMENTS, MAX_CASES, MAX_HEADERS, MAX_MAPPINGS, MAX_QUERY_ENTRIES, MAX_WIDGETS,
    };
    let many = |n: usize, item: &dyn Fn(usize) -> Value| -> Value {
        Value::Array((0..n).map(item).collect())
    };
    let assignments = |n: usize| -> Value {
        Value::Object(
            (0..n)
                .map(|i| (format!("$flow.key.v{i}"), json!("x")))
                .collect(),
        )
    };
    let param = |i: usize| json!({"key": format!("k{i}"), "value": "v"});
    let case = |_| json!({"when": {"var": "$flow.key.status", "op": "empty"}});
    let mapping = |i: usize| json!({"save_in": format!("$flow.key.m{i}"), "path": "$.a"});
    type Edit = Box<dyn Fn(&mut Value, usize)>;
    let cases: Vec<(&str, usize, &str, Edit)> = vec![
        (
            "greet",
            MAX_ASSIGNMENTS,
            "assign",
            Box::new(move |d, n| d["widgets"]["greet"]["assign"] = assignments(n)),
        ),
        (
            "ok",
            MAX_CASES,
            "cases",
            Box::new(move |d, n| {
                d["widgets"]["ok"]["cases"] = many(n, &case);
                d["widgets"]["ok"]["lines"] = json!([]);
            }),
        ),
        (
            "lookup",
            MAX_HEADERS,
            "request.headers",
            Box::new(move |d, n| d["widgets"]["lookup"]["request"]["headers"] = many(n, &param)),
        ),
        (
            "lookup",
            MAX_QUERY_ENTRIES,
            "request.query",
            Box::new(move |d, n| d["widgets"]["lookup"]["request"]["query"] = many(n, &param)),
        ),
        (
            "lookup",
            MAX_MAPPINGS,
            "response.mappings",
            Box::new(move |d, n| {
                d["widgets"]["lookup"]["response"]["mappings"] = many(n, &mapping)
            }),
        ),
    ];
    for (widget, max, field, edit) in cases {
        let mut doc = example();
        edit(&mut doc, max);
        assert!(parse(&doc).is_ok(), "{field}: {max} entries are fine");
        let mut doc = example();
        edit(&mut doc, max + 1);
        let errors = parse(&doc).expect_err("over the limit");
        assert_eq!(errors.len(), 1, "{errors:#?}");
        assert_eq!(errors[0].widget.as_deref(), Some(widget), "{errors:#?}");
        let want = format!("{field}: {} entries; at most {max} are allowed", max + 1);
        assert_eq!(errors[0].message, want);
    }

    // Widgets: a chain of MAX_WIDGETS is fine, one more is refused for the flow.
    let chain = |n: usize| {
        let widgets: serde_json::Map<String, Value> = (0..n)
            .map(|i| {
                let next = if i + 1 < n {
                    json!(format!("w{}", i + 1))
                } else {
                    Value::Null
                };
                (
                    format!("w{i}"),
                    json!({"type": "store_variable", "assign": {}, "lines": [next]}),
                )
            })
            .collect();
        json!({"name": "chain", "start": "w0", "widgets": widgets})
    };
    assert!(parse(&chain(MAX_WIDGETS)).is_ok());
    let errors = parse(&chain(MAX_WIDGETS + 1)).expect_err("too many widgets");
    assert_eq!(
        errors,
        [FlowError {
            widget: None,
            message: format!(
                "widgets: {} entries; at most {MAX_WIDGETS} are allowed",
                MAX_WIDGETS + 1
            ),
        }]
    );
}

#[test]
fn an_assignment_over_the_template_output_limit_stops_the_widget() {
    use crate::budget::{Exceeded, MAX_RENDERED_BYTES};
    let doc = json!({
        "name": "doubling", "start": "s",
        "widgets": {"s": {"type": "store_variable",
                          "assign": {"$flow.key.b": "$flow.key.a$flow.key.a",
                                     "$flow.key.c": "$flow.key.b$flow.key.b"},
                          "lines": [null]}}
    });
    let flow = parse(&doc).expect("valid");
    let WidgetKind::StoreVariable(store) = &flow.widget("s").expect("s").kind else {
        panic!()
    };
    let mut vars = Variables::new();
    vars.insert(var("$flow.key.a"), "x".repeat(MAX_RENDERED_BYTES / 4));
    assert_eq!(
        store.apply(&mut vars),
        Ok(vec![var("$flow.key.b"), var("$flow.key.c")])
    );
    assert_eq!(vars[&var("$flow.key.c")].len(), MAX_RENDERED_BYTES);
    vars.insert(var("$flow.key.a"), "x".repeat(MAX_RENDERED_BYTES / 4 + 1));
    assert_eq!(store.apply(&mut vars), Err(Exceeded::RenderedTemplate));
    assert_eq!(
        vars[&var("$flow.key.b")].len(),
        MAX_RENDERED_BYTES / 2 + 2,
        "the assignment before the limit stays applied"
    );
}

#[test]
fn a_webhook_widget_names_a_url_or_a_registered_webhook() {
    let id = "01932c6e-8a4f-7d3a-9f1e-2b7c4d5e6f70";
    let widget = |request: Value| json!({"name": "n", "start": "a", "widgets": {"a": {"type": "webhook", "request": request}}});
    let flow = parse(&widget(json!({"webhook": id, "body": "{}"}))).expect("registered");
    let WidgetKind::Webhook(w) = &flow.widget("a").expect("a").kind else {
        panic!()
    };
    assert_eq!(
        w.request.webhook.map(|w| w.to_string()).as_deref(),
        Some(id)
    );
    assert_eq!(flow.webhook_references().count(), 1);

    for (request, fragment) in [
        (
            json!({"webhook": id, "url": "https://x"}),
            "give `url` or `webhook`, not both",
        ),
        (
            json!({"webhook": "wh_1"}),
            "request.webhook: \"wh_1\" is not a webhook id",
        ),
        (
            json!({"webhook": id, "auth": {"type": "basic", "username": "u", "password": "p"}}),
            "the registered webhook's auth is used",
        ),
        (
            json!({"webhook": id, "body_type": "xml"}),
            "the registered webhook's body type is used",
        ),
        (json!({}), "request.url: must start with https://"),
    ] {
        let errors = parse(&widget(request.clone())).expect_err("invalid");
        assert!(
            errors.iter().any(|e| e.message.contains(fragment)),
            "{fragment:?} not in {errors:?} for {request}"
        );
    }
}
