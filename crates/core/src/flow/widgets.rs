//! Validated widgets: typed configuration with parsed templates, checked variable
//! names, compiled regexes and resolved lines, plus the pure parts of their
//! semantics (assignments, choosing a condition's line).
//!
//! Values of these types only come out of validation, so the executor can use
//! them without re-checking anything: every line points at an existing widget,
//! every assignment target is writable, every regex compiled.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::budget::Exceeded;
use crate::condition::{self, Op};
use crate::http::{BodyType, HttpMethod};
use crate::paths::ResponsePath;
use crate::template::{Context, RenderError, Template};
use crate::vars::{Lookup, VarName, VarStore};

pub use super::document::ResponseType;

/// A widget id: `[A-Za-z0-9_-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct WidgetId(String);

impl WidgetId {
    /// Parses an id, or says why it is not one.
    pub fn parse(text: &str) -> Result<WidgetId, String> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if text.is_empty() || text.len() > 64 || !text.chars().all(valid_char) {
            return Err(format!(
                "invalid widget id {text:?}: ids are 1 to 64 of A-Z a-z 0-9 _ -"
            ));
        }
        Ok(WidgetId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For validation, which has already checked every id it converts.
    pub(super) fn trusted(text: &str) -> WidgetId {
        WidgetId(text.to_owned())
    }
}

impl std::borrow::Borrow<str> for WidgetId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WidgetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for WidgetId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        WidgetId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A validated widget.
#[derive(Debug, Clone)]
pub struct Widget {
    pub id: WidgetId,
    pub kind: WidgetKind,
    /// Exactly [`WidgetKind::line_count`] entries; `None` ends the path.
    pub lines: Vec<Option<WidgetId>>,
    pub description: Option<String>,
}

impl Widget {
    /// Where line `index` leads; `None` when it ends the path (or does not exist).
    pub fn next(&self, index: usize) -> Option<&WidgetId> {
        self.lines.get(index).and_then(Option::as_ref)
    }
}

/// The typed configuration of a widget.
#[derive(Debug, Clone)]
pub enum WidgetKind {
    StoreVariable(StoreVariable),
    Condition(Condition),
    Webhook(Box<Webhook>),
    InternalWebhook(InternalWebhook),
    End,
}

impl WidgetKind {
    /// How many output lines the widget has.
    pub fn line_count(&self) -> usize {
        match self {
            WidgetKind::StoreVariable(_) => 1,
            WidgetKind::Condition(c) => c.cases.len() + 1,
            WidgetKind::Webhook(_) | WidgetKind::InternalWebhook(_) => 2,
            WidgetKind::End => 0,
        }
    }
}

/// `store_variable`: assignments applied in order.
#[derive(Debug, Clone)]
pub struct StoreVariable {
    pub assign: Vec<Assignment>,
}

/// One assignment: a writable variable and the template of its new value.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub target: VarName,
    pub value: Template,
}

impl StoreVariable {
    /// Applies the assignments in order. Each value is rendered in
    /// [`Context::Plain`] against `vars` as it stands, so a later assignment sees
    /// the earlier ones. Returns the variables whose value changed, each once, in
    /// order of first change; or, when a value would render longer than the
    /// budget allows, which limit it hit (the assignments before it stay applied).
    pub fn apply<S: VarStore + ?Sized>(&self, vars: &mut S) -> Result<Vec<VarName>, Exceeded> {
        let mut changed = Vec::new();
        for assignment in &self.assign {
            // `&&*vars`: a sized reference, so `S` itself may be unsized (`dyn VarStore`).
            let value = render_plain(&assignment.value, &&*vars)?;
            if vars.set(&assignment.target, value) && !changed.contains(&assignment.target) {
                changed.push(assignment.target.clone());
            }
        }
        Ok(changed)
    }
}

/// Renders in [`Context::Plain`], which escapes and refuses nothing: the only
/// way it fails is the budget.
fn render_plain(template: &Template, vars: &dyn Lookup) -> Result<String, Exceeded> {
    match template.render(vars, Context::Plain) {
        Ok(rendered) => Ok(rendered.text),
        Err(RenderError::Budget(exceeded)) => Err(exceeded),
        // Unreachable for `Plain`; an empty value is the safe reading.
        Err(_) => Ok(String::new()),
    }
}

/// `condition`: the first matching case picks its line; the last line is taken
/// when none matches.
#[derive(Debug, Clone)]
pub struct Condition {
    pub cases: Vec<Case>,
}

/// One comparison of a condition.
#[derive(Debug, Clone)]
pub struct Case {
    pub var: VarName,
    pub op: Op,
    /// The value compared against; empty for `empty`, `not_empty` and `regex`.
    pub value: Template,
    /// The compiled pattern of a `regex` case (taken as written, not as a
    /// template, since `$` is an anchor in patterns); `as_str()` gives its source.
    pub regex: Option<Regex>,
}

impl Case {
    /// Evaluates the case against `vars`; fails only when the value to compare
    /// against renders longer than the budget allows.
    pub fn matches(&self, vars: &dyn Lookup) -> Result<bool, Exceeded> {
        let lhs = vars.get(&self.var);
        let rhs = if self.op.takes_value() && self.op != Op::Regex {
            // An unset variable in the value is "".
            render_plain(&self.value, vars)?
        } else {
            String::new()
        };
        Ok(condition::evaluate(
            self.op,
            lhs.as_deref(),
            &rhs,
            self.regex.as_ref(),
        ))
    }
}

impl Condition {
    /// The line to take: the index of the first matching case, or the last line.
    pub fn select_line(&self, vars: &dyn Lookup) -> Result<usize, Exceeded> {
        for (i, case) in self.cases.iter().enumerate() {
            if case.matches(vars)? {
                return Ok(i);
            }
        }
        Ok(self.cases.len())
    }
}

/// `webhook`: one HTTP call and how its response is read.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub request: Request,
    pub response: Response,
}

/// The request of a webhook widget, with parsed templates.
#[derive(Debug, Clone)]
pub struct Request {
    /// A registered webhook whose URL, method, auth, headers and body type
    /// replace the widget's (`url` is then empty and `auth` none).
    pub webhook: Option<crate::ids::WebhookId>,
    pub method: HttpMethod,
    /// Rendered in [`Context::Url`].
    pub url: Template,
    pub auth: Auth,
    /// Values rendered in [`Context::Header`].
    pub headers: Vec<Param>,
    /// Values rendered in [`Context::Form`], which encodes them for a query
    /// string (`key=value`, joined with `&` after the URL's `?`).
    pub query: Vec<Param>,
    pub body_type: BodyType,
    /// Rendered in [`Context::for_body`] of `body_type`.
    pub body: Template,
}

/// Request authentication.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Basic {
        username: Template,
        password: Template,
    },
}

/// A header or query parameter.
#[derive(Debug, Clone)]
pub struct Param {
    pub key: String,
    pub value: Template,
    /// When true and the value renders empty, nothing is sent
    /// (`MANDATORY_PARAMETER_MISSING`).
    pub mandatory: bool,
}

/// How the response of a webhook widget is waited for and read.
#[derive(Debug, Clone)]
pub struct Response {
    pub kind: ResponseType,
    pub mappings: Vec<Mapping>,
    pub wait_for_response: bool,
    /// 1..=60.
    pub timeout_seconds: u32,
    pub hold_music: bool,
    pub persist_response: bool,
}

impl Response {
    /// The maximum wait for the response.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.timeout_seconds))
    }
}

impl Default for Response {
    /// What a widget without a `response` object gets: JSON, no mappings, wait
    /// up to 60 s.
    fn default() -> Self {
        Response {
            kind: ResponseType::Json,
            mappings: Vec::new(),
            wait_for_response: true,
            timeout_seconds: 60,
            hold_music: false,
            persist_response: false,
        }
    }
}

/// A response mapping: `path` into the body, stored in the writable `save_in`.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub save_in: VarName,
    /// A JSONPath or XPath expression, parsed when the flow was saved.
    pub path: ResponsePath,
    pub mandatory: bool,
}

/// `internal_webhook`: a platform function called with the §5 envelope.
#[derive(Debug, Clone)]
pub struct InternalWebhook {
    /// A registered webhook of the account: the server's own internal URL, or
    /// any service that speaks the envelope. (Whether it is the account's is
    /// checked when the flow is saved, since the flow model does not know the
    /// account's webhooks.)
    pub webhook: crate::ids::WebhookId,
    pub method: crate::internal::Method,
    pub pass: BTreeSet<PassGroup>,
}

/// A group of variables an internal webhook passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PassGroup {
    #[serde(rename = "call")]
    Call,
    #[serde(rename = "flow.key")]
    FlowKey,
    #[serde(rename = "flow.syskey")]
    FlowSyskey,
    #[serde(rename = "user.key")]
    UserKey,
}

impl PassGroup {
    pub const ALL: [PassGroup; 4] = [
        PassGroup::Call,
        PassGroup::FlowKey,
        PassGroup::FlowSyskey,
        PassGroup::UserKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PassGroup::Call => "call",
            PassGroup::FlowKey => "flow.key",
            PassGroup::FlowSyskey => "flow.syskey",
            PassGroup::UserKey => "user.key",
        }
    }

    pub fn parse(text: &str) -> Option<PassGroup> {
        PassGroup::ALL.into_iter().find(|g| g.as_str() == text)
    }

    /// The namespace whose variables this group sends.
    pub fn namespace(self) -> crate::vars::Namespace {
        use crate::vars::Namespace;
        match self {
            PassGroup::Call => Namespace::Call,
            PassGroup::FlowKey => Namespace::FlowKey,
            PassGroup::FlowSyskey => Namespace::FlowSyskey,
            PassGroup::UserKey => Namespace::UserKey,
        }
    }
}
