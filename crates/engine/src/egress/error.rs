//! What can go wrong sending a request, told apart so that the check button, the
//! webhook widget's `error_reason` and the delivery log can each say what happened.

use std::net::IpAddr;
use std::time::Duration;

/// A failed exchange. Messages are written for the operator reading them.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EgressError {
    /// The message names the kind of network, not the address: tenants must not
    /// learn internal addresses by probing. The operator's log has it.
    #[error(
        "destination blocked: {host} is on a {kind} network, which this server does not call; the operator can allow networks with FLOWHOOK_EGRESS_ALLOW_CIDRS"
    )]
    Blocked {
        host: String,
        addr: IpAddr,
        kind: &'static str,
    },
    #[error("could not resolve host {host}: {message}")]
    Dns { host: String, message: String },
    #[error("connection refused by {0}")]
    Refused(String),
    #[error("TLS failure talking to {host}: {message}")]
    Tls { host: String, message: String },
    #[error("no complete response within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("connection to {host} failed: {message}")]
    Connect { host: String, message: String },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("{0}")]
    Other(String),
}

impl EgressError {
    /// A stable short code for APIs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            EgressError::Blocked { .. } => "DESTINATION_BLOCKED",
            EgressError::Dns { .. } => "DNS_FAILURE",
            EgressError::Refused(_) => "CONNECTION_REFUSED",
            EgressError::Tls { .. } => "TLS_FAILURE",
            EgressError::Timeout(_) => "TIMEOUT",
            EgressError::Connect { .. } => "CONNECTION_FAILED",
            EgressError::InvalidRequest(_) => "INVALID_REQUEST",
            EgressError::Other(_) => "CONNECTION_FAILED",
        }
    }

    /// Finds the real cause inside a reqwest error: our resolver's verdict, an I/O
    /// error kind, or a TLS failure, by walking the source chain.
    pub(super) fn classify(
        err: &reqwest::Error,
        host: &str,
        connect_timeout: Duration,
    ) -> EgressError {
        if err.is_timeout() {
            return EgressError::Timeout(connect_timeout);
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        let mut innermost = err.to_string();
        while let Some(e) = source {
            if let Some(ours) = e.downcast_ref::<EgressError>() {
                return ours.clone();
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => {
                        return EgressError::Refused(host.to_owned());
                    }
                    std::io::ErrorKind::TimedOut => return EgressError::Timeout(connect_timeout),
                    _ => {}
                }
            }
            let text = e.to_string();
            let lower = text.to_ascii_lowercase();
            if lower.contains("certificate")
                || lower.contains("tls")
                || lower.contains("handshake")
                || lower.contains("corrupt message")
            {
                return EgressError::Tls {
                    host: host.to_owned(),
                    message: text,
                };
            }
            innermost = text;
            source = e.source();
        }
        EgressError::Connect {
            host: host.to_owned(),
            message: innermost,
        }
    }
}
