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
use flowhook_core::vars::{CALL_NAMES, Namespace, VarName, Variables};
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
    /// The contact [default: cli.number of an incoming call, else dnis.number].
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
    let call = object_of_texts(&args.call)?;
    if let Some(unknown) = call.keys().find(|k| !CALL_NAMES.contains(&k.as_str())) {
        return Err(format!(
            "{}: `{unknown}` is not a call detail; known: {}",
            args.call.display(),
            CALL_NAMES.join(", ")
        ));
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
    let incoming = call.get("incoming").is_some_and(|v| v == "true");
    let contact = args
        .contact
        .clone()
        .or_else(|| {
            call.get(if incoming {
                "cli.number"
            } else {
                "dnis.number"
            })
            .cloned()
        })
        .ok_or("give --contact, or cli.number (incoming) / dnis.number (outgoing) in the call")?;
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
            let _ = writeln!(out, "        {name} = {value:?}");
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
