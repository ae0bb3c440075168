//! The OpenAPI document as a contract: every problem an operation can answer is
//! listed, as `application/problem+json`; the flow document has a real schema;
//! `/docs` renders it from the binary. (`scripts/api-contract.sh` checks the
//! server against the document with schemathesis; these tests pin its shape.)

use reqwest::Method;
use serde_json::Value;

use crate::flows::post_flow;
use crate::helpers::spawn_app;

const ORDER_STATUS: &str = include_str!("../../../../examples/order-status.flow.json");

/// A response object, with a `$ref` into `components/responses` followed.
fn resolve<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .expect("responses refer to components/responses");
            &doc["components"]["responses"][name]
        }
        None => response,
    }
}

#[tokio::test]
async fn every_operation_lists_the_problems_it_can_answer() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            operations += 1;
            let at = format!("{method} {path}");
            let responses = op["responses"].as_object().expect("responses");
            let listed = |status: &str| responses.contains_key(status);
            let params = |place: &str| {
                op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == place))
            };
            let mut expected = vec!["408", "500", "503"];
            if op.get("requestBody").is_some() {
                expected.extend(["400", "413", "415", "422"]);
            }
            if op.get("security").is_some() {
                expected.extend(["401", "403"]);
            }
            if params("path") {
                expected.push("404");
            }
            if params("query") {
                expected.push("400");
            }
            for status in expected {
                assert!(listed(status), "{at} does not list {status}");
            }
            for (status, response) in responses {
                let content = &resolve(&doc, response)["content"];
                // The outbound API's refusals are the platform's fixed
                // `{"api-response-code", …}` document (SPEC §5), not problems.
                if op["operationId"] == "create_outbound"
                    && content["application/json"]["schema"]["$ref"]
                        == "#/components/schemas/OutboundAnswer"
                {
                    continue;
                }
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        content["application/problem+json"]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{at} {status} is not a problem"
                    );
                    assert!(content.get("application/json").is_none(), "{at} {status}");
                }
            }
        }
    }
    assert!(operations >= 29, "only {operations} operations");
    let problem = &doc["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail", "code"] {
        assert!(
            problem["required"]
                .as_array()
                .expect("required")
                .contains(&field.into()),
            "{field}"
        );
    }
}

#[tokio::test]
async fn the_flow_document_is_a_union_of_closed_widgets_tagged_by_type() {
    let app = spawn_app().await;
    let doc = app.get_json("/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    let body = &doc["paths"]["/v1/flows"]["post"]["requestBody"]["content"]["application/json"];
    assert_eq!(body["schema"]["$ref"], "#/components/schemas/FlowDocument");
    assert_eq!(body["example"]["name"], "order_status");
    let flow = &schemas["FlowDocument"];
    assert_eq!(flow["additionalProperties"], false);
    assert_eq!(flow["properties"]["name"]["pattern"], "^[A-Za-z0-9_]+$");

    let widget = &schemas["WidgetDoc"];
    assert_eq!(widget["discriminator"]["propertyName"], "type");
    let mapping = widget["discriminator"]["mapping"]
        .as_object()
        .expect("mapping");
    let tags: Vec<&str> = mapping.keys().map(String::as_str).collect();
    assert_eq!(
        tags,
        [
            "condition",
            "end",
            "internal_webhook",
            "store_variable",
            "webhook"
        ]
    );
    for (tag, reference) in mapping {
        let name = reference
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .expect("a schema reference");
        let variant = &schemas[name];
        assert_eq!(variant["properties"]["type"]["enum"][0], tag.as_str());
        assert_eq!(variant["required"][0], "type", "{name}");
        assert_eq!(variant["additionalProperties"], false, "{name}");
    }
    let webhook = &schemas["WebhookWidget"];
    assert_eq!(
        webhook["properties"]["request"]["$ref"],
        "#/components/schemas/RequestDoc"
    );
    let timeout = &schemas["ResponseDoc"]["properties"]["timeout_seconds"];
    assert_eq!(
        (&timeout["minimum"], &timeout["maximum"]),
        (&1.into(), &60.into())
    );
    let method = schemas["HttpMethod"]["pattern"]
        .as_str()
        .expect("a pattern");
    assert!(method.contains("[Pp][Oo][Ss][Tt]") && method.contains("[Oo][Pp][Tt][Ii][Oo][Nn]"));
}

#[tokio::test]
async fn the_documented_example_flow_is_a_valid_flow() {
    let app = spawn_app().await;
    let acct = app.create_account(false).await;
    let (status, body) = post_flow(&app, &acct.key, "/v1/flows", Method::POST, ORDER_STATUS).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "order_status");
}

#[tokio::test]
async fn docs_render_the_document_with_the_embedded_viewer() {
    let app = spawn_app().await;
    let page = app.http.get(app.url("/docs")).send().await.expect("docs");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(html.contains(r#"<redoc spec-url="openapi.json""#), "{html}");
    assert!(
        html.contains(r#"<script src="docs/redoc.standalone.js">"#),
        "{html}"
    );
    assert!(
        !html.contains("http"),
        "the page loads nothing from elsewhere: {html}"
    );

    let slash = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(app.url("/docs/"))
        .send()
        .await
        .expect("docs/");
    assert_eq!(slash.status(), 308);
    assert_eq!(slash.headers()["location"], "../docs");

    let script = app
        .http
        .get(app.url("/docs/redoc.standalone.js"))
        .send()
        .await
        .expect("script");
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .expect("text")
            .starts_with("text/javascript")
    );
    let js = script.text().await.expect("js");
    assert!(
        js.len() > 500_000 && js.contains("Redoc"),
        "{} bytes",
        js.len()
    );
}
