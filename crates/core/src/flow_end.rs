//! The flow-end webhook's document (SPEC §6), built exactly: field names,
//! nesting and order as the original platform sends them, `incoming` as a JSON
//! boolean, absent call values as `""`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::vars::{Namespace, Variables};

/// One call leg.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CallDetail {
    pub callee_number: String,
    pub connect_time: String,
    pub did_number: String,
    pub duration: String,
    pub end_time: String,
    pub hangup_cause: String,
    pub incoming: bool,
    pub start_time: String,
}

/// One `{name, value}` of `keys`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Key {
    pub name: String,
    pub value: String,
}

/// One recording.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq, Clone, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recording {
    #[schema(example = "call-6f1c2a9e.mp3")]
    pub recorded_file_name: String,
    #[schema(example = "https://recordings.example.com/call-6f1c2a9e.mp3")]
    pub recorded_file_public_path: String,
}

/// The document.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FlowEndPayload {
    #[serde(rename = "callDetails")]
    pub call_details: Vec<CallDetail>,
    pub keys: Vec<Key>,
    #[serde(rename = "phonon-uuid")]
    pub phonon_uuid: String,
    #[serde(rename = "recordingUrls")]
    pub recording_urls: Vec<Recording>,
}

impl FlowEndPayload {
    /// Builds the document from the call details (`$call.` names without the
    /// prefix), the variables at the end, the execution id and the recordings.
    pub fn build(
        call: &BTreeMap<String, String>,
        variables: &Variables,
        execution_id: &str,
        recordings: Vec<Recording>,
    ) -> FlowEndPayload {
        let get = |name: &str| call.get(name).cloned().unwrap_or_default();
        let incoming = call.get("incoming").is_some_and(|v| v == "true");
        // The DID: given, else the number on our side of the call.
        let did = call
            .get("did.number")
            .filter(|d| !d.is_empty())
            .cloned()
            .unwrap_or_else(|| {
                get(if incoming {
                    "dnis.number"
                } else {
                    "cli.number"
                })
            });
        FlowEndPayload {
            call_details: vec![CallDetail {
                callee_number: get("dnis.number"),
                connect_time: get("connect"),
                did_number: did,
                duration: get("duration"),
                end_time: get("hangup"),
                hangup_cause: get("isdn"),
                incoming,
                start_time: get("start"),
            }],
            keys: variables
                .iter()
                .filter(|(k, _)| k.namespace() == Namespace::FlowKey)
                .map(|(k, v)| Key {
                    name: k.to_string(),
                    value: v.clone(),
                })
                .collect(),
            phonon_uuid: execution_id.to_owned(),
            recording_urls: recordings,
        }
    }

    /// The bytes sent: compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vars::VarName;

    fn call(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn matches_the_spec_document_exactly() {
        let mut vars = Variables::new();
        vars.insert(
            VarName::parse("$flow.key.orderId").expect("v"),
            "A-17".into(),
        );
        vars.insert(VarName::parse("$user.key.lang").expect("v"), "hi".into());
        let c = call(&[
            ("dnis.number", "918000374000"),
            ("connect", "2026-11-21T10:00:03+05:30"),
            ("did.number", "912243692987"),
            ("duration", "57"),
            ("hangup", "2026-11-21T10:01:00+05:30"),
            ("isdn", "16"),
            ("incoming", "true"),
            ("start", "2026-11-21T10:00:00+05:30"),
        ]);
        let rec = Recording {
            recorded_file_name: "r.wav".into(),
            recorded_file_public_path: "https://rec.invalid/r.wav".into(),
        };
        let json = FlowEndPayload::build(&c, &vars, "6f1c2a9e", vec![rec]).to_json();
        assert_eq!(
            json,
            r#"{"callDetails":[{"calleeNumber":"918000374000","connectTime":"2026-11-21T10:00:03+05:30","didNumber":"912243692987","duration":"57","endTime":"2026-11-21T10:01:00+05:30","hangupCause":"16","incoming":true,"startTime":"2026-11-21T10:00:00+05:30"}],"keys":[{"name":"$flow.key.orderId","value":"A-17"}],"phonon-uuid":"6f1c2a9e","recordingUrls":[{"recordedFileName":"r.wav","recordedFilePublicPath":"https://rec.invalid/r.wav"}]}"#
        );
    }

    #[test]
    fn absent_values_are_empty_and_the_did_falls_back() {
        let vars = Variables::new();
        let incoming = FlowEndPayload::build(
            &call(&[
                ("incoming", "true"),
                ("dnis.number", "D"),
                ("cli.number", "C"),
            ]),
            &vars,
            "u",
            vec![],
        );
        assert_eq!(incoming.call_details[0].did_number, "D");
        assert_eq!(incoming.call_details[0].connect_time, "");
        let outgoing = FlowEndPayload::build(
            &call(&[
                ("incoming", "false"),
                ("dnis.number", "D"),
                ("cli.number", "C"),
            ]),
            &vars,
            "u",
            vec![],
        );
        assert_eq!(outgoing.call_details[0].did_number, "C");
        assert!(!outgoing.call_details[0].incoming);
        let none = FlowEndPayload::build(&BTreeMap::new(), &vars, "u", vec![]);
        assert!(!none.call_details[0].incoming, "absent incoming is false");
        assert_eq!(none.to_json().matches("\"\"").count(), 7);
    }
}
