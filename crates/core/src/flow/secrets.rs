//! Credentials written literally into a flow document: the basic-auth password
//! of a webhook widget, and header or query values whose names say they are
//! credentials (`X-Api-Key`, `token`, …).
//!
//! Promise: a stored flow document holds these sealed with the master key
//! (`sealed:v1:…`), an API answer shows them as `***`, and only the copy parsed
//! for a run holds them in the clear. A `***` sent back on update keeps the value
//! stored for the same widget and field, so an editor can round-trip a document
//! it was shown, but only while the widget's URL keeps its destination (scheme,
//! host and port, see [`Destination`]): a credential is never carried to a
//! destination it was not written for. Sealed values are bound to the account
//! and to [`Purpose::FlowCredential`].

use serde_json::Value;

use crate::ids::AccountId;
use crate::secret::{Binding, MasterKey, Purpose, Reseal, SEALED_PREFIX as SEALED, SecretError};
use crate::webhook::{Destination, is_sensitive_name};

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

/// Where a widget's request goes, for every webhook widget with a `url` or a
/// registered `webhook`.
fn destinations(doc: Option<&Value>) -> Vec<(String, Destination)> {
    let Some(widgets) = doc
        .and_then(|d| d.get("widgets"))
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    widgets
        .iter()
        .filter_map(|(id, w)| {
            let request = w.get("request")?;
            let destination = match request.get("webhook").and_then(Value::as_str) {
                Some(webhook) => Destination::registered(webhook),
                None => Destination::of_template(request.get("url")?.as_str()?),
            };
            Some((id.clone(), destination))
        })
        .collect()
}

fn binding(account: AccountId) -> Binding {
    Binding::new(account, Purpose::FlowCredential)
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

/// Seals the credential fields of a document about to be stored by `account`.
/// `previous` is the stored document this one replaces: a value sent back as
/// `***` keeps the one stored for the same widget and field, if the widget's
/// URL still has the destination it had. Everything else the client sent is
/// sealed, even text that looks sealed, so a client can never make the server
/// open a ciphertext of its choosing. A `***` with nothing stored to keep, or
/// kept across a change of destination, is an error naming the widget and
/// field, rather than a credential of three stars or one sent elsewhere.
pub fn seal(
    doc: &mut Value,
    master: &MasterKey,
    account: AccountId,
    previous: Option<&Value>,
) -> Result<(), String> {
    let before = stored_values(previous);
    let (was, now) = (destinations(previous), destinations(Some(doc)));
    let destination = |list: &[(String, Destination)], id: &str| {
        list.iter().find(|(i, _)| i == id).map(|(_, d)| d.clone())
    };
    let mut refused = Vec::new();
    for_each_credential(doc, |id, field, value| {
        let Some(text) = value.as_str() else { return };
        if text.is_empty() {
            return;
        }
        if text == MASK {
            let stored = before.iter().find(|(i, f, _)| i == id && f == field);
            let (old, new) = (destination(&was, id), destination(&now, id));
            match stored {
                None => refused.push(format!(
                    "widget {id:?}: {field} is `***` but no value is stored for it; send the credential itself"
                )),
                Some(_) if old != new => refused.push(format!(
                    "widget {id:?}: {field} is `***` but the URL now goes to {} instead of {}; send the credential again for the new destination",
                    new.map_or_else(|| "no URL".to_owned(), |d| d.to_string()),
                    old.map_or_else(|| "no URL".to_owned(), |d| d.to_string()),
                )),
                Some((_, _, stored)) => *value = stored.clone(),
            }
            return;
        }
        *value = Value::String(format!("{SEALED}{}", master.seal(binding(account), text)));
    });
    if refused.is_empty() {
        Ok(())
    } else {
        Err(refused.join("; "))
    }
}

/// Opens sealed fields of `account`'s document, for parsing it to run it.
pub fn open(doc: &mut Value, master: &MasterKey, account: AccountId) -> Result<(), SecretError> {
    let mut result = Ok(());
    for_each_credential(doc, |_, _, value| {
        if let Some(sealed) = value.as_str().and_then(|t| t.strip_prefix(SEALED)) {
            match master.open(binding(account), sealed) {
                Ok(plain) => *value = Value::String(plain.expose().to_owned()),
                Err(e) => result = Err(e),
            }
        }
    });
    result
}

/// Re-seals the sealed fields of `account`'s stored document under `reseal`'s
/// key (rotation, start-up migration); true if anything changed.
pub fn reseal(
    doc: &mut Value,
    reseal: &Reseal<'_>,
    account: AccountId,
) -> Result<bool, SecretError> {
    let (mut changed, mut result) = (false, Ok(()));
    for_each_credential(doc, |_, _, value| {
        let Some(sealed) = value.as_str().and_then(|t| t.strip_prefix(SEALED)) else {
            return;
        };
        match reseal.value(binding(account), sealed) {
            Ok(Some(new)) => {
                *value = Value::String(format!("{SEALED}{new}"));
                changed = true;
            }
            Ok(None) => {}
            Err(e) => result = Err(e),
        }
    });
    result.map(|()| changed)
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

    /// The one account all documents of these tests belong to.
    fn me() -> AccountId {
        static ME: std::sync::OnceLock<AccountId> = std::sync::OnceLock::new();
        *ME.get_or_init(AccountId::generate)
    }

    fn with_url(mut d: Value, url: &str) -> Value {
        d["widgets"]["w"]["request"]["url"] = url.into();
        d
    }

    #[test]
    fn sealed_masked_and_opened_again() {
        let mut stored = doc("lit-pw", "k-1");
        seal(&mut stored, &master(), me(), None).expect("seals");
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
        open(&mut run, &master(), me()).expect("opens");
        assert_eq!(run, doc("lit-pw", "k-1"));
    }

    #[test]
    fn a_mask_sent_back_keeps_the_stored_value() {
        let mut stored = doc("lit-pw", "k-1");
        seal(&mut stored, &master(), me(), None).expect("seals");
        let mut edited = doc("***", "k-2");
        seal(&mut edited, &master(), me(), Some(&stored)).expect("seals");
        open(&mut edited, &master(), me()).expect("opens");
        assert_eq!(edited, doc("lit-pw", "k-2"));
    }

    #[test]
    fn another_key_cannot_open() {
        let mut stored = doc("lit-pw", "k-1");
        seal(&mut stored, &master(), me(), None).expect("seals");
        let other = MasterKey::parse(&"cd".repeat(32)).expect("key");
        assert!(open(&mut stored, &other, me()).is_err());
        assert!(
            open(&mut stored.clone(), &master(), AccountId::generate()).is_err(),
            "sealed values are bound to their account"
        );
    }

    #[test]
    fn a_mask_without_a_stored_value_and_a_forged_seal_are_refused() {
        let mut new = doc("***", "k-1");
        let err = seal(&mut new, &master(), me(), None).expect_err("nothing to keep");
        assert!(err.contains("auth.password"), "{err}");

        // Text that looks sealed is sealed again, so opening gives it back as is.
        let mut stored = doc("lit-pw", "k-1");
        seal(&mut stored, &master(), me(), None).expect("seals");
        let forged = stored["widgets"]["w"]["request"]["auth"]["password"].clone();
        let mut attack = doc(forged.as_str().expect("text"), "k-1");
        seal(&mut attack, &master(), me(), None).expect("seals");
        open(&mut attack, &master(), me()).expect("opens");
        assert_eq!(
            attack["widgets"]["w"]["request"]["auth"]["password"],
            forged
        );
    }

    #[test]
    fn a_mask_is_not_kept_across_a_change_of_destination() {
        let mut stored = doc("lit-pw", "k-1");
        seal(&mut stored, &master(), me(), None).expect("seals");

        // Another path on the same origin keeps the credentials.
        let mut same = with_url(doc("***", "***"), "https://API.invalid:443/other");
        seal(&mut same, &master(), me(), Some(&stored)).expect("same destination");

        for url in [
            "https://evil.invalid/",
            "http://api.invalid/",
            "https://api.invalid:8443/",
            "https://$flow.key.host/",
        ] {
            let mut moved = with_url(doc("***", "***"), url);
            let err = seal(&mut moved, &master(), me(), Some(&stored)).expect_err(url);
            assert!(err.contains("auth.password"), "{err}");
            assert!(err.contains("headers.x-api-key"), "{err}");
        }

        // Sent again, the credentials go to the new destination.
        let mut resent = with_url(doc("new-pw", "k-2"), "https://evil.invalid/");
        seal(&mut resent, &master(), me(), Some(&stored)).expect("credentials sent again");
    }

    #[test]
    fn reseal_moves_every_credential_to_the_new_key() {
        let mut stored = doc("lit-pw", "k-1");
        seal(&mut stored, &master(), me(), None).expect("seals");
        let new = MasterKey::parse(&"cd".repeat(32)).expect("key");
        let rotate = Reseal {
            from: &master(),
            to: &new,
        };
        assert!(reseal(&mut stored, &rotate, me()).expect("reseals"));
        assert!(!reseal(&mut stored, &rotate, me()).expect("current"));
        open(&mut stored, &new, me()).expect("opens with the new key");
        assert_eq!(stored, doc("lit-pw", "k-1"));
    }
}
