//! Short links (SPEC §5 `shortURL` and the "Short links" paragraph): the
//! values parsed at the boundary and the rule that joins a base URL and a code.
//!
//! - [`ShortCode`]: the path of a short link, exactly [`ShortCode::LEN`]
//!   base62 characters drawn from the operating system's random source
//!   (59 bits), so codes cannot be guessed or enumerated; the fixed shape is
//!   also what lets `GET /{code}` live at the root without shadowing any other
//!   path.
//! - [`LongUrl`]: where a link leads: absolute `http`/`https` with a host, no
//!   embedded credentials (a classic way to disguise a destination), no
//!   control characters, at most [`LongUrl::MAX_LEN`] bytes as sent and as
//!   normalized (what is stored is what was checked).
//! - [`ShortBase`]: an account's own short domain (a custom base URL).
//! - [`ShortToken`]: the account's `custToken`, the credential of
//!   `POST /UrlShortner/shortUrl`; stored as a lookup hash plus a sealed copy.

use crate::secret::{SecretString, random_bytes, sha256_hex};

/// The alphabet of codes and tokens: digits, then upper and lower case.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters of [`BASE62`], each uniform: a random byte is used only
/// below 248 (= 4 × 62), so `byte % 62` has no bias.
fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<32>() {
            if b < 248 && out.len() < len {
                out.push(BASE62[usize::from(b % 62)] as char);
            }
        }
    }
    out
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The code of a short link: [`ShortCode::LEN`] base62 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShortCode(String);

impl ShortCode {
    /// 10 characters: 62^10 ≈ 2^59.5 codes.
    pub const LEN: usize = 10;
    /// The shape as a regular expression, for the API document.
    pub const PATTERN: &'static str = "^[0-9A-Za-z]{10}$";

    /// A fresh random code. Uniqueness is the store's (a unique key; the
    /// caller draws again on the rare collision).
    pub fn generate() -> ShortCode {
        ShortCode(random_base62(Self::LEN))
    }

    /// The code `s` is, if it has the shape of one.
    pub fn parse(s: &str) -> Option<ShortCode> {
        (s.len() == Self::LEN && is_base62(s)).then(|| ShortCode(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for ShortCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(Self::PATTERN))
            .examples(["BEK4YYnx7q"])
            .into()
    }
}

impl utoipa::ToSchema for ShortCode {}

impl std::fmt::Display for ShortCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a long URL (or a base URL) is refused; the text is for a person and
/// the caller prefixes the field it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkUrlError {
    #[error("`{0}` is not a valid absolute URL")]
    Malformed(String),
    #[error("only http:// and https:// URLs can be shortened")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("the URL may not hold a user name or password")]
    Credentials,
    #[error("the URL is longer than {0} bytes")]
    TooLong(usize),
    #[error("a base URL may not have a query or a fragment")]
    QueryOrFragment,
}

/// The common rules: trimmed, no control characters, at most `max` bytes as
/// sent and as normalized, `http(s)` with a host, no credentials.
fn parse_http(s: &str, max: usize) -> Result<url::Url, LinkUrlError> {
    if s.len() > max {
        return Err(LinkUrlError::TooLong(max));
    }
    let s = s.trim();
    if s.chars().any(char::is_control) {
        return Err(LinkUrlError::Malformed(format!(
            "{}: contains a control character",
            s.escape_debug()
        )));
    }
    let url = url::Url::parse(s).map_err(|e| LinkUrlError::Malformed(format!("{s}: {e}")))?;
    if url.as_str().len() > max {
        return Err(LinkUrlError::TooLong(max));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(LinkUrlError::Scheme);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(LinkUrlError::NoHost);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(LinkUrlError::Credentials);
    }
    Ok(url)
}

/// Where a short link leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongUrl(url::Url);

impl LongUrl {
    /// Longest long URL, as sent and as normalized.
    pub const MAX_LEN: usize = 4096;

    pub fn parse(s: &str) -> Result<LongUrl, LinkUrlError> {
        Self::parse_within(s, Self::MAX_LEN)
    }

    /// [`LongUrl::parse`] with a tighter bound (`max` ≤ [`LongUrl::MAX_LEN`]),
    /// for URLs that are extended later (a bot's base URL).
    pub fn parse_within(s: &str, max: usize) -> Result<LongUrl, LinkUrlError> {
        parse_http(s, max.min(Self::MAX_LEN)).map(LongUrl)
    }

    /// This URL with `pairs` appended to its query (form-encoded), if the
    /// result is still a long URL.
    pub fn with_query<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LongUrl, LinkUrlError> {
        let mut url = self.0.clone();
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        if url.as_str().len() > Self::MAX_LEN {
            return Err(LinkUrlError::TooLong(Self::MAX_LEN));
        }
        Ok(LongUrl(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// An account's own short domain: an `http(s)` base URL with a host and
/// maybe a path, no credentials, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortBase(url::Url);

impl ShortBase {
    pub const MAX_LEN: usize = 256;
    /// What the API document says of it (the scheme; the rest is checked).
    pub const PATTERN: &'static str = "^\\s*[Hh][Tt][Tt][Pp][Ss]?://";

    pub fn parse(s: &str) -> Result<ShortBase, LinkUrlError> {
        let url = parse_http(s, Self::MAX_LEN)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(LinkUrlError::QueryOrFragment);
        }
        Ok(ShortBase(url))
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// The short link of `code` under `base`: the base without its trailing
/// slash, `/`, the code.
pub fn short_url(base: &url::Url, code: &ShortCode) -> String {
    let base = base.as_str().trim_end_matches('/');
    let mut out = String::with_capacity(base.len() + 1 + ShortCode::LEN);
    out.push_str(base);
    out.push('/');
    out.push_str(code.as_str());
    out
}

/// An account's `custToken`: 32 base62 characters (190 bits) when made here.
/// Whatever a caller sends is only ever hashed and looked up.
#[derive(Clone)]
pub struct ShortToken(SecretString);

impl ShortToken {
    pub const LEN: usize = 32;
    /// Longest `custToken` the endpoint reads (anything longer is unknown).
    pub const MAX_SENT: usize = 128;

    pub fn generate() -> ShortToken {
        ShortToken(SecretString::new(random_base62(Self::LEN)))
    }

    /// A token as a caller sent it, to look up.
    pub fn sent(text: &str) -> ShortToken {
        ShortToken(SecretString::new(text.trim()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// What the database keeps to find the account of a token (SHA-256):
    /// a stolen copy of the table gives no usable token.
    pub fn lookup_hash(&self) -> String {
        sha256_hex(self.0.expose().as_bytes())
    }
}

impl std::fmt::Debug for ShortToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShortToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_one_shape_and_are_drawn_uniformly() {
        let mut seen = std::collections::HashSet::new();
        let mut counts = [0usize; 62];
        for _ in 0..2000 {
            let code = ShortCode::generate();
            assert_eq!(ShortCode::parse(code.as_str()), Some(code.clone()));
            for b in code.as_str().bytes() {
                counts[BASE62.iter().position(|c| *c == b).expect("base62")] += 1;
            }
            assert!(seen.insert(code), "a repeated code among 2000");
        }
        // 20,000 characters over 62 symbols: about 323 each. A biased or
        // truncated alphabet (a symbol never or far too often drawn) fails.
        assert!(counts.iter().all(|n| (200..460).contains(n)), "{counts:?}");
        let regex = regex::Regex::new(ShortCode::PATTERN).expect("pattern");
        assert!(regex.is_match(ShortCode::generate().as_str()));
        for bad in [
            "",
            "abc",
            "ABCDEFGHIJK",
            "ABCDE-GHIJ",
            "openapi.js",
            "ÄBCDEFGHI",
        ] {
            assert_eq!(ShortCode::parse(bad), None, "{bad}");
            assert!(!regex.is_match(bad), "{bad}");
        }
    }

    #[test]
    fn long_urls_are_http_with_a_host_and_bounded() {
        let ok = LongUrl::parse("  https://example.com/a?b=1#c ").expect("parses");
        assert_eq!(ok.as_str(), "https://example.com/a?b=1#c");
        assert!(LongUrl::parse("http://localhost:8080/").is_ok());
        for (bad, want) in [
            ("ftp://example.com/x", LinkUrlError::Scheme),
            ("javascript:alert(1)", LinkUrlError::Scheme),
            ("https://user:pw@example.com/", LinkUrlError::Credentials),
            ("https://user@example.com/", LinkUrlError::Credentials),
        ] {
            assert_eq!(LongUrl::parse(bad), Err(want), "{bad}");
        }
        assert!(matches!(
            LongUrl::parse("example.com/x"),
            Err(LinkUrlError::Malformed(_))
        ));
        assert!(matches!(
            LongUrl::parse("https://example.com/\u{7}"),
            Err(LinkUrlError::Malformed(_))
        ));
        let long = format!("https://example.com/{}", "a".repeat(LongUrl::MAX_LEN));
        assert_eq!(
            LongUrl::parse(&long),
            Err(LinkUrlError::TooLong(LongUrl::MAX_LEN))
        );
        // Normalizing can lengthen a URL (spaces become %20): still bounded.
        let spaces = format!("https://example.com/{}", " x".repeat(1400));
        assert!(spaces.len() < LongUrl::MAX_LEN);
        assert_eq!(
            LongUrl::parse(&spaces),
            Err(LinkUrlError::TooLong(LongUrl::MAX_LEN))
        );
    }

    #[test]
    fn queries_are_appended_encoded_and_bounded() {
        let base = LongUrl::parse("https://bot.example.com/chat?lang=en").expect("url");
        let url = base
            .with_query([("cli", "9181607"), ("name", "A & B=C"), ("x", "ü")])
            .expect("fits");
        assert_eq!(
            url.as_str(),
            "https://bot.example.com/chat?lang=en&cli=9181607&name=A+%26+B%3DC&x=%C3%BC"
        );
        let bare = LongUrl::parse("https://bot.example.com/").expect("url");
        assert_eq!(
            bare.with_query([]).expect("fits").as_str(),
            "https://bot.example.com/"
        );
        let big = "v".repeat(LongUrl::MAX_LEN);
        assert_eq!(
            bare.with_query([("big", big.as_str())]),
            Err(LinkUrlError::TooLong(LongUrl::MAX_LEN))
        );
    }

    #[test]
    fn short_urls_join_the_base_and_the_code() {
        let code = ShortCode::parse("BEK4YYnx00").expect("code");
        for (base, want) in [
            ("https://s.example.in", "https://s.example.in/BEK4YYnx00"),
            ("https://s.example.in/", "https://s.example.in/BEK4YYnx00"),
            ("https://example.in/s/", "https://example.in/s/BEK4YYnx00"),
        ] {
            let base = ShortBase::parse(base).expect("base");
            assert_eq!(short_url(base.as_url(), &code), want);
        }
        assert_eq!(
            ShortBase::parse("https://s.example.in/?a=1"),
            Err(LinkUrlError::QueryOrFragment)
        );
        assert_eq!(
            ShortBase::parse("mailto:x@example.in"),
            Err(LinkUrlError::Scheme)
        );
        assert!(ShortBase::parse(&format!("https://{}.in", "a".repeat(300))).is_err());
    }

    #[test]
    fn tokens_are_long_random_and_never_printed() {
        let t = ShortToken::generate();
        assert_eq!(t.expose().len(), ShortToken::LEN);
        assert!(is_base62(t.expose()));
        assert_ne!(t.expose(), ShortToken::generate().expose());
        assert_eq!(
            ShortToken::sent(&format!(" {} ", t.expose())).lookup_hash(),
            t.lookup_hash()
        );
        assert_eq!(format!("{t:?}"), "ShortToken(***)");
    }
}
