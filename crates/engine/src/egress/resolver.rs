//! DNS resolution that enforces the egress policy on every resolved address.
//!
//! Addresses the policy refuses are dropped; if none is left, resolution fails
//! with [`Blocked`](super::EgressError::Blocked), so the connector never opens a
//! socket to them. Checking here, not before the request, closes the gap where a
//! name resolves to a public address when checked and a private one when used.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{EgressError, EgressPolicy};

pub(super) struct GuardedResolver {
    policy: Arc<EgressPolicy>,
}

impl GuardedResolver {
    pub(super) fn new(policy: Arc<EgressPolicy>) -> GuardedResolver {
        GuardedResolver { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| EgressError::Dns {
                    host: host.clone(),
                    message: e.to_string(),
                })?
                .collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| match policy.check(a.ip()) {
                    Ok(()) => true,
                    Err(kind) => {
                        refused.get_or_insert((a.ip(), kind));
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refused) {
                (false, _) => Ok(Box::new(allowed.into_iter()) as Addrs),
                (true, Some((addr, kind))) => Err(EgressError::Blocked { host, addr, kind }.into()),
                (true, None) => Err(EgressError::Dns {
                    host,
                    message: "no addresses found".into(),
                }
                .into()),
            }
        })
    }
}
