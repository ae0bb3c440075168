//! The flow runner: executes a validated [`Flow`] for one contact.
//!
//! Order of a run: the main path from `start` (or, when the trigger has reported
//! a remote hangup, the `on_remote_hangup` path instead of the rest of the main
//! path), then the `on_complete` path. Each step goes through the one widget
//! interface ([`widgets::Execute`]) and lands in the trace.
//!
//! Promises:
//! - at most [`MAX_STEPS`] widget steps; then the execution is `failed` with the
//!   widget it was stuck on (the loop guard);
//! - `$user.key` values are read fresh before each step that reads them and
//!   written as soon as the step that changed them ends;
//! - the runner never panics on a flow: a widget's fatal error becomes a failed
//!   execution whose reason names the widget;
//! - an execution stays within its budget (`flowhook_core::budget`): a template
//!   rendered too long or a variable write over the value or execution limit
//!   ends it `failed`, with a reason naming the widget and the limit.

mod slots;
mod trace;
mod user_keys;
mod vars;
pub mod widgets;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use flowhook_core::flow::{Flow, Widget, WidgetId, WidgetKind};
use flowhook_core::ids::{AccountId, ExecutionId};
use flowhook_core::vars::{Namespace, VarName, Variables};

use crate::egress::Egress;
pub use trace::TraceEntry;
pub use user_keys::{MemoryUserKeys, StoredUserKeys, UserKeys};
pub use vars::ExecVars;

/// The loop guard: an execution stops after this many widget steps.
pub const MAX_STEPS: u32 = 1000;

/// The account an execution runs for, as the widgets need it.
#[derive(Debug, Clone)]
pub struct AccountContext {
    pub id: AccountId,
    pub client_id: i64,
    /// Whether webhook widgets may call `http://` URLs.
    pub allow_http: bool,
}

/// Everything an execution starts from.
#[derive(Debug, Clone)]
pub struct ExecutionInput {
    pub id: ExecutionId,
    pub account: AccountContext,
    pub flow_id: String,
    pub contact: String,
    /// `$call.*` values by name without the prefix (`cli.number`).
    pub call: BTreeMap<String, String>,
    /// Initial `$flow.key.*` and `$flow.syskey.*` values from the trigger.
    pub keys: Variables,
}

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Completed,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct ExecutionOutcome {
    pub status: Status,
    /// Why it failed.
    pub reason: Option<String>,
    /// Every variable at the end (all namespaces but `$sys`).
    pub variables: Variables,
    /// Values mapped by `persist_response` webhook widgets.
    pub persisted: Variables,
    pub trace: Vec<TraceEntry>,
}

/// Lets a trigger report a remote hangup while an execution runs.
#[derive(Debug, Clone, Default)]
pub struct Hangup(Arc<AtomicBool>);

impl Hangup {
    pub fn report(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn reported(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Runs flows. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    pub egress: Egress,
    /// Registered webhooks and platform functions, for `internal_webhook`.
    pub platform: Arc<dyn crate::internal::Platform>,
    /// Slots for requests sent without waiting, shared by every execution.
    pub(crate) background_slots: Arc<slots::Slots>,
    /// Slots for mapping responses (off the async threads), one per core.
    pub(crate) mapping_slots: Arc<slots::Slots>,
}

/// Which root's path a step is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Main,
    RemoteHangup,
    Complete,
}

impl Phase {
    fn root_name(self) -> &'static str {
        match self {
            Phase::Main => "start",
            Phase::RemoteHangup => "on_remote_hangup",
            Phase::Complete => "on_complete",
        }
    }
}

impl Runner {
    /// A runner without a platform ([`crate::internal::Offline`]); see
    /// [`Runner::with_platform`].
    pub fn new(egress: Egress) -> Runner {
        Runner {
            egress,
            platform: Arc::new(crate::internal::Offline),
            background_slots: Arc::new(slots::Slots::new(
                flowhook_core::budget::MAX_BACKGROUND_TOTAL,
                flowhook_core::budget::MAX_BACKGROUND_PER_ACCOUNT,
            )),
            mapping_slots: {
                let cores =
                    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
                // An account may use all cores but one, so another can map too.
                Arc::new(slots::Slots::new(cores, cores.saturating_sub(1)))
            },
        }
    }

    /// The same runner, calling `platform` for internal webhooks.
    pub fn with_platform(mut self, platform: Arc<dyn crate::internal::Platform>) -> Runner {
        self.platform = platform;
        self
    }

    /// The variables an execution starts with: the trigger's keys, `$call.*`,
    /// the contact's identity and the system keys.
    pub fn initial_variables(input: &ExecutionInput) -> Variables {
        let mut vars = input.keys.clone();
        let mut put = |ns: Namespace, name: &str, value: String| {
            if let Ok(var) = VarName::new(ns, name) {
                vars.insert(var, value);
            }
        };
        for (name, value) in &input.call {
            put(Namespace::Call, name, value.clone());
        }
        put(
            Namespace::UserSyskey,
            "contactNumber",
            input.contact.clone(),
        );
        put(
            Namespace::UserSyskey,
            "accountID",
            input.account.client_id.to_string(),
        );
        put(Namespace::FlowSyskey, "phonon_uuid", input.id.to_string());
        put(Namespace::FlowSyskey, "flowID", input.flow_id.clone());
        vars
    }

    /// Executes `flow` to its end, requests sent without waiting included
    /// (their outcomes are in the trace).
    pub async fn run(
        &self,
        flow: &Flow,
        input: &ExecutionInput,
        user_keys: &dyn UserKeys,
        hangup: &Hangup,
    ) -> ExecutionOutcome {
        let (mut outcome, background) = self
            .run_durable(flow, input, user_keys, &NoProgress, hangup)
            .await;
        background.settle(&mut outcome.trace).await;
        outcome
    }

    /// Executes `flow` to its end, storing its variables through `progress`
    /// before every step that waits on the outside world (so an execution cut
    /// there still has them); requests sent without waiting are not waited for
    /// but returned, still running.
    pub async fn run_durable(
        &self,
        flow: &Flow,
        input: &ExecutionInput,
        user_keys: &dyn UserKeys,
        progress: &dyn Progress,
        hangup: &Hangup,
    ) -> (ExecutionOutcome, Background) {
        let mut vars = ExecVars::new(Self::initial_variables(input), flow.settings().timezone);
        let mut trace = Vec::new();
        let mut persisted = Variables::new();
        let mut background = Vec::new();
        let background_slots = per_execution_slots();
        let roots = flow.roots();
        let mut phase = Phase::Main;
        let mut current: Option<WidgetId> = Some(roots.start.clone());
        let mut steps = 0u32;
        let mut failure: Option<String> = None;
        // In a flow that touches the contact's keys, they are part of the
        // execution's variables from the start; steps that read them refresh
        // them again (see `refresh_user_keys`). A flow that never touches them
        // does not pay for the read. Loaded keys make the variables differ
        // from those stored when the execution started.
        let loaded = if flow.widgets().any(touches_user_keys) {
            load_user_keys(&mut vars, user_keys, &input.contact).await
        } else {
            Ok(0)
        };
        let mut unsaved = match loaded {
            Ok(loaded) => loaded > 0,
            Err(e) => {
                failure = Some(format!("cannot read $user.key values: {e}"));
                current = None;
                phase = Phase::Complete;
                false
            }
        };

        loop {
            if phase == Phase::Main && hangup.reported() {
                phase = Phase::RemoteHangup;
                current = roots.on_remote_hangup.clone();
            }
            let Some(id) = current.take() else {
                // This path ended: on to `on_complete`, or done.
                if phase == Phase::Complete {
                    break;
                }
                phase = Phase::Complete;
                current = roots.on_complete.clone();
                if current.is_none() {
                    break;
                }
                continue;
            };
            let Some(widget) = flow.widget(id.as_str()) else {
                // Validation makes this impossible; fail rather than panic.
                failure = Some(format!("widget {id} does not exist"));
                break;
            };
            steps += 1;
            if steps > MAX_STEPS {
                failure = Some(format!(
                    "loop guard: stopped after {MAX_STEPS} steps, at widget {id}; a path probably loops without reaching an exit"
                ));
                break;
            }
            if let Err(e) = refresh_user_keys(widget, &mut vars, user_keys, &input.contact).await {
                failure = Some(format!("widget {id}: cannot read $user.key values: {e}"));
                break;
            }

            if unsaved && widgets::waits(&widget.kind) {
                if let Err(e) = progress.save(&visible(vars.values().clone())).await {
                    tracing::warn!(execution = %input.id, error = %e, "cannot store the execution's progress");
                }
                unsaved = false;
            }

            let started_at = chrono::Utc::now();
            let started = Instant::now();
            let mut step = self
                .step(
                    flow,
                    widget,
                    input,
                    &mut vars,
                    &mut persisted,
                    &background_slots,
                )
                .await;
            if let Some(task) = step.background.take() {
                background.push((trace.len(), task));
            }
            let changes = vars.take_changes();
            unsaved |= !changes.is_empty();
            let mut error = step.fatal.clone();
            if let Some(exceeded) = vars.take_exceeded() {
                error.get_or_insert(exceeded.to_string());
            }
            for (var, value) in &changes {
                if var.namespace() == Namespace::UserKey
                    && let Err(e) = user_keys.save(&input.contact, var.name(), value).await
                {
                    error.get_or_insert(format!("cannot store {var}: {e}"));
                }
            }
            let next = step.line.and_then(|l| widget.next(l)).cloned();
            let (changed, truncated) = trace::recorded_changes(&changes);
            trace.push(TraceEntry {
                step: steps,
                root: phase.root_name().to_owned(),
                widget: id.to_string(),
                kind: widgets::type_name(&widget.kind).to_owned(),
                line: step.line,
                next: next.as_ref().map(ToString::to_string),
                started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
                changed,
                truncated,
                detail: step.detail,
                error: error.clone(),
            });
            if let Some(e) = error {
                failure = Some(format!("widget {id}: {e}"));
                break;
            }
            current = next;
        }

        let outcome = ExecutionOutcome {
            status: if failure.is_some() {
                Status::Failed
            } else {
                Status::Completed
            },
            reason: failure,
            variables: visible(vars.into_values()),
            persisted,
            trace,
        };
        (outcome, Background(background))
    }
}

/// Slots for one execution's requests sent without waiting.
fn per_execution_slots() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(
        flowhook_core::budget::MAX_BACKGROUND_PER_EXECUTION,
    ))
}

/// The variables an execution shows: all but `$sys`.
pub fn visible(mut values: Variables) -> Variables {
    values.retain(|k, _| k.namespace() != Namespace::Sys);
    values
}

/// Requests an execution sent without waiting, still running: each with the
/// index of its step in the trace.
#[derive(Debug, Default)]
pub struct Background(Vec<(usize, tokio::task::JoinHandle<serde_json::Value>)>);

impl Background {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits for each request; its outcome, by step index.
    pub async fn outcomes(self) -> Vec<(usize, serde_json::Value)> {
        let mut done = Vec::with_capacity(self.0.len());
        for (index, task) in self.0 {
            let outcome = task.await.unwrap_or_else(
                |e| serde_json::json!({"error": format!("the background request stopped: {e}")}),
            );
            done.push((index, outcome));
        }
        done
    }

    /// Waits for each request and records its outcome in its step's trace.
    pub async fn settle(self, trace: &mut [TraceEntry]) {
        for (index, outcome) in self.outcomes().await {
            if let Some(detail) = trace.get_mut(index).and_then(|t| t.detail.as_mut()) {
                detail["outcome"] = outcome;
            }
        }
    }
}

/// Where a running execution's variables are stored as it goes.
#[async_trait::async_trait]
pub trait Progress: Send + Sync {
    async fn save(&self, variables: &Variables) -> Result<(), String>;
}

/// Progress kept nowhere (local runs, tests).
pub struct NoProgress;

#[async_trait::async_trait]
impl Progress for NoProgress {
    async fn save(&self, _: &Variables) -> Result<(), String> {
        Ok(())
    }
}

impl Runner {
    /// One widget step through the widget interface.
    async fn step(
        &self,
        flow: &Flow,
        widget: &Widget,
        input: &ExecutionInput,
        vars: &mut ExecVars,
        persisted: &mut Variables,
        background: &Arc<tokio::sync::Semaphore>,
    ) -> widgets::Step {
        let mut cx = widgets::StepContext {
            widget,
            vars,
            runner: self,
            input,
            flow,
            persisted,
            background,
        };
        widgets::executor(&widget.kind).execute(&mut cx).await
    }

    /// Performs one widget of `flow` on sample variables, for testing a widget
    /// from the editor: no other widget runs and the execution stores nothing
    /// (not even `$user.key` changes). What the widget does outside is real,
    /// as it would be in a run: a webhook's request is sent, an internal
    /// webhook's function runs (it may pause an agent or make a link). A
    /// request sent without waiting is waited for here.
    /// `None` if the flow has no such widget.
    pub async fn run_widget(
        &self,
        flow: &Flow,
        widget_id: &str,
        input: &ExecutionInput,
        sample: Variables,
    ) -> Option<DryRun> {
        let widget = flow.widget(widget_id)?;
        let mut initial = Self::initial_variables(input);
        initial.extend(sample);
        let mut vars = ExecVars::new(initial, flow.settings().timezone);
        let mut persisted = Variables::new();
        let background_slots = per_execution_slots();
        let mut step = self
            .step(
                flow,
                widget,
                input,
                &mut vars,
                &mut persisted,
                &background_slots,
            )
            .await;
        if let (Some(task), Some(detail)) = (step.background.take(), step.detail.as_mut()) {
            detail["outcome"] = task.await.unwrap_or_default();
        }
        Some(DryRun {
            kind: widgets::type_name(&widget.kind),
            line: step.line,
            next: step
                .line
                .and_then(|l| widget.next(l))
                .map(ToString::to_string),
            changed: vars
                .take_changes()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            detail: step.detail,
            error: step
                .fatal
                .or_else(|| vars.take_exceeded().map(|e| e.to_string())),
        })
    }
}

/// The result of [`Runner::run_widget`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct DryRun {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub line: Option<usize>,
    pub next: Option<String>,
    /// Variables the widget set (mapped values and result variables).
    pub changed: BTreeMap<String, String>,
    /// The widget's trace detail (for a webhook: request and response).
    pub detail: Option<serde_json::Value>,
    pub error: Option<String>,
}

/// Reloads the contact's `$user.key` values if the widget reads any.
async fn refresh_user_keys(
    widget: &Widget,
    vars: &mut ExecVars,
    user_keys: &dyn UserKeys,
    contact: &str,
) -> Result<(), String> {
    if reads_user_keys(widget) {
        load_user_keys(vars, user_keys, contact).await?;
    }
    Ok(())
}

/// Loads a contact's keys into `vars`; how many there were.
async fn load_user_keys(
    vars: &mut ExecVars,
    user_keys: &dyn UserKeys,
    contact: &str,
) -> Result<usize, String> {
    let keys = user_keys.load(contact).await?;
    let loaded = keys.len();
    for (name, value) in keys {
        if let Ok(var) = VarName::new(Namespace::UserKey, name) {
            vars.load(var, value);
        }
    }
    Ok(loaded)
}

/// Does the widget read or write any `$user.key` variable? An internal
/// webhook may answer with them whatever it is passed, so it always does.
fn touches_user_keys(widget: &Widget) -> bool {
    let user = |v: &VarName| v.namespace() == Namespace::UserKey;
    reads_user_keys(widget)
        || match &widget.kind {
            WidgetKind::StoreVariable(s) => s.assign.iter().any(|a| user(&a.target)),
            WidgetKind::Webhook(w) => w.response.mappings.iter().any(|m| user(&m.save_in)),
            WidgetKind::InternalWebhook(_) => true,
            WidgetKind::Condition(_) | WidgetKind::End => false,
        }
}

/// Does the widget read any `$user.key` variable?
fn reads_user_keys(widget: &Widget) -> bool {
    let user = |v: &VarName| v.namespace() == Namespace::UserKey;
    match &widget.kind {
        WidgetKind::StoreVariable(s) => s.assign.iter().any(|a| a.value.vars().any(user)),
        WidgetKind::Condition(c) => c
            .cases
            .iter()
            .any(|k| user(&k.var) || k.value.vars().any(user)),
        WidgetKind::Webhook(w) => {
            let r = &w.request;
            let auth = match &r.auth {
                flowhook_core::flow::widgets::Auth::None => false,
                flowhook_core::flow::widgets::Auth::Basic { username, password } => {
                    username.vars().any(user) || password.vars().any(user)
                }
            };
            auth || r.url.vars().any(user)
                || r.body.vars().any(user)
                || r.headers
                    .iter()
                    .chain(&r.query)
                    .any(|p| p.value.vars().any(user))
        }
        WidgetKind::InternalWebhook(i) => i
            .pass
            .contains(&flowhook_core::flow::widgets::PassGroup::UserKey),
        WidgetKind::End => false,
    }
}
