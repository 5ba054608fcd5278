//! Processes a test or the load harness owns: scratch directories, free loopback ports, a
//! PostgreSQL server of our own (initdb as the `postgres` OS user when we are root), a Redis of
//! our own, and the built `mps` binary serving. Dropping a value stops exactly the process it
//! started; the shared PostgreSQL and Redis of the machine are never touched.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A free TCP port on loopback (the kernel picks it; we release it for the process).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Runs a command to completion and panics with its output when it fails; returns its stdout.
pub fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A directory removed, with everything in it, when dropped (kept when `FAULTS_KEEP` is set).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mps-{name}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the scratch directory");
        // PostgreSQL runs as the `postgres` OS user when we are root: it must reach its directories.
        run(Command::new("chmod").arg("755").arg(&dir), "chmod the scratch directory");
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
pub fn pg_bin_dir() -> PathBuf {
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
pub fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// One PostgreSQL server of our own (a single server, a primary or a standby).
pub struct PgNode {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    as_postgres_user: bool,
}

impl PgNode {
    /// A node in `scratch/name` on `port`, not yet initialised (see [`PgNode::initdb`]).
    pub fn new(scratch: &Path, name: &str, port: u16) -> PgNode {
        let dir = scratch.join(name);
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL directory");
        let as_postgres_user = running_as_root();
        if as_postgres_user {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir), "chown the PostgreSQL directory");
        }
        PgNode { bin: pg_bin_dir(), dir, port, as_postgres_user }
    }

    /// A fresh single server in `scratch/pg` on a free port, started with `settings`.
    pub fn start_new(scratch: &Path, settings: &[&str]) -> PgNode {
        let node = PgNode::new(scratch, "pg", free_port().expect("a free port"));
        node.initdb();
        node.start(settings);
        node
    }

    /// `initdb` of a new data directory (trust authentication, user `postgres`).
    pub fn initdb(&self) {
        run(
            self.tool("initdb").arg("-D").arg(self.data()).args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
            "initdb",
        );
    }

    /// A PostgreSQL tool of the server's version, run as the cluster's owner.
    pub fn tool(&self, name: &str) -> Command {
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

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts the server with extra `-c` settings and waits until it accepts connections.
    pub fn start(&self, settings: &[&str]) {
        // fsync off: these tests crash processes, not the machine, so the OS keeps every write.
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c wal_level=replica -c max_wal_senders=5 -c \
             hot_standby=on",
            self.port,
            self.dir.display()
        );
        for setting in settings {
            options.push_str(" -c ");
            options.push_str(setting);
        }
        run(
            self.tool("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("postgres.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
            "pg_ctl start",
        );
    }

    /// `pg_ctl stop -m immediate`: every backend dies at once, as in a crash or a lost host.
    pub fn stop_immediate(&self) {
        run(self.tool("pg_ctl").arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]), "pg_ctl stop");
    }

    /// Promotes a standby to primary and waits until it takes writes.
    pub fn promote(&self) {
        run(self.tool("pg_ctl").arg("-D").arg(self.data()).args(["-w", "-t", "60", "promote"]), "pg_ctl promote");
    }

    /// Runs one statement with psql and returns its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        run(
            self.tool("psql").args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-AtXc", sql]),
            "psql",
        )
        .trim()
        .to_owned()
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PgNode {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Spawns `redis-server` on `port` with `args` after the common ones, logging in `dir`.
pub fn spawn_redis(dir: &Path, port: u16, args: &[&str], log: &str) -> Child {
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(args)
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join(log))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts (install redis-server)")
}

/// One inline command to the Redis on `port`; the first line of the answer.
pub fn redis_command(port: u16, line: &str) -> Option<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(format!("{line}\r\n").as_bytes()).ok()?;
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).lines().next()?.to_owned())
}

/// Waits until the Redis on `port` answers PING, at most 20 s.
pub fn wait_for_redis(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while redis_command(port, "PING").as_deref() != Some("+PONG") {
        assert!(Instant::now() < deadline, "redis-server on {port} did not answer PING within 20 s");
        std::thread::sleep(Duration::from_millis(50));
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
        let mut redis = Redis { dir, port: free_port().expect("a free port"), child: None };
        redis.start();
        redis
    }

    pub fn start(&mut self) {
        // `--save ''` turns periodic snapshots off; SHUTDOWN SAVE still writes dump.rdb.
        self.child = Some(spawn_redis(&self.dir, self.port, &["--dbfilename", "dump.rdb"], "redis.log"));
        wait_for_redis(self.port);
    }

    /// `SHUTDOWN SAVE`, then waits for the process to exit.
    pub fn stop(&mut self) {
        let _ = redis_command(self.port, "SHUTDOWN SAVE");
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

/// The `mps` binary as a separate process: `mps serve` with exactly the given environment
/// (nothing inherited but `PATH`, no stray `.env`: it runs in its own directory), its output
/// appended to a log file. Dropping it kills the process.
pub struct MpsProcess {
    binary: PathBuf,
    env: BTreeMap<String, String>,
    log: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl MpsProcess {
    /// A server to be started on `env["API_PORT"]`, logging to `log` (its directory is the
    /// process's working directory).
    pub fn new(binary: &Path, env: BTreeMap<String, String>, log: &Path) -> std::io::Result<MpsProcess> {
        let port = env
            .get("API_PORT")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| std::io::Error::other("API_PORT missing from the server's environment"))?;
        Ok(MpsProcess { binary: binary.to_owned(), env, log: log.to_owned(), port, child: None })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn dir(&self) -> &Path {
        self.log.parent().unwrap_or(Path::new("."))
    }

    /// `mps ARGS…` with the server's environment, run to completion (e.g. `create-admin`).
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&self.env)
            .current_dir(self.dir())
            .stdin(Stdio::null());
        command
    }

    /// Spawns `mps serve` and waits until `/ready` answers 200, at most `within`.
    pub async fn start(&mut self, within: Duration) -> std::io::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = self.command().arg("serve").stdout(log.try_clone()?).stderr(log).spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + within;
        loop {
            if ready(self.port).await {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                return Err(std::io::Error::other(format!(
                    "mps exited during start-up ({status}); log {}:\n{}",
                    self.log.display(),
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(std::io::Error::other(format!(
                    "mps not ready within {within:?}; log {}:\n{}",
                    self.log.display(),
                    self.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM: the server should drain and exit by itself.
    pub fn sigterm(&self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
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

    /// SIGTERM (a graceful drain), then SIGKILL when it has not exited within `grace`.
    pub fn stop(&mut self, grace: Duration) {
        self.sigterm();
        let deadline = Instant::now() + grace;
        while let Some(child) = self.child.as_mut() {
            if child.try_wait().ok().flatten().is_some() {
                self.child = None;
                return;
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last 20 lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for MpsProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `GET /ready` on loopback `port` answers 200 within two seconds.
async fn ready(port: u16) -> bool {
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"GET /ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(head.starts_with(b"HTTP/1.1 200"))
    };
    tokio::time::timeout(Duration::from_secs(2), ask).await.ok().flatten().unwrap_or(false)
}
