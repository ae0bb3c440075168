//! The one place where a stored webhook's credentials become request headers:
//! its custom headers, opened, and its Basic auth. The flow-end delivery, the
//! check button and the widgets that name a registered webhook all send with
//! these, so a rule about stored credentials (what is opened, what is left for
//! the sender to set) has one home.

use flowhook_core::secret::{Binding, MasterKey, Purpose};
use flowhook_core::webhook_call::basic_auth;
use flowhook_storage::{StoredAuth, WebhookRecord};

/// The headers a request to `hook`'s stored URL carries: its own headers
/// (opened; `Content-Type` is left to the sender, who knows the body) and
/// `Authorization` for Basic auth. Only ever send them to `hook.url`.
pub fn stored_headers(
    hook: &WebhookRecord,
    key: &MasterKey,
) -> Result<Vec<(String, String)>, String> {
    let mut headers: Vec<(String, String)> = hook
        .headers
        .iter()
        .filter(|h| !h.key.eq_ignore_ascii_case("content-type"))
        .map(|h| h.opened(key, hook.account_id).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    if let StoredAuth::Basic { username, password } = &hook.auth {
        let password = key
            .open(
                Binding::new(hook.account_id, Purpose::WebhookPassword),
                &password.0,
            )
            .map_err(|e| e.to_string())?;
        headers.push((
            "Authorization".into(),
            basic_auth(username, password.expose()),
        ));
    }
    Ok(headers)
}
