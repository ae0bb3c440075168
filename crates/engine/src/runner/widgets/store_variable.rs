//! `store_variable` (the "General Assignment" operation): assignments in order,
//! then line 0. An assignment that renders over the budget ends the execution.

use flowhook_core::flow::widgets::StoreVariable;

use super::{Execute, Step, StepContext};

#[async_trait::async_trait]
impl Execute for StoreVariable {
    async fn execute(&self, cx: &mut StepContext<'_>) -> Step {
        match self.apply(cx.vars) {
            Ok(_) => Step::line(0),
            Err(exceeded) => Step::fatal(exceeded.to_string()),
        }
    }
}
