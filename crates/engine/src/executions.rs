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
use flowhook_core::ids::ExecutionId;
use flowhook_core::secret::MasterKey;
use flowhook_core::vars::Variables;
use flowhook_storage::{
    AccountRecord, DeliveryRecord, ExecutionRecord, FlowRecord, Store, StoreError,
};
use tokio::sync::{Notify, watch};

use crate::runner::{AccountContext, DryRun, ExecutionInput, Hangup, Runner, StoredUserKeys};

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The executions running on this server, with their hangup switches.
type Live = Arc<Mutex<HashMap<ExecutionId, Hangup>>>;

/// Membership of the live set. Dropping it leaves the set — when the run ends,
/// fails or panics, or if it never starts — so no execution is heartbeated (and
/// kept `running`) after its run is gone.
struct LiveEntry {
    live: Live,
    id: ExecutionId,
}

impl Drop for LiveEntry {
    fn drop(&mut self) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
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
            live: Arc::new(Mutex::new(HashMap::new())),
        }
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
        let input = input_for(account, flow, &request);
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
        let parsed = self.parsed(flow)?;
        let input = input_for(account, flow, &request);
        let record = ExecutionRecord {
            call: serde_json::to_value(&request.call).unwrap_or_default(),
            recordings: request.recordings,
            ..ExecutionRecord::running(
                input.id,
                account.id,
                flow.id.as_str(),
                flow.version,
                &request.contact,
            )
        };
        self.store.insert_execution(&record).await?;
        let hangup = Hangup::default();
        if request.remote_hangup {
            hangup.report();
        }
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(input.id, hangup.clone());
        let live = LiveEntry {
            live: self.live.clone(),
            id: input.id,
        };
        Ok(Prepared {
            flow: parsed,
            input,
            record,
            hangup,
            live,
        })
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
        let outcome = self.runner.run(&flow, &input, &user_keys, &hangup).await;
        drop(live);
        record.status = outcome.status.as_str().to_owned();
        record.reason = outcome.reason;
        record.variables = serde_json::to_value(&outcome.variables).unwrap_or_default();
        record.persisted = serde_json::to_value(&outcome.persisted).unwrap_or_default();
        record.trace = serde_json::to_value(&outcome.trace).unwrap_or_default();
        record.finished_at = Some(flowhook_storage::now_millis());
        // The on_complete path has run; now the flow-end message, stored in the
        // same transaction as the end of the execution.
        let delivery = if flow.settings().webhook_on_complete {
            self.flow_end_message(&record, &input, &outcome.variables)
                .await?
        } else {
            None
        };
        self.store
            .finish_execution(&record, delivery.as_ref())
            .await?;
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

    /// The flow-end delivery of an execution, if its account has a default webhook.
    async fn flow_end_message(
        &self,
        record: &ExecutionRecord,
        input: &ExecutionInput,
        variables: &Variables,
    ) -> Result<Option<DeliveryRecord>, ExecutionError> {
        let Some(hook) = self.store.default_webhook(record.account_id).await? else {
            tracing::warn!(execution = %record.id, "webhook_on_complete is set but the account has no default webhook");
            return Ok(None);
        };
        let recordings: Vec<Recording> =
            serde_json::from_value(record.recordings.clone()).unwrap_or_default();
        let payload =
            FlowEndPayload::build(&input.call, variables, &record.id.to_string(), recordings);
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
            self.heartbeat_and_sweep(flowhook_storage::now_millis())
                .await;
        }
    }

    /// One round of [`Executions::maintain`] at time `now`: heartbeat this
    /// server's live executions, then fail those silent for too long.
    pub async fn heartbeat_and_sweep(&self, now: i64) {
        let live: Vec<ExecutionId> = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        if let Err(e) = self
            .store
            .heartbeat_executions(&self.owner, &live, now)
            .await
        {
            tracing::warn!(error = %e, "cannot record execution heartbeats");
        }
        let before = now - PRESUMED_GONE_AFTER.as_millis() as i64;
        match self.store.fail_interrupted(before).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(failed = n, "marked executions of a silent server as failed"),
            Err(e) => tracing::warn!(error = %e, "cannot sweep interrupted executions"),
        }
    }

    /// Wakes the delivery worker (after deliveries were queued again).
    pub fn wake_deliveries(&self) {
        self.wake_deliveries.notify_one();
    }

    /// Reports a remote hangup to a running execution; false if it is not running here.
    pub fn hangup(&self, id: ExecutionId) -> bool {
        match self.live.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            Some(h) => {
                h.report();
                true
            }
            None => false,
        }
    }
}

/// The runner's input for a new execution of `flow`.
fn input_for(account: &AccountRecord, flow: &FlowRecord, request: &StartRequest) -> ExecutionInput {
    ExecutionInput {
        id: ExecutionId::generate(),
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
