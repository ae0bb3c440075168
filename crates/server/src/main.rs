//! The `flowhook` command line: `serve` runs the server, `run` executes a flow
//! file locally and prints its trace, `rotate-master-key` re-seals every stored
//! secret under a new key.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use flowhook::config::{Config, RawSettings};
use flowhook::startup::{Application, shutdown_signal};

/// mimalloc: per-thread free lists instead of glibc's shared arenas, which
/// cost the server a sixth of its CPU under load (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// flowhook — the webhook layer of a communications flow platform: a webhook
/// registry, flows whose webhook widgets call any HTTP API, and a durable, signed
/// flow-end webhook.
#[derive(Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (API, engine and workers) on embedded SQLite by default.
    ///
    /// Settings come from defaults, then the --config file, then FLOWHOOK_*
    /// environment variables, then these flags. Every value is checked at start-up.
    Serve {
        /// A TOML file whose keys are the long option names with `_`
        /// (listen, database_url, egress_allow_cidrs, …).
        #[arg(long, env = "FLOWHOOK_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        settings: RawSettings,
    },
    /// Run a flow file once, without a server, and print its trace.
    ///
    /// Exits 0 when the execution completed, 1 when it failed, 2 when the flow or
    /// an input file is invalid (the message names the widget).
    Run(flowhook::local_run::RunArgs),
    /// Re-seal every stored secret under a new master key. Stop every server first.
    ///
    /// The current key and the database are read as `serve` reads them. Webhook
    /// passwords, credential headers, signing secrets, provider secrets and the
    /// credentials in stored flow documents are re-sealed in one transaction (all
    /// or nothing). When the current key came from DATA_DIR/master-key, that file
    /// then holds the new key; otherwise start the servers with the new
    /// FLOWHOOK_MASTER_KEY. Exits 0 when done, 1 when nothing was changed, 2 on a
    /// bad setting.
    RotateMasterKey {
        #[arg(long, env = "FLOWHOOK_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        settings: RawSettings,
        /// The new key: 32 bytes as 64 hex digits or base64 (`openssl rand -hex 32`).
        #[arg(
            long,
            env = "FLOWHOOK_NEW_MASTER_KEY",
            hide_env_values = true,
            value_name = "KEY"
        )]
        new_key: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, settings } => serve(config, settings),
        Command::Run(args) => local_run(args),
        Command::RotateMasterKey {
            config,
            settings,
            new_key,
        } => rotate_master_key(config, settings, &new_key),
    }
}

fn rotate_master_key(file: Option<PathBuf>, settings: RawSettings, new_key: &str) -> ExitCode {
    let config = match Config::load(file.as_deref(), settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flowhook: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flowhook: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(flowhook::sealing::rotate_command(&config, new_key)) {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flowhook: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(file: Option<PathBuf>, settings: RawSettings) -> ExitCode {
    let config = match Config::load(file.as_deref(), settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flowhook: {e}");
            return ExitCode::from(2);
        }
    };
    flowhook::telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flowhook: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let app = match Application::build(config).await {
            Ok(app) => app,
            Err(e) => {
                tracing::error!("{e}");
                flowhook::telemetry::flush();
                eprintln!("flowhook: {e}");
                return ExitCode::FAILURE;
            }
        };
        match app.run_until(shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                flowhook::telemetry::flush();
                eprintln!("flowhook: server error: {e}");
                ExitCode::FAILURE
            }
        }
    });
    // What the runtime's last tasks log goes out too.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    flowhook::telemetry::flush();
    code
}

fn local_run(args: flowhook::local_run::RunArgs) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => ExitCode::from(rt.block_on(flowhook::local_run::run(args))),
        Err(e) => {
            eprintln!("flowhook: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
