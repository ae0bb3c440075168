//! Accounts (tenants): the values an account is made of, each parsed once.
//!
//! The API key (`security_id`) is 64 hex characters. Only its SHA-256 is stored, so
//! a copy of the database does not hand out working keys.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::secret::{SecretString, random_bytes, sha256_hex};

/// An account's display name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct AccountName(String);

impl AccountName {
    pub const MAX_CHARS: usize = 100;

    /// Trimmed; at most [`Self::MAX_CHARS`] as sent (so the API schema's
    /// `maxLength` is the rule), not empty once trimmed.
    pub fn parse(s: &str) -> Result<AccountName, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err("name must not be empty".into());
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "name is longer than {} characters",
                Self::MAX_CHARS
            ));
        }
        if t.chars().any(char::is_control) {
            return Err("name must not contain control characters".into());
        }
        Ok(AccountName(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name such as `Asia/Kolkata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(chrono_tz::Tz);

/// The schema lists every name [`TimeZone::parse`] accepts.
impl utoipa::PartialSchema for TimeZone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
            .description(Some("An IANA time zone name"))
            .examples(["Asia/Kolkata"])
            .into()
    }
}

impl utoipa::ToSchema for TimeZone {}

impl TimeZone {
    pub const UTC: TimeZone = TimeZone(chrono_tz::UTC);

    pub fn parse(s: &str) -> Result<TimeZone, String> {
        s.parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| format!("`{s}` is not an IANA time zone name (like Asia/Kolkata)"))
    }

    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        TimeZone::UTC
    }
}

impl Serialize for TimeZone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TimeZone::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An account's API key: 64 lower-case hex characters.
#[derive(Debug, Clone)]
pub struct SecurityId(SecretString);

impl SecurityId {
    pub fn generate() -> SecurityId {
        SecurityId(SecretString::new(hex::encode(random_bytes::<32>())))
    }

    /// Checks the shape only; whether the key belongs to an account is a lookup of
    /// [`SecurityId::lookup_hash`].
    pub fn parse(s: &str) -> Option<SecurityId> {
        (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| SecurityId(SecretString::new(s.to_ascii_lowercase())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// What the database keeps to find the account of a key.
    pub fn lookup_hash(&self) -> String {
        sha256_hex(self.0.expose().as_bytes())
    }
}

/// An account's IP whitelist. Empty means every address may call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IpWhitelist(Vec<IpNet>);

impl IpWhitelist {
    pub const MAX_ENTRIES: usize = 256;

    /// Parses networks (`203.0.113.0/24`) or single addresses (`::1`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<IpWhitelist, String> {
        if entries.len() > Self::MAX_ENTRIES {
            return Err(format!("at most {} entries are allowed", Self::MAX_ENTRIES));
        }
        entries
            .iter()
            .map(|e| parse_net(e.as_ref().trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(IpWhitelist)
    }

    pub fn entries(&self) -> &[IpNet] {
        &self.0
    }

    pub fn allows(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.is_empty() || self.0.iter().any(|n| n.contains(&addr))
    }
}

/// Parses `a.b.c.d/n`, `x::/n` or a single address into a network.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| format!("`{s}` is not an IP address or CIDR network"))
}

/// Parses a comma-separated list of networks (`FLOWHOOK_EGRESS_ALLOW_CIDRS`);
/// blanks are skipped, so "" is the empty list.
pub fn parse_net_list(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_net)
        .collect()
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:a.b.c.d`) is the IPv4 one.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_ids_are_64_hex_and_hash_stably() {
        let k = SecurityId::generate();
        assert_eq!(k.expose().len(), 64);
        let again = SecurityId::parse(k.expose()).expect("parses");
        assert_eq!(k.lookup_hash(), again.lookup_hash());
        assert!(SecurityId::parse("abc").is_none());
    }

    #[test]
    fn whitelist_matches_networks_and_mapped_addresses() {
        let w = IpWhitelist::parse(&["127.0.0.0/30", "::1"]).expect("parses");
        assert!(w.allows("127.0.0.1".parse().expect("ip")));
        assert!(w.allows("::ffff:127.0.0.2".parse().expect("ip")));
        assert!(w.allows("::1".parse().expect("ip")));
        assert!(!w.allows("127.0.0.9".parse().expect("ip")));
        assert!(IpWhitelist::default().allows("127.0.0.9".parse().expect("ip")));
        assert!(IpWhitelist::parse(&["not-an-ip"]).is_err());
    }

    #[test]
    fn names_and_time_zones_are_checked() {
        assert!(AccountName::parse("  ").is_err());
        assert!(AccountName::parse(&"x".repeat(101)).is_err());
        assert_eq!(AccountName::parse(" Acme ").expect("ok").as_str(), "Acme");
        assert!(TimeZone::parse("Asia/Kolkata").is_ok());
        assert!(TimeZone::parse("Mars/Base").is_err());
    }
}
