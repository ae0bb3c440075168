//! An account's provider settings (translation, NLU, short links): free-form
//! JSON in which every string under a key that names a secret (`apiKey`,
//! `token`, …; see [`is_sensitive_name`]), at any depth, is a credential.
//!
//! Promises:
//! - Credentials are stored sealed (`sealed:v2:…`), bound to the account and to
//!   [`Purpose::ProviderSetting`], and answers show them as `***`.
//! - A `***` sent back keeps the value stored at the same *address*: the path of
//!   object keys, where an array entry is named by its `id`, never by its
//!   position. Array entries that are objects get an `id` at save when they
//!   have none, so reordering, inserting or removing entries cannot move a
//!   secret from one entry to another.
//! - A `***` without such an address (a bare string in an array, an entry whose
//!   `id` names nothing stored) is refused: the client sends the value itself.

use serde_json::{Map, Value};

use crate::ids::AccountId;
use crate::secret::{Binding, MasterKey, Purpose, Reseal, SEALED_PREFIX, SecretError};
use crate::webhook::is_sensitive_name;

const MASK: &str = "***";

/// The key naming an array entry.
pub const ENTRY_ID: &str = "id";

/// The longest entry id a client may choose.
const MAX_ENTRY_ID: usize = 64;

fn binding(account: AccountId) -> Binding {
    Binding::new(account, Purpose::ProviderSetting)
}

/// The settings to store: credentials sealed, `***` resolved against `stored`
/// (the settings this replaces), every object entry of an array given an `id`.
/// An error names the place (`nlu[id=a].token`).
pub fn seal(
    new: &Value,
    stored: &Value,
    master: &MasterKey,
    account: AccountId,
) -> Result<Value, String> {
    let mut seal_one =
        |text: &str| format!("{SEALED_PREFIX}{}", master.seal(binding(account), text));
    walk_seal(new, Some(stored), false, "", &mut seal_one)
}

fn walk_seal(
    new: &Value,
    stored: Option<&Value>,
    secret: bool,
    at: &str,
    seal_one: &mut impl FnMut(&str) -> String,
) -> Result<Value, String> {
    Ok(match new {
        Value::String(s) if secret && s == MASK => match stored {
            Some(Value::String(kept)) => Value::String(kept.clone()),
            _ => {
                return Err(format!(
                    "`{}` is `***` but nothing is stored there; send the value itself",
                    place(at)
                ));
            }
        },
        Value::String(s) if secret => Value::String(seal_one(s)),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let inner = stored.and_then(|s| s.get(k));
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                let sealed = walk_seal(v, inner, secret || is_sensitive_name(k), &path, seal_one)?;
                out.insert(k.clone(), sealed);
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut seen: Vec<String> = Vec::new();
            for item in items {
                let Value::Object(entry) = item else {
                    // Without an id a bare value has no address: any `***` in
                    // it finds nothing stored and is refused.
                    out.push(walk_seal(item, None, secret, &format!("{at}[]"), seal_one)?);
                    continue;
                };
                let (id, previous) = match entry.get(ENTRY_ID) {
                    None => (fresh_id(), None),
                    Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_ENTRY_ID => {
                        (id.clone(), stored.and_then(|s| entry_by_id(s, id)))
                    }
                    Some(_) => {
                        return Err(format!(
                            "`{}` entries need an `{ENTRY_ID}` of 1–{MAX_ENTRY_ID} characters (or none, to get one)",
                            place(at)
                        ));
                    }
                };
                if seen.contains(&id) {
                    return Err(format!(
                        "`{}` has two entries with `{ENTRY_ID}` {id:?}",
                        place(at)
                    ));
                }
                let mut with_id = Map::new();
                with_id.insert(ENTRY_ID.to_owned(), Value::String(id.clone()));
                with_id.extend(
                    entry
                        .iter()
                        .filter(|(k, _)| *k != ENTRY_ID)
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
                let path = format!("{at}[{ENTRY_ID}={id}]");
                out.push(walk_seal(
                    &Value::Object(with_id),
                    previous,
                    secret,
                    &path,
                    seal_one,
                )?);
                seen.push(id);
            }
            Value::Array(out)
        }
        other => other.clone(),
    })
}

fn place(at: &str) -> &str {
    if at.is_empty() { "providers" } else { at }
}

/// The stored entry of an array with this `id`.
fn entry_by_id<'a>(stored: &'a Value, id: &str) -> Option<&'a Value> {
    stored
        .as_array()?
        .iter()
        .find(|e| e.get(ENTRY_ID).and_then(Value::as_str) == Some(id))
}

/// A new entry id: 12 random hex digits.
fn fresh_id() -> String {
    hex::encode(crate::secret::random_bytes::<6>())
}

/// The settings as answers show them: every credential as `***`. Entry ids
/// are identities, never credentials, and are shown as they are.
pub fn mask(value: &Value) -> Value {
    map_secrets(value, false, &mut |_| Value::String(MASK.to_owned()))
}

/// The settings with credentials in the clear, for the provider calls of
/// `account` (internal webhooks).
pub fn open(value: &Value, master: &MasterKey, account: AccountId) -> Result<Value, SecretError> {
    let mut failed = None;
    let opened = map_secrets(value, false, &mut |s| match s
        .strip_prefix(SEALED_PREFIX)
        .map(|sealed| master.open(binding(account), sealed))
    {
        Some(Ok(plain)) => Value::String(plain.expose().to_owned()),
        Some(Err(e)) => {
            failed = Some(e);
            Value::Null
        }
        None => Value::String(s.to_owned()),
    });
    failed.map_or(Ok(opened), Err)
}

/// Re-seals `account`'s stored settings under `reseal`'s key (rotation, the
/// start-up migration), and gives ids to array entries stored before entries
/// had them; true if anything changed. Values of the first format were stored
/// as bare `v1:…` text: under a secret key, that is what they are.
pub fn reseal(
    value: &mut Value,
    reseal: &Reseal<'_>,
    account: AccountId,
) -> Result<bool, SecretError> {
    let mut changed = false;
    let mut failed = None;
    let before = value.clone();
    *value = map_secrets(&before, false, &mut |s| {
        let sealed = s
            .strip_prefix(SEALED_PREFIX)
            .or_else(|| s.starts_with("v1:").then_some(s));
        match sealed.map(|sealed| reseal.value(binding(account), sealed)) {
            Some(Ok(Some(new))) => {
                changed = true;
                Value::String(format!("{SEALED_PREFIX}{new}"))
            }
            Some(Ok(None)) | None => Value::String(s.to_owned()),
            Some(Err(e)) => {
                failed = Some(e);
                Value::Null
            }
        }
    });
    changed |= give_ids(value);
    failed.map_or(Ok(changed), Err)
}

/// Adds an `id` to every object entry of an array that has none.
fn give_ids(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => map.values_mut().fold(false, |c, v| give_ids(v) | c),
        Value::Array(items) => items.iter_mut().fold(false, |mut changed, item| {
            if let Value::Object(entry) = item
                && !entry.contains_key(ENTRY_ID)
            {
                let mut with_id = Map::new();
                with_id.insert(ENTRY_ID.to_owned(), Value::String(fresh_id()));
                with_id.append(entry);
                *entry = with_id;
                changed = true;
            }
            give_ids(item) | changed
        }),
        _ => false,
    }
}

/// Copies `value`, passing every credential string through `f`.
fn map_secrets(value: &Value, secret: bool, f: &mut impl FnMut(&str) -> Value) -> Value {
    match value {
        Value::String(s) if secret => f(s),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), map_secrets(v, secret || is_sensitive_name(k), f)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| match item {
                    // An entry's id is its identity, even under a secret key.
                    Value::Object(entry) => Value::Object(
                        entry
                            .iter()
                            .map(|(k, v)| {
                                let v = if k == ENTRY_ID {
                                    v.clone()
                                } else {
                                    map_secrets(v, secret || is_sensitive_name(k), f)
                                };
                                (k.clone(), v)
                            })
                            .collect(),
                    ),
                    other => map_secrets(other, secret, f),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn master() -> MasterKey {
        MasterKey::parse(&"ab".repeat(32)).expect("key")
    }

    fn saved(new: Value, stored: &Value, account: AccountId) -> Result<Value, String> {
        seal(&new, stored, &master(), account)
    }

    #[test]
    fn credentials_are_sealed_masked_and_opened() {
        let me = AccountId::generate();
        let stored = saved(
            json!({"translate": {"api_key": "k-1", "url": "u"}, "api_keys": ["a", "b"]}),
            &json!({}),
            me,
        )
        .expect("seals");
        let text = stored.to_string();
        assert!(!text.contains("k-1") && text.contains("\"u\""), "{text}");
        assert_eq!(
            mask(&stored),
            json!({"translate": {"api_key": "***", "url": "u"}, "api_keys": ["***", "***"]})
        );
        assert_eq!(
            open(&stored, &master(), me).expect("opens"),
            json!({"translate": {"api_key": "k-1", "url": "u"}, "api_keys": ["a", "b"]})
        );
        assert!(open(&stored, &master(), AccountId::generate()).is_err());
    }

    #[test]
    fn a_mask_follows_the_entry_id_not_the_position() {
        let me = AccountId::generate();
        let stored = saved(
            json!({"nlu": [{"name": "a", "token": "t-a"}, {"name": "b", "token": "t-b"}]}),
            &json!({}),
            me,
        )
        .expect("seals");
        let shown = mask(&stored);
        let id = |i: usize| shown["nlu"][i]["id"].as_str().expect("an id").to_owned();
        let (a, b) = (id(0), id(1));
        assert_ne!(a, b);

        // The client swaps the entries and sends both tokens back as `***`.
        let swapped = json!({"nlu": [shown["nlu"][1].clone(), shown["nlu"][0].clone()]});
        let again = saved(swapped, &stored, me).expect("seals");
        let opened = open(&again, &master(), me).expect("opens");
        assert_eq!(
            opened["nlu"][0],
            json!({"id": b, "name": "b", "token": "t-b"})
        );
        assert_eq!(
            opened["nlu"][1],
            json!({"id": a, "name": "a", "token": "t-a"})
        );

        // Without its id, an entry's `***` has nothing to keep.
        let err = saved(json!({"nlu": [{"name": "b", "token": "***"}]}), &stored, me)
            .expect_err("no address");
        assert!(err.contains("nlu[id="), "{err}");
        // Nor does a bare string in a list, or an unknown id.
        assert!(
            saved(
                json!({"api_keys": ["***"]}),
                &json!({"api_keys": ["x"]}),
                me
            )
            .is_err()
        );
        assert!(saved(json!({"nlu": [{"id": "zz", "token": "***"}]}), &stored, me).is_err());
        // Ids are unique within a list.
        let dup = json!({"nlu": [{"id": "x", "token": "1"}, {"id": "x", "token": "2"}]});
        assert!(
            saved(dup, &stored, me)
                .expect_err("duplicate")
                .contains("two entries")
        );
    }

    #[test]
    fn reseal_migrates_bare_first_format_values_and_gives_ids() {
        let me = AccountId::generate();
        let key = master();
        let mut stored =
            json!({"nlu": [{"token": key.seal_first_format("t")}], "plain": "v1:not-a-secret"});
        let migrate = Reseal {
            from: &key,
            to: &key,
        };
        assert!(reseal(&mut stored, &migrate, me).expect("reseals"));
        assert!(stored["nlu"][0]["id"].is_string(), "entries get ids");
        assert!(
            stored["nlu"][0]["token"]
                .as_str()
                .is_some_and(|t| t.starts_with("sealed:v2:"))
        );
        assert_eq!(stored["plain"], "v1:not-a-secret", "not under a secret key");
        assert_eq!(
            open(&stored, &key, me).expect("opens")["nlu"][0]["token"],
            "t"
        );
        assert!(!reseal(&mut stored, &migrate, me).expect("current"));
    }
}
