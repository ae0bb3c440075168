//! Who is calling: the operator (admin token) or an account (its `security_id`),
//! both as `Authorization: Bearer …`.
//!
//! Promise: an [`AccountCaller`] has presented a valid key *and* calls from an
//! address its IP whitelist allows; handlers taking one need no further checks.
//! The address is the TCP peer's, unless the peer is a trusted proxy
//! (`FLOWHOOK_TRUSTED_PROXIES`): then it is the nearest address in
//! `X-Forwarded-For` that is not a trusted proxy ([`client_address`]), so a
//! client cannot choose its address by sending the header itself.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use flowhook_core::account::SecurityId;
use flowhook_storage::AccountRecord;
use ipnet::IpNet;

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

/// The bearer token of the request, if it sent one (for calls that may name
/// their account otherwise too, such as the outbound API's `security-id`).
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    bearer(parts).ok()
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
    admit(state, parts, account)
}

/// `account`, if the request's caller may call for it: its IP whitelist is
/// empty or allows the caller's address. Also for calls that name their
/// account otherwise than by its API key (the short-link endpoint's
/// `custToken`, the outbound API's `security-id`).
pub fn admit(
    state: &AppState,
    parts: &Parts,
    account: AccountRecord,
) -> Result<AccountRecord, ApiError> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    admit_from(state, peer, &parts.headers, account)
}

/// [`admit`] for the TCP peer `peer`, forwarded as `headers` say.
pub fn admit_from(
    state: &AppState,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    account: AccountRecord,
) -> Result<AccountRecord, ApiError> {
    let peer = peer
        .map(|p| p.ip())
        .ok_or_else(|| ApiError::internal("the server was started without peer addresses"))?;
    if account.whitelist.entries().is_empty() {
        return Ok(account);
    }
    // Every header line counts: one that is not text makes the chain
    // unreadable (and refused), never skipped.
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| std::str::from_utf8(v.as_bytes()).unwrap_or("\u{0}"))
        .collect();
    let Some(peer) = client_address(peer, &forwarded, &state.config.trusted_proxies) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "IP_NOT_WHITELISTED",
            "the call came through a trusted proxy that did not say, readably, who made it",
        ));
    };
    if !account.whitelist.allows(peer) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "IP_NOT_WHITELISTED",
            format!("calls from {peer} are not in this account's IP whitelist"),
        ));
    }
    Ok(account)
}

/// The caller's address: `peer`, or, when `peer` is a trusted proxy, the
/// nearest address of `X-Forwarded-For` (read from its end, which the nearest
/// proxy wrote) that is not a trusted proxy. Each trusted proxy appends the
/// address it was called from, so whatever a client wrote itself sits to the
/// left of that and is never believed.
///
/// Fails closed: `None` when a trusted proxy gives no header, an entry that is
/// not an address is reached before an untrusted one, or every entry is a
/// trusted proxy — the caller is then unknown, and never the proxy itself.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let ip = parse_hop(hop)?;
        if !is_trusted(&ip) {
            return Some(ip);
        }
    }
    None
}

/// An address of `X-Forwarded-For`: bare, or `[v6]`, with an optional port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    hop.parse::<SocketAddr>().ok().map(|s| s.ip())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["127.0.0.1/32".parse().expect("net")];
        let none: Vec<IpNet> = Vec::new();
        // No trusted proxies: the peer, whatever the header says.
        assert_eq!(
            client_address(ip("127.0.0.1"), &["127.0.0.2"], &none),
            Some(ip("127.0.0.1"))
        );
        // An untrusted peer is the client even with proxies configured.
        assert_eq!(
            client_address(ip("127.0.0.5"), &["127.0.0.2"], &proxies),
            Some(ip("127.0.0.5"))
        );
        // A trusted proxy: the address it appended.
        assert_eq!(
            client_address(ip("127.0.0.1"), &["127.0.0.2"], &proxies),
            Some(ip("127.0.0.2"))
        );
        // What the client wrote itself sits left of that and is ignored.
        assert_eq!(
            client_address(ip("127.0.0.1"), &["127.0.0.9, 127.0.0.3"], &proxies),
            Some(ip("127.0.0.3"))
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &["127.0.0.9", "127.0.0.3"], &proxies),
            Some(ip("127.0.0.3")),
            "several headers read as one list"
        );
        // A chain of trusted proxies is walked through.
        assert_eq!(
            client_address(ip("127.0.0.1"), &["127.0.0.4, 127.0.0.1"], &proxies),
            Some(ip("127.0.0.4"))
        );
        // Garbage before an untrusted address fails closed (never the proxy
        // itself); ports and brackets are read.
        assert_eq!(
            client_address(ip("127.0.0.1"), &["nonsense"], &proxies),
            None
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &["127.0.0.2, \u{0}"], &proxies),
            None,
            "a header line that is not text (read as NUL) is not skipped"
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &["127.0.0.6:4711"], &proxies),
            Some(ip("127.0.0.6"))
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), &["[::1]:80"], &proxies),
            Some(ip("::1"))
        );
        // No header, or only trusted proxies in it: the caller is unknown.
        assert_eq!(client_address(ip("127.0.0.1"), &[], &proxies), None);
        assert_eq!(
            client_address(ip("127.0.0.1"), &["127.0.0.1"], &proxies),
            None
        );
    }
}
