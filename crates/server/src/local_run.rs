//! `flowhook run`: executes a flow file once, without a server or database, and
//! prints its trace. For flow authors: try a flow against real APIs from a shell.
//!
//! `$user.key` values live in memory for the run (seed them with `--user-keys`);
//! outgoing requests go through the same guarded egress client as the server,
//! configured by `FLOWHOOK_EGRESS_ALLOW_CIDRS`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use flowhook_core::flow::parse_flow;
use flowhook_core::ids::{AccountId, ExecutionId};
use flowhook_core::vars::{CALL_NAMES, Namespace, VarName, Variables, known_call_name};
use flowhook_engine::egress::{Egress, EgressConfig, EgressPolicy};
use flowhook_engine::runner::{
    AccountContext, ExecutionInput, ExecutionOutcome, Hangup, MemoryUserKeys, Runner, Status,
};

/// Options of `flowhook run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The flow document (JSON, SPEC §3).
    pub flow: PathBuf,
    /// Call details: a JSON object of `$call.` names without the prefix, e.g.
    /// {"cli.number": "918000000000", "incoming": true}.
    #[arg(long, value_name = "CALL.json")]
    pub call: PathBuf,
    /// Initial variables: a JSON object like {"$flow.key.orderId": "A-17"}.
    #[arg(long, value_name = "KEYS.json")]
    pub keys: Option<PathBuf>,
    /// Stored `$user.key` values of the contact: {"language": "hi"}.
    #[arg(long, value_name = "USER_KEYS.json")]
    pub user_keys: Option<PathBuf>,
    /// The contact [default: cli.number of an incoming call, dnis.number of an
    /// outgoing one, else whichever of the two the call has].
    #[arg(long)]
    pub contact: Option<String>,
    /// Report a remote hangup: run on_remote_hangup instead of the main path.
    #[arg(long)]
    pub remote_hangup: bool,
    /// Allow webhook widgets to call http:// URLs.
    #[arg(long)]
    pub allow_http: bool,
    /// Networks outgoing requests may reach although loopback or private.
    #[arg(long, env = "FLOWHOOK_EGRESS_ALLOW_CIDRS", value_name = "CIDRS")]
    pub egress_allow_cidrs: Option<String>,
    /// Print the execution as JSON instead of the readable trace.
    #[arg(long)]
    pub json: bool,
}

/// Exit codes: 0 completed, 1 the execution failed, 2 bad input (flow or files).
pub async fn run(args: RunArgs) -> u8 {
    match execute(&args).await {
        Ok(outcome) => {
            if args.json {
                println!("{}", outcome_json(&outcome));
            } else {
                print!("{}", render(&outcome));
            }
            if outcome.status == Status::Completed {
                0
            } else {
                1
            }
        }
        Err(message) => {
            eprintln!("flowhook run: {message}");
            2
        }
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

fn object_of_texts(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let serde_json::Value::Object(map) = read_json(path)? else {
        return Err(format!("{} must hold a JSON object", path.display()));
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect())
}

async fn execute(args: &RunArgs) -> Result<ExecutionOutcome, String> {
    let text = std::fs::read_to_string(&args.flow)
        .map_err(|e| format!("cannot read {}: {e}", args.flow.display()))?;
    let flow = parse_flow(&text).map_err(|errors| {
        let mut msg = format!("{} is not a valid flow:", args.flow.display());
        for e in errors {
            let _ = write!(msg, "\n  - {e}");
        }
        msg
    })?;
    let mut call = BTreeMap::new();
    for (name, value) in object_of_texts(&args.call)? {
        let Some(known) = known_call_name(&name) else {
            return Err(format!(
                "{}: `{name}` is not a call detail; known: {}",
                args.call.display(),
                CALL_NAMES.join(", ")
            ));
        };
        call.insert(known.to_owned(), value);
    }
    let mut keys = Variables::new();
    if let Some(path) = &args.keys {
        for (name, value) in object_of_texts(path)? {
            let var =
                VarName::parse(&name).map_err(|e| format!("{}: `{name}`: {e}", path.display()))?;
            if !matches!(var.namespace(), Namespace::FlowKey | Namespace::FlowSyskey) {
                return Err(format!(
                    "{}: {var}: only $flow.key.* and $flow.syskey.* can be given",
                    path.display()
                ));
            }
            keys.insert(var, value);
        }
    }
    let contact = contact_of(&mut call, args.contact.clone())?;
    let user_keys = match &args.user_keys {
        Some(path) => MemoryUserKeys::with(&contact, object_of_texts(path)?),
        None => MemoryUserKeys::default(),
    };
    let allow =
        flowhook_core::account::parse_net_list(args.egress_allow_cidrs.as_deref().unwrap_or(""))
            .map_err(|e| format!("FLOWHOOK_EGRESS_ALLOW_CIDRS: {e}"))?;

    let egress = Egress::new(EgressConfig {
        policy: EgressPolicy::new(allow),
        ..EgressConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let input = ExecutionInput {
        id: ExecutionId::generate(),
        account: AccountContext {
            id: AccountId::generate(),
            client_id: 0,
            allow_http: args.allow_http,
        },
        flow_id: "local".into(),
        contact,
        call,
        keys,
    };
    let hangup = Hangup::default();
    if args.remote_hangup {
        hangup.report();
    }
    Ok(Runner::new(egress)
        .run(&flow, &input, &user_keys, &hangup)
        .await)
}

/// The contact of a local run, and `incoming` when the call does not say.
///
/// The contact is `--contact`, else the other party's number: `cli.number` on
/// an incoming call, `dnis.number` on an outgoing one, falling back to whichever
/// of the two the call has. A call without `incoming` is taken as incoming when
/// it has a `cli.number` (someone called in) and as outgoing when it has only a
/// `dnis.number`; the inferred value is added to the call, so `$call.incoming`
/// and the flow-end message show it.
fn contact_of(
    call: &mut BTreeMap<String, String>,
    given: Option<String>,
) -> Result<String, String> {
    let cli = call.get("cli.number").cloned();
    let dnis = call.get("dnis.number").cloned();
    let incoming = match call.get("incoming") {
        Some(value) => value == "true",
        None => {
            let inferred = cli.is_some();
            if cli.is_some() || dnis.is_some() {
                call.insert("incoming".to_owned(), inferred.to_string());
            }
            inferred
        }
    };
    let (first, second) = if incoming { (cli, dnis) } else { (dnis, cli) };
    given
        .or(first)
        .or(second)
        .ok_or_else(|| "give --contact, or cli.number / dnis.number in the call".to_owned())
}

fn outcome_json(o: &ExecutionOutcome) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "status": o.status.as_str(),
        "reason": o.reason,
        "variables": o.variables,
        "persisted": o.persisted,
        "trace": o.trace,
    }))
    .unwrap_or_default()
}

/// The readable trace: one block per step, then the outcome and the variables.
pub fn render(o: &ExecutionOutcome) -> String {
    let mut out = String::new();
    for t in &o.trace {
        let line = t
            .line
            .map(|l| format!("line {l}"))
            .unwrap_or_else(|| "end".into());
        let next = t.next.as_deref().unwrap_or("(path ends)");
        let _ = writeln!(
            out,
            "{:>4}  [{}] {} ({})  {line} → {next}  {:.2} ms",
            t.step, t.root, t.widget, t.kind, t.duration_ms
        );
        for (name, value) in &t.changed {
            match t.truncated.get(name) {
                Some(len) => {
                    let _ = writeln!(out, "        {name} = {value:?}… ({len} bytes)");
                }
                None => {
                    let _ = writeln!(out, "        {name} = {value:?}");
                }
            }
        }
        if let Some(detail) = &t.detail {
            let _ = writeln!(out, "        {detail}");
        }
        if let Some(e) = &t.error {
            let _ = writeln!(out, "        error: {e}");
        }
    }
    let _ = writeln!(out, "status: {}", o.status.as_str());
    if let Some(reason) = &o.reason {
        let _ = writeln!(out, "reason: {reason}");
    }
    let _ = writeln!(out, "variables:");
    for (name, value) in &o.variables {
        let _ = writeln!(out, "  {name} = {value:?}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_contact_is_the_other_party_and_incoming_is_inferred() {
        /// The call, `--contact`, the contact wanted, `incoming` afterwards.
        type Case = (
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
            &'static str,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (&[("cli.number", "91c")], None, "91c", Some("true")),
            (&[("dnis.number", "91d")], None, "91d", Some("false")),
            (
                &[("cli.number", "91c"), ("dnis.number", "91d")],
                None,
                "91c",
                Some("true"),
            ),
            (
                &[
                    ("cli.number", "91c"),
                    ("dnis.number", "91d"),
                    ("incoming", "false"),
                ],
                None,
                "91d",
                Some("false"),
            ),
            // Said incoming, but only the dialled number is known: that one.
            (
                &[("dnis.number", "91d"), ("incoming", "true")],
                None,
                "91d",
                Some("true"),
            ),
            (&[("cli.number", "91c")], Some("91x"), "91x", Some("true")),
            (&[], Some("91x"), "91x", None),
        ];
        for (given_call, contact, want, incoming) in cases {
            let mut details = call(given_call);
            let got = contact_of(&mut details, contact.map(str::to_owned));
            assert_eq!(got.as_deref(), Ok(*want), "{given_call:?}");
            assert_eq!(
                details.get("incoming").map(String::as_str),
                *incoming,
                "{given_call:?}"
            );
        }
        assert!(contact_of(&mut call(&[("start", "x")]), None).is_err());
    }
}
