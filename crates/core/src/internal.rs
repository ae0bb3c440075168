//! Internal webhooks (SPEC §5): the platform functions a flow calls with the
//! `{method, keys}` envelope, and their answer `{status, keys, error}`.
//!
//! The envelope is the same both ways and over any transport: the
//! `internal_webhook` widget sends it, `POST /internal` takes it, and a
//! customer's own service may implement it. [`Method`] is parsed when a flow is
//! saved, so an unknown method is a validation error; [`Keys`] finds a
//! method's inputs by name whichever group the flow passed them in.

use serde::{Deserialize, Serialize};

use crate::vars::VarName;

/// A platform function, by its wire name (kept exactly as the seeds spell it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
pub enum Method {
    ValidateDateTime,
    CreateOutbound,
    ShortUrl,
    UpdateUserPreferences,
    FetchUserPreferences,
    UpdatePauseStatusForCli,
    GetPauseStatusForCli,
    LinkCreation,
    TranslateText,
    SpeechProcessing,
    PullReport,
}

impl Method {
    pub const ALL: [Method; 11] = [
        Method::ValidateDateTime,
        Method::CreateOutbound,
        Method::ShortUrl,
        Method::UpdateUserPreferences,
        Method::FetchUserPreferences,
        Method::UpdatePauseStatusForCli,
        Method::GetPauseStatusForCli,
        Method::LinkCreation,
        Method::TranslateText,
        Method::SpeechProcessing,
        Method::PullReport,
    ];

    /// The name in envelopes and flow documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ValidateDateTime => "validateDateTime",
            Method::CreateOutbound => "createOutbound",
            Method::ShortUrl => "shortURL",
            Method::UpdateUserPreferences => "updateUserPreferences",
            Method::FetchUserPreferences => "fetchUserPreferences",
            Method::UpdatePauseStatusForCli => "updatePauseStatusForCLI",
            Method::GetPauseStatusForCli => "getPauseStatusForCLI",
            Method::LinkCreation => "linkcreation",
            Method::TranslateText => "translateText",
            Method::SpeechProcessing => "speechprocessing",
            Method::PullReport => "pullreport",
        }
    }

    /// The method named exactly `name`.
    pub fn parse(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Every name, for messages.
    pub fn names() -> String {
        Method::ALL.map(Method::as_str).join(", ")
    }
}

/// One input key of a method, as forms and documentation list it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input {
    /// The key's name as callers send it (any group, unless it is a full name).
    pub name: &'static str,
    pub required: bool,
    pub about: &'static str,
}

/// An [`Input`] literal (a struct literal, so a `&[…]` of them is static).
macro_rules! input {
    ($name:expr, $required:expr, $about:expr $(,)?) => {
        Input {
            name: $name,
            required: $required,
            about: $about,
        }
    };
}

impl Method {
    /// The keys the method reads (`Keys::get`/`require`/`exact` in its
    /// function), for the console that fills them. Methods may take further keys (`updateUserPreferences`
    /// stores every `$user.key.*` it is sent), which [`Method::open_keys`] says.
    pub fn inputs(self) -> &'static [Input] {
        match self {
            Method::ValidateDateTime => &[
                input!("inputDate", true, "the date, YYYY-MM-DD"),
                input!("inputTime", false, "the time, HH:MM"),
                input!("type", false, "business or callback hours"),
            ],
            Method::ShortUrl => &[input!("longUrl", true, "the http(s) URL to shorten")],
            Method::UpdateUserPreferences | Method::FetchUserPreferences => &[input!(
                "$user.syskey.contactNumber",
                true,
                "the contact whose preferences these are",
            )],
            Method::UpdatePauseStatusForCli => &[
                input!("cli", true, "the agent's number"),
                input!("pause", true, "true or false"),
            ],
            Method::GetPauseStatusForCli => &[input!("cli", true, "the agent's number")],
            Method::LinkCreation => &[
                input!("cli", true, "the contact's number"),
                input!("botid", true, "the bot's id"),
                input!("token", true, "the bot's token"),
            ],
            Method::CreateOutbound => &[
                input!("apiVersion", true, "1.0"),
                input!("securityID", true, "this account's security id"),
                input!("flowID", true, "the outbound flow"),
                input!(
                    "contactNumbers",
                    true,
                    "numbers, separated by spaces or commas"
                ),
                input!("delayMinutes", false, "minutes from now; default 0"),
                input!("clientID", false, "your identifier of the request"),
                input!(
                    "flowVersion",
                    false,
                    "a version of the flow; default the current one"
                ),
            ],
            Method::TranslateText => &[
                input!("inputText", true, "the text"),
                input!("targetLang", true, "a language name or code (Hindi, hi)"),
                input!(
                    "sourceLang",
                    false,
                    "a language name or code; default detected"
                ),
                input!(
                    "apiKey",
                    false,
                    "the provider's key, when the account stores none"
                ),
            ],
            Method::SpeechProcessing => &[
                input!("speechText", true, "what the caller said"),
                input!("cli", false, "the caller's number"),
            ],
            Method::PullReport => &[
                input!("flowID", true, "the flow"),
                input!("fromDate", true, "ISO 8601 date or date-time"),
                input!(
                    "toDate",
                    true,
                    "ISO 8601 date or date-time (a date includes its day)"
                ),
                input!("format", false, "csv or json; default csv"),
                input!("deliverTo", false, "a webhook id to deliver the file to"),
            ],
        }
    }

    /// What further keys the method takes beyond [`Method::inputs`], if any.
    pub fn open_keys(self) -> Option<&'static str> {
        match self {
            Method::UpdateUserPreferences => Some("every $user.key.* sent is stored"),
            Method::CreateOutbound => {
                Some("every $flow.key.* sent becomes a $flow.key of the outbound executions")
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `{"name", "value"}` of an envelope or an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// A variable's full name (`$flow.key.inputDate`), or a bare name.
    #[schema(example = "$flow.key.inputDate")]
    pub name: String,
    #[schema(example = "2026-11-23")]
    pub value: String,
}

impl Key {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Key {
        Key {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The name after its group: `apiKey` of `$flow.key.apiKey`.
    pub fn short_name(&self) -> &str {
        short_name(&self.name)
    }

    /// The key as a trace shows it: a credential's value (`token`, `apiKey`,
    /// `password`, … by [`crate::webhook::is_sensitive_name`]) as `***`.
    pub fn redacted(&self) -> Key {
        if crate::webhook::is_sensitive_name(self.short_name()) {
            Key::new(self.name.clone(), "***")
        } else {
            self.clone()
        }
    }
}

/// The request: a method and its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The function to run; see [`Method`] for the names.
    #[schema(example = "validateDateTime")]
    pub method: String,
    #[serde(default)]
    pub keys: Vec<Key>,
}

/// How a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum AnswerStatus {
    Success,
    Failed,
}

/// The answer: its keys are written into the calling execution's variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Answer {
    pub status: AnswerStatus,
    #[serde(default)]
    pub keys: Vec<Key>,
    /// Why it failed, naming the key at fault; absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Answer {
    pub fn success(keys: Vec<Key>) -> Answer {
        Answer {
            status: AnswerStatus::Success,
            keys,
            error: None,
        }
    }

    pub fn failed(error: impl Into<String>) -> Answer {
        Answer::failed_with(error, Vec::new())
    }

    /// A failure that still answers keys for the flow to branch on (a result
    /// code, the seeds' `status` key).
    pub fn failed_with(error: impl Into<String>, keys: Vec<Key>) -> Answer {
        Answer {
            status: AnswerStatus::Failed,
            keys,
            error: Some(error.into()),
        }
    }

    pub fn is_success(&self) -> bool {
        self.status == AnswerStatus::Success
    }
}

/// The keys of an envelope, looked up by the name after the group: a method's
/// input `inputDate` is found as `$flow.key.inputDate`, `$flow.syskey.inputDate`
/// or a bare `inputDate`, whichever the caller sent (the first one wins).
pub struct Keys<'a>(&'a [Key]);

impl<'a> Keys<'a> {
    pub fn new(keys: &'a [Key]) -> Keys<'a> {
        Keys(keys)
    }

    /// The value named `name` in any group, if given and not blank.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|k| k.short_name() == name)
            .map(|k| k.value.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// The value of the key named exactly `full` (`$user.syskey.contactNumber`),
    /// if given and not blank: for inputs that must come from one group.
    pub fn exact(&self, full: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|k| k.name == full)
            .map(|k| k.value.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// The value named `name`, or an error naming the missing key.
    pub fn require(&self, name: &str) -> Result<&'a str, String> {
        self.get(name)
            .ok_or_else(|| format!("{name}: missing; send it as $flow.key.{name}"))
    }

    /// Every key, as sent.
    pub fn all(&self) -> &'a [Key] {
        self.0
    }

    /// Every key whose full name parses as a variable, with its parsed name.
    pub fn variables(&self) -> impl Iterator<Item = (VarName, &'a str)> + 'a {
        self.0.iter().filter_map(|k| {
            VarName::parse(&k.name)
                .ok()
                .map(|name| (name, k.value.as_str()))
        })
    }
}

/// The name after the group: `inputDate` of `$flow.key.inputDate`.
fn short_name(name: &str) -> &str {
    name.strip_prefix('$')
        .and_then(crate::vars::Namespace::split_prefix)
        .map_or(name, |(_, short)| short)
}

/// The first path segment of the seeds' endpoints, each followed by a
/// `{stage}` segment (`/centraloutboundwebhook-v1/prod/`); `/internal` is the
/// plain one. All of them take every method.
pub const PATH_ALIASES: [&str; 5] = [
    "centraloutboundwebhook-v1",
    "reliance-nippon-v1",
    "googleapiwebhook-v1",
    "hdfcsenseforthwebhook-v1",
    "pullreportapiwebhook-v1",
];

/// Is `path` the internal endpoint: `/internal` or `/<alias>/<stage>`, with or
/// without a trailing slash?
pub fn is_internal_path(path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    if path == "/internal" {
        return true;
    }
    let mut segments = path.strip_prefix('/').unwrap_or("").split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some(alias), Some(stage), None) => PATH_ALIASES.contains(&alias) && !stage.is_empty(),
        _ => false,
    }
}

/// An output of a method: `$flow.key.<name>`.
pub fn output(name: &str, value: impl Into<String>) -> Key {
    Key::new(format!("$flow.key.{name}"), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_by_their_exact_names() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        assert_eq!(Method::parse("shortURL"), Some(Method::ShortUrl));
        assert_eq!(Method::parse("shorturl"), None);
        assert_eq!(Method::parse("linkCreation"), None);
    }

    #[test]
    fn keys_are_found_in_any_group_or_bare() {
        let keys = vec![
            Key::new("$flow.syskey.flowID", "Ab3dE6gH"),
            Key::new("$flow.key.inputDate", "2026-11-23"),
            Key::new("longUrl", "https://example.com/a"),
            Key::new("$flow.key.blank", "  "),
        ];
        let k = Keys::new(&keys);
        assert_eq!(k.get("flowID"), Some("Ab3dE6gH"));
        assert_eq!(k.get("inputDate"), Some("2026-11-23"));
        assert_eq!(k.get("longUrl"), Some("https://example.com/a"));
        assert_eq!(k.get("blank"), None);
        assert_eq!(
            k.require("inputTime").unwrap_err(),
            "inputTime: missing; send it as $flow.key.inputTime"
        );
    }

    #[test]
    fn the_internal_paths_are_the_endpoint_and_the_aliases_with_a_stage() {
        for path in [
            "/internal",
            "/internal/",
            "/centraloutboundwebhook-v1/prod/",
            "/reliance-nippon-v1/test",
            "/pullreportapiwebhook-v1/x/",
        ] {
            assert!(is_internal_path(path), "{path}");
        }
        for path in [
            "/",
            "/internals",
            "/centraloutboundwebhook-v1/",
            "/centraloutboundwebhook-v1/prod/extra",
            "/other-v1/prod/",
        ] {
            assert!(!is_internal_path(path), "{path}");
        }
    }

    #[test]
    fn credentials_are_redacted_by_their_short_name() {
        assert_eq!(Key::new("$flow.key.apiKey", "AIza").redacted().value, "***");
        assert_eq!(Key::new("token", "t").redacted().value, "***");
        assert_eq!(
            Key::new("$flow.key.inputDate", "1-1-2030").redacted().value,
            "1-1-2030"
        );
        assert_eq!(Key::new("$user.key.language", "hi").redacted().value, "hi");
    }

    #[test]
    fn answers_have_the_wire_shape() {
        let ok = Answer::success(vec![output("shortUrl", "https://s.example/Ab")]);
        assert_eq!(
            serde_json::to_value(&ok).unwrap(),
            serde_json::json!({"status": "SUCCESS", "keys": [{"name": "$flow.key.shortUrl", "value": "https://s.example/Ab"}]})
        );
        let failed = Answer::failed("longUrl: missing");
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            serde_json::json!({"status": "FAILED", "keys": [], "error": "longUrl: missing"})
        );
    }
}
