//! The execution trace: one entry per widget step, as stored and as the API and
//! `flowhook run` show it.
//!
//! A step records at most [`MAX_TRACE_VALUE_BYTES`] of each value it changed,
//! plus the full length of each value it cut, so a trace stays small whatever
//! the values are; a value whose variable's name says credential is `***`.

use std::collections::BTreeMap;

use flowhook_core::budget::{MAX_TRACE_VALUE_BYTES, prefix};
use flowhook_core::vars::VarName;
use flowhook_core::webhook::is_sensitive_name;
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
    /// Variables this step changed, with their new values (each cut to its
    /// first [`MAX_TRACE_VALUE_BYTES`] bytes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changed: BTreeMap<String, String>,
    /// The full length in bytes of each value `changed` shows cut.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub truncated: BTreeMap<String, usize>,
    /// Widget-specific detail (e.g. the request and response of a webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Why the step failed the execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a step records of the values it changed: `changed` and `truncated` of
/// a [`TraceEntry`].
pub fn recorded_changes(
    changes: &[(VarName, String)],
) -> (BTreeMap<String, String>, BTreeMap<String, usize>) {
    let mut changed = BTreeMap::new();
    let mut truncated = BTreeMap::new();
    for (var, value) in changes {
        // A credential's value (by its name: `apiKey`, `securityID`, …) is
        // shown as `***`, as in an internal webhook's envelope.
        if is_sensitive_name(var.name()) {
            changed.insert(var.to_string(), "***".to_owned());
            continue;
        }
        let (shown, cut) = prefix(value, MAX_TRACE_VALUE_BYTES);
        if cut {
            truncated.insert(var.to_string(), value.len());
        }
        changed.insert(var.to_string(), shown.to_owned());
    }
    (changed, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_recorded_as_a_prefix_and_their_length() {
        let var = |s: &str| VarName::parse(s).expect("var");
        let long = "é".repeat(MAX_TRACE_VALUE_BYTES);
        let changes = [
            (var("$flow.key.short"), "ok".to_owned()),
            (var("$flow.key.long"), long.clone()),
        ];
        let (changed, truncated) = recorded_changes(&changes);
        assert_eq!(changed["$flow.key.short"], "ok");
        let shown = &changed["$flow.key.long"];
        assert_eq!(shown.len(), MAX_TRACE_VALUE_BYTES);
        assert!(long.starts_with(shown.as_str()));
        assert_eq!(
            truncated,
            BTreeMap::from([("$flow.key.long".to_owned(), long.len())])
        );
    }
}
