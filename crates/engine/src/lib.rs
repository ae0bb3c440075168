//! flowhook-engine: the parts of flowhook that act on the world.
//!
//! - [`egress`]: the one HTTP client, with its guards.
//! - [`runner`]: executes flows, one widget step at a time.
//! - [`executions`]: stored executions around each run, and their outbox message.
//! - [`delivery`]: the flow-end webhook worker.
//!
//! Invariant: the engine performs network I/O only through [`egress::Egress`] and
//! persists only through `flowhook_storage::Store` (or, for local runs, the
//! in-memory stand-ins the runner's traits allow).

pub mod delivery;
pub mod egress;
pub mod executions;
pub mod runner;
