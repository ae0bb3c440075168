//! The webhook registry's values (the "Advanced → Webhook" page): destination URL,
//! name, authentication and fixed headers, each parsed once at the boundary.
//!
//! A `WebhookUrl` is absolute `http`/`https` with a host and no embedded
//! credentials (those belong in `auth`, where they are encrypted). Whether `http`
//! is allowed is an account policy, checked by [`WebhookUrl::check_scheme`].

use serde::{Deserialize, Serialize};

use crate::ids::AccountId;
use crate::secret::{
    Binding, MasterKey, Purpose, Reseal, SEALED_PREFIX, SecretError, SecretString,
};

/// An absolute `http(s)` URL of a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

/// Why a URL is refused. The `code` is the stable API error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{0}` is not a valid absolute URL")]
    Malformed(String),
    #[error("only http and https URLs are allowed")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("put credentials in `auth`, not in the URL")]
    Credentials,
    #[error("the URL is longer than {} characters", WebhookUrl::MAX_LEN)]
    TooLong,
    #[error(
        "this account only allows https:// destinations; ask the operator to enable allow_http"
    )]
    HttpNotAllowed,
}

impl UrlError {
    pub fn code(&self) -> &'static str {
        match self {
            UrlError::HttpNotAllowed => "HTTP_NOT_ALLOWED",
            _ => "INVALID_URL",
        }
    }
}

impl WebhookUrl {
    pub const MAX_LEN: usize = 2048;

    /// Surrounding whitespace is dropped. At most [`Self::MAX_LEN`] bytes as
    /// sent (whitespace included; the API schema's `maxLength` counts
    /// characters, so it never allows more) and as normalized, since the
    /// normalized form is what is stored and read back. Control characters,
    /// which the URL parser would silently drop, are refused.
    pub fn parse(s: &str) -> Result<WebhookUrl, UrlError> {
        if s.len() > Self::MAX_LEN {
            return Err(UrlError::TooLong);
        }
        let s = s.trim();
        if s.chars().any(char::is_control) {
            return Err(UrlError::Malformed(format!(
                "{}: contains a control character",
                s.escape_debug()
            )));
        }
        let url = url::Url::parse(s).map_err(|e| UrlError::Malformed(format!("{s}: {e}")))?;
        if url.as_str().len() > Self::MAX_LEN {
            return Err(UrlError::TooLong);
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::Scheme);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(UrlError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        Ok(WebhookUrl(url))
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// Enforces an account's `allow_http` policy.
    pub fn check_scheme(&self, allow_http: bool) -> Result<(), UrlError> {
        if self.is_https() || allow_http {
            Ok(())
        } else {
            Err(UrlError::HttpNotAllowed)
        }
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    /// Where requests to this URL go; see [`Destination`].
    pub fn destination(&self) -> Destination {
        Destination::of_url(&self.0)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where credentials go: the scheme, host and port of a URL (its origin).
///
/// The rule "credentials stay with their destination" lives here: a stored
/// credential (a webhook's password or credential header, a `***` kept in a
/// flow widget) is only ever kept while the destination stays the same. A
/// change of destination needs the credentials sent again, so whoever may edit
/// a URL cannot redirect a credential they were never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination(String);

impl Destination {
    /// The origin of a parsed URL, with the scheme's default port made explicit.
    pub fn of_url(url: &url::Url) -> Destination {
        Destination(format!(
            "{}://{}:{}",
            url.scheme(),
            url.host_str().unwrap_or_default().to_ascii_lowercase(),
            url.port_or_known_default().unwrap_or_default()
        ))
    }

    /// The destination of a URL template (a flow widget's `url`): its origin
    /// when the part before the path is literal, else that part's text itself
    /// (`https://$flow.key.host`), lower-cased, so that any edit of it counts as
    /// a change.
    /// A registered webhook named by a widget: a destination of its own, so a
    /// widget moving to another webhook (or to a URL) keeps no credential.
    pub fn registered(webhook: &str) -> Destination {
        Destination(format!("webhook {}", webhook.trim()))
    }

    pub fn of_template(template: &str) -> Destination {
        let text = template.trim();
        let authority_end = text
            .find("://")
            .map(|i| i + 3)
            .and_then(|start| text[start..].find(['/', '?', '#']).map(|end| start + end))
            .unwrap_or(text.len());
        let head = &text[..authority_end];
        if !head.contains('$')
            && let Ok(url) = url::Url::parse(head)
            && url.host_str().is_some()
        {
            return Destination::of_url(&url);
        }
        Destination(head.to_ascii_lowercase())
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A webhook's name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WebhookName(String);

impl WebhookName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(s: &str) -> Result<WebhookName, String> {
        // Same rule as account names; kept as its own type so the two cannot mix.
        crate::account::AccountName::parse(s).map(|n| WebhookName(n.as_str().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a webhook authenticates. The password is only readable through `expose`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookAuth {
    None,
    Basic {
        username: String,
        password: SecretString,
    },
}

/// A fixed header sent with every request to a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderPair {
    pub key: String,
    pub value: String,
}

/// Header names flowhook sets itself; a configured header may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

impl HeaderPair {
    /// Checks the name with [`check_header_name`] and the value with
    /// [`check_header_value`].
    pub fn validate(&self) -> Result<(), String> {
        check_header_name(&self.key)?;
        check_header_value(&self.key, &self.value)
    }
}

/// Whether a header or query parameter name says its value is a credential
/// (`Authorization`, `X-Api-Key`, `token`, `securityID`, …). Such values are sealed at rest and
/// shown as `***`. Errs on the side of hiding.
pub fn is_sensitive_name(name: &str) -> bool {
    // `security`: an account's security id is its API key (`securityID`
    // of `createOutbound`).
    [
        "auth", "cookie", "token", "secret", "passw", "key", "sig", "security",
    ]
    .iter()
    .any(|s| {
        name.as_bytes()
            .windows(s.len())
            .any(|w| w.eq_ignore_ascii_case(s.as_bytes()))
    })
}

/// `value` for showing to people: every credential in it as `***`. A
/// credential is a text, number or boolean under an object key that, read as a variable name
/// (`$flow.key.apiKey`) or as is, says so, or a `{"name", "value"}` pair
/// whose name does (the flow-end document's keys); at any depth.
pub fn redact_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let sensitive = |name: &str| {
        let var = name
            .starts_with('$')
            .then(|| crate::vars::VarName::parse(name).ok())
            .flatten();
        is_sensitive_name(var.as_ref().map_or(name, |v| v.name()))
    };
    match value {
        Value::Object(map) => {
            let pair_name = map.get("name").and_then(Value::as_str);
            Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let hidden =
                            sensitive(k) || (k == "value" && pair_name.is_some_and(sensitive));
                        // A sensitive name hides a value, not a whole
                        // structure (the flow-end document's `keys` list).
                        let scalar = !(v.is_null() || v.is_object() || v.is_array());
                        let shown = if hidden && scalar {
                            Value::String("***".into())
                        } else {
                            redact_json(v)
                        };
                        (k.clone(), shown)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

impl HeaderPair {
    /// The form kept at rest: a sensitive value sealed with the master key, as
    /// `sealed:…`. A value that merely looks sealed is sealed too, so a client
    /// cannot have the server open a ciphertext of its choosing.
    pub fn sealed(&self, master: &MasterKey, account: AccountId) -> HeaderPair {
        let seal = is_sensitive_name(&self.key) || self.value.starts_with(SEALED_PREFIX);
        HeaderPair {
            key: self.key.clone(),
            value: if seal {
                let to = Binding::new(account, Purpose::WebhookHeader);
                format!("{SEALED_PREFIX}{}", master.seal(to, &self.value))
            } else {
                self.value.clone()
            },
        }
    }

    /// The value to send, from the form kept at rest. What is sealed says so
    /// itself, whatever the header's name.
    pub fn opened(
        &self,
        master: &MasterKey,
        account: AccountId,
    ) -> Result<(String, String), SecretError> {
        let value = match self.value.strip_prefix(SEALED_PREFIX) {
            Some(sealed) => master
                .open(Binding::new(account, Purpose::WebhookHeader), sealed)?
                .expose()
                .to_owned(),
            None => self.value.clone(),
        };
        Ok((self.key.clone(), value))
    }

    /// The form kept at rest under `reseal`'s key (a rotation or the start-up
    /// migration); `None` when the value is plain or already current.
    pub fn resealed(
        &self,
        reseal: &Reseal<'_>,
        account: AccountId,
    ) -> Result<Option<HeaderPair>, SecretError> {
        let Some(sealed) = self.value.strip_prefix(SEALED_PREFIX) else {
            return Ok(None);
        };
        let to = Binding::new(account, Purpose::WebhookHeader);
        Ok(reseal.value(to, sealed)?.map(|v| HeaderPair {
            key: self.key.clone(),
            value: format!("{SEALED_PREFIX}{v}"),
        }))
    }

    /// Whether the value is a credential: one the API shows as `***`.
    pub fn is_credential(&self) -> bool {
        is_sensitive_name(&self.key) || self.value.starts_with(SEALED_PREFIX)
    }

    /// The form an API answer shows: a sensitive or sealed value as `***`.
    pub fn masked(&self) -> HeaderPair {
        HeaderPair {
            key: self.key.clone(),
            value: if self.is_credential() {
                "***".into()
            } else {
                self.value.clone()
            },
        }
    }
}

/// A header name someone may configure: an RFC 9110 token of at most 256 bytes
/// that flowhook does not set itself. Shared by the webhook registry and the
/// webhook widget, so both refuse the same names.
pub fn check_header_name(name: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!("`{name}` is not a valid header name"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "header `{name}` is set by flowhook and cannot be configured"
        ));
    }
    Ok(())
}

/// A header value (or the literal text of a header template): at most 8 KiB,
/// no CR, LF or NUL.
pub fn check_header_value(name: &str, value: &str) -> Result<(), String> {
    if value.len() > 8192 || value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(format!(
            "the value of header `{name}` must be at most 8192 bytes without CR, LF or NUL"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_for_people_at_any_depth() {
        let shown = redact_json(&serde_json::json!({
            "$flow.key.apiKey": "k-1", "$flow.key.orderId": "A-17", "$flow.syskey.securityID": "s",
            "keys": [{"name": "$flow.key.token", "value": "t-1"}, {"name": "$flow.key.n", "value": "2"}],
            "nested": {"password": "p", "list": [{"secret": "x"}]}
        }));
        assert_eq!(
            shown,
            serde_json::json!({
                "$flow.key.apiKey": "***", "$flow.key.orderId": "A-17", "$flow.syskey.securityID": "***",
                "keys": [{"name": "$flow.key.token", "value": "***"}, {"name": "$flow.key.n", "value": "2"}],
                "nested": {"password": "***", "list": [{"secret": "***"}]}
            })
        );
    }

    #[test]
    fn urls_are_checked() {
        assert!(WebhookUrl::parse("https://hooks.invalid/hook").is_ok());
        assert_eq!(WebhookUrl::parse("ftp://x/y").err(), Some(UrlError::Scheme));
        assert!(matches!(
            WebhookUrl::parse("not a url"),
            Err(UrlError::Malformed(_))
        ));
        assert_eq!(
            WebhookUrl::parse("https://u:p@hooks.invalid/").err(),
            Some(UrlError::Credentials)
        );
        let long = format!("https://hooks.invalid/{}", "a".repeat(3000));
        assert_eq!(WebhookUrl::parse(&long).err(), Some(UrlError::TooLong));
    }

    #[test]
    fn http_needs_the_account_policy() {
        let u = WebhookUrl::parse("http://localhost/x").expect("valid");
        assert_eq!(u.check_scheme(false), Err(UrlError::HttpNotAllowed));
        assert_eq!(u.check_scheme(true), Ok(()));
        assert_eq!(UrlError::HttpNotAllowed.code(), "HTTP_NOT_ALLOWED");
    }

    #[test]
    fn destinations_are_scheme_host_and_port() {
        let d = |u: &str| WebhookUrl::parse(u).expect("url").destination();
        assert_eq!(d("https://A.invalid/x"), d("https://a.invalid:443/y?z"));
        assert_ne!(d("https://a.invalid/"), d("http://a.invalid/"));
        assert_ne!(d("https://a.invalid/"), d("https://b.invalid/"));
        assert_ne!(d("https://a.invalid/"), d("https://a.invalid:8443/"));
        let t = Destination::of_template;
        assert_eq!(t("https://a.invalid/$flow.key.p"), d("https://a.invalid/"));
        assert_eq!(t("https://a.invalid"), d("https://a.invalid/"));
        assert_eq!(t("https://$flow.key.h/x"), t("https://$flow.key.h/y"));
        assert_ne!(t("https://$flow.key.h/x"), t("https://$flow.key.g/x"));
        assert_ne!(t("$flow.key.url"), t("https://a.invalid/"));
    }

    #[test]
    fn sealed_headers_open_only_for_their_account() {
        let master = MasterKey::parse(&"ab".repeat(32)).expect("key");
        let (mine, other) = (AccountId::generate(), AccountId::generate());
        let h = HeaderPair {
            key: "X-Api-Key".into(),
            value: "k".into(),
        };
        let stored = h.sealed(&master, mine);
        assert!(stored.value.starts_with(SEALED_PREFIX));
        assert_eq!(stored.opened(&master, mine).expect("opens").1, "k");
        assert!(stored.opened(&master, other).is_err());
    }

    #[test]
    fn headers_are_checked() {
        let ok = HeaderPair {
            key: "X-Api-Key".into(),
            value: "v".into(),
        };
        assert!(ok.validate().is_ok());
        let bad_name = HeaderPair {
            key: "X Api".into(),
            value: "v".into(),
        };
        assert!(bad_name.validate().is_err());
        let injected = HeaderPair {
            key: "X".into(),
            value: "a\r\nB: c".into(),
        };
        assert!(injected.validate().is_err());
        let reserved = HeaderPair {
            key: "Webhook-Signature".into(),
            value: "x".into(),
        };
        assert!(reserved.validate().is_err());
    }
}
