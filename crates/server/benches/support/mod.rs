//! What the load harnesses share: the real `flowhook serve` process (built in
//! release with the bench), its CPU time and memory read from `/proc`, the
//! PostgreSQL server's CPU time, a closed-loop load driver and its report.
//!
//! The server runs as a child process so that its CPU and RSS are its own,
//! not the load generator's or the receiver's.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "bench-admin-token-0123456789";
pub const MASTER: &str = "ef";

/// The master key every bench server uses (64 hex digits).
pub fn master_key() -> String {
    MASTER.repeat(32)
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// PostgreSQL for the harness: `LOAD_POSTGRES_URL`, else the tests' server.
pub fn postgres_base_url() -> Option<String> {
    std::env::var("LOAD_POSTGRES_URL")
        .or_else(|_| std::env::var("FLOWHOOK_TEST_DATABASE_URL"))
        .ok()
}

/// A child process that prints `… listen=ADDR …` on stderr once it serves.
pub struct Server {
    pub child: Child,
    pub addr: String,
}

impl Server {
    /// `flowhook serve` on `db_url`, allowed to reach loopback.
    pub fn flowhook(db_url: &str, data_dir: &std::path::Path, extra: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flowhook"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("FLOWHOOK_DATABASE_URL", db_url)
            .env("FLOWHOOK_ADMIN_TOKEN", ADMIN)
            .env("FLOWHOOK_MASTER_KEY", master_key())
            .env("FLOWHOOK_EGRESS_ALLOW_CIDRS", "127.0.0.1/32")
            .env(
                "RUST_LOG",
                std::env::var("LOAD_RUST_LOG").unwrap_or("info".into()),
            );
        for (k, v) in extra {
            cmd.env(k, v);
        }
        Server::spawn(cmd, "flowhook serving")
    }

    /// Runs `cmd` and waits for the line naming its address.
    pub fn spawn(mut cmd: Command, ready: &'static str) -> Server {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && line.contains(ready) {
                    let addr = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("listen="))
                        .map(str::to_owned);
                    let _ = tx.send(addr);
                    sent = true;
                }
                if line.contains("ERROR") || line.contains("panicked") {
                    eprintln!("server: {line}");
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .flatten()
            .expect("the server printed its address");
        Server { child, addr }
    }

    /// Runs `cmd`, which will listen on `addr`, and waits until it accepts
    /// connections (for servers that do not print `listen=ADDR`).
    pub fn spawn_at(mut cmd: Command, addr: std::net::SocketAddr) -> Server {
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nothing listens on {addr}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Server {
            child,
            addr: addr.to_string(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) the process has used so far.
    pub fn cpu(&self) -> f64 {
        process_cpu(self.pid()).unwrap_or(0.0)
    }

    /// Resident memory now, and its peak, in MB.
    pub fn rss(&self) -> (f64, f64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
                .unwrap_or(0.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/proc/<pid>/stat` fields after the command name (which is in parentheses
/// and may hold spaces): state is [0], ppid [1], utime [11], stime [12],
/// cutime [13], cstime [14].
fn stat_fields(pid: u32) -> Option<Vec<f64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(
        rest.split_whitespace()
            .map(|f| f.parse().unwrap_or(0.0))
            .collect(),
    )
}

/// CPU seconds this harness process (load generator and receivers) has used.
pub fn harness_cpu() -> f64 {
    process_cpu(std::process::id()).unwrap_or(0.0)
}

fn process_cpu(pid: u32) -> Option<f64> {
    let f = stat_fields(pid)?;
    Some((f.get(11)? + f.get(12)?) / TICKS)
}

/// CPU seconds used so far by PostgreSQL: every live `postgres` process, plus
/// what the postmaster's exited children (closed connections) used.
pub fn postgres_cpu() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let postgres: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .collect();
    postgres
        .iter()
        .filter_map(|pid| {
            let f = stat_fields(*pid)?;
            let own = f.get(11)? + f.get(12)?;
            let is_postmaster = !postgres.contains(&(*f.get(1)? as u32));
            let reaped = if is_postmaster {
                f.get(13)? + f.get(14)?
            } else {
                0.0
            };
            Some((own + reaped) / TICKS)
        })
        .sum()
}

/// Runs `n` jobs on `concurrency` tasks, each job as soon as the previous one
/// of its task ended (a closed loop, as wrk does). Returns the elapsed time and
/// each job's latency.
pub async fn drive<F, Fut>(n: usize, concurrency: usize, job: F) -> (Duration, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (job, next) = (job.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                job(i).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::with_capacity(n);
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    (started.elapsed(), all)
}

/// The `p`-quantile of sorted durations, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Prints one line of a closed-loop run; returns the rate.
pub fn report(name: &str, n: usize, (elapsed, mut lat): (Duration, Vec<Duration>)) -> f64 {
    lat.sort();
    let rate = n as f64 / elapsed.as_secs_f64();
    println!(
        "{name:<16} {n:>6} in {:>6.2} s {rate:>8.0}/s  p50 {:>6.2} ms  p99 {:>6.2} ms",
        elapsed.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99)
    );
    rate
}

/// A fresh database for a bench server: SQLite in `dir`, or a new PostgreSQL
/// database.
pub async fn database(backend: &str, dir: &std::path::Path) -> Option<String> {
    match backend {
        "sqlite" => Some(format!("sqlite://{}", dir.join("flowhook.db").display())),
        _ => {
            let base = postgres_base_url()?;
            Some(flowhook_storage::testing::fresh_postgres_url_from(&base).await)
        }
    }
}

/// An account (allowed plain http) on a running server; its API key.
pub async fn account(http: &reqwest::Client, addr: &str) -> String {
    let account: serde_json::Value = http
        .post(format!("http://{addr}/v1/accounts"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"name": "bench", "allow_http": true}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    account["security_id"]
        .as_str()
        .expect("security id")
        .to_owned()
}

/// Saves a flow; its id.
pub async fn flow(http: &reqwest::Client, addr: &str, key: &str, doc: String) -> String {
    let saved: serde_json::Value = http
        .post(format!("http://{addr}/v1/flows"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(doc)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    saved["id"]
        .as_str()
        .unwrap_or_else(|| panic!("flow saved: {saved}"))
        .to_owned()
}
