//! `createOutbound`: the internal form of an outbound request (SPEC §5),
//! through the same [`crate::outbound::Outbound::create`] as `POST /v1/outbound`.
//!
//! Inputs (any group, as the seeds send them in `$flow.syskey`): `apiVersion`,
//! `securityID` (the calling account's own), `flowID`, `clientID`,
//! `delayMinutes`, `contactNumbers` (separated by spaces or commas), optional
//! `flowVersion`; every `$flow.key.*` sent becomes a `$flow.key` of the
//! outbound executions. Answers `$flow.key.obdResponseCode` (the SPEC code),
//! `obdReqID`, `obdPhononUUID` (the first execution's uuid; all of them in
//! `obdPhononUUIDs`) and, for a partial success, `obdInvalidNumbers`. An
//! accepted request (200, 201, 209) is `SUCCESS`; a refused one is `FAILED`
//! with its code still set, so a flow can branch on either.

use std::collections::BTreeMap;

use flowhook_core::internal::{Answer, Key, Keys, output};
use flowhook_core::outbound::{CallRequest, Refusal, Request, ResultCode, Start, split_numbers};
use flowhook_core::vars::Namespace;

use super::Context;
use crate::outbound::{Created, Source};

/// The method's own inputs: not passed on as `$flow.key`s when sent there.
const INPUTS: [&str; 7] = [
    "apiVersion",
    "securityID",
    "flowID",
    "flowVersion",
    "clientID",
    "delayMinutes",
    "contactNumbers",
];

pub(crate) async fn create(cx: &Context<'_>, keys: &Keys<'_>) -> Answer {
    let created = match request(keys) {
        Err(refusal) => Created::refused(refusal),
        Ok(request) => match own_account(cx, request.security_id.as_deref()).await {
            Err(created) => created,
            Ok(()) => {
                cx.outbound
                    .create(cx.account, &request, Source::Internal)
                    .await
            }
        },
    };
    answer(created)
}

/// The `securityID` must be the calling account's: a flow cannot schedule
/// another account's flows.
async fn own_account(cx: &Context<'_>, security_id: Option<&str>) -> Result<(), Created> {
    let account = cx.outbound.account_for(security_id).await?;
    if account.id == cx.account.id {
        return Ok(());
    }
    Err(Created::refused(Refusal::new(
        ResultCode::InvalidSecurityId,
        "securityID: it is not this account's security id",
    )))
}

fn request(keys: &Keys<'_>) -> Result<Request, Refusal> {
    let text = |name: &str| keys.get(name).map(str::to_owned);
    let delay = match keys.get("delayMinutes") {
        None => 0,
        Some(d) => d.trim().parse::<u32>().map_err(|_| {
            Refusal::new(
                ResultCode::InvalidFormat,
                format!("delayMinutes: {d:?} is not a whole number of minutes"),
            )
        })?,
    };
    let flow_version = match keys.get("flowVersion") {
        None => None,
        Some(v) => Some(v.trim().parse::<i64>().map_err(|_| {
            Refusal::new(
                ResultCode::InvalidFlowVersion,
                format!("flowVersion: {v:?} is not a version number"),
            )
        })?),
    };
    let flow_keys: BTreeMap<String, String> = keys
        .variables()
        .filter(|(name, _)| {
            name.namespace() == Namespace::FlowKey && !INPUTS.contains(&name.name())
        })
        .map(|(name, value)| (name.name().to_owned(), value.to_owned()))
        .collect();
    Ok(Request {
        api_version: text("apiVersion"),
        security_id: text("securityID"),
        flow_id: text("flowID"),
        flow_version,
        calls: vec![CallRequest {
            client_id: text("clientID"),
            start: Start::Delay(delay),
            numbers: keys
                .get("contactNumbers")
                .map(split_numbers)
                .unwrap_or_default(),
            keys: flow_keys,
        }],
    })
}

fn answer(created: Created) -> Answer {
    let mut keys: Vec<Key> = vec![output("obdResponseCode", created.code.code().to_string())];
    if let Some(id) = created.request_id {
        keys.push(output("obdReqID", id.to_string()));
    }
    if let Some(first) = created.execution_ids.first() {
        keys.push(output("obdPhononUUID", first.to_string()));
        let all: Vec<String> = created
            .execution_ids
            .iter()
            .map(ToString::to_string)
            .collect();
        keys.push(output("obdPhononUUIDs", all.join(" ")));
    }
    if !created.invalid.is_empty() {
        let bad: Vec<&str> = created.invalid.iter().map(|i| i.number.as_str()).collect();
        keys.push(output("obdInvalidNumbers", bad.join(" ")));
    }
    if created.code.is_accepted() {
        return Answer::success(keys);
    }
    let detail = created.detail.unwrap_or_default();
    Answer::failed_with(format!("{}: {detail}", created.code.message()), keys)
}
