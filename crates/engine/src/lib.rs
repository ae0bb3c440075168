//! flowhook-engine: the parts of flowhook that act on the world.
//!
//! - [`egress`]: the one HTTP client, with its guards.
//! - [`runner`]: executes flows, one widget step at a time.
//! - [`executions`]: stored executions around each run, and their outbox message.
//! - [`leased`]: the claim → work → record loop of durable background jobs.
//! - [`delivery`]: the flow-end webhook worker (a leased job).
//! - [`internal`]: the platform functions behind internal webhooks.
//! - [`links`]: short links: made, followed, their clicks counted.
//! - [`outbound`]: outbound requests and the scheduler that starts their calls.
//! - [`reports`]: executions reports: asked for, built in the background, delivered.
//!
//! Invariant: the engine performs network I/O only through [`egress::Egress`] and
//! persists only through `flowhook_storage::Store` (or, for local runs, the
//! in-memory stand-ins the runner's traits allow).

pub mod credentials;
pub mod delivery;
pub mod egress;
pub mod executions;
pub mod internal;
pub mod leased;
pub mod links;
pub mod outbound;
pub mod reports;
pub mod runner;

/// This server process's name in shared state (execution owners, delivery
/// leases): its pid and a random suffix, the same for the whole process.
pub fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        format!(
            "{}-{}",
            std::process::id(),
            hex::encode(flowhook_core::secret::random_bytes::<6>())
        )
    })
}
