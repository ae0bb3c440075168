//! Leased jobs: the one claim → work → record loop behind every durable
//! background job (flow-end deliveries, outbound calls, report builds).
//!
//! A job kind implements [`Jobs`]: how to claim due rows under a lease, how to
//! work one, and how to give leases back. [`run`] drives it:
//! - claims come in batches: the loop claims again when a quarter of its slots
//!   are free (or nothing is in flight), not for every slot that frees, so one
//!   claim serves many jobs; it never claims more than it has free slots, so a
//!   claimed job never waits while its lease runs;
//! - an idle loop sleeps until woken (new work was stored on this server),
//!   the next job falls due (when the kind can tell), or `poll` passes (work
//!   stored by another server);
//! - on stop, jobs in flight may finish for `grace`; then this server's leases
//!   are released, so another server (or the next start) takes them at once.
//!
//! The promise each job kind keeps in storage: a job's result is recorded only
//! by the lease that still holds it, and an expired lease makes the job
//! claimable again. That is what makes a crashed server's jobs safe to take.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flowhook_storage::{StoreError, now_millis};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

/// A kind of leased job.
#[async_trait::async_trait]
pub trait Jobs: Send + Sync + 'static {
    type Job: Send + 'static;

    /// The kind's name in logs (`delivery`, `outbound call`).
    const NAME: &'static str;

    /// Leases up to `limit` due jobs to `lease` until `now + lease_ms`.
    async fn claim(
        &self,
        lease: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Self::Job>, StoreError>;

    /// Works one claimed job and records its result under `lease`.
    async fn work(&self, lease: &str, job: Self::Job);

    /// Gives back every lease of `owner` (this server); how many.
    async fn release(&self, owner: &str) -> Result<u64, StoreError>;

    /// When the next unclaimed job falls due (unix ms), if the kind can say
    /// cheaply: an idle loop then sleeps until then rather than a whole
    /// `poll`, so a job due in 30 ms starts in about 30 ms.
    async fn next_due(&self, _now: i64) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }
}

/// The shortest idle sleep, in milliseconds.
const MIN_IDLE_MS: i64 = 5;

/// How long an idle loop sleeps: `poll`, or less when a job falls due sooner.
async fn idle_for<J: Jobs>(jobs: &J, poll: Duration) -> Duration {
    let now = now_millis();
    match jobs.next_due(now).await {
        // A job already due but not claimed is held back (its lease, or the
        // kind's own rule): look again soon, not in a busy loop.
        Ok(Some(at)) => poll.min(Duration::from_millis((at - now).max(MIN_IDLE_MS) as u64)),
        _ => poll,
    }
}

/// How a loop claims and works.
#[derive(Debug, Clone, Copy)]
pub struct LeaseConfig {
    /// How long a claimed job belongs to this server; longer than its work.
    pub lease: Duration,
    /// Jobs in flight at once.
    pub concurrency: usize,
    /// How often an idle loop looks for due jobs (it is also woken).
    pub poll: Duration,
    /// On stop, how long jobs in flight may take to finish.
    pub grace: Duration,
}

/// Claims and works `jobs` until `stop` turns true; see the module docs.
pub async fn run<J: Jobs>(
    jobs: Arc<J>,
    config: LeaseConfig,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let owner = crate::instance_id();
    let permits = Arc::new(Semaphore::new(config.concurrency));
    let batch = (config.concurrency / 4).max(1);
    let mut tasks = JoinSet::new();

    tracing::info!(owner, kind = J::NAME, "leased job loop started");
    while !*stop.borrow() {
        while tasks.try_join_next().is_some() {}
        let free = permits.available_permits();
        if free < batch && !tasks.is_empty() {
            tokio::select! {
                _ = tasks.join_next() => {}
                r = stop.changed() => if r.is_err() { break }
            }
            continue;
        }
        // Numbered per process, so no two claims of this server share a name.
        static CLAIMS: AtomicU64 = AtomicU64::new(0);
        let lease = format!("{owner}:{}", CLAIMS.fetch_add(1, Ordering::Relaxed));
        let claimed = jobs
            .claim(
                &lease,
                now_millis(),
                config.lease.as_millis() as i64,
                free as i64,
            )
            .await;
        match claimed {
            Ok(claimed) if !claimed.is_empty() => {
                // At most `free` were claimed, so every permit is available now.
                let lease: Arc<str> = lease.into();
                for job in claimed {
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        break;
                    };
                    let (jobs, lease) = (jobs.clone(), lease.clone());
                    tasks.spawn(async move {
                        jobs.work(&lease, job).await;
                        drop(permit);
                    });
                }
            }
            Ok(_) if !tasks.is_empty() => {
                let idle = idle_for(&*jobs, config.poll).await;
                tokio::select! {
                    _ = tasks.join_next() => {}
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(idle) => {}
                    r = stop.changed() => if r.is_err() { break }
                }
            }
            Ok(_) => {
                let idle = idle_for(&*jobs, config.poll).await;
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(idle) => {}
                    r = stop.changed() => if r.is_err() { break }
                }
            }
            Err(e) => {
                tracing::warn!(kind = J::NAME, error = %e, "cannot claim; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(config.poll) => {}
                    r = stop.changed() => if r.is_err() { break }
                }
            }
        }
    }
    let in_flight = tasks.len();
    let finished = tokio::time::timeout(config.grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await
    .is_ok();
    tasks.abort_all();
    match jobs.release(owner).await {
        Ok(released) => {
            tracing::info!(
                kind = J::NAME,
                in_flight,
                finished,
                released,
                "leased job loop stopped"
            )
        }
        Err(e) => {
            tracing::warn!(kind = J::NAME, error = %e, "could not release leases; they will expire")
        }
    }
}
