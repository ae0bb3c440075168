use serde_json::json;

use super::*;
use crate::flow::parse_flow;
use crate::flow::widgets::{Webhook, WidgetKind};
use crate::vars::Variables;

/// The webhook widget of a one-widget flow.
fn widget(request: serde_json::Value, response: serde_json::Value) -> Webhook {
    let doc = json!({"name": "t", "start": "w", "widgets": {"w": {"type": "webhook", "request": request, "response": response, "lines": [null, null]}}});
    let flow = parse_flow(&doc.to_string()).unwrap_or_else(|e| panic!("{e:?}"));
    match &flow.widget("w").expect("w").kind {
        WidgetKind::Webhook(w) => (**w).clone(),
        _ => unreachable!(),
    }
}

fn vars(pairs: &[(&str, &str)]) -> Variables {
    pairs
        .iter()
        .map(|(k, v)| (VarName::parse(k).expect("var"), (*v).to_owned()))
        .collect()
}

const TRICKY: &str = "a\"b<c&d/e\nf";

#[test]
fn every_context_escapes_a_tricky_value() {
    let v = vars(&[("$flow.key.v", TRICKY), ("$flow.key.id", "A/17 x")]);
    let json_req = widget(
        json!({"method": "POST", "url": "https://api.invalid/orders/$flow.key.id",
               "query": [{"key": "q", "value": "$flow.key.v"}],
               "body_type": "json", "body": "{\"v\": \"$flow.key.v\"}"}),
        json!({}),
    );
    let r = render_request(&json_req.request, &v, false).expect("renders");
    assert_eq!(
        r.url.as_str(),
        "https://api.invalid/orders/A%2F17%20x?q=a%22b%3Cc%26d%2Fe%0Af"
    );
    assert_eq!(r.body.as_deref(), Some(r#"{"v": "a\"b<c&d/e\nf"}"#));
    let parsed: serde_json::Value =
        serde_json::from_str(r.body.as_deref().expect("body")).expect("valid JSON");
    assert_eq!(parsed["v"], TRICKY);
    assert!(
        r.headers
            .contains(&("Content-Type".into(), "application/json".into()))
    );

    let xml_req = widget(
        json!({"url": "https://api.invalid/", "body_type": "xml", "body": "<a v=\"$flow.key.v\">$flow.key.v</a>"}),
        json!({}),
    );
    let r = render_request(&xml_req.request, &v, false).expect("renders");
    assert_eq!(
        r.body.as_deref(),
        Some("<a v=\"a&quot;b&lt;c&amp;d/e\nf\">a&quot;b&lt;c&amp;d/e\nf</a>")
    );

    let form_req = widget(
        json!({"url": "https://api.invalid/", "body_type": "form", "body": "v=$flow.key.v&x=1"}),
        json!({}),
    );
    let r = render_request(&form_req.request, &v, false).expect("renders");
    let body = r.body.expect("body");
    let decoded: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(decoded[0], ("v".to_owned(), TRICKY.to_owned()));

    let header_req = widget(
        json!({"url": "https://api.invalid/", "headers": [{"key": "X-V", "value": "$flow.key.v"}]}),
        json!({}),
    );
    let refused = render_request(&header_req.request, &v, false).expect_err("newline in a header");
    assert_eq!(refused.failure, Failure::InvalidRequest);
    assert!(
        refused.message.contains("$flow.key.v"),
        "{}",
        refused.message
    );
}

#[test]
fn mandatory_values_scheme_and_bodies_are_checked_before_sending() {
    let empty = vars(&[]);
    let req = widget(
        json!({"url": "https://api.invalid/", "headers": [{"key": "X-Token", "value": "$flow.key.token", "mandatory": true}]}),
        json!({}),
    );
    assert_eq!(
        render_request(&req.request, &empty, false)
            .expect_err("missing")
            .failure,
        Failure::MandatoryParameterMissing
    );
    let req = widget(
        json!({"url": "https://api.invalid/", "query": [{"key": "id", "value": "$flow.key.id", "mandatory": true}]}),
        json!({}),
    );
    assert_eq!(
        render_request(&req.request, &empty, false)
            .expect_err("missing")
            .failure,
        Failure::MandatoryParameterMissing
    );
    let optional = widget(
        json!({"url": "https://api.invalid/x?a=1#top", "query": [{"key": "id", "value": "$flow.key.id"}]}),
        json!({}),
    );
    let r = render_request(&optional.request, &empty, false).expect("optional may be empty");
    assert_eq!(r.url.as_str(), "https://api.invalid/x?a=1&id=#top");
    assert_eq!(
        r.missing,
        vec![VarName::parse("$flow.key.id").expect("var")]
    );

    let http = widget(json!({"url": "http://api.invalid/"}), json!({}));
    assert_eq!(
        render_request(&http.request, &empty, false)
            .expect_err("https only")
            .failure,
        Failure::HttpNotAllowed
    );
    assert!(render_request(&http.request, &empty, true).is_ok());

    let bad_json = widget(
        json!({"url": "https://api.invalid/", "body_type": "json", "body": "{\"n\": $flow.key.n}"}),
        json!({}),
    );
    let refused =
        render_request(&bad_json.request, &empty, false).expect_err("{\"n\": } is not JSON");
    assert_eq!(refused.failure, Failure::InvalidRequest);
    let bad_xml = widget(
        json!({"url": "https://api.invalid/", "body_type": "xml", "body": "<a>$flow.key.n"}),
        json!({}),
    );
    assert_eq!(
        render_request(&bad_xml.request, &empty, false)
            .expect_err("unclosed")
            .failure,
        Failure::InvalidRequest
    );
    let no_host = widget(json!({"url": "https://$flow.key.host/x"}), json!({}));
    assert_eq!(
        render_request(&no_host.request, &empty, false)
            .expect_err("empty host")
            .failure,
        Failure::InvalidRequest
    );
}

#[test]
fn basic_auth_is_rendered_into_a_header() {
    let v = vars(&[("$flow.key.user", "flow"), ("$flow.key.pw", "s3cret-pw")]);
    let req = widget(
        json!({"url": "https://api.invalid/", "auth": {"type": "basic", "username": "$flow.key.user", "password": "$flow.key.pw"}}),
        json!({}),
    );
    let r = render_request(&req.request, &v, false).expect("renders");
    assert!(
        r.headers
            .contains(&("Authorization".into(), "Basic ZmxvdzpzM2NyZXQtcHc=".into()))
    );
}

#[test]
fn responses_map_into_variables_with_mandatory_checks() {
    let w = widget(
        json!({"url": "https://api.invalid/"}),
        json!({"type": "json", "mappings": [
            {"save_in": "$flow.key.id", "path": "$.items[0].id", "mandatory": true},
            {"save_in": "$flow.key.total", "path": "data.total"},
            {"save_in": "$flow.key.missing", "path": "$.nope"}
        ]}),
    );
    let mapped =
        map_response(&w.response, r#"{"items":[{"id":"A-17"}],"total":3.5}"#).expect("maps");
    assert_eq!(
        mapped,
        vec![
            (
                VarName::parse("$flow.key.id").expect("v"),
                "A-17".to_owned()
            ),
            (
                VarName::parse("$flow.key.total").expect("v"),
                "3.5".to_owned()
            ),
        ]
    );
    assert_eq!(
        map_response(&w.response, r#"{"items":[]}"#)
            .expect_err("mandatory")
            .failure,
        Failure::MappingFailed
    );
    assert_eq!(
        map_response(&w.response, "not json")
            .expect_err("invalid")
            .failure,
        Failure::InvalidResponse
    );
    assert_eq!(
        map_response(&w.response, "")
            .expect_err("empty body")
            .failure,
        Failure::MappingFailed
    );
    let none = widget(json!({"url": "https://api.invalid/"}), json!({}));
    assert!(
        map_response(&none.response, "OK")
            .expect("no mappings, no parsing")
            .is_empty()
    );
}

#[test]
fn result_variables_have_the_spec_names_and_values() {
    let ok = result_variables(200, 0.1149, "{\"a\":1}", None);
    let get = |vs: &[(VarName, String)], n: &str| {
        vs.iter()
            .find(|(k, _)| k.to_string() == n)
            .map(|(_, v)| v.clone())
            .expect(n)
    };
    assert_eq!(get(&ok, "$flow.key.response_status"), "SUCCESS");
    assert_eq!(get(&ok, "$flow.key.response_status_code"), "200");
    assert_eq!(get(&ok, "$flow.key.response_duration"), "0.11");
    assert_eq!(get(&ok, "$flow.key.response_raw"), "{\"a\":1}");
    assert_eq!(get(&ok, "$flow.key.response_error"), "false");
    assert_eq!(get(&ok, "$flow.key.error_reason"), "");
    let failed = result_variables(0, 2.0, "", Some(Failure::Timeout));
    assert_eq!(get(&failed, "$flow.key.response_status"), "FAILED");
    assert_eq!(get(&failed, "$flow.key.response_status_code"), "0");
    assert_eq!(get(&failed, "$flow.key.response_raw"), "null");
    assert_eq!(get(&failed, "$flow.key.response_error"), "true");
    assert_eq!(get(&failed, "$flow.key.response_status_type"), "Timeout");
    assert_eq!(get(&failed, "$flow.key.error_reason"), "TIMEOUT");
}

#[test]
fn statuses_map_to_failures() {
    let cases = [
        (101, Some(("INFORMATIONAL", "Informational"))),
        (204, None),
        (302, Some(("REDIRECTION", "Redirection"))),
        (404, Some(("CLIENT_ERROR", "Client Error"))),
        (503, Some(("SERVER_ERROR", "Server Error"))),
    ];
    for (status, want) in cases {
        let got = Failure::of_status(status).map(|f| (f.error_reason(), f.status_type()));
        assert_eq!(got, want, "{status}");
    }
    assert_eq!(Failure::MappingFailed.status_type(), "Mapping Error");
    assert_eq!(Failure::ConnectionFailed.status_type(), "Connection Error");
    assert_eq!(Failure::ResponseTooLarge.status_type(), "Invalid Response");
    assert_eq!(Failure::DestinationBlocked.status_type(), "Rejected");
}

#[test]
fn a_value_outside_quotes_in_json_cannot_add_structure() {
    let req = widget(
        json!({"url": "https://api.invalid/", "body_type": "json", "body": "{\"n\": $flow.key.n, \"s\": \"$flow.key.n\"}"}),
        json!({}),
    );
    for ok in ["42", "-1.5e3", "true", "null"] {
        let r = render_request(&req.request, &vars(&[("$flow.key.n", ok)]), false).expect(ok);
        assert!(r.body.expect("body").starts_with(&format!("{{\"n\": {ok}")));
    }
    for bad in ["{}", "[1]", "1, \"admin\": true", "\"x\"", "abc"] {
        let refused =
            render_request(&req.request, &vars(&[("$flow.key.n", bad)]), false).expect_err(bad);
        assert_eq!(refused.failure, Failure::InvalidRequest, "{bad}");
        assert!(
            refused.message.contains("outside quotes"),
            "{}",
            refused.message
        );
    }
    // Escaped quotes inside a literal string do not confuse the tracking.
    let tricky = widget(
        json!({"url": "https://api.invalid/", "body_type": "json", "body": "{\"a\": \"x\\\"y $flow.key.n\"}"}),
        json!({}),
    );
    let r = render_request(&tricky.request, &vars(&[("$flow.key.n", "{}")]), false)
        .expect("inside a string");
    assert_eq!(r.body.as_deref(), Some("{\"a\": \"x\\\"y {}\"}"));
}

#[test]
fn a_value_cannot_climb_out_of_the_path() {
    let req = widget(
        json!({"url": "https://api.invalid/users/$flow.key.id/profile"}),
        json!({}),
    );
    for bad in ["..", "."] {
        let refused =
            render_request(&req.request, &vars(&[("$flow.key.id", bad)]), false).expect_err(bad);
        assert_eq!(refused.failure, Failure::InvalidRequest, "{bad}");
    }
    // An encoded dot in a value is encoded again (`%252e`), so it stays data.
    for fine in ["..x", "a.b", "...x", "%2e%2e"] {
        let r = render_request(&req.request, &vars(&[("$flow.key.id", fine)]), false).expect(fine);
        assert!(r.url.as_str().contains("/users/"), "{}", r.url);
    }
    let q = widget(
        json!({"url": "https://api.invalid/x?next=$flow.key.id"}),
        json!({}),
    );
    assert!(
        render_request(&q.request, &vars(&[("$flow.key.id", "..")]), false).is_ok(),
        "dots in a query are data"
    );
}

#[test]
fn a_token_after_a_backslash_in_a_json_string_is_refused() {
    let req = widget(
        json!({"url": "https://api.invalid/", "body_type": "json",
               "body": "{\"a\": \"\\$flow.key.x\", \"n\": $flow.key.n}"}),
        json!({}),
    );
    let v = vars(&[("$flow.key.x", "n"), ("$flow.key.n", "[[1],{}]")]);
    let refused =
        render_request(&req.request, &v, false).expect_err("backslash pairs with the value");
    assert_eq!(refused.failure, Failure::InvalidRequest);
    // And the tracking stays in step: `n` is still outside quotes.
    let plain = widget(
        json!({"url": "https://api.invalid/", "body_type": "json",
               "body": "{\"a\": \"x\", \"n\": $flow.key.n}"}),
        json!({}),
    );
    assert!(render_request(&plain.request, &vars(&[("$flow.key.n", "[1]")]), false).is_err());
}

#[test]
fn refusals_never_show_query_values() {
    let req = widget(
        json!({"url": "https://$flow.key.host/x", "query": [{"key": "api_key", "value": "$flow.key.k"}]}),
        json!({}),
    );
    let refused = render_request(
        &req.request,
        &vars(&[("$flow.key.k", "very-secret")]),
        false,
    )
    .expect_err("empty host");
    assert!(
        !refused.message.contains("very-secret"),
        "{}",
        refused.message
    );
}

#[test]
fn the_result_variable_names_are_the_ones_set() {
    let set: Vec<String> = result_variables(200, 0.1, "", None)
        .into_iter()
        .map(|(var, _)| var.name().to_owned())
        .collect();
    assert_eq!(set, RESULT_VARIABLES);
}
