//! Who is using the admin UI: a session kept in one signed cookie.
//!
//! The cookie holds `base64url(payload) "." base64url(HMAC-SHA256(payload))`;
//! the payload says who signed in (an account, by its key's lookup hash, or
//! the operator, by the admin token's hash), a random nonce (the root of the
//! CSRF token, see [`super::csrf`]) and the expiry, all inside the signature.
//! The key is derived from the master key, so every server sharing it accepts
//! the cookie and a key rotation ends every session.
//!
//! Promises: a forged, altered or expired cookie is an anonymous visitor; a
//! session whose account key or admin token no longer exists is ended, and so
//! is one that signed out (its nonce is kept, revoked, until it would have
//! expired: a copy of the cookie is then worth nothing); an
//! account session is admitted through the account's IP whitelist on every
//! request ([`crate::api::auth::admit_from`]), exactly as the API's callers are.
//! The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/ui`, and `Secure`
//! when the server's public URL is `https`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use flowhook_core::secret::{random_bytes, sha256_hex};
use flowhook_storage::AccountRecord;
use ring::hmac;
use serde::{Deserialize, Serialize};

use super::UiError;
use crate::state::AppState;

/// The cookie's name.
pub const COOKIE: &str = "flowhook_ui";
/// How long a sign-in lasts.
pub const SIGNED_IN_FOR: i64 = 8 * 3600;
/// How long an anonymous visitor's session (its sign-in form) lasts.
const ANONYMOUS_FOR: i64 = 3600;

/// Who a session belongs to.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(tag = "k", rename_all = "lowercase")]
pub enum Who {
    /// Not signed in.
    Anonymous,
    /// An account, by the lookup hash of the security id it signed in with.
    Account { h: String },
    /// The operator, by the hash of the admin token it signed in with.
    Operator { h: String },
}

/// A verified session.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Session {
    pub who: Who,
    /// Random, per session: the CSRF token is derived from it.
    pub nonce: String,
    /// Unix seconds after which the cookie is void.
    pub exp: i64,
}

/// The signing key of sessions and CSRF tokens.
#[derive(Clone)]
pub struct Keys(hmac::Key);

impl Keys {
    pub fn from_state(state: &AppState) -> Keys {
        Keys(hmac::Key::new(
            hmac::HMAC_SHA256,
            &state.master_key.derive("admin ui sessions"),
        ))
    }

    #[cfg(test)]
    pub(super) fn for_tests(byte: u8) -> Keys {
        Keys(hmac::Key::new(hmac::HMAC_SHA256, &[byte; 32]))
    }

    pub(super) fn sign(&self, data: &[u8]) -> hmac::Tag {
        hmac::sign(&self.0, data)
    }

    /// Constant-time check of `tag` over `data`.
    pub(super) fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.0, data, tag).is_ok()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Session {
    pub fn new(who: Who) -> Session {
        let exp = now()
            + match who {
                Who::Anonymous => ANONYMOUS_FOR,
                _ => SIGNED_IN_FOR,
            };
        Session {
            who,
            nonce: B64.encode(random_bytes::<16>()),
            exp,
        }
    }

    /// The cookie value: the payload and its signature.
    pub fn encode(&self, keys: &Keys) -> String {
        let payload = B64.encode(serde_json::to_vec(self).expect("a session serializes"));
        let tag = keys.sign(payload.as_bytes());
        format!("{payload}.{}", B64.encode(tag.as_ref()))
    }

    /// The session in `value`, if its signature holds and it has not expired.
    pub fn decode(keys: &Keys, value: &str) -> Option<Session> {
        let (payload, tag) = value.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        if !keys.verify(payload.as_bytes(), &tag) {
            return None;
        }
        let session: Session = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        (session.exp > now()).then_some(session)
    }

    /// The `Set-Cookie` header carrying this session.
    pub fn cookie(&self, keys: &Keys, secure: bool) -> HeaderValue {
        let max_age = (self.exp - now()).max(0);
        let value = format!(
            "{COOKIE}={}; Path=/ui; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
            self.encode(keys),
            if secure { "; Secure" } else { "" }
        );
        HeaderValue::from_str(&value).expect("a cookie of base64 is a header value")
    }
}

/// The session cookie of a request, if any.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// Is the server reached over HTTPS (by its public URL)?
pub fn secure(state: &AppState) -> bool {
    state.config.public_url.scheme() == "https"
}

/// Middleware of every UI route: reads the session (a fresh anonymous one
/// when there is none, or it is forged or expired) into the request's
/// extensions, and sets the cookie when it is new or replaced by a handler
/// (a handler replaces it by putting a [`NewSession`] in the response).
pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let keys = Keys::from_state(&state);
    let found = cookie_value(request.headers()).and_then(|v| Session::decode(&keys, v));
    let is_new = found.is_none();
    let session = found.unwrap_or_else(|| Session::new(Who::Anonymous));
    request.extensions_mut().insert(session.clone());
    let mut response = next.run(request).await;
    let replaced = response.extensions_mut().remove::<NewSession>();
    let set = match replaced {
        Some(NewSession(s)) => Some(s),
        None if is_new => Some(session),
        None => None,
    };
    if let Some(s) = set {
        response
            .headers_mut()
            .append(header::SET_COOKIE, s.cookie(&keys, secure(&state)));
    }
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    response
}

/// A session a handler starts (sign-in, sign-out): put it in the response's
/// extensions and [`layer`] sets the cookie.
#[derive(Clone)]
pub struct NewSession(pub Session);

impl NewSession {
    /// `response` with this session's cookie to be set.
    pub fn on(self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Anyone, signed in or not.
pub struct Visitor(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, UiError> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .map(Visitor)
            .ok_or_else(|| UiError::internal("the session layer did not run"))
    }
}

/// Who is signed in, resolved against the store.
pub enum Me {
    Account(Box<AccountRecord>),
    Operator,
}

/// A signed-in user and their session; anonymous visitors are sent to sign in.
pub struct SignedIn {
    pub me: Me,
    pub session: Session,
}

impl SignedIn {
    /// The account, for account pages; the operator gets a page saying so.
    pub fn account(&self) -> Result<&AccountRecord, UiError> {
        match &self.me {
            Me::Account(a) => Ok(a),
            Me::Operator => Err(UiError::forbidden(
                "This page belongs to an account. The operator manages accounts on the Accounts page.",
            )),
        }
    }

    pub fn operator(&self) -> Result<(), UiError> {
        match self.me {
            Me::Operator => Ok(()),
            Me::Account(_) => Err(UiError::forbidden(
                "This page is the operator's: sign in with the admin token.",
            )),
        }
    }
}

/// The signed-in user of `session`, or why there is none.
pub async fn resolve(
    state: &AppState,
    session: &Session,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Result<Me, UiError> {
    if session.who != Who::Anonymous
        && state
            .store
            .is_session_revoked(&session.nonce)
            .await
            .map_err(UiError::internal)?
    {
        return Err(UiError::SignIn);
    }
    match &session.who {
        Who::Anonymous => Err(UiError::SignIn),
        Who::Operator { h } => {
            let current = sha256_hex(state.config.admin_token.expose().as_bytes());
            // Both are digests: comparing them leaks nothing of the token
            // (as `AppState::is_admin_token`).
            if *h == current {
                Ok(Me::Operator)
            } else {
                Err(UiError::SignIn)
            }
        }
        Who::Account { h } => {
            let account = state
                .store
                .account_by_security_hash(h)
                .await
                .map_err(UiError::internal)?
                .ok_or(UiError::SignIn)?;
            let account = crate::api::auth::admit_from(state, peer, headers, account)?;
            Ok(Me::Account(Box::new(account)))
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, UiError> {
        let Visitor(session) = Visitor::from_request_parts(parts, state).await?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let me = resolve(state, &session, peer, &parts.headers).await?;
        Ok(SignedIn { me, session })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> Keys {
        Keys::for_tests(byte)
    }

    #[test]
    fn a_cookie_holds_only_while_signed_and_unexpired() {
        let k = keys(1);
        let s = Session::new(Who::Account { h: "abc".into() });
        let value = s.encode(&k);
        let back = Session::decode(&k, &value).expect("valid");
        assert_eq!(back.who, s.who);
        assert!(Session::decode(&keys(2), &value).is_none(), "another key");
        let (payload, tag) = value.split_once('.').expect("two parts");
        let forged = Session {
            who: Who::Operator { h: "x".into() },
            ..s.clone()
        }
        .encode(&keys(3));
        let forged_payload = forged.split_once('.').expect("two parts").0;
        assert!(Session::decode(&k, &format!("{forged_payload}.{tag}")).is_none());
        assert!(Session::decode(&k, payload).is_none(), "no signature");
        let expired = Session {
            exp: now() - 1,
            ..s
        };
        assert!(Session::decode(&k, &expired.encode(&k)).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_and_same_site() {
        let c = Session::new(Who::Anonymous).cookie(&keys(1), true);
        let c = c.to_str().expect("text");
        assert!(c.starts_with("flowhook_ui="));
        for part in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/ui",
            "Secure",
            "Max-Age=",
        ] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
    }
}
