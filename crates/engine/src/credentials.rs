//! The one place where a stored webhook's credentials become request headers:
//! its custom headers, opened, and its Basic auth. The flow-end delivery and
//! the check button both send with these, so a rule about stored credentials
//! (what is opened, what is left for the sender to set) has one home.

use flowhook_core::budget::MAX_RESPONSE_BYTES;
use flowhook_core::secret::{Binding, MasterKey, Purpose};
use flowhook_core::webhook_call::basic_auth;
use flowhook_storage::{StoredAuth, WebhookRecord};

use crate::egress::OutboundRequest;

/// How long a call to a registered webhook may take, unless its sender says.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A JSON `body` to `hook`'s stored URL, with its method and credentials.
pub fn json_request(
    hook: &WebhookRecord,
    key: &MasterKey,
    body: Vec<u8>,
) -> Result<OutboundRequest, String> {
    let mut headers = stored_headers(hook, key)?;
    headers.push(("Content-Type".into(), "application/json".into()));
    Ok(OutboundRequest {
        method: hook.method,
        url: hook.url.as_url().clone(),
        headers,
        body: Some(body),
        timeout: CALL_TIMEOUT,
        max_response_bytes: MAX_RESPONSE_BYTES,
    })
}

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
