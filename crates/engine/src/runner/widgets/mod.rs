//! Widget execution: one interface, [`Execute`], and one file per widget type.
//!
//! A widget gets a [`StepContext`] (the execution's variables and what the
//! engine offers: the egress client, the account's policy) and answers a
//! [`Step`]: the line it takes, detail for the trace, or a fatal error that stops
//! the execution. Failures a flow can route (a webhook answering 500) are not
//! fatal: they are a line.

mod condition;
mod end;
mod internal_webhook;
mod store_variable;
mod webhook;

use flowhook_core::flow::{Flow, Widget, WidgetKind};
use flowhook_core::vars::Variables;

use super::vars::ExecVars;
use super::{ExecutionInput, Runner};

/// What a widget step needs.
pub struct StepContext<'a> {
    pub widget: &'a Widget,
    pub vars: &'a mut ExecVars,
    pub runner: &'a Runner,
    pub input: &'a ExecutionInput,
    pub flow: &'a Flow,
    /// Values kept with the execution after it ends (`persist_response`).
    pub persisted: &'a mut Variables,
    /// This execution's slots for requests sent without waiting.
    pub background: &'a std::sync::Arc<tokio::sync::Semaphore>,
}

/// The outcome of one step.
#[derive(Debug, Default)]
pub struct Step {
    /// The line taken; `None` ends the path.
    pub line: Option<usize>,
    pub detail: Option<serde_json::Value>,
    /// Set when the execution cannot go on.
    pub fatal: Option<String>,
    /// Work the step left running (a webhook sent without waiting); its result
    /// is added to this step's trace detail, under `outcome`, when it arrives.
    pub background: Option<tokio::task::JoinHandle<serde_json::Value>>,
}

impl Step {
    pub fn line(line: usize) -> Step {
        Step {
            line: Some(line),
            ..Step::default()
        }
    }

    /// A step that ends the execution, for `reason`.
    pub fn fatal(reason: String) -> Step {
        Step {
            fatal: Some(reason),
            ..Step::default()
        }
    }
}

/// How a widget type runs.
#[async_trait::async_trait]
pub trait Execute: Send + Sync {
    async fn execute(&self, cx: &mut StepContext<'_>) -> Step;
}

/// The executor of a widget's type.
pub fn executor(kind: &WidgetKind) -> &dyn Execute {
    match kind {
        WidgetKind::StoreVariable(w) => w,
        WidgetKind::Condition(w) => w,
        WidgetKind::End => &end::End,
        WidgetKind::Webhook(w) => &**w,
        WidgetKind::InternalWebhook(w) => w,
    }
}

/// Does a widget of this type wait on the outside world (and so is a place
/// where an execution can be cut by a stop or a crash)? The others finish in
/// microseconds without yielding.
pub fn waits(kind: &WidgetKind) -> bool {
    match kind {
        WidgetKind::Webhook(_) | WidgetKind::InternalWebhook(_) => true,
        WidgetKind::StoreVariable(_) | WidgetKind::Condition(_) | WidgetKind::End => false,
    }
}

/// The wire name of a widget's type.
pub fn type_name(kind: &WidgetKind) -> &'static str {
    match kind {
        WidgetKind::StoreVariable(_) => "store_variable",
        WidgetKind::Condition(_) => "condition",
        WidgetKind::Webhook(_) => "webhook",
        WidgetKind::InternalWebhook(_) => "internal_webhook",
        WidgetKind::End => "end",
    }
}
