//! The `mps` binary: thin wiring of configuration, telemetry and the subcommands.

use std::io::BufRead as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mps::config::Config;

#[derive(Parser)]
#[command(name = "mps", version, about = "MPS — member payment system API server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (the default): migrates first unless MIGRATE_ON_START=false.
    Serve,
    /// Create the database if missing and apply pending migrations.
    Migrate,
    /// Create an administrator; the password comes from MPS_ADMIN_PASSWORD or one line of stdin.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    /// Exit 0 when the local server's /health answers 200 (for container health checks).
    Healthcheck,
}

fn main() -> ExitCode {
    keep_large_allocations_returnable();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("mps: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// glibc raises its mmap threshold to the size of the first large block freed; from then on
/// argon2's 19 MiB working memory was carved out of per-thread heaps that are never given back,
/// so a burst of logins left the server at ~480 MiB resident for good. A fixed threshold keeps
/// every block of 1 MiB or more in its own mapping, returned to the kernel when it is freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_large_allocations_returnable() {
    // SAFETY: mallopt only changes allocator tuning; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_large_allocations_returnable() {}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mps: {e}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Some(Command::Healthcheck)) {
        return if mps::server::healthcheck(&config).await { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let _log_writer = mps::telemetry::init(&config);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => mps::server::run(config).await,
        Command::Migrate => mps::db::migrate_database(&config).await.map(|()| tracing::info!("migrations applied")),
        Command::CreateAdmin { email, name } => match admin_password() {
            Ok(password) => mps::server::create_admin(&config, &email, &name, password)
                .await
                .map(|id| tracing::info!(%id, "admin created")),
            Err(e) => Err(e),
        },
        Command::Healthcheck => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "mps failed");
            eprintln!("mps: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The admin password from `MPS_ADMIN_PASSWORD`, else one line of stdin without its newline.
fn admin_password() -> anyhow::Result<String> {
    if let Ok(password) = std::env::var("MPS_ADMIN_PASSWORD")
        && !password.is_empty()
    {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password: set MPS_ADMIN_PASSWORD or pipe it on stdin");
    Ok(password)
}
