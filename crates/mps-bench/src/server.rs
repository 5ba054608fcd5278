//! The server under test as a separate process, and what `/proc` tells about it and the machine.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use test_support::process::MpsProcess;

/// `/proc/PID/stat` times are in USER_HZ ticks, 100 per second on Linux whatever the kernel's HZ.
const TICKS_PER_SECOND: f64 = 100.0;

/// A running `mps serve` (the shared process management of `test_support::process`).
pub struct ServerProcess {
    process: MpsProcess,
    pub addr: SocketAddr,
}

/// A free loopback port: the first free one of the hundred from `MPS_BENCH_PORT_BASE` when that is
/// set (a shared machine gives each session its own range), else one the system picks.
pub fn free_port() -> anyhow::Result<u16> {
    if let Some(base) = std::env::var("MPS_BENCH_PORT_BASE").ok().and_then(|b| b.parse::<u16>().ok()) {
        return (base..base.saturating_add(100))
            .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
            .with_context(|| format!("no free port in {base}..{}", base.saturating_add(100)));
    }
    test_support::process::free_port().context("cannot bind a loopback port")
}

impl ServerProcess {
    /// Starts `binary serve` with exactly `env` (nothing inherited but `PATH`), logging to `log`,
    /// and waits until `/ready` answers.
    pub async fn start(binary: &Path, env: &BTreeMap<String, String>, log: &Path) -> anyhow::Result<ServerProcess> {
        // A fresh log per run (the process appends).
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut process = MpsProcess::new(binary, env.clone(), log)?;
        process.start(Duration::from_secs(60)).await.with_context(|| format!("cannot start {}", binary.display()))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], process.port));
        Ok(ServerProcess { process, addr })
    }

    pub fn pid(&self) -> u32 {
        self.process.pid().unwrap_or_default()
    }

    /// Resets the peak resident set size the kernel keeps (`VmHWM`), so the next reading is the
    /// peak of what follows. Returns false when the kernel refuses.
    pub fn reset_peak_rss(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }

    /// User plus system CPU time the server has used so far, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        process_cpu_seconds(self.pid())
    }

    /// Stops the server: SIGTERM (graceful drain), then SIGKILL after 15 s.
    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(15));
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Peak and current resident set size of a process in KiB, from `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// User plus system CPU seconds of a process, from `/proc/PID/stat`.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is parenthesised and may itself hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// Busy and total jiffies of the whole machine, from the first line of `/proc/stat`.
pub fn machine_cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let values: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().sum();
    // idle and iowait are the fourth and fifth values.
    let idle = values.get(3)? + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// The machine the figures were taken on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_mib: u64,
    pub kernel: String,
    pub postgres: String,
    pub redis: String,
    /// 1-minute load average when the run started: other work on a shared machine shows here.
    pub load_average_at_start: String,
}

impl Machine {
    pub fn describe(postgres_version: String) -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
            .unwrap_or_else(|| "unknown".into());
        let memory_mib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024);
        let redis = Command::new("redis-server")
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory_mib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            postgres: postgres_version,
            redis,
            load_average_at_start: read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        }
    }
}
