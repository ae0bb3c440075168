//! The flow-end webhook delivery engine: a worker that claims due deliveries from
//! the outbox, sends each signed (Standard Webhooks) through the egress client,
//! records the attempt and queues the next attempt or finishes it.
//!
//! One delivery goes through steps: [`worker`]'s `prepare` (load the
//! webhook, open its secrets, sign), `call` (one guarded request), `record` (the
//! attempt and the next state, in one transaction) — with [`retry`] deciding
//! when the next attempt is.
//!
//! Guarantees: at-least-once. A message is only marked delivered after a 2xx;
//! a worker that dies holding leases loses them when they expire (or at the next
//! start of an embedded server) and the messages are sent again, with the same
//! `webhook-id`, so receivers can drop duplicates.

pub mod retry;
pub mod worker;

pub use retry::RetryPolicy;
pub use worker::{DeliveryConfig, DeliveryCounters, DeliveryWorker};
