//! Credentials written literally into a flow document: the basic-auth password
//! of a webhook widget, and header or query values whose names say they are
//! credentials (`X-Api-Key`, `token`, …).
//!
//! Promise: a stored flow document holds these sealed with the master key
//! (`sealed:v1:…`), an API answer shows them as `***`, and only the copy parsed
//! for a run holds them in the clear. A `***` sent back on update keeps the value
//! stored for the same widget and field, so an editor can round-trip a document
//! it was shown.

use serde_json::Value;

use crate::secret::{MasterKey, SEALED_PREFIX as SEALED, SecretError};
use crate::webhook::is_sensitive_name;

const MASK: &str = "***";

/// Every credential field of a document: `(widget id, field name, value)`,
/// where the field name is `auth.password`, `headers.<key>` or `query.<key>`.
fn for_each_credential(doc: &mut Value, mut f: impl FnMut(&str, &str, &mut Value)) {
    let Some(widgets) = doc.get_mut("widgets").and_then(Value::as_object_mut) else {
        return;
    };
    for (id, widget) in widgets.iter_mut() {
        if widget.get("type").and_then(Value::as_str) != Some("webhook") {
            continue;
        }
        let Some(request) = widget.get_mut("request") else {
            continue;
        };
        if let Some(password) = request.get_mut("auth").and_then(|a| a.get_mut("password")) {
            f(id, "auth.password", password);
        }
        for list in ["headers", "query"] {
            let Some(params) = request.get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for p in params {
                let key = p
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if let Some(value) = p.get_mut("value").filter(|_| is_sensitive_name(&key)) {
                    f(id, &format!("{list}.{}", key.to_ascii_lowercase()), value);
                }
            }
        }
    }
}

/// All credential fields of `doc` by (widget, field), as stored.
fn stored_values(doc: Option<&Value>) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    if let Some(doc) = doc {
        let mut copy = doc.clone();
        for_each_credential(&mut copy, |id, field, v| {
            found.push((id.to_owned(), field.to_owned(), v.clone()));
        });
    }
    found
}

/// Seals the credential fields of a document about to be stored. `previous` is
/// the stored document this one replaces: a value sent back as `***` keeps the
/// one stored for the same widget and field. Everything else the client sent is
/// sealed, even text that looks sealed, so a client can never make the server
/// open a ciphertext of its choosing. A `***` with nothing stored to keep is an
/// error naming the widget and field, rather than a credential of three stars.
pub fn seal(doc: &mut Value, master: &MasterKey, previous: Option<&Value>) -> Result<(), String> {
    let before = stored_values(previous);
    let mut dangling = None;
    for_each_credential(doc, |id, field, value| {
        let Some(text) = value.as_str() else { return };
        if text.is_empty() {
            return;
        }
        if text == MASK {
            match before.iter().find(|(i, f, _)| i == id && f == field) {
                Some((_, _, stored)) => *value = stored.clone(),
                None => {
                    dangling.get_or_insert(format!(
                        "widget {id:?}: {field} is `***` but no value is stored for it; send the credential itself"
                    ));
                }
            }
            return;
        }
        *value = Value::String(format!("{SEALED}{}", master.seal(text)));
    });
    dangling.map_or(Ok(()), Err)
}

/// Opens sealed fields, for parsing the document to run it.
pub fn open(doc: &mut Value, master: &MasterKey) -> Result<(), SecretError> {
    let mut result = Ok(());
    for_each_credential(doc, |_, _, value| {
        if let Some(sealed) = value.as_str().and_then(|t| t.strip_prefix(SEALED)) {
            match master.open(sealed) {
                Ok(plain) => *value = Value::String(plain.expose().to_owned()),
                Err(e) => result = Err(e),
            }
        }
    });
    result
}

/// Replaces credential values with `***`, for answers.
pub fn mask(doc: &mut Value) {
    for_each_credential(doc, |_, _, value| {
        if value.as_str().is_some_and(|t| !t.is_empty()) {
            *value = Value::String(MASK.to_owned());
        }
    });
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(password: &str, key: &str) -> Value {
        json!({"name": "f", "start": "w", "widgets": {
            "w": {"type": "webhook", "request": {
                "url": "https://api.invalid/",
                "auth": {"type": "basic", "username": "u", "password": password},
                "headers": [{"key": "X-Api-Key", "value": key}, {"key": "X-Plain", "value": "shown"}],
                "query": [{"key": "token", "value": "$flow.key.t"}]
            }, "lines": [null, null]},
            "s": {"type": "store_variable", "assign": {"$flow.key.z": "1", "$flow.key.a": "2"}, "lines": [null]}
        }})
    }

    fn master() -> MasterKey {
        MasterKey::parse(&"ab".repeat(32)).expect("key")
    }

    #[test]
    fn sealed_masked_and_opened_again() {
        let mut stored = doc("lit-pw", "k-1");
        seal(&mut stored, &master(), None).expect("seals");
        let text = stored.to_string();
        assert!(!text.contains("lit-pw") && !text.contains("k-1"), "{text}");
        assert!(text.contains("shown"), "other headers are untouched");
        assert!(
            text.find("$flow.key.z") < text.find("$flow.key.a"),
            "order is kept"
        );

        let mut shown = stored.clone();
        mask(&mut shown);
        assert_eq!(shown["widgets"]["w"]["request"]["auth"]["password"], "***");
        assert_eq!(
            shown["widgets"]["w"]["request"]["headers"][0]["value"],
            "***"
        );
        assert_eq!(shown["widgets"]["w"]["request"]["query"][0]["value"], "***");

        let mut run = stored.clone();
        open(&mut run, &master()).expect("opens");
        assert_eq!(run, doc("lit-pw", "k-1"));
    }

    #[test]
    fn a_mask_sent_back_keeps_the_stored_value() {
        let mut stored = doc("lit-pw", "k-1");
        seal(&mut stored, &master(), None).expect("seals");
        let mut edited = doc("***", "k-2");
        seal(&mut edited, &master(), Some(&stored)).expect("seals");
        open(&mut edited, &master()).expect("opens");
        assert_eq!(edited, doc("lit-pw", "k-2"));
    }

    #[test]
    fn another_key_cannot_open() {
        let mut stored = doc("lit-pw", "k-1");
        seal(&mut stored, &master(), None).expect("seals");
        let other = MasterKey::parse(&"cd".repeat(32)).expect("key");
        assert!(open(&mut stored, &other).is_err());
    }

    #[test]
    fn a_mask_without_a_stored_value_and_a_forged_seal_are_refused() {
        let mut new = doc("***", "k-1");
        let err = seal(&mut new, &master(), None).expect_err("nothing to keep");
        assert!(err.contains("auth.password"), "{err}");

        // Text that looks sealed is sealed again, so opening gives it back as is.
        let mut stored = doc("lit-pw", "k-1");
        seal(&mut stored, &master(), None).expect("seals");
        let forged = stored["widgets"]["w"]["request"]["auth"]["password"].clone();
        let mut attack = doc(forged.as_str().expect("text"), "k-1");
        seal(&mut attack, &master(), None).expect("seals");
        open(&mut attack, &master()).expect("opens");
        assert_eq!(
            attack["widgets"]["w"]["request"]["auth"]["password"],
            forged
        );
    }
}
