//! Signing in and out. An account signs in with its security id, the
//! operator with the admin token — the same credentials, checked the same
//! way, as the API's `Authorization: Bearer` (an account's through its IP
//! whitelist too). A sign-in starts a new session; signing out ends it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use flowhook_core::account::SecurityId;
use flowhook_core::secret::sha256_hex;
use serde::Deserialize;

use super::csrf::CsrfForm;
use super::session::{self, NewSession, Session, Visitor, Who};
use super::{Page, UiError, render};
use crate::state::AppState;

fn page<'a>(session: &'a Session) -> Page<'a> {
    Page {
        title: "Sign in",
        section: "sign-in",
        me: None,
        session,
    }
}

/// `GET /ui/sign-in`: the form, or home for a session that is still good. A
/// session whose key is gone (rotated, account deleted, admin token changed)
/// gets the form, not a redirect back and forth.
pub async fn form(
    State(state): State<AppState>,
    Visitor(session): Visitor,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, UiError> {
    if session.who != Who::Anonymous
        && session::resolve(&state, &session, Some(peer), &headers)
            .await
            .is_ok()
    {
        return Ok(Redirect::to("/ui/").into_response());
    }
    Ok(render(
        &state,
        &page(&session),
        "sign_in.html",
        minijinja::context! {},
    )?
    .into_response())
}

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
}

/// `POST /ui/sign-in`: the admin token or a security id.
pub async fn submit(
    State(state): State<AppState>,
    Visitor(session): Visitor,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<SignInForm>,
) -> Result<Response, UiError> {
    let token = form.token.trim();
    let refused = |message: &str| -> Result<Response, UiError> {
        let html = render(
            &state,
            &page(&session),
            "sign_in.html",
            minijinja::context! { error => message },
        )?;
        Ok((axum::http::StatusCode::UNAUTHORIZED, html).into_response())
    };
    let who = if state.is_admin_token(token) {
        Who::Operator {
            h: sha256_hex(token.as_bytes()),
        }
    } else {
        let Some(key) = SecurityId::parse(token) else {
            return refused("That is neither a security id nor the admin token.");
        };
        let who = Who::Account {
            h: key.lookup_hash(),
        };
        let fresh = Session::new(who.clone());
        match session::resolve(&state, &fresh, Some(peer), &headers).await {
            Ok(_) => {}
            Err(UiError::SignIn) => {
                return refused("That is neither a security id nor the admin token.");
            }
            Err(UiError::Api(e)) if e.code == "IP_NOT_WHITELISTED" => {
                return refused(&format!(
                    "This account does not allow sign-in from here: {}.",
                    e.detail
                ));
            }
            Err(other) => return Err(other),
        }
        who
    };
    tracing::info!(
        operator = matches!(who, Who::Operator { .. }),
        "signed in to the admin UI"
    );
    Ok(NewSession(Session::new(who)).on(Redirect::to("/ui/")))
}

/// `POST /ui/sign-out`: the session is replaced by an anonymous one.
pub async fn sign_out(
    State(state): State<AppState>,
    Visitor(session): Visitor,
    CsrfForm(_): CsrfForm<std::collections::HashMap<String, String>>,
) -> Result<Response, UiError> {
    // Ended on the server too, so a copy of the cookie no longer signs in.
    let now = chrono::Utc::now().timestamp();
    state
        .store
        .revoke_session(&session.nonce, session.exp, now)
        .await
        .map_err(UiError::internal)?;
    Ok(NewSession(Session::new(Who::Anonymous)).on(Redirect::to("/ui/sign-in")))
}
