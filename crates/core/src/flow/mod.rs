//! Flows: the widget graphs of SPEC §3, as written and as validated.
//!
//! - [`document`]: the JSON shape ([`FlowDocument`]), strict about fields but
//!   keeping checked content (templates, names, ids) as raw text.
//! - [`validate`](Flow::from_document): turns a document into a [`Flow`] or into
//!   the complete list of [`FlowError`]s, each naming its widget.
//! - [`widgets`]: the validated widget types the executor runs.
//!
//! Promise: a [`Flow`] only exists for a document without errors. Every line
//! and root names an existing widget, every widget is reachable from a root and
//! can reach an exit, every template is parsed, every regex compiled, every
//! assignment target writable. The original document is kept inside, so a flow
//! serializes back to the JSON it was saved as.

pub mod document;
pub mod secrets;
mod validate;
pub mod widgets;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

pub use document::{Channel, FlowDocument, WidgetDoc};
pub use widgets::{Widget, WidgetId, WidgetKind};

/// One problem found in a flow document: the widget it concerns (`None` for the
/// flow itself) and a message naming the field. Serializes as
/// `{"widget": …, "message": …}` for the API's 422 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct FlowError {
    pub widget: Option<String>,
    pub message: String,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.widget {
            Some(widget) => write!(f, "widget {widget:?}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Flow-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowSettings {
    pub name: String,
    pub channel: Channel,
    /// Used for `$sys.datetime` and date handling in the flow.
    pub timezone: chrono_tz::Tz,
    /// Whether the flow-end webhook (SPEC §6) is sent when an execution ends.
    pub webhook_on_complete: bool,
}

/// Where executions enter the flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    pub start: WidgetId,
    /// Run after the main path ends ("On Flow Complete").
    pub on_complete: Option<WidgetId>,
    /// Run instead of the rest of the main path when the trigger reports a
    /// remote hangup.
    pub on_remote_hangup: Option<WidgetId>,
}

/// A validated flow, ready to execute.
#[derive(Debug, Clone)]
pub struct Flow {
    settings: FlowSettings,
    roots: Roots,
    widgets: BTreeMap<WidgetId, Widget>,
    document: FlowDocument,
}

impl Flow {
    /// Validates a document (see [`parse_flow`] to start from JSON text).
    pub fn from_document(document: FlowDocument) -> Result<Flow, Vec<FlowError>> {
        validate::validate(document)
    }

    pub fn settings(&self) -> &FlowSettings {
        &self.settings
    }

    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// The widget with this id.
    pub fn widget(&self, id: &str) -> Option<&Widget> {
        self.widgets.get(id)
    }

    /// Every widget, ordered by id.
    pub fn widgets(&self) -> impl Iterator<Item = &Widget> + '_ {
        self.widgets.values()
    }

    /// The registered webhooks the flow names, with the widget naming each.
    pub fn webhook_references(
        &self,
    ) -> impl Iterator<Item = (&WidgetId, crate::ids::WebhookId)> + '_ {
        self.widgets().filter_map(|w| match &w.kind {
            WidgetKind::InternalWebhook(i) => Some((&w.id, i.webhook)),
            WidgetKind::Webhook(h) => h.request.webhook.map(|id| (&w.id, id)),
            _ => None,
        })
    }

    /// The document the flow was validated from.
    pub fn document(&self) -> &FlowDocument {
        &self.document
    }
}

/// A flow serializes as its document.
impl Serialize for Flow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.document.serialize(serializer)
    }
}

/// Deserializing validates; all errors are joined into one message. Prefer
/// [`parse_flow`] where the errors are shown to someone.
impl<'de> Deserialize<'de> for Flow {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let document = FlowDocument::deserialize(deserializer)?;
        Flow::from_document(document).map_err(|errors| {
            let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
            serde::de::Error::custom(messages.join("; "))
        })
    }
}

/// Parses and validates a flow document from JSON text, reporting every error:
/// a malformed widget is reported under its id while the other widgets are still
/// read, and validation then reports everything else.
pub fn parse_flow(json: &str) -> Result<Flow, Vec<FlowError>> {
    // serde would also accept a struct written as an array; a flow is an object.
    if !json.trim_start().starts_with('{') {
        return Err(vec![FlowError {
            widget: None,
            message: "invalid flow document: expected a JSON object".to_owned(),
        }]);
    }
    let raw: FlowDocument<Box<RawValue>> = serde_json::from_str(json).map_err(|e| {
        vec![FlowError {
            widget: None,
            message: format!("invalid flow document: {e}"),
        }]
    })?;
    let mut errors = Vec::new();
    let mut widgets = BTreeMap::new();
    for (id, raw_widget) in raw.widgets {
        match serde_json::from_str::<WidgetDoc>(raw_widget.get()) {
            Ok(widget) => {
                widgets.insert(id, widget);
            }
            Err(e) => errors.push(FlowError {
                widget: Some(id),
                message: without_location(&e),
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Flow::from_document(FlowDocument {
        name: raw.name,
        channel: raw.channel,
        timezone: raw.timezone,
        webhook_on_complete: raw.webhook_on_complete,
        start: raw.start,
        on_complete: raw.on_complete,
        on_remote_hangup: raw.on_remote_hangup,
        widgets,
        description: raw.description,
        ui: raw.ui,
    })
}

/// A serde_json message without its "at line L column C" suffix, which would
/// count from the start of the widget rather than of the document.
fn without_location(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message,
    }
}
