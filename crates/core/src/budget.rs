//! The execution budget: every limit that bounds the work and memory one flow
//! (and so one account) can make the server spend, in one place.
//!
//! Two kinds of limit live here:
//!
//! - **Shape limits**, checked when a flow is saved (`flow::validate`): how many
//!   widgets, assignments, cases, mappings, headers and query entries a flow may
//!   have. A flow over them is refused with a 422 naming the widget.
//! - **Run limits**, checked while an execution runs: the rendered output of one
//!   template, one variable's value, all of one execution's variable bytes, what
//!   one trace step records, the response body, and how long mapping one response
//!   may take. An execution over a run limit ends `failed` with an [`Exceeded`]
//!   reason that names the limit.
//!
//! The numbers are sized so that no legitimate flow meets them (a response body
//! of the largest size still fits in a variable) while a flow that doubles a value
//! at every step stops after a handful of steps.

use std::time::Duration;

/// Widgets in one flow.
pub const MAX_WIDGETS: usize = 500;
/// Assignments in one `store_variable` widget.
pub const MAX_ASSIGNMENTS: usize = 100;
/// Cases in one `condition` widget.
pub const MAX_CASES: usize = 50;
/// Response mappings in one `webhook` widget.
pub const MAX_MAPPINGS: usize = 100;
/// Headers of a request: a registered webhook's fixed headers, and the headers of
/// a `webhook` widget. The one rule for both.
pub const MAX_HEADERS: usize = 50;
/// Query entries of a `webhook` widget; the same number as for headers.
pub const MAX_QUERY_ENTRIES: usize = MAX_HEADERS;

/// Bytes one template may render to (a URL, header, body or assigned value).
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;
/// Response bodies longer than this are cut off and fail (`RESPONSE_TOO_LARGE`).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Bytes of one variable's value. As large as a response body, so that
/// `$flow.key.response_raw` of any accepted response fits.
pub const MAX_VARIABLE_BYTES: usize = MAX_RESPONSE_BYTES;
/// Bytes of all of one execution's variable values together.
pub const MAX_EXECUTION_VARIABLE_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of each changed value one trace step records; a longer value is recorded
/// as a prefix of this length plus its full length.
pub const MAX_TRACE_VALUE_BYTES: usize = 1024;
/// Bytes of a request or response body one trace step records.
pub const MAX_TRACE_BODY_BYTES: usize = 64 * 1024;

/// Nodes (elements, attributes, text, comments, processing instructions) of a
/// parsed XML response. Evaluating an XPath costs time in the number of nodes.
pub const MAX_XML_NODES: usize = 100_000;
/// How long mapping one response (all its paths) may take, waiting for a mapping
/// slot included. Past it the widget fails with `MAPPING_FAILED`.
/// Requests sent without waiting (`wait_for_response: false`) in flight at
/// once for one execution; a further one waits for a slot.
pub const MAX_BACKGROUND_PER_EXECUTION: usize = 8;
/// The same for the whole server.
pub const MAX_BACKGROUND_TOTAL: usize = 1024;
/// The same for one account, so one account cannot hold them all.
pub const MAX_BACKGROUND_PER_ACCOUNT: usize = 256;
/// Outbound calls an account may have scheduled and not yet started: past
/// it, a request is refused (`MAX_DATA_LIST_SIZE_EXCEEDED`), so one account
/// cannot fill the schedule.
pub const MAX_SCHEDULED_CALLS_PER_ACCOUNT: usize = 100_000;
/// Reports an account may have waiting or being built: past it, a request
/// is refused until one is ready, so one account cannot keep the builder (one
/// report at a time per server) to itself.
pub const MAX_PENDING_REPORTS_PER_ACCOUNT: i64 = 5;

pub const MAPPING_DEADLINE: Duration = Duration::from_secs(2);
/// Largest response body mapped in place on the async thread, when every
/// path is direct ([`crate::paths::ResponsePath::is_direct`]): parsing it and
/// walking down it costs about as much as handing it to a blocking thread
/// (at worst, 100 mappings copying the whole body: a few milliseconds).
/// Larger bodies, and every other path, map on a blocking thread.
pub const MAX_INLINE_MAPPING_BYTES: usize = 16 * 1024;

/// A run limit an execution went over. The message names the limit and its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Exceeded {
    #[error(
        "execution budget exceeded: a rendered template is longer than the template output limit of {MAX_RENDERED_BYTES} bytes"
    )]
    RenderedTemplate,
    #[error(
        "execution budget exceeded: the value of {var} ({len} bytes) is longer than the variable value limit of {MAX_VARIABLE_BYTES} bytes"
    )]
    VariableValue { var: String, len: usize },
    #[error(
        "execution budget exceeded: setting {var} would bring the execution's variables to {total} bytes, over the execution variables limit of {MAX_EXECUTION_VARIABLE_BYTES} bytes"
    )]
    ExecutionVariables { var: String, total: usize },
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character
/// boundary, and whether anything was cut.
pub fn prefix(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_cuts_on_character_boundaries() {
        assert_eq!(prefix("abc", 3), ("abc", false));
        assert_eq!(prefix("abc", 2), ("ab", true));
        assert_eq!(prefix("é", 1), ("", true));
        assert_eq!(prefix("aé", 2), ("a", true));
        assert_eq!(prefix("", 0), ("", false));
    }

    #[test]
    fn messages_name_the_limit() {
        let cases = [
            (
                Exceeded::RenderedTemplate,
                "template output limit of 262144",
            ),
            (
                Exceeded::VariableValue {
                    var: "$flow.key.a".into(),
                    len: 2_000_000,
                },
                "variable value limit of 1048576",
            ),
            (
                Exceeded::ExecutionVariables {
                    var: "$flow.key.a".into(),
                    total: 5_000_000,
                },
                "execution variables limit of 4194304",
            ),
        ];
        for (exceeded, fragment) in cases {
            let message = exceeded.to_string();
            assert!(message.contains(fragment), "{message}");
            assert!(
                message.starts_with("execution budget exceeded"),
                "{message}"
            );
        }
    }
}
