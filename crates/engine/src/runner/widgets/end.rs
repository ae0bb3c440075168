//! `end`: ends the current path (the main path, then `on_complete` runs).

use super::{Execute, Step, StepContext};

pub struct End;

#[async_trait::async_trait]
impl Execute for End {
    async fn execute(&self, _cx: &mut StepContext<'_>) -> Step {
        Step::default()
    }
}
