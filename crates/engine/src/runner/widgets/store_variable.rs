//! `store_variable` (the "General Assignment" operation): assignments in order,
//! then line 0.

use flowhook_core::flow::widgets::StoreVariable;

use super::{Execute, Step, StepContext};

#[async_trait::async_trait]
impl Execute for StoreVariable {
    async fn execute(&self, cx: &mut StepContext<'_>) -> Step {
        self.apply(cx.vars);
        Step::line(0)
    }
}
