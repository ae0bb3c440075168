//! The egress client: the only way flowhook sends HTTP.
//!
//! Every request from the webhook widget, the check button, the flow-end delivery
//! and the internal functions goes through [`Egress::send`], which promises:
//! - the destination is checked against the [`EgressPolicy`] after DNS resolution
//!   (and before connecting, for literal addresses), so no request reaches loopback,
//!   private or metadata addresses unless the operator allowed them;
//! - redirects are never followed: a 3xx is returned as it is;
//! - every request has a deadline, and a response body is read up to a cap and
//!   then cut off (the response says it was truncated);
//! - environment proxies are ignored, since a proxy would bypass the address check;
//! - failures come back as an [`EgressError`] that tells blocked, DNS, refused,
//!   TLS, timeout and other connection failures apart.

mod error;
mod policy;
mod resolver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use flowhook_core::http::HttpMethod;

pub use error::EgressError;
pub use policy::EgressPolicy;

/// Limits applied to every request.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    pub policy: EgressPolicy,
    pub connect_timeout: Duration,
    pub user_agent: String,
}

impl Default for EgressConfig {
    fn default() -> Self {
        EgressConfig {
            policy: EgressPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("flowhook/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: HttpMethod,
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The whole exchange, connect to last body byte, must finish within this.
    pub timeout: Duration,
    /// Bytes of response body kept; the rest is not read.
    pub max_response_bytes: usize,
}

impl OutboundRequest {
    pub fn new(method: HttpMethod, url: url::Url) -> OutboundRequest {
        OutboundRequest {
            method,
            url,
            headers: Vec::new(),
            body: None,
            timeout: Duration::from_secs(30),
            max_response_bytes: 1024 * 1024,
        }
    }
}

/// A response, with its body read up to the request's cap.
#[derive(Debug, Clone)]
pub struct InboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// True if the body was longer than the cap and was cut off.
    pub truncated: bool,
    pub duration: Duration,
}

impl InboundResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The guarded HTTP client. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Egress {
    client: reqwest::Client,
    policy: Arc<EgressPolicy>,
    connect_timeout: Duration,
}

impl Egress {
    pub fn new(config: EgressConfig) -> Result<Egress, EgressError> {
        let policy = Arc::new(config.policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver::GuardedResolver::new(policy.clone())))
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(config.user_agent)
            .build()
            .map_err(|e| EgressError::Other(format!("cannot build the HTTP client: {e}")))?;
        Ok(Egress {
            client,
            policy,
            connect_timeout: config.connect_timeout,
        })
    }

    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// Sends one request under the guards described in the module docs.
    pub async fn send(&self, req: OutboundRequest) -> Result<InboundResponse, EgressError> {
        self.check_literal_host(&req.url)?;
        let started = Instant::now();
        let deadline = req.timeout;
        let result = match tokio::time::timeout(deadline, self.exchange(req, started)).await {
            Ok(result) => result,
            Err(_) => Err(EgressError::Timeout(deadline)),
        };
        if let Err(EgressError::Blocked { host, addr, kind }) = &result {
            tracing::warn!(%host, %addr, kind, "outgoing request blocked by the egress policy");
        }
        result
    }

    /// reqwest does not consult the resolver for IP literals, so those are checked
    /// here, before any socket is opened.
    fn check_literal_host(&self, url: &url::Url) -> Result<(), EgressError> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => std::net::IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => std::net::IpAddr::V6(v6),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return Err(EgressError::InvalidRequest("the URL has no host".into())),
        };
        self.policy.check(ip).map_err(|kind| EgressError::Blocked {
            host: ip.to_string(),
            addr: ip,
            kind,
        })
    }

    async fn exchange(
        &self,
        req: OutboundRequest,
        started: Instant,
    ) -> Result<InboundResponse, EgressError> {
        let method = reqwest::Method::from_bytes(req.method.as_str().as_bytes())
            .map_err(|e| EgressError::InvalidRequest(e.to_string()))?;
        let host = req.url.host_str().unwrap_or_default().to_owned();
        let mut builder = self.client.request(method, req.url);
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| EgressError::classify(&e, &host, self.connect_timeout))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| EgressError::classify(&e, &host, self.connect_timeout))?
        {
            let room = req.max_response_bytes - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(InboundResponse {
            status,
            headers,
            body,
            truncated,
            duration: started.elapsed(),
        })
    }
}
