//! The summary of a run: JSON for machines, a markdown table for people, and the targets.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::server::Machine;
use crate::stats::{OpSummary, round1, round3};

/// What the server process used during one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessFigures {
    /// Peak resident set size during the scenario (`VmHWM`, reset before it started).
    pub peak_rss_mib: f64,
    /// User + system CPU time during the scenario (warm-up and untimed requests included).
    pub cpu_seconds: f64,
    /// Requests the server answered during the scenario, by its own counter.
    pub requests: u64,
    /// Server CPU per request answered.
    pub cpu_us_per_request: f64,
}

/// One scenario at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// `login`, `payment`, `payment_before`, `charge_only`, `cached_read`, `pgbench_ceiling`,
    /// `pgbench_ceiling_before`, `pgbench_reference`, `pgbench_issue_qr` or `pgbench_issue_qr_before`.
    pub name: String,
    pub concurrency: usize,
    /// The operation the scenario is about (`charge`, `read`, `login`); others are extra.
    pub main: String,
    pub operations: BTreeMap<String, OpSummary>,
    /// Absent for pgbench (no server runs then).
    pub server: Option<ProcessFigures>,
    /// How busy the whole machine was (all cores, generator and databases included).
    pub machine_cpu_busy_percent: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

impl Scenario {
    pub fn main_op(&self) -> Option<&OpSummary> {
        self.operations.get(&self.main)
    }
}

/// A target of the issue and whether this run meets it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub value: String,
    pub met: bool,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub generated_at: String,
    pub mode: String,
    pub command: String,
    pub machine: Machine,
    pub server_binary: String,
    /// The server's environment (the JWT secret left out).
    pub server_env: BTreeMap<String, String>,
    /// How this run's server differs from a default deployment, and why.
    pub conditions: Vec<String>,
    pub dataset: BTreeMap<String, String>,
    pub scenarios: Vec<Scenario>,
    /// HTTP charge throughput over the pgbench ceiling, per concurrency; the issue-16 A/B ratios
    /// (after / before, after / reference).
    pub ratios: BTreeMap<String, f64>,
    /// WAL per payment (QR issue + charge), today's functions and the ones before issue 16.
    pub wal: BTreeMap<String, f64>,
    pub targets: Vec<Target>,
}

impl Summary {
    fn find(&self, name: &str, concurrency: usize) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name && s.concurrency == concurrency)
    }

    /// Fills `ratios` and `targets` from the scenarios.
    pub fn evaluate(&mut self) {
        let rate = |s: Option<&Scenario>| s.and_then(Scenario::main_op).map(|o| o.per_second);
        let concurrencies: Vec<usize> =
            self.scenarios.iter().filter(|s| s.name == "pgbench_ceiling").map(|s| s.concurrency).collect();
        for c in concurrencies {
            let ceiling = rate(self.find("pgbench_ceiling", c)).filter(|r| *r > 0.0);
            for name in ["charge_only", "payment"] {
                if let (Some(http), Some(ceiling)) = (rate(self.find(name, c)), ceiling) {
                    self.ratios.insert(format!("{name}_{c}_over_ceiling"), round3(http / ceiling));
                }
            }
        }
        // Issue 16: the payment functions against their predecessors and the bare reference.
        for c in self.scenarios.iter().map(|s| s.concurrency).collect::<std::collections::BTreeSet<_>>() {
            let pairs = [
                ("charge_after_over_before", "pgbench_ceiling", "pgbench_ceiling_before"),
                ("charge_over_reference", "pgbench_ceiling", "pgbench_reference"),
                ("charge_before_over_reference", "pgbench_ceiling_before", "pgbench_reference"),
                ("issue_qr_after_over_before", "pgbench_issue_qr", "pgbench_issue_qr_before"),
                ("issue_qr_over_reference", "pgbench_issue_qr", "pgbench_reference"),
                ("payment_pairs_after_over_before", "payment", "payment_before"),
            ];
            for (name, a, b) in pairs {
                if let (Some(a), Some(b)) = (rate(self.find(a, c)), rate(self.find(b, c)).filter(|r| *r > 0.0)) {
                    self.ratios.insert(format!("{name}_{c}"), round3(a / b));
                }
            }
        }
        let mut targets = Vec::new();
        for c in [16, 64] {
            if let Some(ratio) = self.ratios.get(&format!("charge_after_over_before_{c}")) {
                targets.push(Target {
                    name: format!("charge pgbench ceiling, after / before, {c} clients"),
                    goal: "≥ 2".into(),
                    value: format!("{ratio:.2}"),
                    met: *ratio >= 2.0,
                });
            }
            if let Some(ratio) = self.ratios.get(&format!("charge_over_reference_{c}")) {
                targets.push(Target {
                    name: format!("charge pgbench ceiling / reference charge, {c} clients"),
                    goal: "≥ 0.4".into(),
                    value: format!("{ratio:.2}"),
                    met: *ratio >= 0.4,
                });
            }
        }
        if let Some(ratio) = self.ratios.get("payment_pairs_after_over_before_16") {
            targets.push(Target {
                name: "payment pairs/s over HTTP, after / before, 16 connections".into(),
                goal: "≥ 2".into(),
                value: format!("{ratio:.2}"),
                met: *ratio >= 2.0,
            });
        }
        if let Some(pair) = self.find("payment", 16).and_then(|s| s.operations.get("pair")) {
            targets.push(Target {
                name: "payment pair (QR + charge) p99 at 16 connections".into(),
                goal: "< 25 ms".into(),
                value: format!("{:.1} ms", pair.p99_ms),
                met: pair.p99_ms < 25.0,
            });
        }
        if let (Some(after), Some(before)) =
            (self.wal.get("bytes_per_payment"), self.wal.get("bytes_per_payment_before"))
        {
            targets.push(Target {
                name: "WAL bytes per payment (QR issue + charge), after / before".into(),
                goal: "≤ 0.5".into(),
                value: format!("{after:.0} / {before:.0} = {:.2}", after / before.max(1.0)),
                met: *after <= 0.5 * before,
            });
        }
        if let Some(ratio) = self.ratios.get("charge_only_64_over_ceiling") {
            targets.push(Target {
                name: "HTTP charge throughput / pgbench ceiling, 64 connections".into(),
                goal: "≥ 0.6".into(),
                value: format!("{ratio:.2}"),
                met: *ratio >= 0.6,
            });
        }
        for name in ["payment", "charge_only"] {
            if let Some(charge) = self.find(name, 16).and_then(Scenario::main_op) {
                targets.push(Target {
                    name: format!("charge p99 at 16 connections ({name})"),
                    goal: "< 25 ms".into(),
                    value: format!("{:.1} ms", charge.p99_ms),
                    met: charge.p99_ms < 25.0,
                });
            }
        }
        if let Some(reads) = rate(self.find("cached_read", 64)) {
            targets.push(Target {
                name: "cached GET /member/cards, 64 connections".into(),
                goal: "≥ 20,000 req/s".into(),
                value: format!("{reads:.0} req/s"),
                met: reads >= 20_000.0,
            });
        }
        let peak = self
            .scenarios
            .iter()
            .filter(|s| ["payment", "charge_only", "cached_read"].contains(&s.name.as_str()))
            .filter_map(|s| s.server.as_ref().map(|p| p.peak_rss_mib))
            .fold(None, |acc: Option<f64>, x| Some(acc.map_or(x, |a| a.max(x))));
        if let Some(peak) = peak {
            targets.push(Target {
                name: "server peak RSS during charge and read runs".into(),
                goal: "< 64 MiB".into(),
                value: format!("{peak:.1} MiB"),
                met: peak < 64.0,
            });
        }
        self.targets = targets;
    }

    /// The run as markdown: a table of every scenario, the ratios and the targets.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "## MPS benchmark ({} run, {})\n", self.mode, self.generated_at);
        let _ = writeln!(
            md,
            "Machine: {} × {}, {} MiB, Linux {}; {}; {}; load average at start {}.\n",
            self.machine.cpus,
            self.machine.cpu_model,
            self.machine.memory_mib,
            self.machine.kernel,
            self.machine.postgres,
            self.machine.redis,
            self.machine.load_average_at_start
        );
        let _ = writeln!(md, "Command: `{}`\n", self.command);
        for condition in &self.conditions {
            let _ = writeln!(md, "- {condition}");
        }
        if !self.conditions.is_empty() {
            md.push('\n');
        }
        let _ = writeln!(
            md,
            "| scenario | op | conns | ops/s | p50 ms | p95 ms | p99 ms | max ms | errors | server peak RSS MiB | server CPU s (µs/request) | machine CPU % |"
        );
        let _ = writeln!(md, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for s in &self.scenarios {
            let mut ops: Vec<(&String, &OpSummary)> = s.operations.iter().collect();
            ops.sort_by_key(|(name, _)| *name != &s.main);
            for (i, (op, o)) in ops.into_iter().enumerate() {
                let (rss, cpu) = match (&s.server, i) {
                    (Some(p), 0) => (
                        format!("{:.1}", p.peak_rss_mib),
                        format!("{:.1} ({:.0})", p.cpu_seconds, p.cpu_us_per_request),
                    ),
                    _ => (String::new(), String::new()),
                };
                let busy = if i == 0 { format!("{:.0}", s.machine_cpu_busy_percent) } else { String::new() };
                let _ = writeln!(
                    md,
                    "| {} | {op} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {rss} | {cpu} | {busy} |",
                    if i == 0 { s.name.as_str() } else { "" },
                    s.concurrency,
                    o.per_second,
                    o.p50_ms,
                    o.p95_ms,
                    o.p99_ms,
                    o.max_ms,
                    o.errors,
                );
            }
        }
        let notes: Vec<String> = self
            .scenarios
            .iter()
            .filter_map(|s| s.notes.as_ref().map(|n| format!("- {} @{}: {n}", s.name, s.concurrency)))
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(md, "\n{}", notes.join("\n"));
        }
        if !self.ratios.is_empty() {
            let ratios: Vec<String> = self.ratios.iter().map(|(k, v)| format!("{k} = {v:.2}")).collect();
            let _ = writeln!(md, "\nRatios: {}.", ratios.join(", "));
        }
        if !self.wal.is_empty() {
            let wal: Vec<String> = self.wal.iter().map(|(k, v)| format!("{k} = {v:.1}")).collect();
            let _ = writeln!(md, "\nWAL per payment (QR issue + charge, this backend's own WAL): {}.", wal.join(", "));
        }
        let _ = writeln!(md, "\n| target | goal | this run | met |\n|---|---|---|---|");
        for t in &self.targets {
            let _ =
                writeln!(md, "| {} | {} | {} | {} |", t.name, t.goal, t.value, if t.met { "yes" } else { "**no**" });
        }
        let dataset: Vec<String> = self.dataset.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(md, "\nData set: {}.", dataset.join("; "));
        let env: Vec<String> = self.server_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(md, "\nServer environment: `{}`.", env.join(" "));
        md
    }
}

/// MiB from KiB, one decimal.
pub fn mib(kib: u64) -> f64 {
    round1(kib as f64 / 1024.0)
}
