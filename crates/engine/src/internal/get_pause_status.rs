//! `getPauseStatusForCLI`: whether the direct-dial agent named by
//! `$flow.key.cli` is on break. Answers `$flow.key.cli_pause_status` (`true`
//! or `false`) and `$flow.key.cli_pause_since`: when the break began, RFC 3339
//! to the second in the account's time zone (`2026-11-21T10:00:03+05:30`), or
//! empty when the agent is not on break. A cli that names no agent of the
//! account is a failure (the widget's failure line), as is a missing or
//! malformed one.

use flowhook_core::account::TimeZone;
use flowhook_core::internal::{Key, Keys, output};

use super::Context;
use super::agent_cli::agent_named;

pub(crate) async fn get(cx: &Context<'_>, keys: &Keys<'_>) -> Result<Vec<Key>, String> {
    let (cli, agent) = agent_named(cx, keys).await?;
    let agent =
        agent.ok_or_else(|| format!("cli: no agent of this account has the number {cli:?}"))?;
    let since = agent
        .paused_since
        .map(|at| local_time(at, cx.account.timezone))
        .unwrap_or_default();
    Ok(vec![
        output("cli_pause_status", agent.paused_since.is_some().to_string()),
        output("cli_pause_since", since),
    ])
}

/// Unix milliseconds as RFC 3339 to the second, with the zone's offset.
fn local_time(millis: i64, zone: TimeZone) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .with_timezone(&zone.tz())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_of_a_break_is_shown_in_the_accounts_zone() {
        // 2026-11-21T04:30:03.750Z
        let at = 1_795_235_403_750;
        let table = [
            ("Asia/Kolkata", "2026-11-21T10:00:03+05:30"),
            ("UTC", "2026-11-21T04:30:03+00:00"),
            ("America/New_York", "2026-11-20T23:30:03-05:00"),
        ];
        for (zone, expected) in table {
            let zone = TimeZone::parse(zone).expect("zone");
            assert_eq!(local_time(at, zone), expected);
        }
    }
}
