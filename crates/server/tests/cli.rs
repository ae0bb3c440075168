//! `flowhook run`, `flowhook rotate-master-key` and `flowhook --help`, tested
//! as processes.

use std::process::Command;

fn flowhook() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowhook"))
}

fn examples(file: &str) -> String {
    format!("{}/../../examples/{file}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn run_prints_a_readable_trace_and_exits_zero() {
    let out = flowhook()
        .args([
            "run",
            &examples("greeting.flow.json"),
            "--call",
            &examples("call.json"),
            "--keys",
            &examples("keys.json"),
        ])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("[start] remember (store_variable)  line 0 → vip"),
        "{stdout}"
    );
    assert!(stdout.contains("[on_complete] summary"), "{stdout}");
    assert!(stdout.contains("status: completed"));
    assert!(stdout.contains("$flow.key.route = \"in\""));
}

#[test]
fn run_json_output_and_user_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let user = dir.path().join("user.json");
    std::fs::write(&user, r#"{"calls": "before"}"#).expect("write");
    let out = flowhook()
        .args([
            "run",
            &examples("greeting.flow.json"),
            "--call",
            &examples("call.json"),
            "--json",
            "--remote-hangup",
        ])
        .arg("--user-keys")
        .arg(&user)
        .output()
        .expect("runs");
    assert!(out.status.success());
    let exec: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(exec["status"], "completed");
    assert_eq!(
        exec["variables"]["$user.key.calls"], "before",
        "seeded and untouched on the hangup path"
    );
    assert_eq!(exec["trace"][0]["root"], "on_remote_hangup");
}

#[test]
fn contact_keys_are_read_only_by_flows_that_touch_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let user = dir.path().join("user.json");
    std::fs::write(&user, r#"{"calls": "before"}"#).expect("write");
    let run = |flow: &std::path::Path| -> serde_json::Value {
        let out = flowhook()
            .arg("run")
            .arg(flow)
            .args(["--call", &examples("call.json"), "--json"])
            .arg("--user-keys")
            .arg(&user)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    // Never mentions $user.key: the contact's keys are not read.
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, r#"{"name":"plain","start":"a","widgets":{"a":{"type":"store_variable","assign":{"$flow.key.x":"1"},"lines":[null]}}}"#).expect("write");
    let exec = run(&plain);
    assert_eq!(exec["variables"]["$flow.key.x"], "1");
    assert!(exec["variables"].get("$user.key.calls").is_none(), "{exec}");
    // Reads one: every key of the contact is among its variables.
    let reads = dir.path().join("reads.json");
    std::fs::write(&reads, r#"{"name":"reads","start":"a","widgets":{"a":{"type":"store_variable","assign":{"$flow.key.x":"${user.key.calls}"},"lines":[null]}}}"#).expect("write");
    let exec = run(&reads);
    assert_eq!(exec["variables"]["$flow.key.x"], "before");
    assert_eq!(exec["variables"]["$user.key.calls"], "before");
}

#[test]
fn run_exits_two_naming_the_widget_of_an_invalid_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flow = dir.path().join("bad.json");
    std::fs::write(&flow, r#"{"name":"x","start":"a","widgets":{"a":{"type":"store_variable","assign":{"$flow.key.x":"${flow.key"},"lines":[null]}}}"#).expect("write");
    let out = flowhook()
        .args(["run"])
        .arg(&flow)
        .args(["--call", &examples("call.json")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("widget \"a\""), "{stderr}");
    let out = flowhook()
        .args([
            "run",
            "/no/such/flow.json",
            "--call",
            &examples("call.json"),
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn run_takes_the_contact_from_a_call_with_only_a_cli_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flow = dir.path().join("who.json");
    std::fs::write(&flow, r#"{"name":"who","start":"a","widgets":{
        "a":{"type":"store_variable","assign":{"$flow.key.who":"$user.syskey.contactNumber","$flow.key.cli":"$call.cli","$flow.key.in":"$call.incoming"},"lines":[null]}}}"#).expect("write");
    let call = dir.path().join("call.json");
    std::fs::write(&call, r#"{"cli.number": "918000374000"}"#).expect("write");
    let out = flowhook()
        .arg("run")
        .arg(&flow)
        .arg("--call")
        .arg(&call)
        .arg("--json")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let exec: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(exec["status"], "completed", "{exec}");
    let vars = &exec["variables"];
    assert_eq!(vars["$user.syskey.contactNumber"], "918000374000", "{exec}");
    assert_eq!(vars["$flow.key.who"], "918000374000");
    assert_eq!(
        vars["$flow.key.cli"], "918000374000",
        "$call.cli is $call.cli.number"
    );
    assert_eq!(vars["$flow.key.in"], "true", "inferred: someone called in");

    // Only the dialled number: an outgoing call to it.
    std::fs::write(&call, r#"{"dnis.number": "912243692987"}"#).expect("write");
    let out = flowhook()
        .arg("run")
        .arg(&flow)
        .arg("--call")
        .arg(&call)
        .arg("--json")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let exec: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(exec["variables"]["$flow.key.who"], "912243692987", "{exec}");
    assert_eq!(exec["variables"]["$flow.key.in"], "false");
}

#[test]
fn run_exits_one_on_a_failed_execution() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flow = dir.path().join("spin.json");
    std::fs::write(&flow, r#"{"name":"spin","start":"a","widgets":{
        "a":{"type":"condition","cases":[{"when":{"var":"$flow.key.stop","op":"not_empty"}}],"lines":[null,"a"]}}}"#).expect("write");
    let out = flowhook()
        .arg("run")
        .arg(&flow)
        .args(["--call", &examples("call.json")])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("status: failed") && stdout.contains("loop guard"),
        "{stdout}"
    );
}

#[test]
fn help_explains_the_commands_and_options() {
    let out = flowhook().arg("--help").output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("serve") && text.contains("run"), "{text}");
    let out = flowhook().args(["serve", "--help"]).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    for option in [
        "--listen",
        "FLOWHOOK_LISTEN",
        "--database-url",
        "FLOWHOOK_MASTER_KEY",
        "FLOWHOOK_EGRESS_ALLOW_CIDRS",
        "FLOWHOOK_RETRY_SCHEDULE",
        "FLOWHOOK_SHORT_BASE_URL",
    ] {
        assert!(text.contains(option), "serve --help lacks {option}");
    }
}

#[test]
fn serve_stops_with_a_message_naming_a_bad_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = flowhook()
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("FLOWHOOK_LISTEN", "not-an-address")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FLOWHOOK_LISTEN"), "{stderr}");
}

/// Log lines are written out in batches: the server still writes every one
/// of them before it exits, the last ones included.
#[test]
fn serve_writes_out_its_last_log_lines_before_it_exits() {
    use std::io::{BufRead, BufReader, Read};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = flowhook()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env(
            "FLOWHOOK_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("f.db").display()),
        )
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serves");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("flowhook serving") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("a line") > 0,
            "no serving line"
        );
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("the rest");
    assert!(child.wait().expect("exits").success(), "{rest}");
    // The last line the server logs, right before its exit.
    let last = rest.lines().last().unwrap_or_default();
    assert!(last.contains("flowhook stopped"), "{rest}");
}

#[test]
fn rotate_master_key_replaces_the_generated_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rotate = |new_key: &str| {
        flowhook()
            .args(["rotate-master-key", "--data-dir"])
            .arg(dir.path())
            .env_remove("FLOWHOOK_MASTER_KEY")
            .env("FLOWHOOK_NEW_MASTER_KEY", new_key)
            .output()
            .expect("runs")
    };
    let new_key = "fe".repeat(32);
    let out = rotate(&new_key);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("re-sealed under key"), "{stdout}");
    let key_file = dir.path().join("master-key");
    assert_eq!(
        std::fs::read_to_string(&key_file).expect("key file").trim(),
        new_key,
        "the embedded key file holds the new key"
    );
    // The same key again, or a malformed one, changes nothing and says why.
    let out = rotate(&new_key);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the current key"));
    let out = rotate("short");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("new key"));
    assert_eq!(
        std::fs::read_to_string(&key_file).expect("key file").trim(),
        new_key
    );
}
