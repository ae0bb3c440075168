//! Forms are CSRF-protected: every form carries a hidden `csrf` field whose
//! value is an HMAC of the session's nonce ([`token`]), and [`CsrfForm`]
//! refuses a post without the right one (checked in constant time) before a
//! handler sees it. The session cookie is also `SameSite=Strict`, and a post
//! whose `Origin` names neither the host it was sent to nor the server's
//! public URL is refused outright.
//!
//! The sign-in form is protected the same way by the anonymous session the
//! visitor got with the form; signing in starts a new session (new nonce), so
//! a token seen before sign-in is worthless after it.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::de::DeserializeOwned;

use super::UiError;
use super::session::{Keys, Session};
use crate::state::AppState;

/// The name of the hidden field.
pub const FIELD: &str = "csrf";

fn message(session: &Session) -> Vec<u8> {
    format!("csrf\0{}", session.nonce).into_bytes()
}

/// The CSRF token of `session`, for its forms.
pub fn token(keys: &Keys, session: &Session) -> String {
    B64.encode(keys.sign(&message(session)).as_ref())
}

/// Is `sent` the token of `session`? Constant time.
pub fn valid(keys: &Keys, session: &Session, sent: &str) -> bool {
    B64.decode(sent)
        .is_ok_and(|tag| keys.verify(&message(session), &tag))
}

/// A form post whose CSRF token matched its session; `T` is read from the
/// same `application/x-www-form-urlencoded` body (the `csrf` field is ignored
/// by it).
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = UiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, UiError> {
        let session = req
            .extensions()
            .get::<Session>()
            .cloned()
            .ok_or_else(|| UiError::internal("the session layer did not run"))?;
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let same = origin
                .to_str()
                .ok()
                .and_then(|o| url::Url::parse(o).ok())
                .and_then(|u| {
                    u.host_str().map(|h| match u.port() {
                        Some(p) => format!("{h}:{p}"),
                        None => h.to_owned(),
                    })
                })
                .is_some_and(|o| {
                    // The host the browser reached, or the server's public
                    // URL (behind a proxy that rewrites `Host`).
                    let public = state.config.public_url.host_str().map(|h| {
                        match state.config.public_url.port() {
                            Some(p) => format!("{h}:{p}"),
                            None => h.to_owned(),
                        }
                    });
                    o.eq_ignore_ascii_case(host)
                        || public.is_some_and(|p| o.eq_ignore_ascii_case(&p))
                });
            if !same {
                return Err(UiError::Csrf);
            }
        }
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(UiError::Status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send the form as application/x-www-form-urlencoded.".into(),
            ));
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| UiError::Status(e.status(), "The form could not be read.".to_owned()))?;
        let sent = url::form_urlencoded::parse(&body)
            .find(|(k, _)| k == FIELD)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !valid(&Keys::from_state(state), &session, &sent) {
            return Err(UiError::Csrf);
        }
        serde_urlencoded::from_bytes(&body)
            .map(CsrfForm)
            .map_err(|e| {
                UiError::Status(
                    StatusCode::BAD_REQUEST,
                    format!("The form is not complete: {e}."),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::session::Who;

    #[test]
    fn a_token_belongs_to_its_session() {
        let keys = Keys::for_tests(7);
        let a = Session::new(Who::Anonymous);
        let b = Session::new(Who::Anonymous);
        let t = token(&keys, &a);
        assert!(valid(&keys, &a, &t));
        assert!(!valid(&keys, &b, &t), "another session's token");
        assert!(!valid(&keys, &a, ""));
        assert!(!valid(&keys, &a, "not base64!"));
        assert!(!valid(&Keys::for_tests(8), &a, &t), "another key");
    }
}
