//! Validation: a [`FlowDocument`] becomes a [`Flow`], or every error found.
//!
//! Validation never stops at the first problem: the editor shows all of them,
//! each with its widget and the field (and for templates the char position).
//! A `Flow` is only built when nothing was found, so its parts can be trusted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use regex::RegexBuilder;

use super::document::{
    AuthDoc, ConditionDoc, FlowDocument, InternalWebhookDoc, ParamDoc, RequestDoc, ResponseDoc,
    StoreVariableDoc, WebhookDoc, WidgetDoc,
};
use super::widgets::{
    Assignment, Auth, Case, Condition, InternalWebhook, Mapping, Param, PassGroup, Request,
    Response, StoreVariable, Webhook, Widget, WidgetId, WidgetKind,
};
use super::{Flow, FlowError, FlowSettings, Roots};
use crate::budget::{
    MAX_ASSIGNMENTS, MAX_CASES, MAX_HEADERS, MAX_MAPPINGS, MAX_QUERY_ENTRIES, MAX_WIDGETS,
};
use crate::condition::Op;
use crate::ids::WebhookId;
use crate::internal::Method;
use crate::paths::ResponsePath;
use crate::template::Template;
use crate::vars::VarName;

/// Largest compiled size of a condition regex: a flow author's pattern must not
/// be able to make the executor allocate without bound.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Errors found so far, tagged with the widget being checked.
struct Errors {
    list: Vec<FlowError>,
    widget: Option<String>,
}

impl Errors {
    fn push(&mut self, message: impl Into<String>) {
        self.list.push(FlowError {
            widget: self.widget.clone(),
            message: message.into(),
        });
    }

    /// Parses a template field, recording an error naming `field` if it fails.
    fn template(&mut self, field: &str, source: &str) -> Template {
        Template::parse(source).unwrap_or_else(|e| {
            self.push(format!("{field}: {e}"));
            Template::default()
        })
    }

    /// Whether `count` entries of `field` are within the shape limit `max`
    /// (`crate::budget`); records an error if not. Entries over the limit are
    /// not checked one by one, so a huge document costs no more than a refusal.
    fn within(&mut self, field: &str, count: usize, max: usize) -> bool {
        if count > max {
            self.push(format!(
                "{field}: {count} entries; at most {max} are allowed"
            ));
        }
        count <= max
    }

    /// Parses a variable name that the flow writes.
    fn writable_var(&mut self, field: &str, text: &str) -> Option<VarName> {
        match VarName::parse(text) {
            Ok(var) if var.is_writable() => Some(var),
            Ok(var) => {
                self.push(format!("{field}: {var} is read-only"));
                None
            }
            Err(e) => {
                self.push(format!("{field}: {text:?}: {e}"));
                None
            }
        }
    }
}

/// Validates `document`, keeping it inside the resulting [`Flow`].
pub(super) fn validate(document: FlowDocument) -> Result<Flow, Vec<FlowError>> {
    let mut errors = Errors {
        list: Vec::new(),
        widget: None,
    };
    if !errors.within("widgets", document.widgets.len(), MAX_WIDGETS) {
        return Err(errors.list);
    }

    let name_ok = !document.name.is_empty()
        && document
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        errors.push(format!(
            "name: {:?} is not a flow name (one or more of A-Z a-z 0-9 _)",
            document.name
        ));
    }
    let timezone = document
        .timezone
        .parse::<chrono_tz::Tz>()
        .unwrap_or_else(|_| {
            errors.push(format!(
                "timezone: unknown time zone {:?} (expected an IANA name such as Asia/Kolkata)",
                document.timezone
            ));
            chrono_tz::UTC
        });

    let roots = [
        ("start", Some(&document.start)),
        ("on_complete", document.on_complete.as_ref()),
        ("on_remote_hangup", document.on_remote_hangup.as_ref()),
    ];
    for (field, root) in roots {
        if let Some(id) = root
            && !document.widgets.contains_key(id)
        {
            errors.push(format!("{field}: unknown widget {id:?}"));
        }
    }

    let mut widgets = BTreeMap::new();
    for (id, doc) in &document.widgets {
        errors.widget = Some(id.clone());
        if let Err(message) = WidgetId::parse(id) {
            errors.push(message);
        }
        let kind = widget_kind(&mut errors, doc);
        // Counted on the document: a condition case with an error is left out
        // of `kind`, and must not shift the line count as well.
        let lines = lines(&mut errors, doc, doc.line_count(), &document);
        widgets.insert(id.as_str(), (kind, lines));
    }
    errors.widget = None;

    check_graph(&mut errors, &document, &widgets);

    if !errors.list.is_empty() {
        return Err(errors.list);
    }
    let widgets = widgets
        .into_iter()
        .map(|(id, (kind, lines))| {
            let id = WidgetId::trusted(id);
            let widget = Widget {
                description: document
                    .widgets
                    .get(id.as_str())
                    .and_then(|w| w.description().map(str::to_owned)),
                lines: lines
                    .into_iter()
                    .map(|l| l.map(WidgetId::trusted))
                    .collect(),
                kind,
                id: id.clone(),
            };
            (id, widget)
        })
        .collect();
    Ok(Flow {
        settings: FlowSettings {
            name: document.name.clone(),
            channel: document.channel,
            timezone,
            webhook_on_complete: document.webhook_on_complete,
        },
        roots: Roots {
            start: WidgetId::trusted(&document.start),
            on_complete: document.on_complete.as_deref().map(WidgetId::trusted),
            on_remote_hangup: document.on_remote_hangup.as_deref().map(WidgetId::trusted),
        },
        widgets,
        document,
    })
}

/// Checks the `lines` of a widget and pads them to `count` with `None`.
fn lines<'d>(
    errors: &mut Errors,
    doc: &'d WidgetDoc,
    count: usize,
    document: &FlowDocument,
) -> Vec<Option<&'d str>> {
    let given = doc.lines();
    if given.len() > count {
        errors.push(format!(
            "lines: {} given, but this {} widget has {count}",
            given.len(),
            doc.type_name()
        ));
    }
    for (i, target) in given.iter().enumerate() {
        if let Some(target) = target
            && !document.widgets.contains_key(target)
        {
            errors.push(format!("lines[{i}]: unknown widget {target:?}"));
        }
    }
    (0..count)
        .map(|i| given.get(i).and_then(Option::as_deref))
        .collect()
}

/// Reports widgets no root reaches, and reachable widgets from which no path
/// reaches an exit (a `null` line or an `end` widget): those would loop until the
/// step limit.
fn check_graph(
    errors: &mut Errors,
    document: &FlowDocument,
    widgets: &BTreeMap<&str, (WidgetKind, Vec<Option<&str>>)>,
) {
    let edges = |id: &str| -> Vec<&str> {
        widgets
            .get(id)
            .map(|(_, lines)| {
                lines
                    .iter()
                    .flatten()
                    .copied()
                    .filter(|t| widgets.contains_key(t))
                    .collect()
            })
            .unwrap_or_default()
    };

    let roots = [
        Some(&document.start),
        document.on_complete.as_ref(),
        document.on_remote_hangup.as_ref(),
    ];
    let mut reachable: BTreeSet<&str> = BTreeSet::new();
    let mut queue: VecDeque<&str> = roots
        .into_iter()
        .flatten()
        .map(String::as_str)
        .filter(|id| widgets.contains_key(id))
        .collect();
    while let Some(id) = queue.pop_front() {
        if reachable.insert(id) {
            queue.extend(edges(id));
        }
    }

    // Walk backwards from the exits. A line to an unknown widget counts as an
    // exit: it is already reported, and a second error about it would only
    // confuse.
    let mut incoming: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for (&id, (kind, lines)) in widgets {
        let exits = matches!(kind, WidgetKind::End)
            || lines
                .iter()
                .any(|l| l.is_none_or(|t| !widgets.contains_key(t)));
        if exits {
            queue.push_back(id);
        }
        for target in edges(id) {
            incoming.entry(target).or_default().push(id);
        }
    }
    let mut can_exit: BTreeSet<&str> = BTreeSet::new();
    while let Some(id) = queue.pop_front() {
        if can_exit.insert(id) {
            queue.extend(incoming.get(id).into_iter().flatten().copied());
        }
    }

    for &id in widgets.keys() {
        errors.widget = Some(id.to_owned());
        if !reachable.contains(id) {
            errors.push("unreachable: no root (start, on_complete, on_remote_hangup) leads here");
        } else if !can_exit.contains(id) {
            errors.push("no path from here reaches an end: a cycle without an exit");
        }
    }
    errors.widget = None;
}

fn widget_kind(errors: &mut Errors, doc: &WidgetDoc) -> WidgetKind {
    match doc {
        WidgetDoc::StoreVariable(w) => WidgetKind::StoreVariable(store_variable(errors, w)),
        WidgetDoc::Condition(w) => WidgetKind::Condition(condition(errors, w)),
        WidgetDoc::Webhook(w) => WidgetKind::Webhook(Box::new(webhook(errors, w))),
        WidgetDoc::InternalWebhook(w) => WidgetKind::InternalWebhook(internal_webhook(errors, w)),
        WidgetDoc::End(_) => WidgetKind::End,
    }
}

fn store_variable(errors: &mut Errors, doc: &StoreVariableDoc) -> StoreVariable {
    let mut assign = Vec::new();
    if !errors.within("assign", doc.assign.0.len(), MAX_ASSIGNMENTS) {
        return StoreVariable { assign };
    }
    let mut seen = BTreeSet::new();
    for (target, value) in &doc.assign.0 {
        let field = format!("assign[{target:?}]");
        if !seen.insert(target.as_str()) {
            errors.push(format!("{field}: assigned twice"));
        }
        let value = errors.template(&field, value);
        if let Some(target) = errors.writable_var(&field, target) {
            assign.push(Assignment { target, value });
        }
    }
    StoreVariable { assign }
}

fn condition(errors: &mut Errors, doc: &ConditionDoc) -> Condition {
    let mut cases = Vec::new();
    if !errors.within("cases", doc.cases.len(), MAX_CASES) {
        return Condition { cases };
    }
    for (i, case) in doc.cases.iter().enumerate() {
        let when = &case.when;
        let field = format!("cases[{i}].when");
        let var = VarName::parse(&when.var)
            .map_err(|e| errors.push(format!("{field}.var: {:?}: {e}", when.var)))
            .ok();
        let Some(op) = Op::parse(&when.op) else {
            errors.push(format!(
                "{field}.op: unknown operator {:?}; expected one of eq, ne, contains, regex, gt, lt, empty, not_empty",
                when.op
            ));
            continue;
        };
        let mut value = Template::default();
        let mut regex = None;
        match (&when.value, op) {
            (None, op) if op.takes_value() => {
                errors.push(format!("{field}.value: required for op {op}"));
            }
            (Some(pattern), Op::Regex) => {
                // A regex is taken as written: `$` is an anchor there, not a variable.
                match RegexBuilder::new(pattern)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                {
                    Ok(re) => regex = Some(re),
                    Err(e) => errors.push(format!("{field}.value: invalid regex: {e}")),
                }
            }
            (Some(source), op) if op.takes_value() => {
                value = errors.template(&format!("{field}.value"), source);
            }
            _ => {}
        }
        if let Some(var) = var {
            cases.push(Case {
                var,
                op,
                value,
                regex,
            });
        }
    }
    Condition { cases }
}

fn webhook(errors: &mut Errors, doc: &WebhookDoc) -> Webhook {
    Webhook {
        request: request(errors, &doc.request),
        response: doc
            .response
            .as_ref()
            .map(|r| response(errors, r))
            .unwrap_or_default(),
    }
}

fn request(errors: &mut Errors, doc: &RequestDoc) -> Request {
    let url = errors.template("request.url", &doc.url);
    let webhook = doc.webhook.as_deref().map(|id| {
        WebhookId::parse(id.trim()).unwrap_or_else(|| {
            errors.push(format!(
                "request.webhook: {id:?} is not a webhook id; name a registered webhook"
            ));
            WebhookId::nil()
        })
    });
    if webhook.is_some() {
        if !doc.url.is_empty() {
            errors.push("request: give `url` or `webhook`, not both");
        }
        if doc.auth != AuthDoc::None {
            errors.push("request.auth: the registered webhook's auth is used; leave it out");
        }
        if doc.body_type != crate::http::BodyType::None {
            errors.push(
                "request.body_type: the registered webhook's body type is used; leave it out",
            );
        }
    } else {
        let lower = doc.url.trim_start().to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            errors.push(
                "request.url: must start with https:// (or http:// where the account allows it)",
            );
        }
    }
    let auth = match &doc.auth {
        AuthDoc::None => Auth::None,
        AuthDoc::Basic { username, password } => Auth::Basic {
            username: errors.template("request.auth.username", username),
            password: errors.template("request.auth.password", password),
        },
    };
    let headers = params(errors, "request.headers", &doc.headers, MAX_HEADERS, true);
    let custom_authorization = headers
        .iter()
        .any(|h| h.key.eq_ignore_ascii_case("authorization"));
    if custom_authorization && matches!(auth, Auth::Basic { .. }) {
        errors.push("request.headers: an Authorization header and basic auth would both set Authorization; keep one");
    }
    let query = params(
        errors,
        "request.query",
        &doc.query,
        MAX_QUERY_ENTRIES,
        false,
    );
    let body = errors.template("request.body", &doc.body);
    if webhook.is_none() && doc.body_type == crate::http::BodyType::None && !doc.body.is_empty() {
        errors.push("request.body: body_type is none, so the body would never be sent");
    }
    Request {
        webhook,
        method: doc.method,
        url,
        auth,
        headers,
        query,
        body_type: doc.body_type,
        body,
    }
}

fn params(
    errors: &mut Errors,
    field: &str,
    docs: &[ParamDoc],
    max: usize,
    header: bool,
) -> Vec<Param> {
    if !errors.within(field, docs.len(), max) {
        return Vec::new();
    }
    docs.iter()
        .enumerate()
        .map(|(i, p)| {
            if p.key.is_empty() {
                errors.push(format!("{field}[{i}].key: empty"));
            } else if header {
                let checked = crate::webhook::check_header_name(&p.key)
                    .and_then(|()| crate::webhook::check_header_value(&p.key, &p.value));
                if let Err(e) = checked {
                    errors.push(format!("{field}[{i}]: {e}"));
                }
            }
            Param {
                key: p.key.clone(),
                value: errors.template(&format!("{field}[{i}].value"), &p.value),
                mandatory: p.mandatory,
            }
        })
        .collect()
}

fn response(errors: &mut Errors, doc: &ResponseDoc) -> Response {
    let timeout_seconds = match u32::try_from(doc.timeout_seconds) {
        Ok(t @ 1..=60) => t,
        _ => {
            errors.push(format!(
                "response.timeout_seconds: must be between 1 and 60, got {}",
                doc.timeout_seconds
            ));
            60
        }
    };
    let field = "response.mappings";
    let mappings = if !errors.within(field, doc.mappings.len(), MAX_MAPPINGS) {
        Vec::new()
    } else {
        doc.mappings
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let field = format!("{field}[{i}]");
                let path = ResponsePath::parse(doc.kind, &m.path)
                    .map_err(|e| errors.push(format!("{field}.path: {e}")))
                    .ok();
                let save_in = errors.writable_var(&format!("{field}.save_in"), &m.save_in)?;
                Some(Mapping {
                    save_in,
                    path: path?,
                    mandatory: m.mandatory,
                })
            })
            .collect()
    };
    Response {
        kind: doc.kind,
        mappings,
        wait_for_response: doc.wait_for_response,
        timeout_seconds,
        hold_music: doc.hold_music,
        persist_response: doc.persist_response,
    }
}

fn internal_webhook(errors: &mut Errors, doc: &InternalWebhookDoc) -> InternalWebhook {
    let webhook = WebhookId::parse(doc.webhook.trim()).unwrap_or_else(|| {
        errors.push(format!(
            "webhook: {:?} is not a webhook id; name a registered webhook",
            doc.webhook
        ));
        WebhookId::nil()
    });
    let method = Method::parse(&doc.method).unwrap_or_else(|| {
        errors.push(format!(
            "method: unknown method {:?}; expected one of {}",
            doc.method,
            Method::names()
        ));
        Method::ValidateDateTime
    });
    let mut pass = BTreeSet::new();
    for (i, group) in doc.pass.iter().enumerate() {
        match PassGroup::parse(group) {
            Some(g) => {
                pass.insert(g);
            }
            None => errors.push(format!(
                "pass[{i}]: unknown group {group:?}; expected call, flow.key, flow.syskey or user.key"
            )),
        }
    }
    InternalWebhook {
        webhook,
        method,
        pass,
    }
}
