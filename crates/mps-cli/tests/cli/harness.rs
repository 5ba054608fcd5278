//! A real server on a free port, and the built `mps-cli` binary driven against it, each client
//! with its own home (`MPS_CLI_HOME`) so sessions never mix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{PASSWORD, TestApp};

/// The application, served over TCP until dropped.
pub struct Server {
    pub app: TestApp,
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    pub async fn start() -> Server {
        let app = TestApp::new().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("bound address");
        let (shutdown, signal) = tokio::sync::oneshot::channel::<()>();
        let router = mps::build_app(app.state.clone());
        tokio::spawn(mps::server::serve(
            listener,
            router,
            async move {
                let _ = signal.await;
            },
            mps::server::ServeLimits::from_config(&app.state.config),
        ));
        Server { app, addr, shutdown: Some(shutdown) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new administrator, made as `mps create-admin` does; returns its email.
    pub async fn create_admin(&self) -> String {
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        let hash = mps::auth::password::hash_password(PASSWORD.into()).await.expect("hash");
        mps::db::admins::create_admin(&self.app.pool, &email, "Ada Admin", &hash, None, None).await.expect("admin");
        email
    }

    /// Whether the server offers this route yet (some are still being built).
    pub fn offers(path: &str) -> bool {
        mps::http::openapi().paths.paths.contains_key(path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// What one run of the client gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// One user's terminal: the client binary with its own home directory.
pub struct Terminal {
    pub home: PathBuf,
    api: String,
}

impl Terminal {
    pub fn new(api: &str) -> Terminal {
        let home = std::env::temp_dir().join(format!("mps-cli-test-{}", uuid::Uuid::new_v4().simple()));
        Terminal { home, api: api.to_owned() }
    }

    /// The API this terminal's client talks to.
    pub fn api(&self) -> &str {
        &self.api
    }

    pub fn session_file(&self) -> PathBuf {
        self.home.join("session.json")
    }

    /// Runs `mps-cli args…` with extra environment variables.
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mps-cli"));
        command.args(args).env("MPS_CLI_HOME", &self.home).env("API_BASE_URL", &self.api).env("NO_COLOR", "1");
        for name in ["MPS_PASSWORD", "MPS_NEW_PASSWORD", "MPS_BINDING_PASSWORD", "XDG_CONFIG_HOME"] {
            command.env_remove(name);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let output = tokio::task::spawn_blocking(move || command.output()).await.expect("join").expect("mps-cli runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs and asserts success.
    pub async fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let run = self.run(args, env).await;
        assert_eq!(run.code, 0, "`mps-cli {}` failed: {run:?}", args.join(" "));
        run
    }

    /// Runs with `--json`, asserts success and parses the output.
    pub async fn json(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        let mut with_json = vec!["--json"];
        with_json.extend_from_slice(args);
        self.ok(&with_json, env).await.json()
    }

    /// Logs in with the test password.
    pub async fn login(&self, role: &str, identifier: &str, extra: &[&str]) -> Run {
        let mut args = vec!["login", role, identifier];
        args.extend_from_slice(extra);
        self.ok(&args, &[("MPS_PASSWORD", PASSWORD)]).await
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// The permission bits of a file or directory.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// A port nothing listens on.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    listener.local_addr().expect("address").port()
}

/// A proxy in front of `target` that loses the answer of the first request: it passes the
/// request on, waits until the server has answered (so the effect happened), then hangs up.
/// Later connections pass through. Returns its address and a count of connections.
pub async fn lossy_proxy(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("address");
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(target).await else { return };
                let mut client = client;
                if !first {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    return;
                }
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let forward = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut answer = [0_u8; 1];
                let _ = server_read.read(&mut answer).await;
                forward.abort();
                let _ = client_write.shutdown().await;
            });
        }
    });
    (addr, connections)
}
