//! Variable names and the variable sets flows read and write (SPEC §2).
//!
//! A [`VarName`] is parsed once from its canonical text (`$flow.key.orderId`) and
//! then trusted: it always has a known namespace and a non-empty name without
//! control characters, and its `Display` gives back the canonical text, so a
//! name survives a round trip through JSON unchanged.
//!
//! Rendering reads variables through the [`Lookup`] trait, so the engine can
//! present whatever layered view it keeps (execution keys, persisted user keys,
//! call details, the clock) without copying it into one map.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The namespace of a variable: the part between `$` and the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Namespace {
    /// `$flow.key.NAME`: one execution, written by triggers, assignments, mappings.
    FlowKey,
    /// `$flow.syskey.NAME`: one execution, system parameters and method inputs.
    FlowSyskey,
    /// `$user.key.NAME`: one contact, persisted across executions.
    UserKey,
    /// `$user.syskey.NAME`: identity of the contact.
    UserSyskey,
    /// `$call.NAME`: read-only details of the current contact.
    Call,
    /// `$sys.NAME`: values the platform computes (the clock).
    Sys,
}

impl Namespace {
    /// Every namespace. No prefix is a prefix of another, so a scan may stop at
    /// the first match.
    pub const ALL: [Namespace; 6] = [
        Namespace::FlowKey,
        Namespace::FlowSyskey,
        Namespace::UserKey,
        Namespace::UserSyskey,
        Namespace::Call,
        Namespace::Sys,
    ];

    /// The text between `$` and the name, including the trailing dot.
    pub fn prefix(self) -> &'static str {
        match self {
            Namespace::FlowKey => "flow.key.",
            Namespace::FlowSyskey => "flow.syskey.",
            Namespace::UserKey => "user.key.",
            Namespace::UserSyskey => "user.syskey.",
            Namespace::Call => "call.",
            Namespace::Sys => "sys.",
        }
    }

    /// Splits `text` (without the `$`) into a namespace and the rest, if it
    /// starts with a known prefix.
    pub fn split_prefix(text: &str) -> Option<(Namespace, &str)> {
        Namespace::ALL
            .into_iter()
            .find_map(|ns| text.strip_prefix(ns.prefix()).map(|rest| (ns, rest)))
    }

    /// Whether flows may write variables of this namespace. Call details and
    /// system values come from the platform, and a contact's identity is fixed
    /// by the trigger, so those are read-only.
    pub fn is_writable(self) -> bool {
        matches!(
            self,
            Namespace::FlowKey | Namespace::FlowSyskey | Namespace::UserKey
        )
    }
}

/// The `$call.` names the platform sets from the trigger (SPEC §2).
///
/// Templates resolve a bare `$call.` token to the longest of these names, so
/// `$call.cli.number.` is `cli.number` followed by a literal dot.
pub const CALL_NAMES: [&str; 12] = [
    "cli.number",
    "dnis.number",
    "did.number",
    "agent.dnis.number",
    "start",
    "connect",
    "hangup",
    "duration",
    "isdn",
    "cdr",
    "state",
    "incoming",
];

/// Other names of `$call.` variables, as `(alias, canonical name)`. The seeds
/// write `$call.cli` as well as `$call.cli.number` (SPEC §2). A [`VarName`]
/// always holds the canonical name, so an alias reads and lists exactly like
/// the name it stands for, wherever variables are read.
pub const CALL_ALIASES: [(&str, &str); 1] = [("cli", "cli.number")];

/// The canonical form of a `$call.` name: the name an alias stands for, or the
/// name itself.
pub fn canonical_call_name(name: &str) -> &str {
    CALL_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, canonical)| canonical)
}

/// The known `$call.` name `name` is or stands for ([`CALL_NAMES`] and
/// [`CALL_ALIASES`]), if any.
pub fn known_call_name(name: &str) -> Option<&'static str> {
    let canonical = canonical_call_name(name);
    CALL_NAMES.iter().copied().find(|known| *known == canonical)
}

/// The `$sys.` names the platform provides. The set is closed: an unknown
/// `$sys.` name could never have a value, so it is refused when parsed.
pub const SYS_NAMES: [&str; 1] = ["datetime"];

/// A variable name such as `$flow.key.orderId`, parsed and trusted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VarName {
    namespace: Namespace,
    name: String,
}

/// Why a string is not a variable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarNameError {
    #[error("a variable name starts with `$`")]
    MissingDollar,
    #[error(
        "unknown variable namespace; expected one of $flow.key., $flow.syskey., $user.key., $user.syskey., $call., $sys."
    )]
    UnknownNamespace,
    #[error("the variable name after `{0}` is empty")]
    EmptyName(&'static str),
    #[error("a variable name may not contain control characters")]
    ControlCharacter,
    #[error("unknown system variable `$sys.{0}`; known: $sys.datetime")]
    UnknownSys(String),
}

impl VarName {
    /// Builds a name from its parts, checking the same rules as [`VarName::parse`].
    /// A `$call.` alias becomes the name it stands for ([`CALL_ALIASES`]).
    pub fn new(namespace: Namespace, name: impl Into<String>) -> Result<VarName, VarNameError> {
        let mut name = name.into();
        check_name(namespace, &name)?;
        if namespace == Namespace::Call {
            let canonical = canonical_call_name(&name);
            if canonical != name {
                name = canonical.to_owned();
            }
        }
        Ok(VarName { namespace, name })
    }

    /// Parses the canonical text: `$` + namespace prefix + a non-empty name
    /// without control characters. Names in `$flow`/`$user` may be anything
    /// else (`$flow.key.any name`), `$call` names are open (triggers may supply
    /// more than [`CALL_NAMES`]) and aliases are read as their canonical name
    /// (`$call.cli` is `$call.cli.number`), `$sys` names must be in [`SYS_NAMES`].
    pub fn parse(text: &str) -> Result<VarName, VarNameError> {
        let rest = text.strip_prefix('$').ok_or(VarNameError::MissingDollar)?;
        let (namespace, name) =
            Namespace::split_prefix(rest).ok_or(VarNameError::UnknownNamespace)?;
        VarName::new(namespace, name)
    }

    /// The namespace of the variable.
    pub fn namespace(&self) -> Namespace {
        self.namespace
    }

    /// The name after the namespace prefix (`orderId` of `$flow.key.orderId`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether flows may assign this variable (false for `$call.*`, `$sys.*`,
    /// `$user.syskey.*`).
    pub fn is_writable(&self) -> bool {
        self.namespace.is_writable()
    }
}

fn check_name(namespace: Namespace, name: &str) -> Result<(), VarNameError> {
    if name.is_empty() {
        return Err(VarNameError::EmptyName(namespace.prefix()));
    }
    if name.chars().any(char::is_control) {
        return Err(VarNameError::ControlCharacter);
    }
    if namespace == Namespace::Sys && !SYS_NAMES.contains(&name) {
        return Err(VarNameError::UnknownSys(name.to_owned()));
    }
    Ok(())
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}{}", self.namespace.prefix(), self.name)
    }
}

impl std::str::FromStr for VarName {
    type Err = VarNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VarName::parse(s)
    }
}

impl Serialize for VarName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VarName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<'de, str>::deserialize(deserializer)?;
        VarName::parse(&text).map_err(|e| serde::de::Error::custom(format_args!("`{text}`: {e}")))
    }
}

/// Read access to variable values, as rendering needs it.
///
/// `None` means the variable is unset; templates render it as "" and report it
/// missing.
pub trait Lookup {
    fn get(&self, var: &VarName) -> Option<Cow<'_, str>>;
}

/// Write access on top of [`Lookup`], as assignments and response mappings need it.
pub trait VarStore: Lookup {
    /// Stores `value` in `var`; returns whether the stored value changed.
    fn set(&mut self, var: &VarName, value: String) -> bool;
}

/// The plain variable set: one value per name, ordered by name so that
/// snapshots and traces are deterministic.
pub type Variables = BTreeMap<VarName, String>;

impl Lookup for Variables {
    fn get(&self, var: &VarName) -> Option<Cow<'_, str>> {
        BTreeMap::get(self, var).map(|v| Cow::Borrowed(v.as_str()))
    }
}

impl VarStore for Variables {
    fn set(&mut self, var: &VarName, value: String) -> bool {
        match self.get_mut(var) {
            Some(old) if *old == value => false,
            Some(old) => {
                *old = value;
                true
            }
            None => {
                self.insert(var.clone(), value);
                true
            }
        }
    }
}

impl<L: Lookup + ?Sized> Lookup for &L {
    fn get(&self, var: &VarName) -> Option<Cow<'_, str>> {
        (**self).get(var)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_canonical_text() {
        let cases = [
            ("$flow.key.orderId", Namespace::FlowKey, "orderId"),
            (
                "$flow.syskey.phonon_uuid",
                Namespace::FlowSyskey,
                "phonon_uuid",
            ),
            ("$user.key.language", Namespace::UserKey, "language"),
            (
                "$user.syskey.contactNumber",
                Namespace::UserSyskey,
                "contactNumber",
            ),
            ("$call.cli.number", Namespace::Call, "cli.number"),
            (
                "$call.agent.dnis.number",
                Namespace::Call,
                "agent.dnis.number",
            ),
            ("$sys.datetime", Namespace::Sys, "datetime"),
            ("$flow.key.any name", Namespace::FlowKey, "any name"),
        ];
        for (text, ns, name) in cases {
            let var = VarName::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(var.namespace(), ns, "{text}");
            assert_eq!(var.name(), name, "{text}");
            assert_eq!(var.to_string(), text);
        }
    }

    #[test]
    fn call_aliases_are_their_canonical_names() {
        let alias = VarName::parse("$call.cli").expect("valid");
        let canonical = VarName::parse("$call.cli.number").expect("valid");
        assert_eq!(alias, canonical);
        assert_eq!(alias.to_string(), "$call.cli.number");
        assert_eq!(VarName::new(Namespace::Call, "cli"), Ok(canonical.clone()));
        // Only `$call.` has aliases: `$flow.key.cli` is its own variable.
        assert_eq!(
            VarName::parse("$flow.key.cli").map(|v| v.name().to_owned()),
            Ok("cli".to_owned())
        );
        let vars: Variables = [(canonical, "918000000000".to_owned())].into();
        assert_eq!(Lookup::get(&vars, &alias).as_deref(), Some("918000000000"));
        assert_eq!(known_call_name("cli"), Some("cli.number"));
        assert_eq!(known_call_name("dnis.number"), Some("dnis.number"));
        assert_eq!(known_call_name("dnis"), None);
    }

    #[test]
    fn rejects_malformed_names() {
        let cases = [
            ("flow.key.x", VarNameError::MissingDollar),
            ("$flow.keys.x", VarNameError::UnknownNamespace),
            ("$flwo.key.x", VarNameError::UnknownNamespace),
            ("$flow.key.", VarNameError::EmptyName("flow.key.")),
            ("$call.", VarNameError::EmptyName("call.")),
            ("$flow.key.a\nb", VarNameError::ControlCharacter),
            ("$sys.time", VarNameError::UnknownSys("time".into())),
            ("", VarNameError::MissingDollar),
        ];
        for (text, want) in cases {
            assert_eq!(VarName::parse(text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn writability_follows_namespace() {
        let cases = [
            ("$flow.key.a", true),
            ("$flow.syskey.a", true),
            ("$user.key.a", true),
            ("$user.syskey.a", false),
            ("$call.cli.number", false),
            ("$sys.datetime", false),
        ];
        for (text, writable) in cases {
            let var = VarName::parse(text).expect("valid");
            assert_eq!(var.is_writable(), writable, "{text}");
        }
    }

    #[test]
    fn serde_uses_the_canonical_text() {
        let var = VarName::parse("$user.key.language").expect("valid");
        let json = serde_json::to_string(&var).expect("serialize");
        assert_eq!(json, r#""$user.key.language""#);
        let back: VarName = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, var);
        let err = serde_json::from_str::<VarName>(r#""$nope.x""#).expect_err("bad");
        assert!(
            err.to_string().contains("unknown variable namespace"),
            "{err}"
        );
    }

    #[test]
    fn set_reports_changes() {
        let mut vars = Variables::new();
        let var = VarName::parse("$flow.key.a").expect("valid");
        assert!(vars.set(&var, "1".into()));
        assert!(!vars.set(&var, "1".into()));
        assert!(vars.set(&var, "2".into()));
        assert_eq!(Lookup::get(&vars, &var).as_deref(), Some("2"));
    }
}
