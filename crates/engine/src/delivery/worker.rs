//! The delivery worker: deliveries as leased jobs ([`crate::leased`]) and the
//! steps of one delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flowhook_core::secret::{Binding, MasterKey, Purpose, SigningSecret};
use flowhook_storage::{
    AttemptOutcome, AttemptRecord, DeliveryRecord, Store, StoreError, WebhookRecord, now_millis,
};
use tokio::sync::{Notify, watch};

use super::retry::{RetryPolicy, parse_retry_after};
use crate::egress::{Egress, OutboundRequest};
use crate::leased::{self, Jobs, LeaseConfig};

/// How the worker behaves.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub retry: RetryPolicy,
    /// How long a claimed delivery belongs to this worker; longer than a request.
    pub lease: Duration,
    /// The deadline of one attempt.
    pub request_timeout: Duration,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// How often an idle worker looks for due deliveries (it is also woken when
    /// an execution enqueues one).
    pub poll: Duration,
    /// On shutdown, how long attempts in flight may take to finish.
    pub grace: Duration,
}

impl DeliveryConfig {
    pub fn new(retry_seconds: &[u64]) -> DeliveryConfig {
        DeliveryConfig {
            retry: RetryPolicy::new(retry_seconds),
            lease: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            concurrency: 256,
            poll: Duration::from_millis(500),
            grace: Duration::from_secs(10),
        }
    }
}

/// Outcome counters, for metrics.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
    /// Attempts whose result could not be recorded (the lease was lost).
    pub lost_lease: AtomicU64,
}

/// Excerpt of a response kept per attempt.
const EXCERPT_BYTES: usize = 4096;

/// Claims and delivers flow-end messages until told to stop.
pub struct DeliveryWorker {
    store: Arc<dyn Store>,
    egress: Egress,
    master_key: MasterKey,
    config: DeliveryConfig,
    wake: Arc<Notify>,
    pub counters: Arc<DeliveryCounters>,
}

impl DeliveryWorker {
    pub fn new(
        store: Arc<dyn Store>,
        egress: Egress,
        master_key: MasterKey,
        config: DeliveryConfig,
        wake: Arc<Notify>,
    ) -> DeliveryWorker {
        DeliveryWorker {
            store,
            egress,
            master_key,
            config,
            wake,
            counters: Arc::new(DeliveryCounters::default()),
        }
    }

    /// Runs until `stop` turns true (see [`crate::leased::run`]).
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let config = LeaseConfig {
            lease: self.config.lease,
            concurrency: self.config.concurrency,
            poll: self.config.poll,
            grace: self.config.grace,
        };
        let wake = self.wake.clone();
        leased::run(self, config, wake, stop).await;
    }

    /// One delivery: prepare, call, record.
    async fn deliver(&self, lease: &str, delivery: DeliveryRecord) {
        let started_at = now_millis();
        let started = Instant::now();
        let (status, response, error, retry_after) = match self.prepare(&delivery).await {
            Err(error) => (None, None, Some(error), None),
            Ok(request) => match self.egress.send(request).await {
                Err(e) => (None, None, Some(e.to_string()), None),
                Ok(resp) => {
                    let excerpt = String::from_utf8_lossy(&resp.body).into_owned();
                    let ok = (200..300).contains(&resp.status);
                    let retry_after = resp
                        .header("retry-after")
                        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
                    let error =
                        (!ok).then(|| format!("the receiver answered HTTP {}", resp.status));
                    (
                        Some(i64::from(resp.status)),
                        Some(excerpt),
                        error,
                        retry_after,
                    )
                }
            },
        };
        let outcome = if error.is_none() {
            AttemptOutcome::Delivered
        } else {
            let failed = delivery.round_attempts + 1;
            match self.config.retry.delay(failed, retry_after, jitter()) {
                Some(delay) => AttemptOutcome::Retry {
                    at: now_millis() + delay.as_millis() as i64,
                },
                None => AttemptOutcome::Failed,
            }
        };
        let attempt = AttemptRecord {
            delivery_id: delivery.id,
            attempt: delivery.attempts + 1,
            at: started_at,
            status,
            duration_us: started.elapsed().as_micros() as i64,
            response,
            error: error.clone(),
        };
        match self.store.record_attempt(lease, &attempt, outcome).await {
            Ok(true) => {}
            Ok(false) => {
                self.counters.lost_lease.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(delivery = %delivery.id, "lease lost before the attempt was recorded; another worker will retry");
                return;
            }
            Err(e) => {
                tracing::error!(delivery = %delivery.id, error = %e, "cannot record an attempt; the lease will expire and it will be retried");
                return;
            }
        }
        let counter = match outcome {
            AttemptOutcome::Delivered => &self.counters.delivered,
            AttemptOutcome::Retry { .. } => &self.counters.retried,
            AttemptOutcome::Failed => &self.counters.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(delivery = %delivery.id, attempt = attempt.attempt, ?status, ?outcome, error = error.as_deref().unwrap_or(""), "delivery attempt");
        if outcome == AttemptOutcome::Failed {
            tracing::warn!(delivery = %delivery.id, attempts = attempt.attempt, "delivery failed after its last attempt");
        }
    }

    /// Loads the webhook, opens its secrets and builds the signed request.
    async fn prepare(&self, d: &DeliveryRecord) -> Result<OutboundRequest, String> {
        let hook = self
            .store
            .webhook(d.account_id, d.webhook_id)
            .await
            .map_err(|e| format!("cannot load the webhook: {e}"))?
            .ok_or("the webhook was deleted")?;
        self.check_scheme(&hook).await?;
        let open = |purpose: Purpose, sealed: &str| {
            let to = Binding::new(hook.account_id, purpose);
            self.master_key.open(to, sealed).map_err(|e| e.to_string())
        };
        let now = chrono::Utc::now();
        let timestamp = now.timestamp();
        let body = d.payload.as_bytes();
        let current =
            SigningSecret::parse(open(Purpose::SigningSecret, &hook.signing_secret.0)?.expose())
                .map_err(|e| e.to_string())?;
        let mut signature = current.sign(&d.msg_id, timestamp, body);
        if let (Some(previous), Some(until)) = (&hook.previous_secret, hook.previous_until)
            && until > now.timestamp_millis()
        {
            let previous =
                SigningSecret::parse(open(Purpose::SigningSecret, &previous.0)?.expose())
                    .map_err(|e| e.to_string())?;
            signature.push(' ');
            signature.push_str(&previous.sign(&d.msg_id, timestamp, body));
        }
        let mut headers = crate::credentials::stored_headers(&hook, &self.master_key)?;
        headers.push(("Content-Type".into(), "application/json".into()));
        headers.push(("webhook-id".into(), d.msg_id.clone()));
        headers.push(("webhook-timestamp".into(), timestamp.to_string()));
        headers.push(("webhook-signature".into(), signature));
        Ok(OutboundRequest {
            method: hook.method,
            url: hook.url.as_url().clone(),
            headers,
            body: Some(body.to_vec()),
            timeout: self.config.request_timeout,
            max_response_bytes: EXCERPT_BYTES,
        })
    }
}

#[async_trait::async_trait]
impl Jobs for DeliveryWorker {
    type Job = DeliveryRecord;
    const NAME: &'static str = "delivery";

    async fn claim(
        &self,
        lease: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.store
            .claim_deliveries(lease, now, lease_ms, limit)
            .await
    }

    async fn work(&self, lease: &str, delivery: DeliveryRecord) {
        self.deliver(lease, delivery).await;
    }

    async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        self.store.release_leases(Some(owner)).await
    }
}

impl DeliveryWorker {
    /// `allow_http` is checked again at every attempt, not only when the URL
    /// was saved: once the operator revokes it, `http://` messages are not
    /// sent, and the attempt records why. (An `https://` URL needs no read.)
    async fn check_scheme(&self, hook: &WebhookRecord) -> Result<(), String> {
        if hook.url.is_https() {
            return Ok(());
        }
        let account = self
            .store
            .account(hook.account_id)
            .await
            .map_err(|e| format!("cannot load the account: {e}"))?
            .ok_or("the account was deleted")?;
        hook.url
            .check_scheme(account.allow_http)
            .map_err(|e| format!("not sent: {e}"))
    }
}

/// A uniform number in [-1, 1] for retry jitter.
fn jitter() -> f64 {
    let r = u64::from_le_bytes(flowhook_core::secret::random_bytes::<8>());
    (r as f64 / u64::MAX as f64) * 2.0 - 1.0
}
