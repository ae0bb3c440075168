//! The direct-dial agent a `$flow.key.cli` names, for `updatePauseStatusForCLI`
//! and `getPauseStatusForCLI`. The cli is read by
//! `flowhook_core::agents::Cli` (with or without the country code; a number
//! without `+` under the account's `default_country_code`).

use flowhook_core::agents::Cli;
use flowhook_core::internal::Keys;
use flowhook_storage::AgentRecord;

use super::Context;

/// The cli as sent (for messages) and the agent it names, if any. A missing
/// or malformed cli is an error naming `cli`.
pub(crate) async fn agent_named<'k>(
    cx: &Context<'_>,
    keys: &Keys<'k>,
) -> Result<(&'k str, Option<AgentRecord>), String> {
    let text = keys.require("cli")?.trim();
    let cli = Cli::parse(text).map_err(|e| e.to_string())?;
    let numbers = cli.lookup_numbers(&cx.account.default_country_code);
    let agent = cx
        .store
        .agent_by_number(cx.account.id, &numbers)
        .await
        .map_err(|e| store_failed(cx, e))?;
    Ok((text, agent))
}

/// A storage failure: logged with its cause, answered without it.
pub(crate) fn store_failed(cx: &Context<'_>, e: flowhook_storage::StoreError) -> String {
    tracing::error!(account = %cx.account.id, error = %e, "internal webhook: agents unreadable");
    "the platform could not reach its agents; try again".to_owned()
}
