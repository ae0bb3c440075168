//! Outbound flows (SPEC §5): requests become scheduled calls, and the
//! scheduler starts each call's execution when it is due.
//!
//! - [`Outbound::create`] is the one path behind the `createOutbound` internal
//!   method and `POST /v1/outbound`: the request is checked and planned by
//!   `flowhook_core::outbound`, its flow looked up, and the request stored with
//!   one call per contact number (or answered `CHECKSUM_REPEATED`).
//! - The [`Scheduler`] runs calls as leased jobs ([`crate::leased`]): due calls are claimed
//!   with a lease, and each starts through
//!   [`Executions::prepare_scheduled`], which stores the execution in the
//!   transaction that marks the call started. With the execution id chosen at
//!   scheduling, that makes every call start exactly once, on whichever server
//!   claims it, across crashes (see `flowhook_storage::outbound`).
//! - An outbound execution has `$call.incoming` `false`, `$call.dnis.number` the
//!   contact, and the request's keys as `$flow.key.*`; `$flow.syskey.outboundRequestID`
//!   and `$flow.syskey.clientID` name what scheduled it.
//!
//! What is *not* promised: an execution cut short by its server's crash is
//! ended `failed` (`interrupted`) like any other, not run again, so a flow's
//! side effects are never repeated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flowhook_core::account::SecurityId;
use flowhook_core::budget::MAX_SCHEDULED_CALLS_PER_ACCOUNT;
use flowhook_core::ids::{ExecutionId, FlowId, OutboundCallId, OutboundRequestId};
use flowhook_core::outbound::{self, InvalidNumber, Refusal, Request, ResultCode};
use flowhook_core::vars::{Namespace, VarName, Variables};
use flowhook_storage::{
    AccountRecord, FlowRecord, OutboundCallRecord, OutboundRequestRecord, Store, StoreError,
    Stored, now_millis,
};
use tokio::sync::{Notify, watch};

use crate::executions::{ExecutionError, Executions, StartRequest};
use crate::leased::{self, Jobs, LeaseConfig};

/// Which form a request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `POST /v1/outbound`.
    Api,
    /// The `createOutbound` internal method.
    Internal,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Internal => "internal",
        }
    }
}

/// The answer to a request, in both forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub code: ResultCode,
    /// Why it was refused, naming the field.
    pub detail: Option<String>,
    /// The request scheduled (for `CHECKSUM_REPEATED`, the first one).
    pub request_id: Option<OutboundRequestId>,
    /// The executions scheduled, in the order of the numbers (empty for a
    /// refusal or a repeat).
    pub execution_ids: Vec<ExecutionId>,
    /// Numbers not scheduled, and why (`PARTIAL_SUCCESS`).
    pub invalid: Vec<InvalidNumber>,
}

impl Created {
    /// A refused request: nothing scheduled.
    pub fn refused(refusal: Refusal) -> Created {
        Created {
            code: refusal.code,
            detail: Some(refusal.detail),
            request_id: None,
            execution_ids: Vec::new(),
            invalid: Vec::new(),
        }
    }
}

/// Counters of the scheduler, for metrics.
#[derive(Debug, Default)]
pub struct OutboundCounters {
    /// Calls whose execution started here.
    pub started: AtomicU64,
    /// Calls that could not start (their flow is gone or no longer valid).
    pub failed: AtomicU64,
    /// Starts put off because this server or the account was at its limit.
    pub deferred: AtomicU64,
    /// Calls claimed here but started elsewhere or cancelled meanwhile.
    pub lost: AtomicU64,
    /// Sum of due time → start, in milliseconds, over `started`.
    pub lag_ms_sum: AtomicU64,
}

/// How the scheduler runs.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerConfig {
    pub lease: LeaseConfig,
    /// How long a start refused by admission waits before it is tried again.
    pub busy_retry: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            lease: LeaseConfig {
                // Held only from the claim to the start, milliseconds: a
                // crashed server's claimed calls wait this long.
                lease: Duration::from_secs(10),
                concurrency: 256,
                poll: Duration::from_millis(250),
                grace: Duration::from_secs(10),
            },
            busy_retry: Duration::from_secs(1),
        }
    }
}

/// Outbound requests: checked, planned and stored.
pub struct Outbound {
    store: Arc<dyn Store>,
    /// Wakes the [`Scheduler`] when calls are stored.
    wake: Arc<Notify>,
}

impl Outbound {
    /// `wake` wakes the [`Scheduler`].
    pub fn new(store: Arc<dyn Store>, wake: Arc<Notify>) -> Outbound {
        Outbound { store, wake }
    }

    /// The account a request's `security-id` names: `INVALID_SECURITY_ID`
    /// when it names none.
    pub async fn account_for(&self, security_id: Option<&str>) -> Result<AccountRecord, Created> {
        let refused =
            |detail: &str| Created::refused(Refusal::new(ResultCode::InvalidSecurityId, detail));
        let Some(text) = security_id.map(str::trim).filter(|s| !s.is_empty()) else {
            return Err(Created::refused(Refusal::new(
                ResultCode::InvalidMandatoryParameters,
                "security-id: missing",
            )));
        };
        let key =
            SecurityId::parse(text).ok_or_else(|| refused("security-id: not a security id"))?;
        match self
            .store
            .account_by_security_hash(&key.lookup_hash())
            .await
        {
            Ok(Some(account)) => Ok(account),
            Ok(None) => Err(refused("security-id: no account has this security id")),
            Err(e) => Err(failure(e)),
        }
    }

    /// Checks, plans and stores `request` for `account` (whose security id
    /// the caller has matched), and wakes the scheduler.
    pub async fn create(
        &self,
        account: &AccountRecord,
        request: &Request,
        source: Source,
    ) -> Created {
        let now = now_millis();
        let plan = match outbound::plan(request, &account.default_country_code, now) {
            Ok(plan) => plan,
            Err(refusal) => return Created::refused(refusal),
        };
        let flow = match self.flow(account, &plan.flow_id, plan.flow_version).await {
            Ok(flow) => flow,
            Err(created) => return created,
        };
        let request_id = OutboundRequestId::generate();
        let record = OutboundRequestRecord {
            id: request_id,
            account_id: account.id,
            flow_id: flow.id.to_string(),
            flow_version: plan.flow_version,
            source: source.as_str().into(),
            result_code: i64::from(plan.code().code()),
            invalid: serde_json::to_value(&plan.invalid).unwrap_or_default(),
            checksum: plan.checksum.clone(),
            created_at: now,
        };
        let calls: Vec<OutboundCallRecord> = plan
            .calls
            .iter()
            .map(|c| OutboundCallRecord {
                id: OutboundCallId::generate(),
                request_id,
                account_id: account.id,
                flow_id: flow.id.to_string(),
                flow_version: plan.flow_version,
                contact: c.contact.clone(),
                client_id: c.client_id.clone(),
                keys: serde_json::to_value(&c.keys).unwrap_or_default(),
                execution_id: ExecutionId::generate(),
                status: "scheduled".into(),
                error: None,
                due_at: c.due_at,
                started_at: None,
            })
            .collect();
        let repeat_after = now - outbound::REPEAT_WINDOW_MS;
        let most = MAX_SCHEDULED_CALLS_PER_ACCOUNT as i64;
        match self
            .store
            .insert_outbound(&record, &calls, repeat_after, most)
            .await
        {
            Ok(Stored::New) => {
                tracing::info!(account = %account.id, request = %request_id, flow = %flow.id, calls = calls.len(), invalid = plan.invalid.len(), "outbound request scheduled");
                // Woken, the scheduler starts what is due and sleeps until
                // the next due time.
                self.wake.notify_one();
                Created {
                    code: plan.code(),
                    detail: None,
                    request_id: Some(request_id),
                    execution_ids: calls.iter().map(|c| c.execution_id).collect(),
                    invalid: plan.invalid,
                }
            }
            Ok(Stored::Full(scheduled)) => Created::refused(Refusal::new(
                ResultCode::MaxDataListSizeExceeded,
                format!(
                    "the account has {scheduled} calls scheduled; with these {} it would pass its limit of {most}",
                    calls.len()
                ),
            )),
            Ok(Stored::Repeated(first)) => {
                // The first request's executions, as it answered them.
                let (execution_ids, invalid) =
                    match self.store.outbound_request(account.id, first).await {
                        Ok(Some((request, calls))) => (
                            calls.iter().map(|c| c.call.execution_id).collect(),
                            serde_json::from_value(request.invalid).unwrap_or_default(),
                        ),
                        Ok(None) => (Vec::new(), Vec::new()),
                        Err(e) => return failure(e),
                    };
                Created {
                    code: ResultCode::ChecksumRepeated,
                    detail: Some(format!(
                        "an identical request ({first}) was made in the last 24 hours; nothing new was scheduled"
                    )),
                    request_id: Some(first),
                    execution_ids,
                    invalid,
                }
            }
            Err(e) => failure(e),
        }
    }

    /// The flow a request names, at the version it asks for.
    async fn flow(
        &self,
        account: &AccountRecord,
        id: &FlowId,
        version: Option<i64>,
    ) -> Result<FlowRecord, Created> {
        let current = match self.store.flow(account.id, id).await {
            Ok(Some(flow)) => flow,
            Ok(None) => {
                return Err(Created::refused(Refusal::new(
                    ResultCode::InvalidFlowId,
                    format!("flow-id: this account has no flow {id}"),
                )));
            }
            Err(e) => return Err(failure(e)),
        };
        let flow = match version {
            None => current,
            Some(v) if v == current.version => current,
            Some(v) => match self.store.flow_version(account.id, id, v).await {
                Ok(Some(flow)) => flow,
                Ok(None) => {
                    return Err(Created::refused(Refusal::new(
                        ResultCode::InvalidFlowVersion,
                        format!(
                            "flow-version: flow {id} has no version {v}; its current version is {}",
                            current.version
                        ),
                    )));
                }
                Err(e) => return Err(failure(e)),
            },
        };
        Ok(flow)
    }
}

/// The scheduler: starts due calls, as leased jobs.
pub struct Scheduler {
    store: Arc<dyn Store>,
    executions: Arc<Executions>,
    config: SchedulerConfig,
    wake: Arc<Notify>,
    pub counters: Arc<OutboundCounters>,
}

impl Scheduler {
    /// `wake` is notified when calls are stored (the one given to [`Outbound`]).
    pub fn new(
        store: Arc<dyn Store>,
        executions: Arc<Executions>,
        config: SchedulerConfig,
        wake: Arc<Notify>,
    ) -> Scheduler {
        Scheduler {
            store,
            executions,
            config,
            wake,
            counters: Arc::default(),
        }
    }

    /// Runs the scheduler until `stop` turns true.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let (config, wake) = (self.config.lease, self.wake.clone());
        leased::run(self, config, wake, stop).await;
    }

    /// Starts one claimed call's execution.
    async fn start(&self, lease: &str, call: OutboundCallRecord) {
        let (account, flow) = match self.call_flow(&call).await {
            Ok(found) => found,
            Err(Failure::Retry(error)) => {
                tracing::warn!(call = %call.id, %error, "outbound call not started; it will be tried again when its lease expires");
                return;
            }
            Err(Failure::Final(error)) => return self.fail(lease, &call, &error).await,
        };
        let request = start_request(&call);
        let prepared = match self
            .executions
            .prepare_scheduled(&account, &flow, request, call.execution_id, call.id, lease)
            .await
        {
            Ok(Some(prepared)) => prepared,
            Ok(None) | Err(ExecutionError::AlreadyRunning(_)) => {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                tracing::info!(call = %call.id, "outbound call started elsewhere or cancelled");
                return;
            }
            Err(ExecutionError::Busy(why)) => {
                self.counters.deferred.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(call = %call.id, %why, "outbound call deferred");
                let until = now_millis() + self.config.busy_retry.as_millis() as i64;
                if let Err(e) = self.store.defer_outbound_call(call.id, lease, until).await {
                    tracing::warn!(call = %call.id, error = %e, "cannot defer an outbound call; its lease will expire");
                }
                return;
            }
            Err(ExecutionError::InvalidFlow(e)) => {
                return self
                    .fail(lease, &call, &format!("the flow cannot run: {e}"))
                    .await;
            }
            Err(ExecutionError::Store(e)) => {
                tracing::warn!(call = %call.id, error = %e, "cannot start an outbound call; it will be tried again when its lease expires");
                return;
            }
        };
        let lag = (now_millis() - call.due_at).max(0) as u64;
        self.counters.started.fetch_add(1, Ordering::Relaxed);
        self.counters.lag_ms_sum.fetch_add(lag, Ordering::Relaxed);
        tracing::debug!(call = %call.id, execution = %call.execution_id, lag_ms = lag, "outbound execution started");
        // The run is the execution's, not the scheduler's: like a run started
        // through the API it is bounded by admission and drained (or ended
        // as interrupted) when the server stops.
        let (executions, id) = (self.executions.clone(), call.execution_id);
        tokio::spawn(async move {
            if let Err(e) = executions.run(prepared).await {
                tracing::error!(execution = %id, error = %e, "outbound execution could not be stored");
            }
        });
    }

    /// The account and flow version a call runs.
    async fn call_flow(
        &self,
        call: &OutboundCallRecord,
    ) -> Result<(AccountRecord, FlowRecord), Failure> {
        let account = self
            .store
            .account(call.account_id)
            .await
            .map_err(|e| Failure::Retry(e.to_string()))?
            .ok_or_else(|| Failure::Final("the account no longer exists".into()))?;
        let id = FlowId::parse(&call.flow_id)
            .ok_or_else(|| Failure::Final(format!("{:?} is not a flow id", call.flow_id)))?;
        let flow = match call.flow_version {
            Some(v) => self.store.flow_version(account.id, &id, v).await,
            None => self.store.flow(account.id, &id).await,
        }
        .map_err(|e| Failure::Retry(e.to_string()))?
        .ok_or_else(|| Failure::Final(format!("flow {id} no longer exists")))?;
        Ok((account, flow))
    }

    async fn fail(&self, lease: &str, call: &OutboundCallRecord, error: &str) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(call = %call.id, %error, "outbound call cannot start");
        if let Err(e) = self.store.fail_outbound_call(call.id, lease, error).await {
            tracing::warn!(call = %call.id, error = %e, "cannot record an outbound call's failure; it will be tried again");
        }
    }
}

#[async_trait::async_trait]
impl Jobs for Scheduler {
    type Job = OutboundCallRecord;
    const NAME: &'static str = "outbound call";

    async fn claim(
        &self,
        lease: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboundCallRecord>, StoreError> {
        // Calls of accounts that can start nothing here now stay unclaimed
        // (for later, or another server), so they neither churn through
        // deferrals nor hold up other accounts' calls.
        let (room, full) = self.executions.room();
        let limit = limit.min(room as i64);
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.store
            .claim_outbound_calls(lease, now, lease_ms, limit, &full)
            .await
    }

    async fn work(&self, lease: &str, call: OutboundCallRecord) {
        self.start(lease, call).await;
    }

    async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        self.store.release_outbound_leases(Some(owner)).await
    }

    async fn next_due(&self, now: i64) -> Result<Option<i64>, StoreError> {
        match self.executions.room() {
            // A full server waits for a run to end, which the poll covers.
            (0, _) => Ok(None),
            (_, full) => self.store.next_outbound_due(now, &full).await,
        }
    }
}

/// Why a call did not start: for now (the database), or for good.
enum Failure {
    Retry(String),
    Final(String),
}

fn failure(e: StoreError) -> Created {
    tracing::error!(error = %e, "outbound request not stored");
    Created::refused(Refusal::new(
        ResultCode::Failure,
        "the request could not be stored; try again",
    ))
}

/// What an outbound execution starts with.
fn start_request(call: &OutboundCallRecord) -> StartRequest {
    let keys: BTreeMap<String, String> =
        serde_json::from_value(call.keys.clone()).unwrap_or_default();
    let mut variables: Variables = keys
        .into_iter()
        .filter_map(|(name, value)| Some((VarName::new(Namespace::FlowKey, name).ok()?, value)))
        .collect();
    let syskey = |name: &str| VarName::new(Namespace::FlowSyskey, name).ok();
    if let Some(name) = syskey("outboundRequestID") {
        variables.insert(name, call.request_id.to_string());
    }
    if let (Some(name), Some(client)) = (syskey("clientID"), &call.client_id) {
        variables.insert(name, client.clone());
    }
    StartRequest {
        contact: call.contact.clone(),
        call: BTreeMap::from([
            ("dnis.number".to_owned(), call.contact.clone()),
            ("incoming".to_owned(), "false".to_owned()),
        ]),
        keys: variables,
        ..StartRequest::default()
    }
}
