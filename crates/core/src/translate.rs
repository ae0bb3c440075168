//! `translateText`'s pure half (SPEC §5): language names and codes, the
//! account's translation settings, and the wire formats of both providers,
//! Google Cloud Translation v2 REST and LibreTranslate. The engine sends what
//! this builds and hands back what came.
//!
//! Settings live in the account's `providers` under `translate` (every key is
//! optional; secrets are sealed at rest by [`crate::providers`]):
//!
//! ```json
//! {"translate": {"provider": "google",          // or "libretranslate"; default google
//!                "url": "https://translation.googleapis.com", // the provider's base URL
//!                "api_key": "…",                // also `apiKey`, `key`
//!                "timeout_seconds": 10}}        // 1–30, default 10
//! ```
//!
//! Default base URLs: Google `https://translation.googleapis.com`,
//! LibreTranslate `https://libretranslate.com`. A base URL may carry a path
//! prefix; Google is asked at `{base}/language/translate/v2?key=KEY`,
//! LibreTranslate at `{base}/translate` with `api_key` in the JSON body.
//!
//! Languages: a name from [`LANGUAGES`] (any case, `Hindi`, `hindi`, `हिन्दी`)
//! becomes its ISO 639 code; anything shaped like a code (`hi`, `zh-CN`,
//! `mni-Mtei`) passes through; anything else is refused.

use std::time::Duration;

use serde_json::{Value, json};

use crate::webhook::WebhookUrl;

/// Google Cloud Translation's base URL.
pub const GOOGLE_URL: &str = "https://translation.googleapis.com";
/// The LibreTranslate project's hosted API.
pub const LIBRETRANSLATE_URL: &str = "https://libretranslate.com";
/// How long a provider may take, unless the settings say otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest text sent for translation, in characters.
pub const MAX_TEXT_CHARS: usize = 5000;

/// Language names (lower case) and their codes; the first name of a code is
/// the one answers use.
pub const LANGUAGES: &[(&str, &str)] = &[
    ("english", "en"),
    ("hindi", "hi"),
    ("हिन्दी", "hi"),
    ("हिंदी", "hi"),
    ("bengali", "bn"),
    ("bangla", "bn"),
    ("বাংলা", "bn"),
    ("tamil", "ta"),
    ("தமிழ்", "ta"),
    ("telugu", "te"),
    ("తెలుగు", "te"),
    ("marathi", "mr"),
    ("मराठी", "mr"),
    ("gujarati", "gu"),
    ("ગુજરાતી", "gu"),
    ("kannada", "kn"),
    ("ಕನ್ನಡ", "kn"),
    ("malayalam", "ml"),
    ("മലയാളം", "ml"),
    ("punjabi", "pa"),
    ("ਪੰਜਾਬੀ", "pa"),
    ("odia", "or"),
    ("oriya", "or"),
    ("assamese", "as"),
    ("urdu", "ur"),
    ("nepali", "ne"),
    ("sanskrit", "sa"),
    ("sindhi", "sd"),
    ("kashmiri", "ks"),
    ("konkani", "gom"),
    ("maithili", "mai"),
    ("sinhala", "si"),
    ("arabic", "ar"),
    ("chinese", "zh"),
    ("french", "fr"),
    ("german", "de"),
    ("spanish", "es"),
    ("portuguese", "pt"),
    ("italian", "it"),
    ("russian", "ru"),
    ("japanese", "ja"),
    ("korean", "ko"),
    ("dutch", "nl"),
    ("turkish", "tr"),
    ("vietnamese", "vi"),
    ("indonesian", "id"),
    ("malay", "ms"),
    ("thai", "th"),
    ("persian", "fa"),
    ("farsi", "fa"),
    ("polish", "pl"),
    ("ukrainian", "uk"),
    ("greek", "el"),
    ("hebrew", "he"),
    ("swedish", "sv"),
    ("norwegian", "no"),
    ("danish", "da"),
    ("finnish", "fi"),
    ("czech", "cs"),
    ("hungarian", "hu"),
    ("romanian", "ro"),
    ("filipino", "tl"),
    ("tagalog", "tl"),
    ("swahili", "sw"),
];

/// The code of a language name or code; `None` for anything else.
pub fn language_code(input: &str) -> Option<String> {
    let input = input.trim();
    let lower = input.to_lowercase();
    if let Some((_, code)) = LANGUAGES.iter().find(|(name, _)| *name == lower) {
        return Some((*code).to_owned());
    }
    // A code: 2–3 letters, optionally a subtag of 2–4 letters or digits
    // (`zh-CN`, `mni-Mtei`); the primary part in lower case.
    let (primary, sub) = match input.split_once('-') {
        Some((p, s)) => (p, Some(s)),
        None => (input, None),
    };
    let primary_ok =
        (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic());
    let sub_ok = sub
        .is_none_or(|s| (2..=4).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
    (primary_ok && sub_ok).then(|| match sub {
        Some(s) => format!("{}-{s}", primary.to_ascii_lowercase()),
        None => primary.to_ascii_lowercase(),
    })
}

/// The name answers use for `code` (`Hindi` for `hi`), if it has one.
pub fn language_name(code: &str) -> Option<String> {
    let code = code.to_ascii_lowercase();
    LANGUAGES
        .iter()
        .find(|(name, c)| *c == code && name.is_ascii())
        .map(|(name, _)| {
            let mut chars = name.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        })
}

/// A translation provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    LibreTranslate,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Google => "google",
            Provider::LibreTranslate => "libretranslate",
        }
    }
}

/// The account's translation settings, opened.
#[derive(Clone)]
pub struct Settings {
    pub provider: Provider,
    pub base: WebhookUrl,
    /// The account's key, if it stored one.
    pub api_key: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("provider", &self.provider)
            .field("base", &self.base.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Reads `providers.translate` of the account's opened provider settings;
    /// absent, it is Google with no stored key. An error names the setting.
    pub fn from_providers(providers: &Value) -> Result<Settings, String> {
        let empty = json!({});
        let t = match providers.get("translate") {
            None | Some(Value::Null) => &empty,
            Some(v @ Value::Object(_)) => v,
            Some(_) => return Err("providers.translate: must be an object".into()),
        };
        let text = |name: &str| -> Result<Option<&str>, String> {
            match t.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim())),
                Some(_) => Err(format!("providers.translate.{name}: must be a string")),
            }
        };
        let provider = match text("provider")?.map(str::to_ascii_lowercase).as_deref() {
            None | Some("google") => Provider::Google,
            Some("libretranslate") => Provider::LibreTranslate,
            Some(other) => {
                return Err(format!(
                    "providers.translate.provider: {other:?} is not a provider; use \"google\" or \"libretranslate\""
                ));
            }
        };
        let default = match provider {
            Provider::Google => GOOGLE_URL,
            Provider::LibreTranslate => LIBRETRANSLATE_URL,
        };
        let base = WebhookUrl::parse(text("url")?.unwrap_or(default))
            .map_err(|e| format!("providers.translate.url: {e}"))?;
        let mut api_key = None;
        for name in ["api_key", "apiKey", "key"] {
            if let Some(k) = text(name)? {
                api_key = Some(k.to_owned());
                break;
            }
        }
        let timeout = match t.get("timeout_seconds") {
            None | Some(Value::Null) => DEFAULT_TIMEOUT,
            Some(v) => match v.as_u64() {
                Some(s @ 1..=30) => Duration::from_secs(s),
                _ => {
                    return Err(
                        "providers.translate.timeout_seconds: a whole number of seconds, 1–30"
                            .into(),
                    );
                }
            },
        };
        Ok(Settings {
            provider,
            base,
            api_key,
            timeout,
        })
    }

    /// Where the request goes: the provider's path under the base URL, and
    /// for Google the key as the `key` query parameter.
    pub fn endpoint(&self, api_key: Option<&str>) -> url::Url {
        let mut url = self.base.as_url().clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        let path = match self.provider {
            Provider::Google => "/language/translate/v2",
            Provider::LibreTranslate => "/translate",
        };
        url.set_path(&format!("{prefix}{path}"));
        url.set_query(None);
        if let (Provider::Google, Some(key)) = (self.provider, api_key) {
            url.query_pairs_mut().append_pair("key", key);
        }
        url
    }

    /// The JSON body: Google `{q, target, source?, format}`, LibreTranslate
    /// `{q, source ("auto" when not given), target, format, api_key?}`.
    pub fn body(
        &self,
        text: &str,
        source: Option<&str>,
        target: &str,
        api_key: Option<&str>,
    ) -> Value {
        match self.provider {
            Provider::Google => {
                let mut body = json!({"q": text, "target": target, "format": "text"});
                if let Some(source) = source {
                    body["source"] = json!(source);
                }
                body
            }
            Provider::LibreTranslate => {
                let mut body = json!({"q": text, "source": source.unwrap_or("auto"), "target": target, "format": "text"});
                if let Some(key) = api_key {
                    body["api_key"] = json!(key);
                }
                body
            }
        }
    }

    /// The translation in a provider's answer, or the provider's own error
    /// message (callers redact the key from it).
    pub fn answer(&self, status: u16, body: &[u8]) -> Result<Translated, String> {
        let name = match self.provider {
            Provider::Google => "Google",
            Provider::LibreTranslate => "LibreTranslate",
        };
        let doc: Option<Value> = serde_json::from_slice(body).ok();
        if !(200..300).contains(&status) {
            let message = doc.as_ref().and_then(|d| error_message(self.provider, d));
            return Err(match message {
                Some(m) => format!("{name} answered HTTP {status}: {m}"),
                None => format!(
                    "{name} answered HTTP {status}: {}",
                    snippet(&String::from_utf8_lossy(body))
                ),
            });
        }
        let bad = || format!("{name} answered HTTP {status} without a translation");
        let doc = doc.ok_or_else(bad)?;
        let (text, detected) = match self.provider {
            Provider::Google => {
                let first = doc.pointer("/data/translations/0").ok_or_else(bad)?;
                (
                    first.get("translatedText").and_then(Value::as_str),
                    first.get("detectedSourceLanguage").and_then(Value::as_str),
                )
            }
            Provider::LibreTranslate => (
                doc.get("translatedText").and_then(Value::as_str),
                doc.pointer("/detectedLanguage/language")
                    .and_then(Value::as_str),
            ),
        };
        Ok(Translated {
            text: text.ok_or_else(bad)?.to_owned(),
            detected: detected.filter(|d| !d.is_empty()).map(str::to_owned),
        })
    }
}

/// What a provider answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    pub text: String,
    /// The detected source language's code, when the provider detected it.
    pub detected: Option<String>,
}

/// Google: `{"error": {"code", "message", "errors", "status"}}`;
/// LibreTranslate: `{"error": "…"}`.
fn error_message(provider: Provider, doc: &Value) -> Option<String> {
    let error = doc.get("error")?;
    match provider {
        Provider::Google => {
            let message = error.get("message").and_then(Value::as_str)?;
            Some(match error.get("status").and_then(Value::as_str) {
                Some(status) => format!("{status}: {message}"),
                None => message.to_owned(),
            })
        }
        Provider::LibreTranslate => error.as_str().map(str::to_owned),
    }
    .map(|m| snippet(&m))
}

/// At most 300 characters of a provider's text, for messages.
fn snippet(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// `text` with every occurrence of `secret` (as is and URL-encoded) as `***`.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    text.replace(secret, "***").replace(&encoded, "***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_codes_and_codes_pass_through() {
        assert_eq!(language_code("Hindi").as_deref(), Some("hi"));
        assert_eq!(language_code(" english ").as_deref(), Some("en"));
        assert_eq!(language_code("TAMIL").as_deref(), Some("ta"));
        assert_eq!(language_code("हिन्दी").as_deref(), Some("hi"));
        assert_eq!(language_code("Konkani").as_deref(), Some("gom"));
        assert_eq!(language_code("hi").as_deref(), Some("hi"));
        assert_eq!(language_code("EN").as_deref(), Some("en"));
        assert_eq!(language_code("zh-CN").as_deref(), Some("zh-CN"));
        assert_eq!(language_code("mni-Mtei").as_deref(), Some("mni-Mtei"));
        assert_eq!(language_code("Klingonese"), None);
        assert_eq!(language_code("e"), None);
        assert_eq!(language_code("en_US"), None);
        assert_eq!(language_name("hi").as_deref(), Some("Hindi"));
        assert_eq!(language_name("EN").as_deref(), Some("English"));
        assert_eq!(language_name("xx"), None);
    }

    #[test]
    fn settings_default_to_google_and_name_what_is_wrong() {
        let s = Settings::from_providers(&json!({})).expect("defaults");
        assert_eq!(s.provider, Provider::Google);
        assert_eq!(
            s.endpoint(Some("k+1")).as_str(),
            "https://translation.googleapis.com/language/translate/v2?key=k%2B1"
        );
        let s = Settings::from_providers(&json!({"translate": {"provider": "LibreTranslate", "url": "http://127.0.0.1:5000/lt/", "api_key": "k"}})).expect("libre");
        assert_eq!(
            s.endpoint(Some("k")).as_str(),
            "http://127.0.0.1:5000/lt/translate"
        );
        assert_eq!(s.api_key.as_deref(), Some("k"));
        assert_eq!(
            s.body("hi", None, "en", Some("k")),
            json!({"q": "hi", "source": "auto", "target": "en", "format": "text", "api_key": "k"})
        );
        for (bad, field) in [
            (json!({"translate": {"provider": "deepl"}}), "provider"),
            (json!({"translate": {"url": "ftp://x"}}), "url"),
            (
                json!({"translate": {"timeout_seconds": 0}}),
                "timeout_seconds",
            ),
            (json!({"translate": 3}), "translate"),
        ] {
            let e = Settings::from_providers(&bad).expect_err("refused");
            assert!(e.contains(field), "{e}");
        }
    }

    #[test]
    fn answers_and_errors_of_both_providers() {
        let google = Settings::from_providers(&json!({})).expect("google");
        let ok = r#"{"data":{"translations":[{"translatedText":"नमस्ते","detectedSourceLanguage":"en"}]}}"#;
        assert_eq!(
            google.answer(200, ok.as_bytes()),
            Ok(Translated {
                text: "नमस्ते".into(),
                detected: Some("en".into())
            })
        );
        let err = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","errors":[{"message":"API key not valid.","domain":"global","reason":"badRequest"}],"status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(
            google.answer(400, err).unwrap_err(),
            "Google answered HTTP 400: INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
        );
        assert!(
            google
                .answer(200, b"{}")
                .unwrap_err()
                .contains("without a translation")
        );
        let libre = Settings::from_providers(&json!({"translate": {"provider": "libretranslate"}}))
            .expect("libre");
        assert_eq!(
            libre.answer(200, br#"{"translatedText":"Hello","detectedLanguage":{"confidence":90.0,"language":"fr"}}"#),
            Ok(Translated { text: "Hello".into(), detected: Some("fr".into()) })
        );
        assert_eq!(
            libre
                .answer(403, br#"{"error":"Invalid API key"}"#)
                .unwrap_err(),
            "LibreTranslate answered HTTP 403: Invalid API key"
        );
        assert_eq!(
            libre.answer(502, b"<html>bad gateway</html>").unwrap_err(),
            "LibreTranslate answered HTTP 502: <html>bad gateway</html>"
        );
    }

    #[test]
    fn redact_hides_the_key_as_is_and_encoded() {
        assert_eq!(
            redact("url ?key=a%2Bb and a+b", "a+b"),
            "url ?key=*** and ***"
        );
        assert_eq!(redact("nothing", ""), "nothing");
    }
}
