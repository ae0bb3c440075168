//! `internal_webhook` (SPEC §5): send the `{method, keys}` envelope with the
//! variables of the chosen groups to a registered webhook, write the answered
//! keys into the execution's variables, take line 0 on `SUCCESS` and line 1
//! otherwise. A failure of any kind is a line, never a failed execution (an
//! answer over the execution's variable budget included).
//!
//! When the webhook's URL is this server's own internal endpoint the call is
//! dispatched in process ([`crate::internal::Platform::dispatch`], the code
//! behind `POST /internal`), so a default installation needs neither
//! `allow_http` nor loopback in the egress policy; any other URL is called over
//! HTTP through the egress client, with the webhook's method and credentials.
//!
//! The trace shows the envelope and the answer with credentials' values (keys
//! named like `token` or `apiKey`) as `***`.
//!
//! The contact's identity (`$user.syskey.*`) is always sent. Answered keys are
//! written like any assignment: within the execution's variable budget, and a
//! `$user.key.*` is stored for this execution's contact (SPEC §2), so a fetch of
//! the contact's own preferences changes nothing. Keys that name no writable
//! variable are listed in the trace and ignored.

use std::time::Instant;

use flowhook_core::budget::MAX_RESPONSE_BYTES;
use flowhook_core::flow::widgets::InternalWebhook;
use flowhook_core::internal::{Answer, Envelope, Key};
use flowhook_core::vars::{Namespace, VarName, VarStore};
use serde_json::{Value, json};

use super::{Execute, Step, StepContext};
use crate::egress::OutboundRequest;

/// How long a call to another service that speaks the envelope may take.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[async_trait::async_trait]
impl Execute for InternalWebhook {
    async fn execute(&self, cx: &mut StepContext<'_>) -> Step {
        let envelope = envelope(self, cx);
        let started = Instant::now();
        let (answer, via) = match call(self, cx, &envelope).await {
            Ok(done) => done,
            Err((error, via)) => (Answer::failed(error), via),
        };
        let ignored = write_answer(cx, &answer);
        // An answer over the variable budget is the service's failure, not the
        // flow's: the values that did not fit were not stored, and the widget
        // takes its failure line.
        let over_budget = cx.vars.take_exceeded().map(|e| e.to_string());
        let succeeded = answer.is_success() && over_budget.is_none();
        let redact = |keys: &[Key]| keys.iter().map(Key::redacted).collect::<Vec<_>>();
        let mut detail = json!({
            "webhook": self.webhook.to_string(),
            "via": via,
            "request": {"method": envelope.method, "keys": redact(&envelope.keys)},
            "answer": {"status": answer.status, "keys": redact(&answer.keys), "error": answer.error},
            "duration_ms": started.elapsed().as_secs_f64() * 1000.0,
        });
        if !ignored.is_empty() {
            detail["ignored_keys"] = json!(ignored);
        }
        if let Some(error) = over_budget {
            detail["error"] = json!(error);
        }
        Step {
            line: Some(if succeeded { 0 } else { 1 }),
            detail: Some(detail),
            ..Step::default()
        }
    }
}

/// The method and every variable of the chosen groups, plus the contact's
/// identity, in name order.
fn envelope(widget: &InternalWebhook, cx: &StepContext<'_>) -> Envelope {
    let groups = widget
        .pass
        .iter()
        .map(|g| g.namespace())
        .chain([Namespace::UserSyskey]);
    let mut keys = Vec::new();
    for ns in groups {
        keys.extend(
            cx.vars
                .in_namespace(ns)
                .map(|(name, value)| Key::new(name.to_string(), value.clone())),
        );
    }
    Envelope {
        method: widget.method.as_str().to_owned(),
        keys,
    }
}

/// The answer, and how it came (`in-process` or `http`); or why none came.
async fn call(
    widget: &InternalWebhook,
    cx: &StepContext<'_>,
    envelope: &Envelope,
) -> Result<(Answer, &'static str), (String, &'static str)> {
    let platform = &cx.runner.platform;
    let account = cx.input.account.id;
    let hook = match platform.webhook(account, widget.webhook).await {
        Ok(Some(hook)) => hook,
        Ok(None) => {
            return Err((
                format!(
                    "webhook {} is not registered in this account",
                    widget.webhook
                ),
                "none",
            ));
        }
        Err(e) => return Err((e, "none")),
    };
    if platform.is_internal(hook.url.as_url()) {
        return Ok((platform.dispatch(account, envelope).await, "in-process"));
    }
    if !hook.url.is_https() && !cx.input.account.allow_http {
        return Err((
            format!("{} is http and the account allows https only", hook.url),
            "http",
        ));
    }
    let body = serde_json::to_vec(envelope).map_err(|e| (e.to_string(), "http"))?;
    let mut headers = platform.stored_headers(&hook).map_err(|e| (e, "http"))?;
    headers.push(("Content-Type".into(), "application/json".into()));
    let request = OutboundRequest {
        method: hook.method,
        url: hook.url.as_url().clone(),
        headers,
        body: Some(body),
        timeout: CALL_TIMEOUT,
        max_response_bytes: MAX_RESPONSE_BYTES,
    };
    let response = cx
        .runner
        .egress
        .send(request)
        .await
        .map_err(|e| (e.to_string(), "http"))?;
    if !(200..300).contains(&response.status) {
        return Err((
            format!("{} answered HTTP {}", hook.url, response.status),
            "http",
        ));
    }
    serde_json::from_slice::<Answer>(&response.body)
        .map(|answer| (answer, "http"))
        .map_err(|e| {
            (
                format!(
                    "{} did not answer the envelope ({{status, keys, error}}): {e}",
                    hook.url
                ),
                "http",
            )
        })
}

/// Writes the answered keys that name writable variables; answers the others.
fn write_answer(cx: &mut StepContext<'_>, answer: &Answer) -> Vec<Value> {
    let mut ignored = Vec::new();
    for key in &answer.keys {
        match VarName::parse(&key.name) {
            Ok(var) if var.is_writable() => {
                cx.vars.set(&var, key.value.clone());
            }
            _ => ignored.push(json!(key.name)),
        }
    }
    ignored
}
