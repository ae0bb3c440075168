//! A contact: the phone number (or, for email flows, the address) an execution
//! runs for and its `$user.key` values belong to (`$user.syskey.contactNumber`).
//!
//! [`ContactNumber`] is the one rule for what may name a contact, shared by the
//! executions API, the contacts API and the preference methods of internal
//! webhooks: 1 to 128 characters, no whitespace, no control characters. It is
//! not normalised (a contact is whatever the trigger said), so `+919876543210`
//! and `919876543210` are two contacts, as they are two callers' identities.

use serde::Serialize;

/// A contact's identity, parsed once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ContactNumber(String);

impl ContactNumber {
    pub const MAX_CHARS: usize = 128;

    /// The JSON Schema pattern of [`ContactNumber::parse`]: the same rule.
    pub const PATTERN: &'static str = "^[^\\s\\x00-\\x1f\\x7f-\\x9f]{1,128}$";

    /// `text` exactly as given (callers that are lenient about surrounding
    /// blanks trim first): 1–128 characters, none of them whitespace or control.
    pub fn parse(text: &str) -> Result<ContactNumber, String> {
        let chars = text.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(format!(
                "{text:?} is not a contact: 1–{} characters without spaces",
                Self::MAX_CHARS
            ));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{text:?} is not a contact: it may not contain spaces or control characters"
            ));
        }
        Ok(ContactNumber(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContactNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl utoipa::PartialSchema for ContactNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(Self::PATTERN))
            .description(Some(
                "A contact: a phone number as the trigger gave it (or an email address), \
                 1–128 characters without spaces",
            ))
            .examples(["919876543210"])
            .into()
    }
}

impl utoipa::ToSchema for ContactNumber {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_short_words() {
        for ok in [
            "919876543210",
            "+919876543210",
            "a@example.com",
            "x",
            &"9".repeat(128),
        ] {
            assert_eq!(ContactNumber::parse(ok).map(|c| c.0), Ok(ok.to_owned()));
        }
        for bad in [
            "",
            " 9198",
            "9198 ",
            "91 98",
            "91\u{a0}98",
            "91\t98",
            "91\u{7f}",
            "91\u{85}",
            &"9".repeat(129),
        ] {
            assert!(ContactNumber::parse(bad).is_err(), "{bad:?}");
        }
        // Characters, not bytes: 128 non-ASCII characters are a contact.
        assert!(ContactNumber::parse(&"é".repeat(128)).is_ok());
    }

    #[test]
    fn the_pattern_states_the_same_rule() {
        let pattern = regex::Regex::new(ContactNumber::PATTERN).expect("pattern");
        for text in [
            "919876543210",
            "a@example.com",
            "",
            " 9198",
            "91 98",
            "91\u{a0}98",
            "91\u{2003}98",
            "91\u{7f}",
            "91\u{85}",
            "91\u{1f}",
            &"9".repeat(128),
            &"9".repeat(129),
            &"é".repeat(128),
        ] {
            assert_eq!(
                pattern.is_match(text),
                ContactNumber::parse(text).is_ok(),
                "{text:?}"
            );
        }
    }
}
