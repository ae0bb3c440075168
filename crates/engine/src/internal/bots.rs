//! `linkcreation`: a customer's personalised chat-bot link, shortened.
//!
//! Inputs: `$flow.key.cli` (the customer), `botid` (a bot of the account,
//! `POST /v1/bots`) and `token` (that bot's token: anything else is
//! `FAILED`, naming `token`), plus any other `$flow.key.*`. The long URL is
//! the bot's base URL with `cli` and the customer's other keys as query
//! parameters (`flowhook_core::bots::personalised_url` says which), made
//! short like `shortURL`. Answers `$flow.key.shortenUrl` and
//! `$flow.key.botUniqueID`: a random id kept per bot and `cli`, so the same
//! customer of the same bot always gets the same one.

use flowhook_core::bots::{BotId, BotToken, personalised_url};
use flowhook_core::internal::{Key, Keys, output};
use flowhook_core::secret::{Binding, Purpose};

use super::Context;

pub(crate) async fn link_creation(cx: &Context<'_>, keys: &Keys<'_>) -> Result<Vec<Key>, String> {
    let cli = keys.require("cli")?.trim();
    if cli.len() > 128 || cli.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "cli: {cli:?} is not a caller number (1–128 characters without spaces)"
        ));
    }
    let sent_id = keys.require("botid")?.trim();
    let bot_id = BotId::parse(sent_id).ok_or_else(|| {
        format!("botid: {sent_id:?} is not a bot id (1–64 of A–Z, a–z, 0–9, _ and -)")
    })?;
    let token = keys.require("token")?;
    let account = cx.account.id;
    let bot = cx
        .store
        .bot(account, &bot_id)
        .await
        .map_err(|e| format!("the bot store failed: {e}"))?
        .ok_or_else(|| {
            format!("botid: this account has no bot {bot_id}; add it with POST /v1/bots")
        })?;
    let stored = cx
        .master_key
        .open(Binding::new(account, Purpose::BotToken), &bot.token.0)
        .map_err(|e| {
            tracing::error!(%account, bot = %bot_id, error = %e, "a bot's stored token does not open");
            format!("the stored token of bot {bot_id} cannot be read; set it again with PUT /v1/bots/{bot_id}")
        })?;
    if !BotToken::stored(stored).matches(token) {
        return Err(format!("token: not the token of bot {bot_id}"));
    }
    let long = personalised_url(&bot.base_url, cli, keys.all())
        .map_err(|e| format!("keys: the personalised URL cannot be made: {e}"))?;
    let link = cx
        .links
        .shorten(cx.account, &long)
        .await
        .map_err(|e| format!("the short-link store failed: {e}"))?;
    let unique = cx
        .store
        .bot_unique_id(account, &bot_id, cli, &uuid::Uuid::new_v4().to_string())
        .await
        .map_err(|e| format!("the bot store failed: {e}"))?;
    Ok(vec![
        output("shortenUrl", link.short_url),
        output("botUniqueID", unique),
    ])
}
