//! Outbound requests (SPEC §5): the rules shared by the `createOutbound`
//! internal method and `POST /v1/outbound`, which both turn a request into a
//! [`Plan`] here and nowhere else.
//!
//! Promises:
//! - every refusal carries the SPEC's [`ResultCode`] and a reason naming the
//!   field at fault;
//! - a plan has one [`PlannedCall`] per valid contact number, at most
//!   [`MAX_CALLS`], each with its due time (a start in the past is due now)
//!   and its `$flow.key` values; invalid numbers are listed with why
//!   ([`ResultCode::PartialSuccess`]), never silently dropped;
//! - contact numbers are read as phone numbers under the account's default
//!   country code and kept as E.164 digits without `+` (`9979746666` under
//!   `91` is `919979746666`), so the same person is one contact however the
//!   request wrote the number;
//! - the [`Plan::checksum`] is the same for the same request however its JSON
//!   was laid out, and differs whenever anything that changes what runs does.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use crate::agents::{Cli, CountryCode};
use crate::ids::FlowId;
use crate::secret::sha256_hex;

/// The most calls (contact numbers) one request may schedule.
pub const MAX_CALLS: usize = 500;

/// How long an identical request is answered [`ResultCode::ChecksumRepeated`].
pub const REPEAT_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// The only API version.
pub const API_VERSION: &str = "1.0";

/// The outbound API's result codes (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    Success,
    ChecksumRepeated,
    InvalidSecurityId,
    InvalidApiVersion,
    InvalidContactNumber,
    PartialSuccess,
    InvalidMandatoryParameters,
    InvalidFlowId,
    EmptyCallList,
    MaxDataListSizeExceeded,
    InvalidFlowVersion,
    InvalidFormat,
    IpNotWhitelisted,
    Failure,
}

impl ResultCode {
    pub const ALL: [ResultCode; 14] = [
        ResultCode::Success,
        ResultCode::ChecksumRepeated,
        ResultCode::InvalidSecurityId,
        ResultCode::InvalidApiVersion,
        ResultCode::InvalidContactNumber,
        ResultCode::PartialSuccess,
        ResultCode::InvalidMandatoryParameters,
        ResultCode::InvalidFlowId,
        ResultCode::EmptyCallList,
        ResultCode::MaxDataListSizeExceeded,
        ResultCode::InvalidFlowVersion,
        ResultCode::InvalidFormat,
        ResultCode::IpNotWhitelisted,
        ResultCode::Failure,
    ];

    /// The number (`200`, `201`, …).
    pub fn code(self) -> u16 {
        match self {
            ResultCode::Success => 200,
            ResultCode::ChecksumRepeated => 201,
            ResultCode::InvalidSecurityId => 202,
            ResultCode::InvalidApiVersion => 203,
            ResultCode::InvalidContactNumber => 205,
            ResultCode::PartialSuccess => 209,
            ResultCode::InvalidMandatoryParameters => 210,
            ResultCode::InvalidFlowId => 301,
            ResultCode::EmptyCallList => 302,
            ResultCode::MaxDataListSizeExceeded => 303,
            ResultCode::InvalidFlowVersion => 304,
            ResultCode::InvalidFormat => 400,
            ResultCode::IpNotWhitelisted => 401,
            ResultCode::Failure => 500,
        }
    }

    /// The message (`SUCCESS`, `CHECKSUM_REPEATED`, …).
    pub fn message(self) -> &'static str {
        match self {
            ResultCode::Success => "SUCCESS",
            ResultCode::ChecksumRepeated => "CHECKSUM_REPEATED",
            ResultCode::InvalidSecurityId => "INVALID_SECURITY_ID",
            ResultCode::InvalidApiVersion => "INVALID_API_VERSION",
            ResultCode::InvalidContactNumber => "INVALID_CONTACT_NUMBER",
            ResultCode::PartialSuccess => "PARTIAL_SUCCESS",
            ResultCode::InvalidMandatoryParameters => "INVALID_MANDATORY_PARAMETERS",
            ResultCode::InvalidFlowId => "INVALID_FLOW_ID",
            ResultCode::EmptyCallList => "EMPTY_CALL_LIST",
            ResultCode::MaxDataListSizeExceeded => "MAX_DATA_LIST_SIZE_EXCEEDED",
            ResultCode::InvalidFlowVersion => "INVALID_FLOW_VERSION",
            ResultCode::InvalidFormat => "INVALID_FORMAT",
            ResultCode::IpNotWhitelisted => "IP_NOT_WHITELISTED",
            ResultCode::Failure => "FAILURE",
        }
    }

    /// Did the request schedule (or had it already scheduled) its calls?
    pub fn is_accepted(self) -> bool {
        matches!(
            self,
            ResultCode::Success | ResultCode::ChecksumRepeated | ResultCode::PartialSuccess
        )
    }
}

impl std::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code(), self.message())
    }
}

/// A request refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ResultCode,
    /// Why, naming the field at fault.
    pub detail: String,
}

impl Refusal {
    pub fn new(code: ResultCode, detail: impl Into<String>) -> Refusal {
        Refusal {
            code,
            detail: detail.into(),
        }
    }
}

/// When a call starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// Minutes after the request (`delayMinutes`).
    Delay(u32),
    /// At an instant (`start-time`).
    At(DateTime<FixedOffset>),
}

/// A request as either form gives it, before any check: mandatory fields
/// may be missing, numbers and keys are as written.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub api_version: Option<String>,
    pub security_id: Option<String>,
    pub flow_id: Option<String>,
    /// The flow version the request was written for; absent means the
    /// current one.
    pub flow_version: Option<i64>,
    pub calls: Vec<CallRequest>,
}

/// One call group of a request: numbers that start at one time with one set
/// of keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRequest {
    pub client_id: Option<String>,
    pub start: Start,
    pub numbers: Vec<String>,
    /// `$flow.key` values by name (without the prefix).
    pub keys: BTreeMap<String, String>,
}

/// A number that will not be called, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct InvalidNumber {
    #[schema(example = "12ab")]
    pub number: String,
    #[schema(
        example = "cli: \"12ab\" is not a phone number: digits and the separators space - . ( ), after an optional +"
    )]
    pub reason: String,
}

/// One execution to schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCall {
    /// E.164 digits without `+`.
    pub contact: String,
    pub client_id: Option<String>,
    /// Unix milliseconds.
    pub due_at: i64,
    pub keys: BTreeMap<String, String>,
}

/// A checked request: what to schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub flow_id: FlowId,
    pub flow_version: Option<i64>,
    pub calls: Vec<PlannedCall>,
    pub invalid: Vec<InvalidNumber>,
    /// Identifies the request for [`ResultCode::ChecksumRepeated`].
    pub checksum: String,
}

impl Plan {
    /// The code of a plan that was scheduled: `PARTIAL_SUCCESS` when some
    /// numbers were invalid.
    pub fn code(&self) -> ResultCode {
        if self.invalid.is_empty() {
            ResultCode::Success
        } else {
            ResultCode::PartialSuccess
        }
    }
}

/// Checks `request` and plans its calls, reading numbers under `country`,
/// with delays counted from `now` (unix ms). The security id is the caller's
/// to check (it needs the accounts); everything else is checked here, in the
/// SPEC table's order of precedence: missing fields, version, flow id, the
/// call list's size, then the numbers.
pub fn plan(request: &Request, country: &CountryCode, now: i64) -> Result<Plan, Refusal> {
    let mandatory = |value: &Option<String>, name: &str| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                Refusal::new(
                    ResultCode::InvalidMandatoryParameters,
                    format!("{name}: missing"),
                )
            })
    };
    let version = mandatory(&request.api_version, "api-version")?;
    mandatory(&request.security_id, "security-id")?;
    let flow = mandatory(&request.flow_id, "flow-id")?;
    if version != API_VERSION {
        return Err(Refusal::new(
            ResultCode::InvalidApiVersion,
            format!("api-version: {version:?} is not supported; use {API_VERSION:?}"),
        ));
    }
    let flow_id = FlowId::parse(&flow).ok_or_else(|| {
        Refusal::new(
            ResultCode::InvalidFlowId,
            format!("flow-id: {flow:?} is not a flow id"),
        )
    })?;
    if request.flow_version.is_some_and(|v| v < 1) {
        return Err(Refusal::new(
            ResultCode::InvalidFlowVersion,
            "flow-version: versions start at 1",
        ));
    }
    let numbers: usize = request.calls.iter().map(|c| c.numbers.len()).sum();
    if numbers == 0 {
        return Err(Refusal::new(
            ResultCode::EmptyCallList,
            "contact-numbers: the request names no contact number",
        ));
    }
    if numbers > MAX_CALLS || request.calls.len() > MAX_CALLS {
        return Err(Refusal::new(
            ResultCode::MaxDataListSizeExceeded,
            format!(
                "calls: {numbers} contact numbers; one request may schedule at most {MAX_CALLS}"
            ),
        ));
    }
    let mut calls = Vec::with_capacity(numbers);
    let mut invalid = Vec::new();
    for call in &request.calls {
        let due_at = match &call.start {
            Start::Delay(minutes) => now + i64::from(*minutes) * 60_000,
            Start::At(at) => at.timestamp_millis().max(now),
        };
        for number in &call.numbers {
            match normalise_number(number, country) {
                Ok(contact) => calls.push(PlannedCall {
                    contact,
                    client_id: call.client_id.clone(),
                    due_at,
                    keys: call.keys.clone(),
                }),
                Err(reason) => invalid.push(InvalidNumber {
                    number: number.clone(),
                    reason,
                }),
            }
        }
    }
    if calls.is_empty() {
        let reasons: Vec<String> = invalid.iter().map(|i| i.reason.clone()).collect();
        return Err(Refusal::new(
            ResultCode::InvalidContactNumber,
            format!("contact-numbers: none is valid: {}", reasons.join("; ")),
        ));
    }
    Ok(Plan {
        checksum: checksum(&flow_id, request),
        flow_id,
        flow_version: request.flow_version,
        calls,
        invalid,
    })
}

/// A contact number as E.164 digits without `+`, read under `country` when
/// it has no `+`/`00` (see [`Cli::lookup_numbers`]: the likelier reading).
pub fn normalise_number(text: &str, country: &CountryCode) -> Result<String, String> {
    let cli = Cli::parse(text.trim()).map_err(|e| e.to_string())?;
    cli.lookup_numbers(country)
        .into_iter()
        .next()
        .ok_or_else(|| format!("{text:?} is too long for a phone number under +{country}"))
}

/// Splits the internal form's `contactNumbers`: spaces and commas separate.
pub fn split_numbers(text: &str) -> Vec<String> {
    text.split([' ', ',', '\n', '\t', ';'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// SHA-256 over a canonical encoding of what the request asks for (not of
/// its bytes), so key order and spacing do not matter.
fn checksum(flow: &FlowId, request: &Request) -> String {
    #[derive(Serialize)]
    struct Canonical<'a> {
        flow: &'a str,
        version: Option<i64>,
        calls: &'a [CallRequest],
    }
    let canonical = Canonical {
        flow: flow.as_str(),
        version: request.flow_version,
        calls: &request.calls,
    };
    sha256_hex(
        serde_json::to_string(&canonical)
            .unwrap_or_default()
            .as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(numbers: &[&str]) -> Request {
        Request {
            api_version: Some("1.0".into()),
            security_id: Some("s".into()),
            flow_id: Some("Ab3dE6gH".into()),
            flow_version: None,
            calls: vec![CallRequest {
                client_id: Some("c1".into()),
                start: Start::Delay(2),
                numbers: numbers.iter().map(|n| n.to_string()).collect(),
                keys: BTreeMap::from([("Name".into(), "Asha".into())]),
            }],
        }
    }

    fn refused(r: &Request) -> ResultCode {
        plan(r, &CountryCode::india(), 0).expect_err("refused").code
    }

    #[test]
    fn numbers_are_normalised_under_the_country_code() {
        let p = plan(
            &request(&[
                "9979746666",
                "+91 99797 46666",
                "919979746666",
                "0044 20 7946 0000",
            ]),
            &CountryCode::india(),
            1_000,
        )
        .expect("plan");
        let contacts: Vec<&str> = p.calls.iter().map(|c| c.contact.as_str()).collect();
        assert_eq!(
            contacts,
            [
                "919979746666",
                "919979746666",
                "919979746666",
                "442079460000"
            ]
        );
        assert_eq!(p.calls[0].due_at, 1_000 + 120_000);
        assert_eq!(p.code(), ResultCode::Success);
    }

    #[test]
    fn some_invalid_numbers_make_a_partial_success_listing_them() {
        let p = plan(
            &request(&["9979746666", "12ab", "12"]),
            &CountryCode::india(),
            0,
        )
        .expect("plan");
        assert_eq!(p.code(), ResultCode::PartialSuccess);
        assert_eq!(p.calls.len(), 1);
        let bad: Vec<&str> = p.invalid.iter().map(|i| i.number.as_str()).collect();
        assert_eq!(bad, ["12ab", "12"]);
        assert!(p.invalid[1].reason.contains("digits"), "{:?}", p.invalid);
    }

    #[test]
    fn every_refusal_has_its_code() {
        assert_eq!(
            refused(&request(&["12ab"])),
            ResultCode::InvalidContactNumber
        );
        assert_eq!(refused(&request(&[])), ResultCode::EmptyCallList);
        let many: Vec<String> = (0..501).map(|i| format!("99797{i:05}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            refused(&request(&many)),
            ResultCode::MaxDataListSizeExceeded
        );
        let mut r = request(&["9979746666"]);
        r.api_version = Some("2.0".into());
        assert_eq!(refused(&r), ResultCode::InvalidApiVersion);
        r.api_version = None;
        assert_eq!(refused(&r), ResultCode::InvalidMandatoryParameters);
        let mut r = request(&["9979746666"]);
        r.flow_id = Some("not a flow".into());
        assert_eq!(refused(&r), ResultCode::InvalidFlowId);
        r.flow_id = Some(" ".into());
        assert_eq!(refused(&r), ResultCode::InvalidMandatoryParameters);
        let mut r = request(&["9979746666"]);
        r.flow_version = Some(0);
        assert_eq!(refused(&r), ResultCode::InvalidFlowVersion);
    }

    #[test]
    fn a_start_in_the_past_is_due_now() {
        let mut r = request(&["9979746666"]);
        r.calls[0].start =
            Start::At(DateTime::parse_from_rfc3339("2020-01-01T00:00:00+05:30").expect("t"));
        let now = 1_795_000_000_000; // 2026
        let p = plan(&r, &CountryCode::india(), now).expect("plan");
        assert_eq!(p.calls[0].due_at, now);
    }

    #[test]
    fn the_checksum_follows_what_runs() {
        let a = plan(&request(&["9979746666"]), &CountryCode::india(), 0).expect("a");
        let later = plan(&request(&["9979746666"]), &CountryCode::india(), 99).expect("b");
        assert_eq!(a.checksum, later.checksum, "the same request, later");
        let mut r = request(&["9979746666"]);
        r.calls[0].keys.insert("Name".into(), "Ravi".into());
        let other = plan(&r, &CountryCode::india(), 0).expect("c");
        assert_ne!(a.checksum, other.checksum);
    }

    #[test]
    fn the_internal_form_splits_on_spaces_and_commas() {
        assert_eq!(
            split_numbers(" 919979746666 918000374000,917000000000 ,"),
            ["919979746666", "918000374000", "917000000000"]
        );
    }

    #[test]
    fn codes_and_messages_are_the_spec_table() {
        let table: Vec<String> = ResultCode::ALL.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            table.join(", "),
            "200 SUCCESS, 201 CHECKSUM_REPEATED, 202 INVALID_SECURITY_ID, 203 INVALID_API_VERSION, \
             205 INVALID_CONTACT_NUMBER, 209 PARTIAL_SUCCESS, 210 INVALID_MANDATORY_PARAMETERS, \
             301 INVALID_FLOW_ID, 302 EMPTY_CALL_LIST, 303 MAX_DATA_LIST_SIZE_EXCEEDED, \
             304 INVALID_FLOW_VERSION, 400 INVALID_FORMAT, 401 IP_NOT_WHITELISTED, 500 FAILURE"
        );
    }
}
