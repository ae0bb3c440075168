//! Black-box tests of the flowhook server: the real server on port 0, real HTTP,
//! a real database (SQLite, and PostgreSQL when FLOWHOOK_TEST_DATABASE_URL is set),
//! and a recording receiver standing in for customers' servers.

mod accounts;
mod agents;
mod bots;
mod contacts;
mod contract;
mod errors;
mod executions;
mod flow_end;
mod flows;
mod guards;
mod helpers;
mod intents;
mod internal;
mod links;
mod outbound;
mod pause_status;
mod reports;
mod sealing;
mod service;
mod translate;
mod webhook_widget;
mod webhooks;
