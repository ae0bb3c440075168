//! Who is calling: the operator (admin token) or an account (its `security_id`),
//! both as `Authorization: Bearer …`.
//!
//! Promise: an [`AccountCaller`] has presented a valid key *and* calls from an
//! address its IP whitelist allows; handlers taking one need no further checks.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use flowhook_core::account::SecurityId;
use flowhook_storage::AccountRecord;

use super::problem::ApiError;
use crate::state::AppState;

/// The operator, authenticated by the admin token.
pub struct Admin;

/// An account, authenticated by its API key, from a whitelisted address.
pub struct AccountCaller(pub AccountRecord);

/// Either of the two, for calls both may make.
pub enum Caller {
    Admin,
    Account(Box<AccountRecord>),
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("send Authorization: Bearer <security_id or admin token>"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", detail)
}

async fn account_for(
    parts: &Parts,
    state: &AppState,
    token: &str,
) -> Result<AccountRecord, ApiError> {
    let key = SecurityId::parse(token).ok_or_else(|| unauthorized("unknown API key"))?;
    let account = state
        .store
        .account_by_security_hash(&key.lookup_hash())
        .await?
        .ok_or_else(|| unauthorized("unknown API key"))?;
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .ok_or_else(|| ApiError::internal("the server was started without peer addresses"))?;
    if !account.whitelist.allows(peer) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "IP_NOT_WHITELISTED",
            format!("calls from {peer} are not in this account's IP whitelist"),
        ));
    }
    Ok(account)
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.is_admin_token(bearer(parts)?) {
            Ok(Admin)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "ADMIN_ONLY",
                "this call needs the admin token",
            ))
        }
    }
}

impl FromRequestParts<AppState> for AccountCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        account_for(parts, state, token).await.map(AccountCaller)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        if state.is_admin_token(token) {
            return Ok(Caller::Admin);
        }
        account_for(parts, state, token)
            .await
            .map(|a| Caller::Account(Box::new(a)))
    }
}
