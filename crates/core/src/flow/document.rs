//! The flow document as written (SPEC §3): the JSON shape, before validation.
//!
//! Fields whose content is checked by validation (templates, variable names,
//! operators, ids, the time zone) are kept as raw strings here, so that one
//! save reports every mistake at once instead of stopping at the first one
//! serde meets. Shapes are strict: unknown fields are refused everywhere except
//! in the free-form `ui` values, which editors use for positions.
//!
//! Serializing a document gives back JSON with the same meaning as the input:
//! assignment order is kept (it matters, later assignments see earlier ones),
//! widget and object key order is not, and default values are left out.
//! Serialize to text (`serde_json::to_string`), not to `serde_json::Value`,
//! whose maps are sorted and would lose the assignment order.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use utoipa::{PartialSchema, ToSchema};

use crate::http::{BodyType, HttpMethod};

/// A flow document (SPEC §3): named widgets joined by their `lines`.
//
// `W` is the widget type: [`WidgetDoc`] normally; the parser first reads
// widgets as raw JSON so it can report errors per widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(bound = "W: ToSchema")]
pub struct FlowDocument<W = WidgetDoc> {
    /// One or more of A-Z a-z 0-9 `_`.
    #[schema(pattern = "^[A-Za-z0-9_]+$", example = "order_status")]
    pub name: String,
    #[serde(default)]
    pub channel: Channel,
    /// The IANA time zone of the flow's clock (`$time.*`).
    #[serde(default = "default_timezone")]
    #[schema(value_type = crate::account::TimeZone, default = "UTC")]
    pub timezone: String,
    #[serde(default)]
    pub webhook_on_complete: bool,
    /// The widget the main path starts at.
    pub start: String,
    /// The widget that runs after the main path ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_complete: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_remote_hangup: Option<String>,
    /// The widgets by id (at most 500).
    pub widgets: BTreeMap<String, W>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub ui: Option<Value>,
}

fn default_timezone() -> String {
    "UTC".to_owned()
}

/// The channel a flow runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    #[default]
    Voice,
    Sms,
    Email,
}

/// One widget as written: `{"type": …, <type fields>, "lines": […]}`.
///
/// Every variant repeats `lines`, `description` and `ui` because serde cannot
/// combine `flatten` with `deny_unknown_fields`; the accessors hide that.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WidgetDoc {
    StoreVariable(StoreVariableDoc),
    Condition(ConditionDoc),
    Webhook(WebhookDoc),
    InternalWebhook(InternalWebhookDoc),
    End(EndDoc),
}

/// The schema is a union tagged by `type`. Each variant is a component of its
/// own (`StoreVariableWidget`, …): its fields plus `type`, still closed to
/// unknown fields (a derived schema would combine a closed object with `type`
/// through `allOf`, which nothing satisfies).
impl WidgetDoc {
    fn variant_schemas() -> [(&'static str, String, utoipa::openapi::schema::Schema); 5] {
        use utoipa::openapi::schema::{Schema, Type};
        use utoipa::openapi::{ObjectBuilder, RefOr};
        let variants = [
            (
                "store_variable",
                "StoreVariableWidget",
                StoreVariableDoc::schema(),
            ),
            ("condition", "ConditionWidget", ConditionDoc::schema()),
            ("webhook", "WebhookWidget", WebhookDoc::schema()),
            (
                "internal_webhook",
                "InternalWebhookWidget",
                InternalWebhookDoc::schema(),
            ),
            ("end", "EndWidget", EndDoc::schema()),
        ];
        variants.map(|(tag, name, schema)| {
            let RefOr::T(Schema::Object(mut object)) = schema else {
                unreachable!("a widget's fields are an object schema");
            };
            let tag_schema = ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([tag]));
            object
                .properties
                .insert("type".to_owned(), tag_schema.into());
            object.required.insert(0, "type".to_owned());
            (tag, name.to_owned(), Schema::Object(object))
        })
    }
}

impl utoipa::PartialSchema for WidgetDoc {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::Ref;
        use utoipa::openapi::schema::{Discriminator, OneOfBuilder};
        let mut discriminator = Discriminator::new("type");
        let mut union = OneOfBuilder::new().description(Some("One widget, by its `type`"));
        for (tag, name, _) in WidgetDoc::variant_schemas() {
            let reference = format!("#/components/schemas/{name}");
            discriminator
                .mapping
                .insert(tag.to_owned(), reference.clone());
            union = union.item(Ref::new(reference));
        }
        union.discriminator(Some(discriminator)).into()
    }
}

impl ToSchema for WidgetDoc {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        for (_, name, schema) in WidgetDoc::variant_schemas() {
            schemas.push((name, schema.into()));
        }
        <StoreVariableDoc as ToSchema>::schemas(schemas);
        <ConditionDoc as ToSchema>::schemas(schemas);
        <WebhookDoc as ToSchema>::schemas(schemas);
        <InternalWebhookDoc as ToSchema>::schemas(schemas);
        <EndDoc as ToSchema>::schemas(schemas);
    }
}

impl WidgetDoc {
    /// The `lines` as written (possibly shorter than the widget's line count).
    pub fn lines(&self) -> &[Option<String>] {
        match self {
            WidgetDoc::StoreVariable(w) => &w.lines,
            WidgetDoc::Condition(w) => &w.lines,
            WidgetDoc::Webhook(w) => &w.lines,
            WidgetDoc::InternalWebhook(w) => &w.lines,
            WidgetDoc::End(w) => &w.lines,
        }
    }

    /// The optional free-text description.
    pub fn description(&self) -> Option<&str> {
        match self {
            WidgetDoc::StoreVariable(w) => w.description.as_deref(),
            WidgetDoc::Condition(w) => w.description.as_deref(),
            WidgetDoc::Webhook(w) => w.description.as_deref(),
            WidgetDoc::InternalWebhook(w) => w.description.as_deref(),
            WidgetDoc::End(w) => w.description.as_deref(),
        }
    }

    /// How many output lines a widget of this type and shape has; `lines` may
    /// be shorter (padded with `null`) but not longer.
    pub fn line_count(&self) -> usize {
        match self {
            WidgetDoc::StoreVariable(_) => 1,
            WidgetDoc::Condition(w) => w.cases.len() + 1,
            WidgetDoc::Webhook(_) | WidgetDoc::InternalWebhook(_) => 2,
            WidgetDoc::End(_) => 0,
        }
    }

    /// The `type` name as written.
    pub fn type_name(&self) -> &'static str {
        match self {
            WidgetDoc::StoreVariable(_) => "store_variable",
            WidgetDoc::Condition(_) => "condition",
            WidgetDoc::Webhook(_) => "webhook",
            WidgetDoc::InternalWebhook(_) => "internal_webhook",
            WidgetDoc::End(_) => "end",
        }
    }
}

/// `store_variable`: assignments target → template, applied in written order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreVariableDoc {
    /// Target variable → template, applied in the written order (at most 100).
    #[schema(value_type = BTreeMap<String, String>)]
    pub assign: Assignments,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form editor data (positions): any JSON, kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub ui: Option<Value>,
}

/// The `assign` object as an ordered list of `(target, template)` pairs.
///
/// JSON objects are unordered in general, but editors write assignments in the
/// order the author sees them, and that order decides what a later assignment
/// reads; so it is read into a list instead of a map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignments(pub Vec<(String, String)>);

impl Serialize for Assignments {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (target, value) in &self.0 {
            map.serialize_entry(target, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Assignments {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;
        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = Assignments;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of variable → template strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Assignments, A::Error> {
                let mut pairs = Vec::with_capacity(access.size_hint().unwrap_or(0));
                while let Some(pair) = access.next_entry::<String, String>()? {
                    pairs.push(pair);
                }
                Ok(Assignments(pairs))
            }
        }
        deserializer.deserialize_map(OrderedVisitor)
    }
}

/// `condition`: cases tried in order; line i for the first match, the last line
/// when none matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionDoc {
    #[schema(max_items = 50)]
    pub cases: Vec<CaseDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form editor data (positions): any JSON, kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub ui: Option<Value>,
}

/// One case of a condition: `{"when": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseDoc {
    pub when: WhenDoc,
}

/// The comparison of a case: variable, operator, value (a template; for `regex`
/// the pattern itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhenDoc {
    pub var: String,
    pub op: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `webhook`: an HTTP call (SPEC §4). Lines: 0 success, 1 failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookDoc {
    pub request: RequestDoc,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form editor data (positions): any JSON, kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub ui: Option<Value>,
}

/// The request half of a webhook widget; text fields are templates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestDoc {
    /// Ignored with `webhook`: the registered webhook's method is used.
    #[serde(default)]
    pub method: HttpMethod,
    /// A template of the URL; or give `webhook`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Instead of `url`: a registered webhook of the account (the seeds'
    /// "Select URL"). Its URL, method, auth, headers and body type are used;
    /// the widget may add headers, query entries and a body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::ids::WebhookId>)]
    pub webhook: Option<String>,
    #[serde(default, skip_serializing_if = "AuthDoc::is_none")]
    pub auth: AuthDoc,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub headers: Vec<ParamDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 50)]
    pub query: Vec<ParamDoc>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub body_type: BodyType,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
}

/// Request authentication; credentials are templates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum AuthDoc {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
}

impl AuthDoc {
    fn is_none(&self) -> bool {
        *self == AuthDoc::None
    }
}

/// A header or query parameter: fixed key, template value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamDoc {
    pub key: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub mandatory: bool,
}

/// The response half of a webhook widget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseDoc {
    #[serde(rename = "type", default, skip_serializing_if = "is_default")]
    pub kind: ResponseType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 100)]
    pub mappings: Vec<MappingDoc>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub wait_for_response: bool,
    /// Signed so that a negative value is reported as out of range, not as a
    /// shape error.
    #[serde(
        default = "default_timeout",
        skip_serializing_if = "is_default_timeout"
    )]
    #[schema(minimum = 1, maximum = 60, default = 60)]
    pub timeout_seconds: i64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub hold_music: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub persist_response: bool,
}

fn yes() -> bool {
    true
}

fn default_timeout() -> i64 {
    60
}

// Defaults are left out when serializing, so a stored document stays as small
// as what the author wrote.

fn is_default_timeout(t: &i64) -> bool {
    *t == default_timeout()
}

fn is_false(b: &bool) -> bool {
    !b
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

pub use crate::paths::ResponseType;

/// One response mapping: a path into the body, stored in a variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingDoc {
    pub save_in: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub mandatory: bool,
}

/// `internal_webhook`: a call to a platform function (SPEC §5). Lines: 0
/// success, 1 failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InternalWebhookDoc {
    pub webhook: String,
    pub method: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form editor data (positions): any JSON, kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub ui: Option<Value>,
}

/// `end`: stops the path. Has no lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndDoc {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form editor data (positions): any JSON, kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub ui: Option<Value>,
}

#[cfg(test)]
mod schema_tests {
    //! The schema's limits are literals (the derive takes no constants): they
    //! must say what validation enforces.
    use super::*;
    use crate::budget::{MAX_CASES, MAX_HEADERS, MAX_MAPPINGS, MAX_QUERY_ENTRIES};

    fn json<T: PartialSchema>() -> Value {
        serde_json::to_value(T::schema()).expect("a schema is JSON")
    }

    #[test]
    fn the_schema_limits_are_the_budget() {
        let request = json::<RequestDoc>();
        assert_eq!(request["properties"]["headers"]["maxItems"], MAX_HEADERS);
        assert_eq!(
            request["properties"]["query"]["maxItems"],
            MAX_QUERY_ENTRIES
        );
        let response = json::<ResponseDoc>();
        assert_eq!(response["properties"]["mappings"]["maxItems"], MAX_MAPPINGS);
        let timeout = &response["properties"]["timeout_seconds"];
        assert_eq!(
            (&timeout["minimum"], &timeout["maximum"]),
            (&1.into(), &60.into())
        );
        assert_eq!(
            json::<ConditionDoc>()["properties"]["cases"]["maxItems"],
            MAX_CASES
        );
    }

    #[test]
    fn the_flow_name_pattern_is_the_validation_rule() {
        let pattern = json::<FlowDocument>()["properties"]["name"]["pattern"].clone();
        let pattern = regex::Regex::new(pattern.as_str().expect("a pattern")).expect("a regex");
        for name in ["order_status", "A1", "_", "a b", "", "é", "x-y"] {
            let doc = format!(
                r#"{{"name": "{name}", "start": "e", "widgets": {{"e": {{"type": "end"}}}}}}"#
            );
            assert_eq!(
                pattern.is_match(name),
                crate::flow::parse_flow(&doc).is_ok(),
                "{name:?}"
            );
        }
    }
}
