//! Executions as the server runs them: a stored record from start to end around
//! each run of the [`Runner`].
//!
//! Promises: an execution is in storage (`running`) before its first step, and
//! its end (status, variables, trace) is stored before anyone is told it
//! finished; parsed flows are cached per (flow, version), so a busy flow is
//! validated once, not once per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flowhook_core::flow::{Flow, parse_flow, secrets};
use flowhook_core::flow_end::{FlowEndPayload, Recording};
use flowhook_core::ids::{AccountId, ExecutionId, OutboundCallId};
use flowhook_core::json_text::JsonText;
use flowhook_core::secret::MasterKey;
use flowhook_core::vars::Variables;
use flowhook_storage::{
    AccountRecord, DeliveryRecord, ExecutionRecord, FlowRecord, Store, StoreError,
};
use tokio::sync::{Notify, watch};

use crate::runner::{
    AccountContext, Background, DryRun, ExecutionInput, Hangup, Progress, Runner, StoredUserKeys,
};

/// What a trigger gives to start an execution.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    pub contact: String,
    /// `$call.*` by name without the prefix.
    pub call: std::collections::BTreeMap<String, String>,
    /// Initial `$flow.key.*` / `$flow.syskey.*`.
    pub keys: Variables,
    /// `[{recordedFileName, recordedFilePublicPath}]`, kept for the flow-end webhook.
    pub recordings: serde_json::Value,
    /// The remote party has already hung up.
    pub remote_hangup: bool,
}

/// Errors starting an execution.
#[derive(Debug, thiserror::Error)]
pub enum ExecutionError {
    #[error("the stored flow no longer validates: {0}")]
    InvalidFlow(String),
    /// Admission refused: too many executions are running (on this server, or
    /// of this account); try again shortly.
    #[error("{0}")]
    Busy(String),
    /// This execution already runs on this server (a scheduled call claimed
    /// again while its first start was still being stored).
    #[error("execution {0} already runs here")]
    AlreadyRunning(ExecutionId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The executions running on this server: each with its account and hangup
/// switch, and how many each account runs (for admission).
#[derive(Default)]
struct LiveSet {
    runs: HashMap<ExecutionId, (AccountId, Hangup)>,
    per_account: HashMap<AccountId, usize>,
}

type Live = Arc<(Mutex<LiveSet>, Notify)>;

fn lock(live: &Live) -> std::sync::MutexGuard<'_, LiveSet> {
    live.0.lock().unwrap_or_else(|p| p.into_inner())
}

/// Membership of the live set. Dropping it leaves the set — when the run ends,
/// fails or panics, or if it never starts — so no execution is heartbeated (and
/// kept `running`) after its run is gone.
struct LiveEntry {
    live: Live,
    id: ExecutionId,
}

impl Drop for LiveEntry {
    fn drop(&mut self) {
        let mut set = lock(&self.live);
        if let Some((account, _)) = set.runs.remove(&self.id)
            && let Some(n) = set.per_account.get_mut(&account)
        {
            *n -= 1;
            if *n == 0 {
                set.per_account.remove(&account);
            }
        }
        drop(set);
        self.live.1.notify_waiters();
    }
}

/// How many executions may run at once: on this server, and per account (so
/// no single account can take the whole server).
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub max_running: usize,
    pub max_running_per_account: usize,
}

impl Default for Admission {
    fn default() -> Admission {
        Admission {
            max_running: 10_000,
            max_running_per_account: 2_000,
        }
    }
}

/// An execution that is stored and ready to run.
pub struct Prepared {
    flow: Arc<Flow>,
    input: ExecutionInput,
    record: ExecutionRecord,
    hangup: Hangup,
    live: LiveEntry,
}

impl Prepared {
    pub fn id(&self) -> ExecutionId {
        self.input.id
    }
}

/// How often a server records that its executions are still running.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// How long a running execution may go without a heartbeat before any server
/// presumes its server gone and marks it failed.
pub const PRESUMED_GONE_AFTER: Duration = Duration::from_secs(60);

/// The reason of an execution whose server stopped while it ran.
pub const INTERRUPTED: &str = "interrupted: its server stopped while it ran";
/// The reason of an execution still running when a shutdown's grace period
/// ended.
pub const SHUTDOWN_INTERRUPTED: &str =
    "interrupted: the server stopped and its shutdown grace period ended first";

/// Largest number of parsed flows kept; the cache is simply emptied when full.
const FLOW_CACHE_SIZE: usize = 1024;

/// Starts, runs and records executions.
pub struct Executions {
    store: Arc<dyn Store>,
    runner: Runner,
    /// Wakes the delivery worker when a flow-end message is enqueued.
    wake_deliveries: Arc<Notify>,
    /// Opens credentials sealed in stored flow documents.
    master_key: MasterKey,
    /// This server, as the owner of the executions it runs.
    owner: String,
    flows: Mutex<HashMap<(String, i64), Arc<Flow>>>,
    live: Live,
    admission: Admission,
    /// Requests sent without waiting whose outcome is not yet in the trace.
    background: Arc<(std::sync::atomic::AtomicUsize, Notify)>,
    /// A sweep of silent servers' executions is running.
    sweeping: std::sync::atomic::AtomicBool,
}

impl Executions {
    pub fn new(
        store: Arc<dyn Store>,
        runner: Runner,
        wake_deliveries: Arc<Notify>,
        master_key: MasterKey,
    ) -> Executions {
        Executions {
            store,
            runner,
            wake_deliveries,
            master_key,
            owner: crate::instance_id().to_owned(),
            flows: Mutex::new(HashMap::new()),
            live: Arc::default(),
            admission: Admission::default(),
            background: Arc::default(),
            sweeping: Default::default(),
        }
    }

    /// The same, with these admission limits.
    pub fn with_admission(mut self, admission: Admission) -> Executions {
        self.admission = admission;
        self
    }

    /// The validated flow of a stored version, from the cache when possible.
    pub fn parsed(&self, record: &FlowRecord) -> Result<Arc<Flow>, ExecutionError> {
        let key = (record.id.to_string(), record.version);
        if let Some(flow) = self
            .flows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(flow.clone());
        }
        // The stored document keeps literal credentials sealed; open them for the run.
        let mut doc: serde_json::Value = serde_json::from_str(&record.document)
            .map_err(|e| ExecutionError::InvalidFlow(e.to_string()))?;
        secrets::open(&mut doc, &self.master_key, record.account_id)
            .map_err(|e| ExecutionError::InvalidFlow(e.to_string()))?;
        let flow = Arc::new(parse_flow(&doc.to_string()).map_err(|errors| {
            ExecutionError::InvalidFlow(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?);
        let mut cache = self.flows.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= FLOW_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(key, flow.clone());
        Ok(flow)
    }

    /// Performs one widget of a stored flow on sample variables (see
    /// [`Runner::run_widget`]); `Ok(None)` if the flow has no such widget.
    pub async fn dry_run(
        &self,
        account: &AccountRecord,
        flow: &FlowRecord,
        widget: &str,
        request: StartRequest,
    ) -> Result<Option<DryRun>, ExecutionError> {
        let parsed = self.parsed(flow)?;
        let input = input_for(account, flow, &request, ExecutionId::generate());
        Ok(self
            .runner
            .run_widget(&parsed, widget, &input, request.keys)
            .await)
    }

    /// Stores a new `running` execution of `flow` for `request`.
    pub async fn prepare(
        &self,
        account: &AccountRecord,
        flow: &FlowRecord,
        request: StartRequest,
    ) -> Result<Prepared, ExecutionError> {
        let prepared = self.admitted(account, flow, request, ExecutionId::generate())?;
        self.store.insert_execution(&prepared.record).await?;
        Ok(prepared)
    }

    /// Starts the execution `id` of a scheduled outbound call: it is stored by
    /// the transaction that marks the call started, while `lease` holds it
    /// (`OutboundStore::start_outbound_call`). `None` when the lease was lost
    /// or the call cancelled: nothing was stored and nothing runs.
    pub async fn prepare_scheduled(
        &self,
        account: &AccountRecord,
        flow: &FlowRecord,
        request: StartRequest,
        id: ExecutionId,
        call: OutboundCallId,
        lease: &str,
    ) -> Result<Option<Prepared>, ExecutionError> {
        let prepared = self.admitted(account, flow, request, id)?;
        let started = self
            .store
            .start_outbound_call(call, lease, &prepared.record)
            .await?;
        Ok(started.then_some(prepared))
    }

    /// An execution admitted to run here, its record built, not yet stored.
    fn admitted(
        &self,
        account: &AccountRecord,
        flow: &FlowRecord,
        request: StartRequest,
        id: ExecutionId,
    ) -> Result<Prepared, ExecutionError> {
        let parsed = self.parsed(flow)?;
        let input = input_for(account, flow, &request, id);
        let hangup = Hangup::default();
        if request.remote_hangup {
            hangup.report();
        }
        // Admitted before anything is stored: a refused start leaves no trace.
        let live = self.admit(account.id, input.id, hangup.clone())?;
        let initial = crate::runner::visible(Runner::initial_variables(&input));
        let record = ExecutionRecord {
            call: serde_json::to_value(&request.call).unwrap_or_default(),
            recordings: request.recordings,
            variables: serde_json::to_value(&initial).unwrap_or_default(),
            ..ExecutionRecord::running(
                input.id,
                account.id,
                flow.id.as_str(),
                flow.version,
                &request.contact,
            )
        };
        Ok(Prepared {
            flow: parsed,
            input,
            record,
            hangup,
            live,
        })
    }

    /// Joins the live set, or refuses when this server or the account runs as
    /// many executions as allowed.
    fn admit(
        &self,
        account: AccountId,
        id: ExecutionId,
        hangup: Hangup,
    ) -> Result<LiveEntry, ExecutionError> {
        let mut set = lock(&self.live);
        if set.runs.contains_key(&id) {
            return Err(ExecutionError::AlreadyRunning(id));
        }
        if set.runs.len() >= self.admission.max_running {
            return Err(ExecutionError::Busy(format!(
                "this server runs {} executions, its limit; try again shortly",
                set.runs.len()
            )));
        }
        let mine = set.per_account.get(&account).copied().unwrap_or(0);
        if mine >= self.admission.max_running_per_account {
            return Err(ExecutionError::Busy(format!(
                "this account runs {mine} executions, its limit; try again shortly"
            )));
        }
        set.runs.insert(id, (account, hangup));
        *set.per_account.entry(account).or_default() += 1;
        Ok(LiveEntry {
            live: self.live.clone(),
            id,
        })
    }

    /// How many more executions this server may start now, and the accounts
    /// that may start none: the scheduler claims no more than that, and
    /// leaves those accounts' calls for later (or another server) instead of
    /// claiming and deferring them.
    pub fn room(&self) -> (usize, Vec<AccountId>) {
        let set = lock(&self.live);
        let full = set
            .per_account
            .iter()
            .filter(|(_, n)| **n >= self.admission.max_running_per_account)
            .map(|(account, _)| *account)
            .collect();
        (
            self.admission.max_running.saturating_sub(set.runs.len()),
            full,
        )
    }

    /// How many executions run here now.
    pub fn running(&self) -> usize {
        lock(&self.live).runs.len()
    }

    /// Waits until no execution runs here and every request sent without
    /// waiting has reported, or `grace` passed; how many executions still run.
    pub async fn drain(&self, grace: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            // Listening before looking, so a change in between is not missed.
            let live_changed = self.live.1.notified();
            let background_changed = self.background.1.notified();
            let mut live_changed = std::pin::pin!(live_changed);
            let mut background_changed = std::pin::pin!(background_changed);
            live_changed.as_mut().enable();
            background_changed.as_mut().enable();
            let idle = lock(&self.live).runs.is_empty();
            let quiet = self.background.0.load(std::sync::atomic::Ordering::Acquire) == 0;
            if idle && quiet {
                return 0;
            }
            let changed = async {
                tokio::select! {
                    _ = live_changed => {}
                    _ = background_changed => {}
                }
            };
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.running();
            }
        }
    }

    /// Ends the executions still running here as interrupted (the grace period
    /// of a shutdown is over), each with its flow-end message; up to 32 at
    /// once, so a server stopping with thousands running still stops soon.
    pub async fn interrupt_running(self: &Arc<Self>, reason: &'static str) -> usize {
        let ids: Vec<(AccountId, ExecutionId)> = lock(&self.live)
            .runs
            .iter()
            .map(|(id, (account, _))| (*account, *id))
            .collect();
        let mut ends = tokio::task::JoinSet::new();
        let mut ended = 0;
        for (account, id) in ids {
            if ends.len() >= 32 && matches!(ends.join_next().await, Some(Ok(true))) {
                ended += 1;
            }
            let this = self.clone();
            ends.spawn(async move {
                match this.store.execution(account, id).await {
                    Ok(Some(record)) if record.status == "running" => {
                        this.end_interrupted(record, reason, None).await
                    }
                    Ok(_) => false,
                    Err(e) => {
                        tracing::warn!(execution = %id, error = %e, "cannot read a running execution");
                        false
                    }
                }
            });
        }
        while let Some(done) = ends.join_next().await {
            if matches!(done, Ok(true)) {
                ended += 1;
            }
        }
        ended
    }

    /// Ends a `running` execution whose run is gone as failed, with `reason`
    /// and the variables it had stored, and enqueues its flow-end message when
    /// its flow asks for one. With `silent_before` (a sweep), only if it is
    /// still silent since then. False if it did not end.
    async fn end_interrupted(
        &self,
        mut record: ExecutionRecord,
        reason: &str,
        silent_before: Option<i64>,
    ) -> bool {
        record.status = "failed".into();
        record.reason = Some(reason.to_owned());
        record.finished_at = Some(flowhook_storage::now_millis());
        let delivery = match self.interrupted_message(&record).await {
            Ok(d) => d,
            // Its flow no longer validates: no message can be built, ever.
            Err(ExecutionError::InvalidFlow(e)) => {
                tracing::warn!(execution = %record.id, error = %e, "an interrupted execution's flow no longer validates; it ends without its flow-end message");
                None
            }
            // Storage failed for now: leave it running, so the next sweep (or
            // start) ends it with its message rather than without.
            Err(e) => {
                tracing::warn!(execution = %record.id, error = %e, "cannot build the flow-end message of an interrupted execution yet");
                return false;
            }
        };
        let ended = match silent_before {
            Some(before) => {
                self.store
                    .end_if_silent(&record, delivery.as_ref(), before)
                    .await
            }
            None => {
                self.store
                    .finish_execution(&record, delivery.as_ref())
                    .await
            }
        };
        match ended {
            Ok(ended) => {
                if ended && delivery.is_some() {
                    self.wake_deliveries.notify_one();
                }
                ended
            }
            Err(e) => {
                tracing::warn!(execution = %record.id, error = %e, "cannot end an interrupted execution");
                false
            }
        }
    }

    /// The flow-end message of an interrupted execution, from what it stored.
    async fn interrupted_message(
        &self,
        record: &ExecutionRecord,
    ) -> Result<Option<DeliveryRecord>, ExecutionError> {
        let Some(flow_id) = flowhook_core::ids::FlowId::parse(&record.flow_id) else {
            return Ok(None);
        };
        let Some(flow) = self
            .store
            .flow_version(record.account_id, &flow_id, record.flow_version)
            .await?
        else {
            return Ok(None);
        };
        if !self.parsed(&flow)?.settings().webhook_on_complete {
            return Ok(None);
        }
        let call: std::collections::BTreeMap<String, String> =
            serde_json::from_value(record.call.clone()).unwrap_or_default();
        let variables: Variables =
            serde_json::from_value(record.variables.clone()).unwrap_or_default();
        self.flow_end_message(record, &call, &variables).await
    }

    /// Runs a prepared execution to its end and stores the result.
    pub async fn run(&self, prepared: Prepared) -> Result<ExecutionRecord, ExecutionError> {
        let Prepared {
            flow,
            input,
            mut record,
            hangup,
            live,
        } = prepared;
        let user_keys = StoredUserKeys {
            store: self.store.clone(),
            account: input.account.id,
        };
        let progress = StoredProgress {
            store: self.store.clone(),
            account: input.account.id,
            id: input.id,
        };
        let (outcome, background) = self
            .runner
            .run_durable(&flow, &input, &user_keys, &progress, &hangup)
            .await;
        record.status = outcome.status.as_str().to_owned();
        record.reason = outcome.reason;
        record.variables = serde_json::to_value(&outcome.variables).unwrap_or_default();
        record.persisted = serde_json::to_value(&outcome.persisted).unwrap_or_default();
        record.trace = JsonText::of(&outcome.trace);
        record.finished_at = Some(flowhook_storage::now_millis());
        // The on_complete path has run; now the flow-end message, stored in the
        // same transaction as the end of the execution.
        let delivery = if flow.settings().webhook_on_complete {
            self.flow_end_message(&record, &input.call, &outcome.variables)
                .await?
        } else {
            None
        };
        let ended = self
            .store
            .finish_execution(&record, delivery.as_ref())
            .await?;
        if ended && !background.is_empty() {
            // Counted before the run leaves the live set, so a shutdown never
            // sees this server idle while a request is still to be sent.
            self.record_background(record.account_id, record.id, background);
        }
        drop(live);
        if !ended {
            // A sweep (or the end of a shutdown's grace period) ended it first;
            // its stored end stands, and so does its flow-end message.
            tracing::warn!(execution = %record.id, "the execution had already been ended as interrupted");
            return Ok(self
                .store
                .execution(record.account_id, record.id)
                .await?
                .unwrap_or(record));
        }
        if delivery.is_some() {
            self.wake_deliveries.notify_one();
        }
        // Completed executions are the bulk of the traffic: logging each one
        // cost ~5% of the server's CPU under load. Failures stay visible.
        if record.status == "completed" {
            tracing::debug!(execution = %record.id, flow = %record.flow_id, steps = outcome.trace.len(), "execution completed");
        } else {
            tracing::info!(
                execution = %record.id, flow = %record.flow_id, status = %record.status,
                steps = outcome.trace.len(), reason = record.reason.as_deref().unwrap_or(""),
                "execution finished"
            );
        }
        Ok(record)
    }

    /// Adds the outcomes of requests sent without waiting to the stored trace
    /// as they arrive; counted, so a shutdown waits for them.
    fn record_background(&self, account: AccountId, id: ExecutionId, background: Background) {
        let (store, pending) = (self.store.clone(), self.background.clone());
        pending.0.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        tokio::spawn(async move {
            for (index, outcome) in background.outcomes().await {
                if let Err(e) = store.add_trace_outcome(account, id, index, &outcome).await {
                    tracing::warn!(execution = %id, error = %e, "cannot record a background request's outcome");
                }
            }
            pending.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            pending.1.notify_waiters();
        });
    }

    /// The flow-end delivery of an execution, if its account has a default webhook.
    async fn flow_end_message(
        &self,
        record: &ExecutionRecord,
        call: &std::collections::BTreeMap<String, String>,
        variables: &Variables,
    ) -> Result<Option<DeliveryRecord>, ExecutionError> {
        let Some(hook) = self.store.default_webhook(record.account_id).await? else {
            tracing::warn!(execution = %record.id, "webhook_on_complete is set but the account has no default webhook");
            return Ok(None);
        };
        let recordings: Vec<Recording> =
            serde_json::from_value(record.recordings.clone()).unwrap_or_default();
        let payload = FlowEndPayload::build(call, variables, &record.id.to_string(), recordings);
        Ok(Some(DeliveryRecord::new(
            record.account_id,
            hook.id,
            record.id,
            payload.to_json(),
        )))
    }

    /// Until `stop`: records every [`HEARTBEAT_EVERY`] that this server's
    /// executions are alive, and marks failed the running executions of servers
    /// silent for [`PRESUMED_GONE_AFTER`], so none stays `running` for ever.
    pub async fn maintain(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(HEARTBEAT_EVERY) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return;
            }
            let now = flowhook_storage::now_millis();
            self.heartbeat(now).await;
            // The sweep runs on its own, so a long one (a server died with
            // thousands running) never delays this server's own heartbeats.
            if !self
                .sweeping
                .swap(true, std::sync::atomic::Ordering::AcqRel)
            {
                let this = self.clone();
                tokio::spawn(async move {
                    this.end_silent(now - PRESUMED_GONE_AFTER.as_millis() as i64)
                        .await;
                    this.sweeping
                        .store(false, std::sync::atomic::Ordering::Release);
                });
            }
        }
    }

    /// Records that this server's live executions are alive at `now`.
    async fn heartbeat(&self, now: i64) {
        let live: Vec<ExecutionId> = lock(&self.live).runs.keys().copied().collect();
        if let Err(e) = self
            .store
            .heartbeat_executions(&self.owner, &live, now)
            .await
        {
            tracing::warn!(error = %e, "cannot record execution heartbeats");
        }
    }

    /// One round of [`Executions::maintain`] at time `now`: heartbeat this
    /// server's live executions, then end those silent for too long.
    pub async fn heartbeat_and_sweep(&self, now: i64) {
        self.heartbeat(now).await;
        let before = now - PRESUMED_GONE_AFTER.as_millis() as i64;
        self.end_silent(before).await;
    }

    /// Ends as interrupted every execution still `running` whose last sign of
    /// life is older than `before` (its server is gone), each with its
    /// flow-end message; how many. An embedded server calls it for all of them
    /// when it starts.
    pub async fn end_silent(&self, before: i64) -> usize {
        let mut ended = 0;
        loop {
            let batch = match self.store.interrupted_executions(before, 200).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot sweep interrupted executions");
                    break;
                }
            };
            let full = batch.len() == 200;
            let mut progress = false;
            for record in batch {
                if self
                    .end_interrupted(record, INTERRUPTED, Some(before))
                    .await
                {
                    ended += 1;
                    progress = true;
                }
            }
            if !full || !progress {
                break;
            }
        }
        if ended > 0 {
            tracing::warn!(
                ended,
                "ended executions whose server stopped as interrupted"
            );
        }
        ended
    }

    /// Wakes the delivery worker (after deliveries were queued again).
    pub fn wake_deliveries(&self) {
        self.wake_deliveries.notify_one();
    }

    /// Reports a remote hangup to a running execution; false if it is not running here.
    pub fn hangup(&self, id: ExecutionId) -> bool {
        match lock(&self.live).runs.get(&id) {
            Some((_, h)) => {
                h.report();
                true
            }
            None => false,
        }
    }
}

/// An execution's progress, stored as it runs.
struct StoredProgress {
    store: Arc<dyn Store>,
    account: AccountId,
    id: ExecutionId,
}

#[async_trait::async_trait]
impl Progress for StoredProgress {
    async fn save(&self, variables: &Variables) -> Result<(), String> {
        let json = serde_json::to_value(variables).map_err(|e| e.to_string())?;
        self.store
            .save_progress(self.account, self.id, &json)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The runner's input for a new execution of `flow`.
fn input_for(
    account: &AccountRecord,
    flow: &FlowRecord,
    request: &StartRequest,
    id: ExecutionId,
) -> ExecutionInput {
    ExecutionInput {
        id,
        account: AccountContext {
            id: account.id,
            client_id: account.client_id,
            allow_http: account.allow_http,
        },
        flow_id: flow.id.to_string(),
        contact: request.contact.clone(),
        call: request.call.clone(),
        keys: request.keys.clone(),
    }
}
