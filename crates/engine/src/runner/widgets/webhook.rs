//! `webhook` (the "custom" webhook widget, SPEC §4): render the request, send it
//! through the egress client, judge and map the answer, set the result
//! variables, take line 0 on success and line 1 on failure.
//!
//! A widget may name a registered webhook instead of a URL (SPEC §4
//! `webhook`): its URL, method, body type and stored credentials (auth and
//! headers, opened through the [`Platform`](crate::internal::Platform)) are
//! used, with the widget's own headers (which win over stored ones of the same
//! name), query entries and body added.
//!
//! The trace gets the rendered request (credentials redacted) and the response
//! (status, headers, body up to `MAX_TRACE_BODY_BYTES` with its full length in
//! `body_bytes`, duration). With `wait_for_response`
//! false the request is sent in the background, line 0 is taken at once, and
//! the outcome joins the trace when it arrives.
//!
//! Mapping a response (JSONPath or XPath over the body) can cost far more than
//! its size suggests, so it runs on the async thread only when its cost is
//! bounded by the body's size and the body is small: direct JSON paths
//! (names, indices, wildcards) over at most [`MAX_INLINE_MAPPING_BYTES`].
//! Every other mapping runs on a blocking thread holding one of the runner's mapping slots (one per
//! core; one account may hold all but one, so another account can always map).
//! Waiting for a slot, and then the mapping itself, each get
//! [`MAPPING_DEADLINE`]. Past it the widget fails with `MAPPING_FAILED` and the
//! evaluation is told to stop; it keeps its slot until it has, so runaway paths
//! can never occupy more than the machine's cores.

use std::time::{Duration, Instant};

use flowhook_core::budget::{
    MAPPING_DEADLINE, MAX_INLINE_MAPPING_BYTES, MAX_RESPONSE_BYTES, MAX_TRACE_BODY_BYTES,
};
use flowhook_core::flow::widgets::{Auth, Request, Response, Webhook};
use flowhook_core::paths::Cancel;
use flowhook_core::template::Template;
use flowhook_core::vars::{VarName, VarStore};
use flowhook_core::webhook::is_sensitive_name;
use flowhook_core::webhook_call::{
    Failure, Refusal, RenderedRequest, map_response_until, refuse, render_request,
    result_variables, sent_variables,
};
use serde_json::{Value, json};

use super::{Execute, Step, StepContext};
use crate::egress::{EgressError, InboundResponse, OutboundRequest};

#[async_trait::async_trait]
impl Execute for Webhook {
    async fn execute(&self, cx: &mut StepContext<'_>) -> Step {
        let rendered = match prepare(&self.request, cx).await {
            Ok(r) => r,
            Err(Refusal {
                exceeded: Some(exceeded),
                ..
            }) => return Step::fatal(exceeded.to_string()),
            Err(refusal) => {
                set_all(cx, result_variables(0, 0.0, "", Some(refusal.failure)));
                return Step {
                    line: Some(1),
                    detail: Some(json!({
                        "request": null,
                        "error_reason": refusal.failure.error_reason(),
                        "error": refusal.message,
                    })),
                    ..Step::default()
                };
            }
        };
        let (rendered, request_detail) = rendered;
        let outbound = OutboundRequest {
            method: rendered.method,
            url: rendered.url.as_url().clone(),
            headers: rendered.headers,
            body: rendered.body.map(String::into_bytes),
            timeout: self.response.timeout(),
            max_response_bytes: MAX_RESPONSE_BYTES,
        };
        let missing: Vec<String> = rendered.missing.iter().map(ToString::to_string).collect();

        if !self.response.wait_for_response {
            set_all(cx, sent_variables());
            let egress = cx.runner.egress.clone();
            // Bounded: past the caps (per execution, then for the server) the
            // step waits for a request in flight to end before sending.
            let slots = (
                cx.background.clone().acquire_owned().await,
                cx.runner
                    .background_slots
                    .acquire(cx.input.account.id)
                    .await,
            );
            let background = tokio::spawn(async move {
                let _slots = slots;
                let started = Instant::now();
                let result = egress.send(outbound).await;
                let (status, failure, response, error) = judge(&result, started.elapsed());
                json!({
                    "status": status,
                    "error_reason": failure.map(Failure::error_reason),
                    "error": error,
                    "response": response,
                    "arrived_at": now(),
                })
            });
            return Step {
                line: Some(0),
                detail: Some(
                    json!({"request": request_detail, "missing": missing, "wait_for_response": false}),
                ),
                background: Some(background),
                ..Step::default()
            };
        }

        let mut events = Vec::new();
        if self.response.hold_music {
            events.push(json!({"event": "hold_music_start", "at": now()}));
        }
        let started = Instant::now();
        let result = cx.runner.egress.send(outbound).await;
        let elapsed = started.elapsed();
        if self.response.hold_music {
            events.push(json!({"event": "hold_music_stop", "at": now()}));
        }
        let (status, mut failure, response_detail, mut error) = judge(&result, elapsed);
        let (body, duration) = match &result {
            Ok(resp) => (
                String::from_utf8_lossy(&resp.body).into_owned(),
                resp.duration,
            ),
            Err(_) => (String::new(), elapsed),
        };
        if failure.is_none() {
            match map(cx.runner, cx.input.account.id, &self.response, &body).await {
                Ok(mapped) => {
                    for (var, value) in mapped {
                        if self.response.persist_response {
                            cx.persisted.insert(var.clone(), value.clone());
                        }
                        cx.vars.set(&var, value);
                    }
                }
                Err(refusal) => {
                    failure = Some(refusal.failure);
                    error = Some(refusal.message);
                }
            }
        }
        set_all(
            cx,
            result_variables(status, duration.as_secs_f64(), &body, failure),
        );
        let mut detail = json!({
            "request": request_detail,
            "response": response_detail,
            "error_reason": failure.map(Failure::error_reason),
            "error": error,
            "missing": missing,
        });
        if !events.is_empty() {
            detail["events"] = Value::Array(events);
        }
        Step {
            line: Some(if failure.is_some() { 1 } else { 0 }),
            detail: Some(detail),
            ..Step::default()
        }
    }
}

/// Maps the body into variables: in place when that is cheap for sure,
/// otherwise on a blocking thread, under one of the runner's mapping slots
/// (one per core, all but one for a single account) and the mapping deadline,
/// which starts when the slot is granted; waiting for a slot is bounded by the
/// same deadline (see the module documentation).
async fn map(
    runner: &crate::runner::Runner,
    account: flowhook_core::ids::AccountId,
    response: &Response,
    body: &str,
) -> Result<Vec<(VarName, String)>, Refusal> {
    if response.mappings.is_empty() {
        // Nothing is read: no need for a thread.
        return Ok(Vec::new());
    }
    if body.len() <= MAX_INLINE_MAPPING_BYTES
        && response.mappings.iter().all(|m| m.path.is_direct())
    {
        return map_response_until(response, body, &Cancel::default());
    }
    let Ok(slot) =
        tokio::time::timeout(MAPPING_DEADLINE, runner.mapping_slots.acquire(account)).await
    else {
        return Err(refuse(
            Failure::MappingFailed,
            format!(
                "no mapping slot came free within the mapping deadline of {} s; this account's \
                 other mappings are slow",
                MAPPING_DEADLINE.as_secs_f64()
            ),
        ));
    };
    let cancel = Cancel::default();
    // Whatever ends this wait — the deadline, or the execution itself being
    // dropped (a shutdown) — the evaluation on the blocking thread stops too.
    let _stop_when_dropped = StopOnDrop(cancel.clone());
    let work = {
        let (response, body, cancel) = (response.clone(), body.to_owned(), cancel.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let _slot = slot;
                map_response_until(&response, &body, &cancel)
            })
            .await
            .unwrap_or_else(|e| {
                Err(refuse(
                    Failure::InvalidResponse,
                    format!("mapping stopped: {e}"),
                ))
            })
        }
    };
    match tokio::time::timeout(MAPPING_DEADLINE, work).await {
        Ok(mapped) => mapped,
        Err(_) => {
            cancel.cancel();
            Err(refuse(
                Failure::MappingFailed,
                format!(
                    "mapping the response took longer than the mapping deadline of {} s; \
                     simplify the paths (a `//` or a function inside a predicate costs time \
                     in the document size for every node it is tried on)",
                    MAPPING_DEADLINE.as_secs_f64()
                ),
            ))
        }
    }
}

/// Tells a mapping to stop when dropped.
struct StopOnDrop(Cancel);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The request to send and its trace (stored credentials shown as `***`).
async fn prepare(
    request: &Request,
    cx: &StepContext<'_>,
) -> Result<(RenderedRequest, Value), Refusal> {
    let allow_http = cx.input.account.allow_http;
    let Some(id) = request.webhook else {
        let rendered = render_request(request, cx.vars, allow_http)?;
        let trace = request_trace(&rendered);
        return Ok((rendered, trace));
    };
    let platform = &cx.runner.platform;
    let hook = match platform.webhook(cx.input.account.id, id).await {
        Ok(Some(hook)) => hook,
        Ok(None) => {
            return Err(refuse(
                Failure::InvalidRequest,
                format!("webhook {id} is not registered in this account"),
            ));
        }
        Err(e) => return Err(refuse(Failure::InvalidRequest, e)),
    };
    let stored = platform
        .stored_headers(&hook)
        .map_err(|e| refuse(Failure::InvalidRequest, e))?;
    let literal = hook.url.as_str().replace('$', "$$");
    let url = Template::parse(&literal)
        .map_err(|e| refuse(Failure::InvalidRequest, format!("webhook {id}: {e}")))?;
    let own = Request {
        webhook: None,
        method: hook.method,
        url,
        auth: Auth::None,
        headers: request.headers.clone(),
        query: request.query.clone(),
        body_type: hook.body_type,
        body: request.body.clone(),
    };
    let mut rendered = render_request(&own, cx.vars, allow_http)?;
    let set_by_widget = |name: &str| {
        rendered
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    };
    let stored: Vec<(String, String)> = stored
        .into_iter()
        .filter(|(k, _)| !set_by_widget(k))
        .collect();
    let mut shown = rendered.clone();
    shown.headers = stored
        .iter()
        .map(|(k, _)| (k.clone(), "***".to_owned()))
        .chain(rendered.headers.iter().cloned())
        .collect();
    let mut trace = request_trace(&shown);
    trace["webhook"] = json!(id.to_string());
    rendered.headers = stored.into_iter().chain(rendered.headers).collect();
    Ok((rendered, trace))
}

fn set_all(cx: &mut StepContext<'_>, values: Vec<(VarName, String)>) {
    for (var, value) in values {
        cx.vars.set(&var, value);
    }
}

/// Status code (0 without a response), failure by transport or status, the
/// response as the trace shows it, and an error message.
fn judge(
    result: &Result<InboundResponse, EgressError>,
    elapsed: Duration,
) -> (u16, Option<Failure>, Value, Option<String>) {
    match result {
        Err(e) => (
            0,
            Some(transport_failure(e)),
            json!({"duration_ms": ms(elapsed)}),
            Some(e.to_string()),
        ),
        Ok(resp) => {
            let failure = if resp.truncated {
                Some(Failure::ResponseTooLarge)
            } else {
                Failure::of_status(resp.status)
            };
            let error = match failure {
                Some(Failure::ResponseTooLarge) => Some(format!(
                    "the response body is larger than {MAX_RESPONSE_BYTES} bytes"
                )),
                Some(_) => Some(format!("the destination answered HTTP {}", resp.status)),
                None => None,
            };
            (resp.status, failure, response_trace(resp), error)
        }
    }
}

fn transport_failure(e: &EgressError) -> Failure {
    match e {
        EgressError::Blocked { .. } => Failure::DestinationBlocked,
        EgressError::Timeout(_) => Failure::Timeout,
        EgressError::InvalidRequest(_) => Failure::InvalidRequest,
        EgressError::Dns { .. }
        | EgressError::Refused(_)
        | EgressError::Tls { .. }
        | EgressError::Connect { .. }
        | EgressError::Other(_) => Failure::ConnectionFailed,
    }
}

/// The URL with the values of sensitive query parameters shown as `***`.
fn url_trace(url: &url::Url) -> String {
    if !url.query_pairs().any(|(k, _)| is_sensitive_name(&k)) {
        return url.to_string();
    }
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if is_sensitive_name(&k) {
                "***".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    shown.query_pairs_mut().clear().extend_pairs(pairs);
    shown.to_string()
}

fn headers_trace(headers: &[(String, String)]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(k, v)| {
                json!([
                    k,
                    if is_sensitive_name(k) {
                        "***"
                    } else {
                        v.as_str()
                    }
                ])
            })
            .collect(),
    )
}

fn capped(body: &[u8]) -> (String, bool) {
    if body.len() <= MAX_TRACE_BODY_BYTES {
        return (String::from_utf8_lossy(body).into_owned(), false);
    }
    let mut text = String::from_utf8_lossy(&body[..MAX_TRACE_BODY_BYTES]).into_owned();
    // A cut in the middle of a character shows as U+FFFD; drop it.
    if text.ends_with('\u{FFFD}') {
        text.pop();
    }
    (text, true)
}

fn request_trace(r: &RenderedRequest) -> Value {
    let (body, cut) = capped(r.body.as_deref().unwrap_or("").as_bytes());
    json!({
        "method": r.method.as_str(),
        "url": url_trace(r.url.as_url()),
        "headers": headers_trace(&r.headers),
        "body": r.body.as_ref().map(|_| body),
        "body_truncated": cut,
        "body_bytes": r.body.as_ref().map_or(0, String::len),
    })
}

fn response_trace(resp: &InboundResponse) -> Value {
    let (body, cut) = capped(&resp.body);
    json!({
        "status": resp.status,
        "headers": headers_trace(&resp.headers),
        "body": body,
        "body_truncated": cut || resp.truncated,
        // What was read: the full length, up to the response cap.
        "body_bytes": resp.body.len(),
        "duration_ms": ms(resp.duration),
    })
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
