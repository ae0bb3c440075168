//! Micro-benchmarks of templates: what parsing costs when a flow is saved, and
//! what rendering a typical webhook request (URL, headers, JSON or XML body)
//! costs on every execution, against a ~50-entry variable set of a call.
//!
//! The `json_body` group carries the baselines, measured in the same run so
//! ratios are comparable across machines: the same body built the way an
//! integrator might without flowhook — `String::replace` of each placeholder
//! with a `serde_json`-escaped value, and `serde_json::json!` + `to_vec`. Before
//! measuring, every baseline is checked to produce the same JSON as flowhook.
//!
//! Run: `cargo bench -p flowhook-core --bench templates`; see BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use flowhook_core::template::{Context, Template};
use flowhook_core::vars::{VarName, Variables};

const URL: &str = "https://api.shop.invalid/v1/orders/$flow.key.orderId/status\
                   ?cli=$call.cli.number&lang=$user.key.language";

/// Header names are literal; only the values are templates.
const HEADERS: [(&str, &str); 3] = [
    ("Authorization", "Bearer $flow.syskey.apiToken"),
    ("X-Request-Id", "$flow.syskey.executionId"),
    ("X-Caller", "$call.cli.number"),
];

/// Ten fields, six of them variables; `note` and `fullName` need escaping.
const JSON_BODY: &str = r#"{
  "orderId": "$flow.key.orderId",
  "status": "confirmed",
  "source": "flowhook-ivr",
  "customer": {
    "phone": "$call.cli.number",
    "name": "$user.key.fullName",
    "language": "$user.key.language"
  },
  "callStartedAt": "$call.start",
  "channel": "voice",
  "note": "$flow.key.note",
  "notifyCustomer": true
}"#;

/// The placeholders of [`JSON_BODY`], for the baselines. No placeholder is a
/// prefix of another, so plain `replace` cannot cut one in half.
const JSON_BODY_VARS: [&str; 6] = [
    "$flow.key.orderId",
    "$call.cli.number",
    "$user.key.fullName",
    "$user.key.language",
    "$call.start",
    "$flow.key.note",
];

/// A SOAP-ish envelope comparable to [`JSON_BODY`]: same size class, seven
/// variables, one of them in an attribute.
const XML_BODY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:ord="urn:shop:orders:v1">
  <soapenv:Header>
    <ord:Auth token="$flow.syskey.apiToken"/>
  </soapenv:Header>
  <soapenv:Body>
    <ord:UpdateOrderStatus>
      <ord:OrderId>$flow.key.orderId</ord:OrderId>
      <ord:Status>confirmed</ord:Status>
      <ord:Customer>
        <ord:Phone>$call.cli.number</ord:Phone>
        <ord:Name>$user.key.fullName</ord:Name>
        <ord:Language>$user.key.language</ord:Language>
      </ord:Customer>
      <ord:CallStartedAt>$call.start</ord:CallStartedAt>
      <ord:Note>$flow.key.note</ord:Note>
    </ord:UpdateOrderStatus>
  </soapenv:Body>
</soapenv:Envelope>"#;

fn var(text: &str) -> VarName {
    VarName::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// What the engine would hold for one inbound call partway through a flow:
/// the trigger's call details, execution system keys, the contact's persisted
/// keys and a dozen or so execution keys — 50 entries in all.
fn call_variables() -> Variables {
    let pairs: [(&str, &str); 50] = [
        ("$call.cli.number", "+33612345678"),
        ("$call.dnis.number", "+33180001234"),
        ("$call.did.number", "+33180001234"),
        ("$call.agent.dnis.number", "+33180009999"),
        ("$call.start", "2025-03-14T09:26:53Z"),
        ("$call.connect", "2025-03-14T09:26:55Z"),
        ("$call.hangup", ""),
        ("$call.duration", "0"),
        ("$call.isdn", "16"),
        ("$call.cdr", "c0a8011e-5f3a-4d2b-9b7e-2f4d5e6a7b8c"),
        ("$call.state", "connected"),
        ("$call.incoming", "true"),
        (
            "$flow.syskey.flowID",
            "1a2b3c4d-0000-7000-8000-00000000f10w",
        ),
        (
            "$flow.syskey.executionId",
            "0195a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        ),
        (
            "$flow.syskey.phonon_uuid",
            "7d9f1e2a-3b4c-5d6e-7f80-91a2b3c4d5e6",
        ),
        ("$flow.syskey.apiToken", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ("$flow.syskey.attempt", "1"),
        ("$flow.syskey.webhookId", "wh_01HQ2Z3X4Y5W6V7U8T9S"),
        ("$user.syskey.contactNumber", "+33612345678"),
        ("$user.syskey.contactId", "contact-000482913"),
        ("$user.key.fullName", "Zoë \"Zizou\" Lefèvre-Müller"),
        ("$user.key.language", "fr-FR"),
        ("$user.key.loyaltyTier", "gold"),
        ("$user.key.lastOrderId", "ORD-2025-000117"),
        ("$user.key.email", "zoe.lefevre@example.invalid"),
        ("$user.key.preferredAgent", "agent-042"),
        ("$user.key.optInSms", "true"),
        ("$user.key.timezone", "Europe/Paris"),
        ("$user.key.callCount", "7"),
        ("$user.key.lastCallAt", "2025-03-01T17:02:11Z"),
        ("$user.key.postcode", "75011"),
        ("$user.key.segment", "retail"),
        ("$flow.key.orderId", "ORD-2025-000118"),
        (
            "$flow.key.note",
            "Customer said: \"deliver after 5pm\"\nGate code 4711\\B",
        ),
        ("$flow.key.menuChoice", "2"),
        ("$flow.key.dtmf", "2#"),
        ("$flow.key.orderStatus", "shipped"),
        ("$flow.key.amount", "129.90"),
        ("$flow.key.currency", "EUR"),
        ("$flow.key.carrier", "Colissimo"),
        ("$flow.key.trackingNumber", "6A12345678901"),
        ("$flow.key.eta", "2025-03-16"),
        ("$flow.key.retries", "0"),
        ("$flow.key.httpStatus", "200"),
        ("$flow.key.lastError", ""),
        ("$flow.key.confirmed", "yes"),
        ("$flow.key.queue", "orders-fr"),
        ("$flow.key.transferTo", "+33180005555"),
        ("$flow.key.surveyScore", "5"),
        ("$flow.key.greetingPlayed", "true"),
    ];
    pairs
        .iter()
        .map(|(k, v)| (var(k), (*v).to_owned()))
        .collect()
}

/// The templates of one webhook call, parsed as a saved flow holds them.
struct Request {
    url: Template,
    headers: Vec<(&'static str, Template)>,
    body: Template,
}

impl Request {
    fn parse(body: &str) -> Request {
        let parse = |s: &str| Template::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        Request {
            url: parse(URL),
            headers: HEADERS.iter().map(|(n, v)| (*n, parse(v))).collect(),
            body: parse(body),
        }
    }
}

/// The rendered parts of a request, so a benchmark can keep them alive.
struct RenderedRequest {
    url: String,
    headers: Vec<(&'static str, String)>,
    body: String,
}

/// Renders a request with fresh strings, as `Template::render` gives them.
fn render_request(request: &Request, vars: &Variables) -> RenderedRequest {
    let url = request.url.render(vars, Context::Url).expect("url renders");
    let headers = request
        .headers
        .iter()
        .map(|(name, value)| {
            let rendered = value.render(vars, Context::Header).expect("header renders");
            (*name, rendered.text)
        })
        .collect();
    let body = request
        .body
        .render(vars, Context::JsonString)
        .expect("body renders");
    RenderedRequest {
        url: url.text,
        headers,
        body: body.text,
    }
}

/// Renders a request into buffers kept from the previous call.
fn render_request_into(request: &Request, vars: &Variables, out: &mut RenderedRequest) {
    let mut missing = Vec::new();
    out.url.clear();
    request
        .url
        .render_into(vars, Context::Url, &mut out.url, &mut missing)
        .expect("url renders");
    for ((_, template), (_, text)) in request.headers.iter().zip(out.headers.iter_mut()) {
        text.clear();
        template
            .render_into(vars, Context::Header, text, &mut missing)
            .expect("header renders");
    }
    out.body.clear();
    request
        .body
        .render_into(vars, Context::JsonString, &mut out.body, &mut missing)
        .expect("body renders");
}

/// Escapes `value` for the inside of a JSON string the way an integrator might:
/// serialize it as a JSON string and strip the quotes.
fn naive_json_escape(value: &str) -> String {
    let quoted = serde_json::to_string(value).expect("a string serializes");
    quoted[1..quoted.len() - 1].to_owned()
}

/// Baseline 1: the body as text with placeholders, each replaced in turn.
fn naive_replace(placeholders: &[(&str, VarName)], vars: &Variables) -> String {
    let mut body = JSON_BODY.to_owned();
    for (placeholder, name) in placeholders {
        let value = vars.get(name).map(String::as_str).unwrap_or("");
        body = body.replace(placeholder, &naive_json_escape(value));
    }
    body
}

/// Baseline 2: the body as a `serde_json::Value` built from the variables.
fn json_macro(names: &[VarName; 6], vars: &Variables) -> Vec<u8> {
    let get = |i: usize| vars.get(&names[i]).map(String::as_str).unwrap_or("");
    let body = serde_json::json!({
        "orderId": get(0),
        "status": "confirmed",
        "source": "flowhook-ivr",
        "customer": {
            "phone": get(1),
            "name": get(2),
            "language": get(3),
        },
        "callStartedAt": get(4),
        "channel": "voice",
        "note": get(5),
        "notifyCustomer": true,
    });
    serde_json::to_vec(&body).expect("a Value serializes")
}

fn parse_json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.bench_function("json_body", |b| {
        b.iter(|| Template::parse(black_box(JSON_BODY)))
    });
    group.bench_function("xml_body", |b| {
        b.iter(|| Template::parse(black_box(XML_BODY)))
    });
    group.finish();
}

fn bench_request(c: &mut Criterion) {
    let vars = call_variables();
    let request = Request::parse(JSON_BODY);
    let mut reused = render_request(&request, &vars);
    assert_eq!(
        reused.url,
        "https://api.shop.invalid/v1/orders/ORD-2025-000118/status\
         ?cli=%2B33612345678&lang=fr-FR"
    );

    let mut group = c.benchmark_group("request");
    group.bench_function("render", |b| {
        b.iter(|| render_request(black_box(&request), black_box(&vars)))
    });
    group.bench_function("render_into", |b| {
        b.iter(|| render_request_into(black_box(&request), black_box(&vars), &mut reused))
    });
    group.finish();
}

fn bench_json_body(c: &mut Criterion) {
    let vars = call_variables();
    let body = Template::parse(JSON_BODY).expect("body parses");
    let names = JSON_BODY_VARS.map(var);
    let placeholders: Vec<(&str, VarName)> = JSON_BODY_VARS
        .iter()
        .zip(names.iter())
        .map(|(p, n)| (*p, n.clone()))
        .collect();

    // All four must produce the same document, or the comparison means nothing.
    let rendered = body
        .render(&vars, Context::JsonString)
        .expect("body renders");
    assert!(rendered.missing.is_empty(), "{:?}", rendered.missing);
    assert_eq!(naive_replace(&placeholders, &vars), rendered.text);
    let expected = parse_json(rendered.text.as_bytes());
    assert_eq!(parse_json(&json_macro(&names, &vars)), expected);
    assert_eq!(expected["note"], vars[&names[5]].as_str());

    let mut group = c.benchmark_group("json_body");
    group.bench_function("flowhook_render", |b| {
        b.iter(|| body.render(black_box(&vars), Context::JsonString))
    });
    let mut out = String::new();
    let mut missing = Vec::new();
    group.bench_function("flowhook_render_into", |b| {
        b.iter(|| {
            out.clear();
            body.render_into(
                black_box(&vars),
                Context::JsonString,
                &mut out,
                &mut missing,
            )
        })
    });
    group.bench_function("baseline_replace", |b| {
        b.iter(|| naive_replace(black_box(&placeholders), black_box(&vars)))
    });
    group.bench_function("baseline_json_macro", |b| {
        b.iter(|| json_macro(black_box(&names), black_box(&vars)))
    });
    group.finish();
}

fn bench_xml_body(c: &mut Criterion) {
    let vars = call_variables();
    let body = Template::parse(XML_BODY).expect("body parses");
    let rendered = body.render(&vars, Context::Xml).expect("body renders");
    assert!(rendered.missing.is_empty(), "{:?}", rendered.missing);
    assert!(
        rendered.text.contains("&quot;Zizou&quot;"),
        "{}",
        rendered.text
    );

    let mut group = c.benchmark_group("xml_body");
    group.bench_function("flowhook_render", |b| {
        b.iter(|| body.render(black_box(&vars), Context::Xml))
    });
    let mut out = String::new();
    let mut missing = Vec::new();
    group.bench_function("flowhook_render_into", |b| {
        b.iter(|| {
            out.clear();
            body.render_into(black_box(&vars), Context::Xml, &mut out, &mut missing)
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_parse,
    bench_request,
    bench_json_body,
    bench_xml_body
);
criterion_main!(benches);
