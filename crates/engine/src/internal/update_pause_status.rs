//! `updatePauseStatusForCLI`: puts a direct-dial agent on break
//! (`$flow.key.pause` `true`) or ends its break (`false`), the agent named by
//! `$flow.key.cli`. Answers `$flow.key.cli_pause_update`: `true` when the
//! agent is now as asked (pausing a paused agent keeps the break it is on),
//! `false` when no agent of the account has that number, as the seeds do.
//! A missing or malformed key is a failure naming it.

use flowhook_core::internal::{Key, Keys, output};

use super::Context;
use super::agent_cli::{agent_named, store_failed};

pub(crate) async fn update(cx: &Context<'_>, keys: &Keys<'_>) -> Result<Vec<Key>, String> {
    let pause = pause(keys.require("pause")?)?;
    let (cli, agent) = agent_named(cx, keys).await?;
    let updated = match agent {
        None => {
            tracing::info!(account = %cx.account.id, cli, "updatePauseStatusForCLI: no such agent");
            false
        }
        Some(agent) => {
            let now = flowhook_storage::now_millis();
            let after = cx
                .store
                .set_agent_paused(cx.account.id, agent.id, pause, now)
                .await
                .map_err(|e| store_failed(cx, e))?;
            tracing::info!(account = %cx.account.id, agent = %agent.id, pause, "agent break status set");
            // `None`: the agent was deleted in between.
            after.is_some()
        }
    };
    Ok(vec![output("cli_pause_update", updated.to_string())])
}

/// `true` or `false`, in any case.
fn pause(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("pause: {text:?} is neither true nor false")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pause_is_true_or_false() {
        for (text, expected) in [
            ("true", Ok(true)),
            ("false", Ok(false)),
            (" TRUE ", Ok(true)),
            ("False", Ok(false)),
            ("1", Err(())),
            ("yes", Err(())),
            ("paused", Err(())),
        ] {
            assert_eq!(super::pause(text).map_err(|_| ()), expected, "{text:?}");
        }
        assert_eq!(
            super::pause("maybe").unwrap_err(),
            "pause: \"maybe\" is neither true nor false"
        );
    }
}
