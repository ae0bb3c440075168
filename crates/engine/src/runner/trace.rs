//! The execution trace: one entry per widget step, as stored and as the API and
//! `flowhook run` show it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One widget step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// 1-based step number across the whole execution.
    pub step: u32,
    /// The root whose path this step is on: `start`, `on_remote_hangup` or
    /// `on_complete`.
    pub root: String,
    pub widget: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The output line taken; `null` when the widget ends the path.
    pub line: Option<usize>,
    /// The widget that line leads to; `null` when the path ends.
    pub next: Option<String>,
    /// RFC 3339 UTC.
    pub started_at: String,
    pub duration_ms: f64,
    /// Variables this step changed, with their new values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changed: BTreeMap<String, String>,
    /// Widget-specific detail (e.g. the request and response of a webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Why the step failed the execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
