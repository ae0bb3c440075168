//! Direct-dial agents (SPEC §5, `updatePauseStatusForCLI`): how an agent's
//! number is written down once, how a cli from a call finds it again, and how
//! long breaks last inside a report's window.
//!
//! **Numbers.** An agent is kept as its country code and its national number,
//! and found by the two together ([`AgentNumber::number`], the E.164 digits
//! without `+`), which are unique per account. A cli is read the way a person
//! dialling would read it ([`Cli::parse`]): separators (spaces, `-`, `.`,
//! brackets) are dropped; `+` or `00` starts an international number; a single
//! leading `0` is the trunk prefix of a national one; any other number is
//! national, unless it starts with the country code and is longer than
//! [`LONGEST_NATIONAL`] digits (so `9198765432`, an Indian mobile starting with
//! 91, stays national while `919198765432` carries the code). A call's cli is
//! looked up under both readings of a plain number, the likelier first
//! ([`Cli::lookup_numbers`]), so an agent of another country is still found
//! when its cli arrives without `+`.
//!
//! **Breaks.** An agent is on break while it has an open interval. A report
//! counts the part of each interval inside its window, with an open interval
//! running until the window's end or now, whichever comes first
//! ([`counted_millis`]); totals are per agent ([`totals`]).

use std::collections::BTreeMap;

use serde::Serialize;

/// Digits of a national number longer than which a plain number that starts
/// with the country code is read as carrying it: 10 is India's, the United
/// States' and the United Kingdom's national length.
pub const LONGEST_NATIONAL: usize = 10;

/// The most digits of an international number (E.164).
pub const MAX_DIGITS: usize = 15;

/// The fewest digits of a national number.
pub const MIN_NATIONAL: usize = 4;

/// The JSON Schema pattern of a cli's characters; the digit counts are
/// checked by [`Cli::parse`] (a 422 that the schema cannot state).
pub const CLI_PATTERN: &str = "^ *\\+?[0-9 ().-]*$";

/// The longest cli accepted as text.
pub const CLI_MAX_CHARS: usize = 32;

/// A country calling code: 1–3 digits, not starting with 0 (`91`, `1`, `44`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CountryCode(String);

impl CountryCode {
    pub const PATTERN: &'static str = "^[1-9][0-9]{0,2}$";

    /// The default of an account: India's, as on the original platform.
    pub fn india() -> CountryCode {
        CountryCode("91".into())
    }

    pub fn parse(text: &str) -> Result<CountryCode, String> {
        let ok = (1..=3).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit())
            && !text.starts_with('0');
        if ok {
            Ok(CountryCode(text.to_owned()))
        } else {
            Err(format!(
                "country_code: {text:?} is not a country calling code (1–3 digits, not starting with 0, like 91)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CountryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl utoipa::PartialSchema for CountryCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(Self::PATTERN))
            .description(Some(
                "A country calling code without `+`: 1–3 digits, not starting with 0",
            ))
            .examples(["91"])
            .into()
    }
}

impl utoipa::ToSchema for CountryCode {}

/// An agent's display name: 1 to 100 characters, not blank, no control
/// characters (the rule of account and webhook names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AgentName(String);

impl AgentName {
    pub const MAX_CHARS: usize = crate::account::AccountName::MAX_CHARS;

    pub fn parse(s: &str) -> Result<AgentName, String> {
        crate::account::AccountName::parse(s).map(|n| AgentName(n.as_str().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a cli is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    #[error(
        "cli: {0:?} is not a phone number: digits and the separators space - . ( ), after an optional +"
    )]
    Characters(String),
    #[error("cli: {0:?} is longer than {CLI_MAX_CHARS} characters")]
    TooLongText(String),
    #[error("cli: {0:?} has {1} digits; a phone number has {MIN_NATIONAL}–{MAX_DIGITS}")]
    Length(String, usize),
    #[error("cli: {cli:?} is international but does not start with the country code {code}")]
    OtherCountry { cli: String, code: CountryCode },
    #[error(
        "cli: {cli:?} leaves {digits} digits after the country code {code}; a national number has at least {MIN_NATIONAL}"
    )]
    ShortNational {
        cli: String,
        code: CountryCode,
        digits: usize,
    },
    #[error(
        "cli: {cli:?} has {digits} digits with the country code {code}; a phone number has at most {MAX_DIGITS}"
    )]
    TooLong {
        cli: String,
        code: CountryCode,
        digits: usize,
    },
}

/// A cli as written: its digits and how they start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    /// After `+` or `00`: the country code and the national number.
    International(String),
    /// After a single leading `0`: the national number.
    Trunk(String),
    /// Anything else: national, or international without its `+`.
    Plain(String),
}

impl Cli {
    /// Reads a cli: optional blanks, an optional `+`, digits and separators.
    pub fn parse(text: &str) -> Result<Cli, CliError> {
        let bad = || CliError::Characters(text.to_owned());
        if text.chars().count() > CLI_MAX_CHARS {
            return Err(CliError::TooLongText(text.to_owned()));
        }
        let body = text.trim_start_matches(' ');
        let (plus, body) = match body.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        if !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
        {
            return Err(bad());
        }
        let digits: String = body.chars().filter(char::is_ascii_digit).collect();
        let cli = if plus {
            Cli::International(digits)
        } else if let Some(rest) = digits.strip_prefix("00") {
            Cli::International(rest.to_owned())
        } else if let Some(rest) = digits.strip_prefix('0') {
            Cli::Trunk(rest.to_owned())
        } else {
            Cli::Plain(digits)
        };
        let count = cli.digits().len();
        if !(MIN_NATIONAL..=MAX_DIGITS).contains(&count) {
            return Err(CliError::Length(text.to_owned(), count));
        }
        Ok(cli)
    }

    fn digits(&self) -> &str {
        match self {
            Cli::International(d) | Cli::Trunk(d) | Cli::Plain(d) => d,
        }
    }

    /// The international numbers (country code and national number, digits
    /// only) this cli may be, the likelier first, reading a number without
    /// `+` under `default` (the account's country code).
    pub fn lookup_numbers(&self, default: &CountryCode) -> Vec<String> {
        let with_code = |d: &str| format!("{default}{d}");
        let candidates = match self {
            Cli::International(d) => vec![d.clone()],
            Cli::Trunk(d) => vec![with_code(d)],
            Cli::Plain(d) if carries_code(d, default) => vec![d.clone(), with_code(d)],
            Cli::Plain(d) => vec![with_code(d), d.clone()],
        };
        candidates
            .into_iter()
            .filter(|n| n.len() <= MAX_DIGITS)
            .collect()
    }
}

/// The schema of a cli as text: the characters [`Cli::parse`] takes; the
/// digit counts it checks are beyond JSON Schema.
impl utoipa::PartialSchema for Cli {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(CLI_PATTERN))
            .min_length(Some(1))
            .max_length(Some(CLI_MAX_CHARS))
            .description(Some(
                "A phone number with or without its country code: digits and the separators \
                 space - . ( ), after an optional `+` (or `00`); a single leading `0` is a trunk \
                 prefix. It has 4–15 digits.",
            ))
            .examples(["+91 81607 12345"])
            .into()
    }
}

impl utoipa::ToSchema for Cli {}

/// Is a plain number read as starting with the country code?
fn carries_code(digits: &str, code: &CountryCode) -> bool {
    digits.len() > LONGEST_NATIONAL && digits.starts_with(code.as_str())
}

/// An agent's number: its country code and national number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentNumber {
    pub country_code: CountryCode,
    /// Digits, without the country code or a trunk prefix.
    pub national: String,
}

impl AgentNumber {
    /// An agent's cli, with or without its country code `code`. An
    /// international cli must start with `code`.
    pub fn parse(text: &str, code: &CountryCode) -> Result<AgentNumber, CliError> {
        let national = match Cli::parse(text)? {
            Cli::International(d) => d
                .strip_prefix(code.as_str())
                .map(str::to_owned)
                .ok_or_else(|| CliError::OtherCountry {
                    cli: text.to_owned(),
                    code: code.clone(),
                })?,
            Cli::Trunk(d) => d,
            Cli::Plain(d) if carries_code(&d, code) => d[code.as_str().len()..].to_owned(),
            Cli::Plain(d) => d,
        };
        let total = code.as_str().len() + national.len();
        if national.len() < MIN_NATIONAL {
            return Err(CliError::ShortNational {
                cli: text.to_owned(),
                code: code.clone(),
                digits: national.len(),
            });
        }
        if total > MAX_DIGITS {
            return Err(CliError::TooLong {
                cli: text.to_owned(),
                code: code.clone(),
                digits: total,
            });
        }
        Ok(AgentNumber {
            country_code: code.clone(),
            national,
        })
    }

    /// The E.164 digits without `+`: what a cli is matched against.
    pub fn number(&self) -> String {
        format!("{}{}", self.country_code, self.national)
    }

    /// `+` and the E.164 digits, for people.
    pub fn e164(&self) -> String {
        format!("+{}", self.number())
    }
}

/// How much of a break lies inside a report's window, in milliseconds: from
/// the later of its start and `from` to the earliest of its end, `to` and
/// `now` (an open break has no end yet). Never negative.
pub fn counted_millis(started_at: i64, ended_at: Option<i64>, from: i64, to: i64, now: i64) -> i64 {
    let until = to.min(now);
    let end = ended_at.map_or(until, |e| e.min(until));
    (end - started_at.max(from)).max(0)
}

/// Milliseconds as seconds with millisecond precision, as reports show them.
pub fn seconds(millis: i64) -> f64 {
    millis as f64 / 1000.0
}

/// One agent's breaks in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Total {
    /// How many breaks overlap the window.
    pub breaks: u64,
    /// Their counted time, in milliseconds.
    pub millis: i64,
}

/// Sums counted breaks `(agent, millis)` per agent, in the agents' order.
pub fn totals<K: Ord>(counted: impl IntoIterator<Item = (K, i64)>) -> BTreeMap<K, Total> {
    let mut totals: BTreeMap<K, Total> = BTreeMap::new();
    for (agent, millis) in counted {
        let total = totals.entry(agent).or_default();
        total.breaks += 1;
        total.millis += millis;
    }
    totals
}

#[cfg(test)]
mod tests;
