//! Configuration: defaults, then a TOML file, then `FLOWHOOK_*` environment
//! variables, then command-line flags; each later source wins.
//!
//! Everything is validated here, at start-up: a bad value stops the program with a
//! message naming the setting (`FLOWHOOK_LISTEN`), so nothing downstream re-checks.
//! Secrets are held in types that never print.

use flowhook_engine::executions::Admission;
use flowhook_storage::Synchronous;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use flowhook_core::secret::{MasterKey, SecretString};
use ipnet::IpNet;
use serde::Deserialize;

/// The settings of `flowhook serve` as given, before validation. Field names are
/// the file's keys; the environment names are `FLOWHOOK_` + the upper-case key.
#[derive(Debug, Default, Clone, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// Address to listen on.
    #[arg(long, env = "FLOWHOOK_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,

    /// Database: sqlite://PATH (embedded, the default, under the data folder) or
    /// postgres://USER@HOST/DB (several servers can share it).
    #[arg(long, env = "FLOWHOOK_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,

    /// Folder for the embedded database and generated secrets [default: ./flowhook-data].
    #[arg(long, env = "FLOWHOOK_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Bearer token for account management. With SQLite and no token, one is
    /// generated and saved as DATA_DIR/admin-token.
    #[arg(
        long,
        env = "FLOWHOOK_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,

    /// Key encrypting stored secrets: 32 bytes as 64 hex digits or base64. With
    /// SQLite and no key, one is generated and saved as DATA_DIR/master-key.
    #[arg(
        long,
        env = "FLOWHOOK_MASTER_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub master_key: Option<String>,

    /// Comma-separated networks that outgoing requests may reach although they are
    /// loopback or private, e.g. 127.0.0.1/32,10.1.0.0/16 [default: none].
    #[arg(long, env = "FLOWHOOK_EGRESS_ALLOW_CIDRS", value_name = "CIDRS")]
    #[serde(default, deserialize_with = "list_or_string")]
    pub egress_allow_cidrs: Option<String>,

    /// Comma-separated seconds between flow-end delivery attempts.
    #[arg(long, env = "FLOWHOOK_RETRY_SCHEDULE", value_name = "SECONDS")]
    #[serde(default, deserialize_with = "list_or_string")]
    pub retry_schedule: Option<String>,

    /// Base URL of short links, e.g. https://s.example.org [default: the public URL].
    #[arg(long, env = "FLOWHOOK_SHORT_BASE_URL", value_name = "URL")]
    pub short_base_url: Option<String>,

    /// This server's own public base URL, as callers and flows reach it (the
    /// internal-webhook endpoint is this plus /internal), e.g.
    /// https://flowhook.example.org [default: http:// + the listen address].
    #[arg(long, env = "FLOWHOOK_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Comma-separated networks of reverse proxies whose X-Forwarded-For is
    /// believed for the IP whitelist, e.g. 127.0.0.1/32 [default: none: only the
    /// TCP peer counts].
    #[arg(long, env = "FLOWHOOK_TRUSTED_PROXIES", value_name = "CIDRS")]
    #[serde(default, deserialize_with = "list_or_string")]
    pub trusted_proxies: Option<String>,

    /// Seconds a server holds a claimed flow-end delivery before another may take
    /// it over (after a crash) [default: 60].
    #[arg(long, env = "FLOWHOOK_DELIVERY_LEASE_SECONDS", value_name = "SECONDS")]
    pub delivery_lease_seconds: Option<u64>,

    /// Seconds one flow-end delivery attempt may take [default: 30].
    #[arg(
        long,
        env = "FLOWHOOK_DELIVERY_TIMEOUT_SECONDS",
        value_name = "SECONDS"
    )]
    pub delivery_timeout_seconds: Option<u64>,

    /// Log format: text or json [default: text].
    #[arg(long, env = "FLOWHOOK_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// On SIGTERM, seconds that running executions (and requests they sent
    /// without waiting) get to finish before they are ended as interrupted
    /// [default: 30].
    #[arg(long, env = "FLOWHOOK_SHUTDOWN_GRACE_SECONDS", value_name = "SECONDS")]
    pub shutdown_grace_seconds: Option<u64>,

    /// Executions this server runs at once; more are refused with 429
    /// [default: 10000].
    #[arg(long, env = "FLOWHOOK_MAX_RUNNING_EXECUTIONS", value_name = "N")]
    pub max_running_executions: Option<usize>,

    /// Executions one account runs at once on this server; more are refused
    /// with 429 [default: 2000].
    #[arg(
        long,
        env = "FLOWHOOK_MAX_RUNNING_EXECUTIONS_PER_ACCOUNT",
        value_name = "N"
    )]
    pub max_running_executions_per_account: Option<usize>,

    /// Open HTTP connections at once; more wait until one closes. Keep it below
    /// the process's file-descriptor limit (`ulimit -n`) [default: 1000].
    #[arg(long, env = "FLOWHOOK_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Seconds an HTTP request to flowhook may take before it is answered 408
    /// [default: 300].
    #[arg(long, env = "FLOWHOOK_REQUEST_TIMEOUT_SECONDS", value_name = "SECONDS")]
    pub request_timeout_seconds: Option<u64>,

    /// Durability of an embedded (SQLite) commit: `normal` survives a crash of
    /// flowhook but may lose the last commits on a power loss; `full` flushes
    /// every commit to disk first (slower) [default: normal].
    #[arg(long, env = "FLOWHOOK_SQLITE_SYNCHRONOUS", value_name = "MODE")]
    pub sqlite_synchronous: Option<String>,
}

/// Accepts `["a","b"]`, `[5, 300]` or `"a,b"` in the file.
fn list_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Item {
        Text(String),
        Number(u64),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        One(String),
        Many(Vec<Item>),
    }
    Ok(Some(match Form::deserialize(d)? {
        Form::One(s) => s,
        Form::Many(items) => items
            .into_iter()
            .map(|i| match i {
                Item::Text(s) => s,
                Item::Number(n) => n.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
    }))
}

impl RawSettings {
    /// Fills every unset field of `self` from `lower`.
    fn or(self, lower: RawSettings) -> RawSettings {
        RawSettings {
            listen: self.listen.or(lower.listen),
            database_url: self.database_url.or(lower.database_url),
            data_dir: self.data_dir.or(lower.data_dir),
            admin_token: self.admin_token.or(lower.admin_token),
            master_key: self.master_key.or(lower.master_key),
            egress_allow_cidrs: self.egress_allow_cidrs.or(lower.egress_allow_cidrs),
            retry_schedule: self.retry_schedule.or(lower.retry_schedule),
            short_base_url: self.short_base_url.or(lower.short_base_url),
            public_url: self.public_url.or(lower.public_url),
            trusted_proxies: self.trusted_proxies.or(lower.trusted_proxies),
            delivery_lease_seconds: self.delivery_lease_seconds.or(lower.delivery_lease_seconds),
            delivery_timeout_seconds: self
                .delivery_timeout_seconds
                .or(lower.delivery_timeout_seconds),
            log_format: self.log_format.or(lower.log_format),
            sqlite_synchronous: self.sqlite_synchronous.or(lower.sqlite_synchronous),
            shutdown_grace_seconds: self.shutdown_grace_seconds.or(lower.shutdown_grace_seconds),
            max_running_executions: self.max_running_executions.or(lower.max_running_executions),
            max_running_executions_per_account: self
                .max_running_executions_per_account
                .or(lower.max_running_executions_per_account),
            request_timeout_seconds: self
                .request_timeout_seconds
                .or(lower.request_timeout_seconds),
            max_connections: self.max_connections.or(lower.max_connections),
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub admin_token: SecretString,
    pub master_key: MasterKey,
    /// The data folder's `master-key` file, when the key was read from it (an
    /// embedded installation without `FLOWHOOK_MASTER_KEY`); key rotation
    /// replaces it.
    pub master_key_file: Option<PathBuf>,
    pub egress_allow_cidrs: Vec<IpNet>,
    pub retry_schedule: Vec<u64>,
    /// This server's public base URL (`FLOWHOOK_PUBLIC_URL`).
    pub public_url: url::Url,
    /// Networks whose `X-Forwarded-For` is believed (`FLOWHOOK_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpNet>,
    /// Base of short links: `FLOWHOOK_SHORT_BASE_URL`, else the public URL.
    pub short_base_url: url::Url,
    pub delivery_lease: std::time::Duration,
    pub delivery_timeout: std::time::Duration,
    pub log_format: LogFormat,
    pub sqlite_synchronous: Synchronous,
    pub shutdown_grace: std::time::Duration,
    pub admission: Admission,
    pub request_timeout: std::time::Duration,
    pub max_connections: usize,
    /// Secret files generated by this start (an embedded installation's first),
    /// for start-up to point the operator at.
    pub generated: Vec<PathBuf>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_RETRY_SCHEDULE: &str = "5,300,1800,7200,18000,36000,36000";

/// A setting that cannot be used, named as the operator would write it.
#[derive(Debug, thiserror::Error)]
#[error("invalid {setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

fn bad(key: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        setting: format!("FLOWHOOK_{} (`{key}`)", key.to_ascii_uppercase()),
        message: message.to_string(),
    }
}

impl Config {
    /// Loads and validates: `file` (if any), under `overrides` (environment and
    /// flags, already merged by clap).
    pub fn load(file: Option<&Path>, overrides: RawSettings) -> Result<Config, ConfigError> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    setting: format!("configuration file {}", path.display()),
                    message: e.to_string(),
                })?;
                toml::from_str::<RawSettings>(&text).map_err(|e| ConfigError {
                    setting: format!("configuration file {}", path.display()),
                    message: e.to_string(),
                })?
            }
            None => RawSettings::default(),
        };
        Config::validate(overrides.or(from_file))
    }

    /// Turns raw settings into a configuration, generating the local secrets of an
    /// embedded installation when they are missing.
    pub fn validate(raw: RawSettings) -> Result<Config, ConfigError> {
        let listen_text = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = listen_text
            .parse::<SocketAddr>()
            .map_err(|e| bad("listen", format!("`{listen_text}` is not HOST:PORT ({e})")))?;
        let data_dir = raw
            .data_dir
            .unwrap_or_else(|| PathBuf::from("flowhook-data"));
        let database_url = raw
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("flowhook.db").display()));
        let embedded = database_url.starts_with("sqlite:");
        if !embedded
            && !database_url.starts_with("postgres://")
            && !database_url.starts_with("postgresql://")
        {
            return Err(bad(
                "database_url",
                format!(
                    "`{}` is neither sqlite://PATH nor postgres://…",
                    flowhook_storage::redact_url(&database_url)
                ),
            ));
        }

        let mut generated = Vec::new();
        let admin_token = match raw.admin_token {
            Some(t) if t.trim().len() >= 16 => SecretString::new(t.trim()),
            Some(_) => return Err(bad("admin_token", "must be at least 16 characters")),
            None if embedded => SecretString::new(local_secret(
                &data_dir,
                "admin-token",
                &mut generated,
                || hex::encode(flowhook_core::secret::random_bytes::<24>()),
            )?),
            None => {
                return Err(bad(
                    "admin_token",
                    "is required with PostgreSQL, where several servers must share one token",
                ));
            }
        };
        let mut master_key_file = None;
        let master_text = match raw.master_key {
            Some(k) => k,
            None if embedded => {
                master_key_file = Some(data_dir.join("master-key"));
                local_secret(
                    &data_dir,
                    "master-key",
                    &mut generated,
                    MasterKey::generate_hex,
                )?
            }
            None => {
                return Err(bad(
                    "master_key",
                    "is required with PostgreSQL, where several servers must share one key",
                ));
            }
        };
        let master_key = MasterKey::parse(&master_text).map_err(|e| bad("master_key", e))?;

        let egress_allow_cidrs =
            flowhook_core::account::parse_net_list(raw.egress_allow_cidrs.as_deref().unwrap_or(""))
                .map_err(|e| bad("egress_allow_cidrs", e))?;

        let schedule_text = raw
            .retry_schedule
            .unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE.into());
        let retry_schedule = split_list(Some(&schedule_text))
            .map(|s| {
                s.parse::<u64>().map_err(|_| {
                    bad(
                        "retry_schedule",
                        format!("`{s}` is not a whole number of seconds"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if retry_schedule.is_empty() {
            return Err(bad("retry_schedule", "needs at least one delay"));
        }

        let public_url = match raw.public_url {
            Some(u) => base_url("public_url", &u)?,
            None => base_url("listen", &format!("http://{listen}"))?,
        };
        let short_base_url = match raw.short_base_url {
            Some(u) => base_url("short_base_url", &u)?,
            None => public_url.clone(),
        };
        let trusted_proxies =
            flowhook_core::account::parse_net_list(raw.trusted_proxies.as_deref().unwrap_or(""))
                .map_err(|e| bad("trusted_proxies", e))?;

        let delivery_timeout = match raw.delivery_timeout_seconds.unwrap_or(30) {
            s @ 1..=300 => std::time::Duration::from_secs(s),
            other => {
                return Err(bad(
                    "delivery_timeout_seconds",
                    format!("{other} is not between 1 and 300"),
                ));
            }
        };
        let delivery_lease = match raw.delivery_lease_seconds.unwrap_or(60) {
            // The lease covers an attempt plus its database work on both sides.
            s if s >= delivery_timeout.as_secs() + 5 && s <= 3600 => {
                std::time::Duration::from_secs(s)
            }
            other => {
                return Err(bad(
                    "delivery_lease_seconds",
                    format!(
                        "{other} must be at least the delivery timeout ({} s) plus 5 s, and at most 3600",
                        delivery_timeout.as_secs()
                    ),
                ));
            }
        };

        let log_format = match raw.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(bad("log_format", format!("`{other}` is not text or json"))),
        };

        let sqlite_synchronous = match raw.sqlite_synchronous.as_deref() {
            None => Synchronous::default(),
            Some(text) => Synchronous::parse(text).ok_or_else(|| {
                bad(
                    "sqlite_synchronous",
                    format!("`{text}` is not normal or full"),
                )
            })?,
        };

        let shutdown_grace = match raw.shutdown_grace_seconds.unwrap_or(30) {
            s @ 0..=3600 => std::time::Duration::from_secs(s),
            other => {
                return Err(bad(
                    "shutdown_grace_seconds",
                    format!("{other} is not between 0 and 3600"),
                ));
            }
        };
        let defaults = Admission::default();
        let max_running = raw.max_running_executions.unwrap_or(defaults.max_running);
        if max_running == 0 {
            return Err(bad("max_running_executions", "must be at least 1"));
        }
        let per_account = raw
            .max_running_executions_per_account
            .unwrap_or(defaults.max_running_per_account);
        if per_account == 0 {
            return Err(bad(
                "max_running_executions_per_account",
                "must be at least 1",
            ));
        }
        let request_timeout = match raw.request_timeout_seconds.unwrap_or(300) {
            s @ 1..=3600 => std::time::Duration::from_secs(s),
            other => {
                return Err(bad(
                    "request_timeout_seconds",
                    format!("{other} is not between 1 and 3600"),
                ));
            }
        };

        let max_connections = match raw.max_connections.unwrap_or(1_000) {
            0 => return Err(bad("max_connections", "must be at least 1")),
            n => n,
        };

        Ok(Config {
            listen,
            database_url,
            data_dir,
            admin_token,
            master_key,
            master_key_file,
            egress_allow_cidrs,
            retry_schedule,
            public_url,
            trusted_proxies,
            short_base_url,
            delivery_lease,
            delivery_timeout,
            log_format,
            sqlite_synchronous,
            shutdown_grace,
            admission: Admission {
                max_running,
                max_running_per_account: per_account,
            },
            request_timeout,
            max_connections,
            generated,
        })
    }
}

/// A base URL others reach this server by: absolute http(s) with a host, no
/// credentials, query or fragment.
fn base_url(key: &str, text: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(text.trim())
        .map_err(|e| bad(key, format!("`{text}` is not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad(
            key,
            format!("`{text}` is not an http(s) URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(key, format!("`{text}` may not hold credentials")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            key,
            format!("`{text}` may not have a query or fragment"),
        ));
    }
    Ok(url)
}

fn split_list(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Reads `data_dir/name`, or creates it (mode 0600) with a new value.
fn local_secret(
    data_dir: &Path,
    name: &str,
    generated: &mut Vec<PathBuf>,
    make: impl FnOnce() -> String,
) -> Result<String, ConfigError> {
    let path = data_dir.join(name);
    let fail = |e: std::io::Error| ConfigError {
        setting: path.display().to_string(),
        message: e.to_string(),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir(data_dir).map_err(fail)?;
            let value = make();
            write_private(&path, &value).map_err(fail)?;
            generated.push(path.clone());
            Ok(value)
        }
        Err(e) => Err(fail(e)),
    }
}

/// The data folder holds the database and secrets: only its owner may enter.
#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
pub(crate) fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(value.as_bytes())?;
    f.write_all(b"\n")
}

#[cfg(not(unix))]
pub(crate) fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, format!("{value}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSettings {
        RawSettings {
            admin_token: Some("a-long-enough-admin-token".into()),
            master_key: Some("ab".repeat(32)),
            database_url: Some("sqlite://x.db".into()),
            ..RawSettings::default()
        }
    }

    #[test]
    fn defaults_are_the_spec_defaults() {
        let c = Config::validate(raw()).expect("valid");
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(
            c.retry_schedule,
            vec![5, 300, 1800, 7200, 18000, 36000, 36000]
        );
        assert!(c.egress_allow_cidrs.is_empty());
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.sqlite_synchronous, Synchronous::Normal);
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.short_base_url, c.public_url);
        assert!(c.trusted_proxies.is_empty());
        assert_eq!(c.master_key_file, None, "the key was given");
    }

    #[test]
    fn public_url_and_trusted_proxies_are_read_and_checked() {
        let c = Config::validate(RawSettings {
            public_url: Some("https://hooks.example.org/flowhook".into()),
            trusted_proxies: Some("127.0.0.1/32, ::1/128".into()),
            ..raw()
        })
        .expect("valid");
        assert_eq!(c.public_url.as_str(), "https://hooks.example.org/flowhook");
        assert_eq!(c.short_base_url, c.public_url, "short links follow it");
        assert_eq!(c.trusted_proxies.len(), 2);
        let c = Config::validate(RawSettings {
            public_url: Some("https://hooks.example.org".into()),
            short_base_url: Some("https://s.example.org".into()),
            ..raw()
        })
        .expect("valid");
        assert_eq!(c.short_base_url.as_str(), "https://s.example.org/");
        for bad_url in [
            "hooks.example.org",
            "ftp://hooks.example.org",
            "https://u:p@hooks.example.org",
            "https://hooks.example.org/?x=1",
        ] {
            let err = Config::validate(RawSettings {
                public_url: Some(bad_url.into()),
                ..raw()
            })
            .expect_err(bad_url);
            assert!(err.to_string().contains("FLOWHOOK_PUBLIC_URL"), "{err}");
        }
    }

    #[test]
    fn bad_values_name_their_setting() {
        let cases: Vec<(RawSettings, &str)> = vec![
            (
                RawSettings {
                    listen: Some("nope".into()),
                    ..raw()
                },
                "FLOWHOOK_LISTEN",
            ),
            (
                RawSettings {
                    master_key: Some("short".into()),
                    ..raw()
                },
                "FLOWHOOK_MASTER_KEY",
            ),
            (
                RawSettings {
                    egress_allow_cidrs: Some("127.0.0.1/33".into()),
                    ..raw()
                },
                "FLOWHOOK_EGRESS_ALLOW_CIDRS",
            ),
            (
                RawSettings {
                    retry_schedule: Some("5,x".into()),
                    ..raw()
                },
                "FLOWHOOK_RETRY_SCHEDULE",
            ),
            (
                RawSettings {
                    database_url: Some("mysql://x".into()),
                    ..raw()
                },
                "FLOWHOOK_DATABASE_URL",
            ),
            (
                RawSettings {
                    sqlite_synchronous: Some("sometimes".into()),
                    ..raw()
                },
                "FLOWHOOK_SQLITE_SYNCHRONOUS",
            ),
            (
                RawSettings {
                    shutdown_grace_seconds: Some(7200),
                    ..raw()
                },
                "FLOWHOOK_SHUTDOWN_GRACE_SECONDS",
            ),
            (
                RawSettings {
                    max_running_executions_per_account: Some(0),
                    ..raw()
                },
                "FLOWHOOK_MAX_RUNNING_EXECUTIONS_PER_ACCOUNT",
            ),
            (
                RawSettings {
                    admin_token: Some("short".into()),
                    ..raw()
                },
                "FLOWHOOK_ADMIN_TOKEN",
            ),
            (
                RawSettings {
                    short_base_url: Some("ftp://x".into()),
                    ..raw()
                },
                "FLOWHOOK_SHORT_BASE_URL",
            ),
            (
                RawSettings {
                    trusted_proxies: Some("127.0.0.1/40".into()),
                    ..raw()
                },
                "FLOWHOOK_TRUSTED_PROXIES",
            ),
            (
                RawSettings {
                    public_url: Some("nope".into()),
                    ..raw()
                },
                "FLOWHOOK_PUBLIC_URL",
            ),
            (
                RawSettings {
                    log_format: Some("xml".into()),
                    ..raw()
                },
                "FLOWHOOK_LOG_FORMAT",
            ),
            (
                RawSettings {
                    database_url: Some("postgres://u@h/db".into()),
                    master_key: None,
                    ..raw()
                },
                "FLOWHOOK_MASTER_KEY",
            ),
        ];
        for (settings, name) in cases {
            let err = Config::validate(settings).expect_err(name);
            assert!(err.to_string().contains(name), "{err} should name {name}");
        }
    }

    #[test]
    fn file_values_sit_under_the_environment() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("flowhook.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9999\"\nretry_schedule = [1, 2]\negress_allow_cidrs = [\"127.0.0.1/32\"]\n",
        )
        .expect("write");
        let c = Config::load(Some(&path), raw()).expect("valid");
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.retry_schedule, vec![1, 2]);
        assert_eq!(c.egress_allow_cidrs.len(), 1);
        let over = RawSettings {
            listen: Some("127.0.0.1:7777".into()),
            ..raw()
        };
        assert_eq!(
            Config::load(Some(&path), over)
                .expect("valid")
                .listen
                .port(),
            7777
        );
        std::fs::write(&path, "lisen = \"x\"\n").expect("write");
        let err = Config::load(Some(&path), raw()).expect_err("typo");
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    fn embedded_secrets_are_generated_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = || RawSettings {
            data_dir: Some(dir.path().to_path_buf()),
            ..RawSettings::default()
        };
        let first = Config::validate(settings()).expect("valid");
        let second = Config::validate(settings()).expect("valid");
        assert_eq!(first.admin_token, second.admin_token);
        assert_eq!(
            first.master_key_file,
            Some(dir.path().join("master-key")),
            "rotation knows which file to replace"
        );
        assert!(first.database_url.ends_with("flowhook.db"));
    }
}
