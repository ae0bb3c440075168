//! `speechprocessing`: the intent of what a caller said, from the account's
//! NLU endpoint when it configured one, else from its built-in keyword rules
//! (`/v1/intents`, matched by `flowhook_core::intents::Matcher`).
//!
//! Inputs: `speechText` (at most 4,000 characters), optional `cli`.
//!
//! The NLU endpoint (`providers.nlu`: `url`, optional `token`, `language`,
//! `timeout_seconds`) is sent, through the egress client,
//! `POST {url}` with `Authorization: Bearer <token>` and
//! `{"text": "…", "cli": "…", "language": "…"}` (`cli` and `language` when
//! known), and answers `{"intent": "…", "confidence": 0.93,
//! "explanation": "…"?}`. A non-2xx answer, a body that is not that, or no
//! intent is `FAILURE`; the token never appears in an answer.
//!
//! Answers `status` (`SUCCESS`/`FAILURE`, the seeds' spelling), `intent`,
//! `confidence` (0–1, at most three decimals) and `intentReason`: which rule
//! matched by which phrase, regex or keywords, with its score (or the
//! endpoint's explanation). Being an answered key, the reason is in the
//! execution's trace of the `internal_webhook` step. No match: `FAILURE`
//! with `intent` empty and `confidence` `0`.

use flowhook_core::http::HttpMethod;
use flowhook_core::intents::{
    MAX_SPEECH_CHARS, Matcher, NluSettings, format_confidence, nlu_answer,
};
use flowhook_core::internal::{Key, Keys, output};
use flowhook_core::providers;
use flowhook_core::translate::redact;
use serde_json::json;

use super::{Context, Failure};
use crate::egress::OutboundRequest;

/// The most of an endpoint's answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub(crate) async fn process(cx: &Context<'_>, keys: &Keys<'_>) -> Result<Vec<Key>, Failure> {
    let text = keys.require("speechText")?;
    if text.chars().count() > MAX_SPEECH_CHARS {
        return Err(format!("speechText: longer than {MAX_SPEECH_CHARS} characters").into());
    }
    let opened = providers::open(&cx.account.providers, cx.master_key, cx.account.id).map_err(|e| {
        tracing::error!(account = %cx.account.id, error = %e, "the account's provider settings do not open");
        "the account's provider settings cannot be read; set them again with PATCH /v1/accounts/{id}".to_owned()
    })?;
    match NluSettings::from_providers(&opened)? {
        Some(nlu) => endpoint(cx, &nlu, text, keys.get("cli")).await,
        None => built_in(cx, text).await,
    }
}

/// What is answered when there is no intent.
fn no_intent(error: String, reason: String) -> Failure {
    Failure {
        error,
        keys: vec![
            output("intent", ""),
            output("confidence", "0"),
            output("intentReason", reason),
        ],
    }
}

async fn built_in(cx: &Context<'_>, text: &str) -> Result<Vec<Key>, Failure> {
    let rules: Vec<_> = cx
        .store
        .intents(cx.account.id)
        .await
        .map_err(|e| format!("the intent store failed: {e}"))?
        .into_iter()
        .map(|r| r.rule)
        .collect();
    if rules.is_empty() {
        return Err(no_intent(
            "speechText: the account has no intent rules; add them with POST /v1/intents, or configure providers.nlu".into(),
            "no rules".into(),
        ));
    }
    match Matcher::new(&rules).find(text) {
        Some(m) => Ok(vec![
            output("intent", m.intent),
            output("confidence", format_confidence(m.confidence)),
            output("intentReason", m.reason),
        ]),
        None => Err(no_intent(
            format!(
                "speechText: no intent matched (none of the account's {} rules of /v1/intents)",
                rules.len()
            ),
            format!("none of {} rules matched", rules.len()),
        )),
    }
}

async fn endpoint(
    cx: &Context<'_>,
    nlu: &NluSettings,
    text: &str,
    cli: Option<&str>,
) -> Result<Vec<Key>, Failure> {
    nlu.url
        .check_scheme(cx.account.allow_http)
        .map_err(|e| format!("providers.nlu.url: {e}"))?;
    let hide = |message: String| match &nlu.token {
        Some(token) => redact(&message, token),
        None => message,
    };
    let mut body = json!({"text": text});
    if let Some(cli) = cli {
        body["cli"] = json!(cli.trim());
    }
    if let Some(language) = &nlu.language {
        body["language"] = json!(language);
    }
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("Accept".to_owned(), "application/json".to_owned()),
    ];
    if let Some(token) = &nlu.token {
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    let request = OutboundRequest {
        headers,
        body: Some(body.to_string().into_bytes()),
        timeout: nlu.timeout,
        max_response_bytes: MAX_ANSWER_BYTES,
        ..OutboundRequest::new(HttpMethod::Post, nlu.url.as_url().clone())
    };
    let response = cx
        .egress
        .send(request)
        .await
        .map_err(|e| hide(format!("the NLU endpoint could not be reached: {e}")))?;
    if !(200..300).contains(&response.status) {
        return Err(hide(format!(
            "the NLU endpoint answered HTTP {}",
            response.status
        ))
        .into());
    }
    let answer = nlu_answer(&response.body).map_err(hide)?;
    let host = nlu.url.as_url().host_str().unwrap_or_default().to_owned();
    let reason = answer
        .explanation
        .map(hide)
        .unwrap_or_else(|| format!("the NLU endpoint at {host}"));
    match answer.intent {
        Some(intent) => Ok(vec![
            output("intent", hide(intent)),
            output("confidence", format_confidence(answer.confidence)),
            output("intentReason", reason),
        ]),
        None => Err(no_intent(
            "speechText: the NLU endpoint found no intent".into(),
            reason,
        )),
    }
}
