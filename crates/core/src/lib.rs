//! flowhook-core: the pure heart of flowhook.
//!
//! Everything here is deterministic computation on values: domain types that are
//! parsed once at the boundary and trusted afterwards, variables, templates,
//! response paths, the flow model, the business calendar, agents' numbers and
//! breaks, and the cryptography of secrets and signatures.
//! Invariant: this crate performs no I/O and has no async code; the engine and the
//! server bring the outside world to it.

pub mod account;
pub mod agents;
pub mod bots;
pub mod budget;
pub mod calendar;
pub mod condition;
pub mod contact;
pub mod flow;
pub mod flow_end;
pub mod http;
pub mod ids;
pub mod intents;
pub mod internal;
pub mod json_text;
pub mod links;
pub mod outbound;
pub mod paths;
pub mod providers;
pub mod report;
pub mod secret;
pub mod template;
pub mod translate;
pub mod vars;
pub mod webhook;
pub mod webhook_call;
