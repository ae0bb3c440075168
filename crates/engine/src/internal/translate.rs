//! `translateText`: the caller's text through the account's translation
//! provider (Google Cloud Translation v2 REST or LibreTranslate), sent by the
//! egress client.
//!
//! Inputs: `inputText`, `targetLang`, optional `sourceLang` (absent or `auto`:
//! detected), optional `apiKey`; languages as names (`Hindi`) or codes (`hi`),
//! see `flowhook_core::translate`. Settings: the account's
//! `providers.translate` (`provider`, `url`, `api_key`, `timeout_seconds`).
//! The key is the account's sealed `api_key` when it stored one, else the
//! envelope's `apiKey` (the seeds send one): a flow cannot swap the key an
//! operator configured. An `http` provider URL needs the account's
//! `allow_http`.
//!
//! Answers `status` (`SUCCESS`/`FAILED`), `translatedText`,
//! `detectedSourceLanguage` (the detected language's name, `Hindi`, or its
//! code when it has no name here; empty when the source was given) and
//! `detectedSourceLanguageCode`. A provider's error is `FAILED` with the
//! provider's message; the key never appears in any answer or log line.

use flowhook_core::http::HttpMethod;
use flowhook_core::internal::{Key, Keys, output};
use flowhook_core::providers;
use flowhook_core::translate::{
    MAX_TEXT_CHARS, Provider, Settings, language_code, language_name, redact,
};

use super::{Context, Failure};
use crate::egress::OutboundRequest;

/// The most of a provider's answer read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

pub(crate) async fn translate(cx: &Context<'_>, keys: &Keys<'_>) -> Result<Vec<Key>, Failure> {
    let text = keys.require("inputText")?;
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("inputText: longer than {MAX_TEXT_CHARS} characters").into());
    }
    let language = |name: &str, value: &str| {
        language_code(value).ok_or_else(|| {
            format!("{name}: {value:?} is not a language name or code (such as Hindi or hi)")
        })
    };
    let target = language("targetLang", keys.require("targetLang")?)?;
    let source = match keys.get("sourceLang").map(str::trim) {
        None => None,
        Some(auto) if auto.eq_ignore_ascii_case("auto") => None,
        Some(value) => Some(language("sourceLang", value)?),
    };
    let opened = providers::open(&cx.account.providers, cx.master_key, cx.account.id).map_err(|e| {
        tracing::error!(account = %cx.account.id, error = %e, "the account's provider settings do not open");
        "the account's provider settings cannot be read; set them again with PATCH /v1/accounts/{id}".to_owned()
    })?;
    let settings = Settings::from_providers(&opened)?;
    settings
        .base
        .check_scheme(cx.account.allow_http)
        .map_err(|e| format!("providers.translate.url: {e}"))?;
    let api_key = settings
        .api_key
        .clone()
        .or_else(|| keys.get("apiKey").map(|k| k.trim().to_owned()));
    if settings.provider == Provider::Google && api_key.is_none() {
        return Err("apiKey: no API key; store one in the account's providers.translate.api_key or send $flow.key.apiKey".to_owned().into());
    }
    let hide = |message: String| match &api_key {
        Some(key) => redact(&message, key),
        None => message,
    };
    let body = settings.body(text, source.as_deref(), &target, api_key.as_deref());
    let request = OutboundRequest {
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Accept".into(), "application/json".into()),
        ],
        body: Some(body.to_string().into_bytes()),
        timeout: settings.timeout,
        max_response_bytes: MAX_ANSWER_BYTES,
        ..OutboundRequest::new(HttpMethod::Post, settings.endpoint(api_key.as_deref()))
    };
    let provider = settings.provider.as_str();
    let response = cx.egress.send(request).await.map_err(|e| {
        hide(format!(
            "the translation provider ({provider}) could not be reached: {e}"
        ))
    })?;
    let translated = settings
        .answer(response.status, &response.body)
        .map_err(hide)?;
    let (detected, detected_code) = match translated.detected {
        Some(code) => (language_name(&code).unwrap_or_else(|| code.clone()), code),
        None => (String::new(), String::new()),
    };
    Ok(vec![
        output("translatedText", translated.text),
        output("detectedSourceLanguage", detected),
        output("detectedSourceLanguageCode", detected_code),
    ])
}
