//! `condition`: line *i* for the first matching case *i*, the last line when none
//! matches. The trace shows which case matched. A case whose value renders over
//! the budget ends the execution.

use flowhook_core::flow::widgets::Condition;

use super::{Execute, Step, StepContext};

#[async_trait::async_trait]
impl Execute for Condition {
    async fn execute(&self, cx: &mut StepContext<'_>) -> Step {
        let line = match self.select_line(cx.vars) {
            Ok(line) => line,
            Err(exceeded) => return Step::fatal(exceeded.to_string()),
        };
        Step {
            line: Some(line),
            detail: Some(serde_json::json!({
                "matched_case": (line < self.cases.len()).then_some(line),
            })),
            ..Step::default()
        }
    }
}
