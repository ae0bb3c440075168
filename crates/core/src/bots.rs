//! Bot links (SPEC §5 `linkcreation`): an account's chat bots and the rule
//! that turns a flow's keys into a customer's personalised bot URL.
//!
//! - [`BotId`]: the id the flow sends as `$flow.key.botid` (`123` in the
//!   seeds), chosen by the account: 1–64 of `[A-Za-z0-9_-]`.
//! - [`BotToken`]: the bot's "cust token", a credential the flow must send
//!   as `$flow.key.token`; sealed at rest, compared by digest.
//! - [`personalised_url`]: the bot's base URL plus, as query parameters,
//!   `cli` first and then every other `$flow.key.*` of the call by its name
//!   without the prefix, in the order sent, except those that are not the
//!   customer's details: `botid` and `token` (the call's own inputs),
//!   `shortenUrl` and `botUniqueID` (outputs of an earlier call), the SPEC §4
//!   result variables of webhook calls, empty values, and names that say they
//!   hold a credential ([`is_sensitive_name`]: a link travels to a customer
//!   by SMS; an API key must not).

use std::collections::HashSet;

use crate::internal::Key;
use crate::links::{LinkUrlError, LongUrl};
use crate::secret::{SecretString, sha256_hex};
use crate::vars::{Namespace, VarName};
use crate::webhook::is_sensitive_name;
use crate::webhook_call::RESULT_VARIABLES;

/// A bot's id within its account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BotId(String);

impl BotId {
    pub const PATTERN: &'static str = "^[A-Za-z0-9_-]{1,64}$";

    pub fn parse(s: &str) -> Option<BotId> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| BotId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for BotId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(Self::PATTERN))
            .examples(["123"])
            .into()
    }
}

impl utoipa::ToSchema for BotId {}

impl std::fmt::Display for BotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bot's token: 1–256 bytes without control characters, and not `***`
/// (what answers show in its place).
#[derive(Clone)]
pub struct BotToken(SecretString);

impl BotToken {
    pub const MAX_LEN: usize = 256;

    pub fn parse(s: &str) -> Result<BotToken, String> {
        if s.is_empty() || s.len() > Self::MAX_LEN || s.chars().any(char::is_control) {
            return Err(format!(
                "a bot token is 1–{} bytes without control characters",
                Self::MAX_LEN
            ));
        }
        if s == "***" {
            return Err("`***` is how answers show a token; send the token itself".into());
        }
        Ok(BotToken(SecretString::new(s)))
    }

    /// The token opened from storage (checked when it was stored).
    pub fn stored(token: SecretString) -> BotToken {
        BotToken(token)
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// Is `sent` this token? Digests are compared, so the time taken does not
    /// depend on how much of a guess is right.
    pub fn matches(&self, sent: &str) -> bool {
        sha256_hex(sent.as_bytes()) == sha256_hex(self.0.expose().as_bytes())
    }
}

impl std::fmt::Debug for BotToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotToken(***)")
    }
}

/// Longest bot base URL, leaving room for the customer's keys.
pub const BASE_MAX_LEN: usize = 2048;

/// A bot's base URL: a long URL of at most [`BASE_MAX_LEN`] bytes (it may
/// already hold a query; the keys are appended to it).
pub fn parse_base(s: &str) -> Result<LongUrl, LinkUrlError> {
    LongUrl::parse_within(s, BASE_MAX_LEN)
}

/// `$flow.key` names that never become query parameters (see the module doc).
const NOT_DETAILS: [&str; 5] = ["cli", "botid", "token", "shortenUrl", "botUniqueID"];

/// The query parameters of a personalised URL, in order.
pub fn query<'a>(cli: &'a str, keys: &'a [Key]) -> Vec<(&'a str, &'a str)> {
    let mut pairs = vec![("cli", cli)];
    let mut seen: HashSet<&str> = HashSet::from(["cli"]);
    for key in keys {
        let Ok(var) = VarName::parse(&key.name) else {
            continue;
        };
        if var.namespace() != Namespace::FlowKey || key.value.trim().is_empty() {
            continue;
        }
        // The name as it appears in the key (a VarName is parsed from it).
        let Some(name) = key.name.strip_prefix("$flow.key.") else {
            continue;
        };
        if name != var.name()
            || NOT_DETAILS.contains(&name)
            || RESULT_VARIABLES.contains(&name)
            || is_sensitive_name(name)
            || !seen.insert(name)
        {
            continue;
        }
        pairs.push((name, key.value.as_str()));
    }
    pairs
}

/// The customer's personalised bot URL: `base` plus [`query`].
pub fn personalised_url(base: &LongUrl, cli: &str, keys: &[Key]) -> Result<LongUrl, LinkUrlError> {
    base.with_query(query(cli, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_ids_are_short_plain_names() {
        for ok in ["123", "sales_bot-2", &"a".repeat(64)] {
            assert_eq!(BotId::parse(ok).map(|b| b.to_string()), Some(ok.to_owned()));
        }
        for bad in ["", "a b", "bot/1", "ü", &"a".repeat(65)] {
            assert_eq!(BotId::parse(bad), None, "{bad}");
        }
        let regex = regex::Regex::new(BotId::PATTERN).expect("pattern");
        assert!(regex.is_match("123") && !regex.is_match("a b"));
    }

    #[test]
    fn tokens_are_checked_matched_and_never_printed() {
        let t = BotToken::parse("s3cret-Token").expect("token");
        assert!(t.matches("s3cret-Token"));
        assert!(!t.matches("s3cret-token"));
        assert!(!t.matches(""));
        assert_eq!(format!("{t:?}"), "BotToken(***)");
        for bad in ["", "***", "a\nb", &"x".repeat(257)] {
            assert!(BotToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_personalised_url_carries_the_customers_details_only() {
        let keys = vec![
            Key::new("$flow.key.botid", "123"),
            Key::new("$flow.key.cli", "918160700000"),
            Key::new("$flow.key.name", "Asha K"),
            Key::new("$flow.key.orderId", "A-17"),
            Key::new("$flow.key.token", "s3cret"),
            Key::new("$flow.key.apiKey", "AIza-secret"),
            Key::new("$flow.key.response_raw", "{\"big\":true}"),
            Key::new("$flow.key.shortenUrl", "https://s.example/old"),
            Key::new("$flow.key.empty", " "),
            Key::new("$flow.syskey.flowID", "Ab3dE6gH"),
            Key::new("$user.syskey.contactNumber", "918160700000"),
            Key::new("name", "bare keys are not details"),
            Key::new("$flow.key.orderId", "a second value is ignored"),
        ];
        assert_eq!(
            query("918160700000", &keys),
            vec![
                ("cli", "918160700000"),
                ("name", "Asha K"),
                ("orderId", "A-17")
            ]
        );
        let base = parse_base("https://bot.example.com/start?src=ivr").expect("base");
        assert_eq!(
            personalised_url(&base, "918160700000", &keys)
                .expect("fits")
                .as_str(),
            "https://bot.example.com/start?src=ivr&cli=918160700000&name=Asha+K&orderId=A-17"
        );
        let huge = vec![Key::new("$flow.key.note", "n".repeat(LongUrl::MAX_LEN))];
        assert_eq!(
            personalised_url(&base, "1", &huge),
            Err(LinkUrlError::TooLong(LongUrl::MAX_LEN))
        );
        assert_eq!(
            parse_base(&format!("https://b.example/{}", "p".repeat(BASE_MAX_LEN))),
            Err(LinkUrlError::TooLong(BASE_MAX_LEN))
        );
    }
}
