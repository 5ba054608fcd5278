//! The processes a scenario owns: its own PostgreSQL (initdb into a scratch directory), its own
//! Redis, and the built `mps` binary, each on a free loopback port — the shared process
//! management of `test_support::process`, with the fault suite's configuration of the server.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use test_support::process::{MpsProcess, PgNode, free_port, run};

pub use test_support::process::{Redis, Scratch};

/// Secret the fault suite's payment channel signs webhooks with.
pub const WEBHOOK_SECRET: &str = "fault-suite-webhook-signing-key-0123456789";
/// How long the server lets one request run (`REQUEST_TIMEOUT_SECONDS`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The scenario's own PostgreSQL.
pub type Postgres = PgNode;

/// The scenario's PostgreSQL settings, at every start.
pub const PG_SETTINGS: &[&str] = &["max_connections=60"];

/// A fresh PostgreSQL for one scenario, in `scratch/pg` on a free port.
pub fn start_postgres(scratch: &Path) -> Postgres {
    PgNode::start_new(scratch, PG_SETTINGS)
}

/// The `mps` binary built by cargo for this test, run as a separate process.
pub struct Server {
    process: MpsProcess,
    pub port: u16,
    /// How many times the process was started.
    pub starts: u32,
}

impl Server {
    pub fn new(scratch: &Path, database_url: &str, redis_url: &str) -> Server {
        Server::on_port(scratch, database_url, redis_url, free_port().expect("a free port"))
    }

    /// A server on a chosen port (a replica a load balancer already names), logging in `scratch`.
    pub fn on_port(scratch: &Path, database_url: &str, redis_url: &str, port: u16) -> Server {
        std::fs::create_dir_all(scratch).expect("create the server's directory");
        let env: BTreeMap<String, String> = [
            ("APP_ENV", "testing"),
            ("DATABASE_URL", database_url),
            ("REDIS_URL", redis_url),
            ("JWT_SECRET", "fault-suite-jwt-signing-key-0123456789abcdef"),
            ("API_HOST", "127.0.0.1"),
            ("API_PORT", &port.to_string()),
            ("DB_MAX_CONNECTIONS", "16"),
            ("RATE_LIMIT_REQUESTS", "1000000"),
            ("LOGIN_RATE_LIMIT", "100000"),
            ("LOGIN_IP_RATE_LIMIT", "1000000"),
            ("REQUEST_TIMEOUT_SECONDS", &REQUEST_TIMEOUT.as_secs().to_string()),
            ("PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("LOG_LEVEL", "warn"),
            ("LOG_FORMAT", "json"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let process = MpsProcess::new(Path::new(env!("CARGO_BIN_EXE_mps")), env, &scratch.join("mps.log"))
            .expect("the server's environment names its port");
        Server { process, port, starts: 0 }
    }

    pub fn base_url(&self) -> String {
        self.process.base_url()
    }

    /// `mps create-admin`, as an operator would run it.
    pub fn create_admin(&self, email: &str, password: &str) {
        run(
            self.process
                .command()
                .args(["create-admin", "--email", email, "--name", "Fault Admin"])
                .env("MPS_ADMIN_PASSWORD", password),
            "mps create-admin",
        );
    }

    /// Starts the process and waits until `/ready` answers.
    pub async fn start(&mut self) {
        self.starts += 1;
        if let Err(e) = self.process.start(Duration::from_secs(60)).await {
            panic!("{e}");
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(&mut self) {
        self.process.kill();
    }

    /// SIGTERM: the server should drain and exit by itself.
    pub fn sigterm(&self) {
        assert!(self.pid().is_some(), "the server runs");
        self.process.sigterm();
    }

    /// Waits for the process to exit by itself, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.process.wait_exit(limit).await
    }

    /// Log lines at level ERROR (each a 5xx or a failure worth reading).
    pub fn error_lines(&self) -> Vec<String> {
        self.process.log().lines().filter(|l| l.contains("\"level\":\"ERROR\"")).map(str::to_owned).collect()
    }
}
