//! `updateUserPreferences` and `fetchUserPreferences`: a contact's `$user.key`
//! values, in the same store the runner reads them from and the contacts API
//! (`/v1/contacts/{number}/preferences`) reads and writes (one source of truth).

use flowhook_core::contact::ContactNumber;
use flowhook_core::internal::{Key, Keys};
use flowhook_core::vars::{Namespace, VarName};

use super::Context;

/// The contact the keys belong to: `$user.syskey.contactNumber`.
/// The contact is the identity `$user.syskey.contactNumber` (a flow's own
/// `$flow.key.contactNumber` must not point the store at another contact); a
/// bare `contactNumber` serves callers of `POST /internal` that send no groups.
fn contact(keys: &Keys<'_>) -> Result<ContactNumber, String> {
    let number = keys
        .exact("$user.syskey.contactNumber")
        .or_else(|| keys.exact("contactNumber"))
        .ok_or_else(|| {
            "contactNumber: missing; send it as $user.syskey.contactNumber".to_owned()
        })?;
    ContactNumber::parse(number.trim()).map_err(|e| format!("contactNumber: {e}"))
}

/// Stores every `$user.key.*` sent for the contact; answers nothing.
pub(crate) async fn update(cx: &Context<'_>, keys: &Keys<'_>) -> Result<Vec<Key>, String> {
    let contact = contact(keys)?;
    let values: Vec<_> = keys
        .variables()
        .filter(|(var, _)| var.namespace() == Namespace::UserKey)
        .collect();
    if values.is_empty() {
        return Err("keys: no $user.key.* value to store".into());
    }
    for (var, value) in values {
        cx.store
            .set_user_key(cx.account.id, contact.as_str(), var.name(), value)
            .await
            .map_err(|e| format!("the preference store failed: {e}"))?;
    }
    Ok(Vec::new())
}

/// Answers every `$user.key.*` of the contact.
pub(crate) async fn fetch(cx: &Context<'_>, keys: &Keys<'_>) -> Result<Vec<Key>, String> {
    let contact = contact(keys)?;
    let stored = cx
        .store
        .user_keys(cx.account.id, contact.as_str())
        .await
        .map_err(|e| format!("the preference store failed: {e}"))?;
    Ok(stored
        .into_iter()
        .filter_map(|(name, value)| {
            let var = VarName::new(Namespace::UserKey, name).ok()?;
            Some(Key::new(var.to_string(), value))
        })
        .collect())
}
