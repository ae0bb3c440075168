//! The flowhook server: configuration, the HTTP API, the admin web UI, start-up and telemetry. The
//! `flowhook` binary (`main.rs`) is a thin command line over this library, which
//! the integration tests drive directly.

pub mod api;
pub mod config;
pub mod connections;
pub mod local_run;
pub mod metrics;
pub mod sealing;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod ui;
