//! The processes a scenario owns: its own PostgreSQL (initdb into a scratch directory), its own
//! Redis, and the built `mps` binary, each on a free loopback port. Dropping them stops exactly
//! these processes; the shared PostgreSQL and Redis of the machine are never touched.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A directory for one scenario, removed (with everything in it) when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mps-faults-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("FAULTS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The newest PostgreSQL server binaries (`MPS_PG_BIN` overrides).
fn pg_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("MPS_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (or set MPS_PG_BIN)")
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().expect("an initdb under /usr/lib/postgresql/*/bin").1
}

/// initdb refuses to run as root: then the cluster belongs to the `postgres` OS user.
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// A PostgreSQL cluster of our own.
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_postgres_user: bool,
}

impl Postgres {
    /// initdb into `scratch/pg` and start it.
    pub fn start_new(scratch: &Path) -> Postgres {
        let dir = scratch.join("pg");
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL directory");
        let as_postgres_user = running_as_root();
        if as_postgres_user {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir), "chown the PostgreSQL directory");
        }
        let pg = Postgres { bin: pg_bin_dir(), dir, port: free_port(), as_postgres_user };
        let data = pg.dir.join("data");
        run(
            pg.tool("initdb").arg("-D").arg(&data).args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]),
            "initdb",
        );
        pg.start();
        pg
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        let mut command = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.current_dir(&self.dir);
        command
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start(&self) {
        // fsync off: these tests crash processes, not the machine, so the OS keeps every write.
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c max_connections=60",
            self.port,
            self.dir.display()
        );
        run(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("postgres.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        );
    }

    /// `pg_ctl stop -m immediate`: every backend dies at once, as in a crash.
    pub fn stop_immediate(&self) {
        run(
            self.tool("pg_ctl").arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "-w", "stop"]),
            "pg_ctl stop",
        );
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A Redis of our own. It saves its data on shutdown and loads it on start, so a restart brings
/// back what was cached before the outage (stale markers included), as a persistent Redis would.
pub struct Redis {
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn start_new(scratch: &Path) -> Redis {
        let dir = scratch.join("redis");
        std::fs::create_dir_all(&dir).expect("create the Redis directory");
        let mut redis = Redis { dir, port: free_port(), child: None };
        redis.start();
        redis
    }

    pub fn start(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .args(["--dbfilename", "dump.rdb", "--dir"])
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.command("PING").as_deref() != Some("+PONG") {
            assert!(Instant::now() < deadline, "redis-server did not answer PING within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `SHUTDOWN SAVE`, then waits for the process to exit.
    pub fn stop(&mut self) {
        let _ = self.command("SHUTDOWN SAVE");
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// One inline command; the first line of the answer.
    fn command(&self, line: &str) -> Option<String> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(format!("{line}\r\n").as_bytes()).ok()?;
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).lines().next()?.to_owned())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Secret the fault suite's payment channel signs webhooks with.
pub const WEBHOOK_SECRET: &str = "fault-suite-webhook-signing-key-0123456789";
/// How long the server lets one request run (`REQUEST_TIMEOUT_SECONDS`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The `mps` binary built by cargo for this test, run as a separate process.
pub struct Server {
    env: Vec<(String, String)>,
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
    /// How many times the process was started.
    pub starts: u32,
}

impl Server {
    pub fn new(scratch: &Path, database_url: &str, redis_url: &str) -> Server {
        Server::on_port(scratch, database_url, redis_url, free_port())
    }

    /// A server on a chosen port (a replica a load balancer already names), logging in `scratch`.
    pub fn on_port(scratch: &Path, database_url: &str, redis_url: &str, port: u16) -> Server {
        std::fs::create_dir_all(scratch).expect("create the server's directory");
        let env = [
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
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        Server { env, dir: scratch.to_owned(), port, child: None, starts: 0 }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mps"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            // No stray `.env` file may change the configuration.
            .current_dir(&self.dir);
        command
    }

    /// `mps create-admin`, as an operator would run it.
    pub fn create_admin(&self, email: &str, password: &str) {
        run(
            self.command()
                .args(["create-admin", "--email", email, "--name", "Fault Admin"])
                .env("MPS_ADMIN_PASSWORD", password),
            "mps create-admin",
        );
    }

    /// Starts the process and waits until `/ready` answers.
    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("mps.log"))
            .expect("open the server log");
        let child = self
            .command()
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("the mps binary starts");
        self.child = Some(child);
        self.starts += 1;
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(2)).build().expect("client");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/ready", self.base_url())).send().await
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("mps exited during start-up ({status}); log: {}", self.log_tail());
            }
            assert!(Instant::now() < deadline, "mps not ready within 60 s; log: {}", self.log_tail());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM: the server should drain and exit by itself.
    pub fn sigterm(&self) {
        let pid = self.pid().expect("the server runs");
        run(Command::new("kill").args(["-TERM", &pid.to_string()]), "kill -TERM");
    }

    /// Waits for the process to exit by itself, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().ok().flatten() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("mps.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Log lines at level ERROR (each a 5xx or a failure worth reading).
    pub fn error_lines(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.join("mps.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains("\"level\":\"ERROR\"")).map(str::to_owned).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}
