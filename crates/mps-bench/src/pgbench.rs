//! The ceiling: the very `charge(...)` the server calls, driven by `pgbench` at the same
//! concurrency with tokens and keys prepared the same way, and no HTTP server in between.
//!
//! Client `c` owns the cards `c, c + clients, c + 2·clients, …` (the cards HTTP user `c` owns),
//! listed in `bench_pg_cards`. Its script alternates, like the HTTP charge-only rounds: one
//! transaction issues a token for each of its cards (a live `qr_issues` row — before issue 16's
//! third pass a `qr_issues` + `qr_tokens` pair, kept in `bench_before` — the hash a SHA-256 of a
//! random plain), then one transaction per card charges it with a fresh
//! Idempotency-Key. One long pgbench run per concurrency keeps its connections (a new backend
//! pays for compiling the PL/pgSQL functions and planning their statements, which would weigh on
//! short rounds). The issuing transactions are left out: the ceiling is
//! `clients / mean charge latency` (Little's law: the rate with every client charging), and the
//! latency percentiles are those of the charge transactions, read from pgbench's per-transaction
//! log.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::PgPool;
use uuid::Uuid;

use crate::seed::Dataset;
use crate::stats::{OpSummary, Recorder};

/// What pgbench drives: the payment functions as they are (`public`), as they were before issue
/// 16 (`bench_before`, see `before.sql`), or the bare reference charge (`reference.sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Charge,
    ChargeBefore,
    Reference,
    IssueQr,
    IssueQrBefore,
}

impl Workload {
    /// The scenario name in the summary.
    pub fn scenario(self) -> &'static str {
        match self {
            Workload::Charge => "pgbench_ceiling",
            Workload::ChargeBefore => "pgbench_ceiling_before",
            Workload::Reference => "pgbench_reference",
            Workload::IssueQr => "pgbench_issue_qr",
            Workload::IssueQrBefore => "pgbench_issue_qr_before",
        }
    }

    /// The operation measured.
    pub fn op(self) -> &'static str {
        match self {
            Workload::IssueQr | Workload::IssueQrBefore => "qr",
            _ => "charge",
        }
    }

    /// A tag unique per workload, in the Idempotency-Keys and log file names.
    fn tag(self) -> &'static str {
        match self {
            Workload::Charge => "pg",
            Workload::ChargeBefore => "pgb",
            Workload::Reference => "ref",
            Workload::IssueQr => "qr",
            Workload::IssueQrBefore => "qrb",
        }
    }

    /// Whether every `per + 1`-th transaction issues tokens (the charge scripts).
    fn issues_between(self) -> bool {
        matches!(self, Workload::Charge | Workload::ChargeBefore)
    }

    fn script(self) -> String {
        match self {
            Workload::Charge => charge_script("charge", ISSUE_TOKENS, LIVE_TOKENS),
            Workload::ChargeBefore => charge_script("bench_before.charge", ISSUE_TOKENS_BEFORE, LIVE_TOKENS_BEFORE),
            Workload::Reference => REFERENCE_SCRIPT.to_owned(),
            Workload::IssueQr => issue_script("issue_qr_token"),
            Workload::IssueQrBefore => issue_script("bench_before.issue_qr_token"),
        }
    }
}

/// Today's token issuing of the charge scripts: one live `qr_issues` row per card (the issue row
/// is the token, migration 0015).
const ISSUE_TOKENS: &str = "INSERT INTO qr_issues (card_id, member_id, expires_at, token_hash)
SELECT card_id, member_id, now() + interval '900 seconds', sha256(convert_to(gen_random_uuid()::text, 'UTF8'))
FROM bench_pg_cards WHERE client = :client_id;";
/// The live tokens of today's schema.
const LIVE_TOKENS: &str = "(SELECT card_id, token_hash FROM qr_issues WHERE ended_at IS NULL)";
/// The same before issue 16's third pass: an issue row and a token row, in `bench_before`'s own
/// copies of the two tables.
const ISSUE_TOKENS_BEFORE: &str =
    "WITH mine AS (SELECT card_id, member_id FROM bench_pg_cards WHERE client = :client_id),
     issued AS (INSERT INTO bench_before.qr_issues (card_id, member_id, expires_at)
                SELECT card_id, member_id, now() + interval '900 seconds' FROM mine
                RETURNING id, card_id, member_id, expires_at)
INSERT INTO bench_before.qr_tokens (card_id, token_hash, member_id, issue_id, expires_at)
SELECT card_id, sha256(convert_to(gen_random_uuid()::text, 'UTF8')), member_id, id, expires_at FROM issued;";
const LIVE_TOKENS_BEFORE: &str = "bench_before.qr_tokens";

/// `:per` cards per client; `k` counts them, `r` the rounds. `k` starts at `:per`, so every
/// client first issues its tokens (`issue`), then charges each card with its live token (`live`).
fn charge_script(function: &str, issue: &str, live: &str) -> String {
    format!(
        "\\set k :k + 1
\\if :k > :per
\\set k 0
\\set r :r + 1
{issue}
\\else
\\set cents 100 + (:r * 131 + :k * 37) % 900
SELECT {function}(c.merchant_id, NULL, :tag || :clients || '-' || :client_id || '-' || :r || '-' || :k,
                    sha256(t.token_hash), t.token_hash, (:cents / 100.0)::numeric(12, 2), NULL, NULL, 'pgbench')
FROM bench_pg_cards c JOIN {live} t USING (card_id)
WHERE c.client = :client_id AND c.k = :k;
\\endif
"
    )
}

/// One QR issue per transaction, each client round the cards it owns (the old token, if any,
/// is superseded, as when a member asks for a new code).
fn issue_script(function: &str) -> String {
    format!(
        "\\set k 1 + (:k % :per)
SELECT {function}(c.member_id, c.card_id, sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 900, 'pgbench')
FROM bench_pg_cards c WHERE c.client = :client_id AND c.k = :k;
"
    )
}

/// The reference charge, each client round the cards it owns.
const REFERENCE_SCRIPT: &str = "\\set k 1 + (:k % :per)
\\set cents 100 + (:k * 37) % 900
SELECT bench_ref_charge(c.card_id, c.merchant_id, (:cents / 100.0)::numeric(12, 2))
FROM bench_pg_cards c WHERE c.client = :client_id AND c.k = :k;
";

/// Installs the `bench_before` schema and the reference charge in the harness' database.
pub async fn install_variants(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql(include_str!("before.sql")).execute(pool).await.context("installing bench_before")?;
    sqlx::raw_sql(include_str!("reference.sql")).execute(pool).await.context("installing the reference charge")?;
    Ok(())
}

/// Figures of the pgbench ceiling at one concurrency.
pub struct CeilingFigures {
    pub charge: OpSummary,
    /// Successful charges per wall-clock second, issuing transactions included (a lower bound).
    pub wall_clock_per_second: f64,
    pub command: String,
}

/// Writes the per-client card mapping and ends every live token (left over from earlier runs).
async fn prepare(pool: &PgPool, dataset: &Dataset, clients: usize) -> anyhow::Result<usize> {
    let per_client = dataset.members.len() / clients;
    let (mut client, mut k, mut card, mut member, mut merchant) = (vec![], vec![], vec![], vec![], Vec::<Uuid>::new());
    for c in 0..clients {
        for n in 1..=per_client {
            let m = &dataset.members[c + clients * (n - 1)];
            client.push(c as i32);
            k.push(n as i32);
            card.push(m.card_id);
            member.push(m.id);
            merchant.push(dataset.merchants[c % dataset.merchants.len()].id);
        }
    }
    let mut tx = pool.begin().await?;
    sqlx::query(
        "CREATE UNLOGGED TABLE IF NOT EXISTS bench_pg_cards \
         (client int, k int, card_id uuid, member_id uuid, merchant_id uuid, PRIMARY KEY (client, k))",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("TRUNCATE bench_pg_cards").execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO bench_pg_cards SELECT * FROM unnest($1::int[], $2::int[], $3::uuid[], $4::uuid[], $5::uuid[])",
    )
    .bind(&client)
    .bind(&k)
    .bind(&card)
    .bind(&member)
    .bind(&merchant)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE qr_issues SET ended_at = now(), end_reason = 'revoked', token_hash = NULL WHERE ended_at IS NULL",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "WITH gone AS (DELETE FROM bench_before.qr_tokens RETURNING issue_id) \
         UPDATE bench_before.qr_issues i SET ended_at = now(), end_reason = 'revoked' FROM gone WHERE i.id = gone.issue_id",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE bench_pg_cards").execute(pool).await?;
    Ok(per_client)
}

/// Charges of this run (keys `<tag><clients>-…`) whose stored outcome is a success.
async fn successful_charges(pool: &PgPool, tag: &str, clients: usize) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM idempotency_keys \
         WHERE operation = 'charge' AND key LIKE $1 AND (outcome ->> 'ok')::boolean",
    )
    .bind(format!("{tag}{clients}-%"))
    .fetch_one(pool)
    .await?)
}

/// Charge latencies from pgbench's per-transaction logs (`client tx_no latency_us …`), which are
/// then removed; transaction `n` of a client issues tokens when `(n − 1) mod (per + 1) = 0`
/// (`per_client` 0: every transaction counts).
fn drain_charge_latencies(dir: &Path, prefix: &str, per_client: u64, recorder: &mut Recorder) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)) {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            let fields: Vec<u64> = line.split_whitespace().take(3).filter_map(|v| v.parse().ok()).collect();
            if let [_, n, latency_us] = fields[..]
                && n >= 1
                && (per_client == 0 || (n - 1) % (per_client + 1) != 0)
            {
                recorder.ok(Duration::from_micros(latency_us));
            }
        }
        std::fs::remove_file(&path)?;
    }
    Ok(())
}

/// Runs pgbench on `workload` at `clients` for `measure`.
pub async fn ceiling(
    pool: &PgPool,
    database_url: &str,
    dataset: &Dataset,
    workload: Workload,
    clients: usize,
    measure: Duration,
    workdir: &Path,
) -> anyhow::Result<CeilingFigures> {
    std::fs::create_dir_all(workdir)?;
    let per_client = prepare(pool, dataset, clients).await?;
    let script = workdir.join(format!("{}.sql", workload.scenario()));
    std::fs::write(&script, workload.script())?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(clients);
    let tag = workload.tag();
    let args = vec![
        "-n".to_owned(),
        "-M".into(),
        "prepared".into(),
        "-c".into(),
        clients.to_string(),
        "-j".into(),
        threads.to_string(),
        "-T".into(),
        measure.as_secs().max(1).to_string(),
        "-D".into(),
        format!("per={per_client}"),
        "-D".into(),
        format!("k={per_client}"),
        "-D".into(),
        "r=-1".into(),
        "-D".into(),
        format!("clients={clients}"),
        "-D".into(),
        format!("tag={tag}"),
        "-f".into(),
        script.display().to_string(),
        "-l".into(),
    ];
    let command = format!("pgbench {} <DATABASE_URL>", args.join(" "));
    let prefix = format!("{tag}{clients}");
    let output = Command::new("pgbench")
        .args(&args)
        .arg(format!("--log-prefix={}", workdir.join(&prefix).display()))
        .arg(database_url)
        .output()
        .context("cannot run pgbench (Debian: apt-get install postgresql-client)")?;
    if !output.status.success() {
        bail!(
            "pgbench failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
    }
    let mut recorder = Recorder::default();
    let skip_every = if workload.issues_between() { per_client as u64 } else { 0 };
    drain_charge_latencies(workdir, &prefix, skip_every, &mut recorder)?;
    let done = recorder.count();
    let ok = if workload.issues_between() {
        let ok = usize::try_from(successful_charges(pool, tag, clients).await?).unwrap_or(0);
        for _ in ok..done {
            recorder.error("charge outcome not ok");
        }
        ok
    } else {
        done
    };
    let wall_clock_per_second = ok as f64 / measure.as_secs_f64();
    let summary = recorder.summary(measure);
    // Little's law: with every client charging, the rate is clients / mean charge latency.
    let per_second = if summary.mean_ms > 0.0 { clients as f64 * 1000.0 / summary.mean_ms } else { 0.0 };
    Ok(CeilingFigures {
        charge: OpSummary { per_second: crate::stats::round1(per_second), ..summary },
        wall_clock_per_second: crate::stats::round1(wall_clock_per_second),
        command,
    })
}

/// WAL written per payment (QR issue + charge), measured by `EXPLAIN (ANALYZE, WAL)` of each
/// call on one connection: this backend's own WAL, whatever else the cluster writes meanwhile
/// (commit records, a few dozen bytes each, are not counted). Returns (before, after): the
/// functions before issue 16 and today's, measured payment by payment in turn on the same cards
/// after a checkpoint and a warm-up pass, so full-page images fall on both alike.
pub async fn wal_per_payment(
    pool: &PgPool,
    dataset: &Dataset,
    payments: usize,
) -> anyhow::Result<(WalFigures, WalFigures)> {
    let statements = |schema: &str| {
        (
            format!(
                "EXPLAIN (ANALYZE, WAL, FORMAT JSON) \
                 SELECT {schema}issue_qr_token($1, $2, sha256($3::bytea), 900, 'wal')"
            ),
            format!(
                "EXPLAIN (ANALYZE, WAL, FORMAT JSON) SELECT {schema}charge($1, NULL, $2, sha256($3::bytea), \
                 sha256($3::bytea), 1.50, NULL, NULL, 'wal')"
            ),
        )
    };
    let variants = [statements("bench_before."), statements("")];
    let mut conn = pool.acquire().await?;
    let mut totals = [WalFigures::default(), WalFigures::default()];
    sqlx::query("CHECKPOINT").execute(&mut *conn).await?;
    for pass in 0..2 {
        for (n, member) in dataset.members.iter().take(payments).enumerate() {
            let merchant = dataset.merchants[n % dataset.merchants.len()].id;
            for (v, (issue, charge)) in variants.iter().enumerate() {
                let plain = format!("wal-{v}-{pass}-{n}-{}", Uuid::new_v4()).into_bytes();
                let a: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(issue.as_str()))
                    .bind(member.id)
                    .bind(member.card_id)
                    .bind(&plain)
                    .fetch_one(&mut *conn)
                    .await?;
                let b: serde_json::Value = sqlx::query_scalar(sqlx::AssertSqlSafe(charge.as_str()))
                    .bind(merchant)
                    .bind(format!("wal-{v}-{pass}-{n}-{}", Uuid::new_v4()))
                    .bind(&plain)
                    .fetch_one(&mut *conn)
                    .await?;
                if pass == 1 {
                    totals[v].add(&a);
                    totals[v].add(&b);
                    totals[v].payments += 1;
                }
            }
        }
    }
    Ok((totals[0], totals[1]))
}

/// WAL of a number of payments, from the plans' `WAL Records`, `WAL FPI` and `WAL Bytes`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WalFigures {
    pub payments: u64,
    pub records: u64,
    pub fpi: u64,
    pub bytes: u64,
}

impl WalFigures {
    fn add(&mut self, explain: &serde_json::Value) {
        let plan = &explain[0]["Plan"];
        let get = |k: &str| plan[k].as_u64().unwrap_or(0);
        self.records += get("WAL Records");
        self.fpi += get("WAL FPI");
        self.bytes += get("WAL Bytes");
    }

    /// Bytes per payment.
    pub fn bytes_per_payment(&self) -> f64 {
        self.bytes as f64 / self.payments.max(1) as f64
    }

    /// Records per payment.
    pub fn records_per_payment(&self) -> f64 {
        self.records as f64 / self.payments.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn issuing_transactions_are_left_out_of_the_latencies() {
        let dir = std::env::temp_dir().join(format!("mps-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // Two cards per client: transactions 1 and 4 issue, 2, 3 and 5 charge.
        let log = "0 1 9000 0 1 0\n0 2 1000 0 1 0\n0 3 2000 0 1 0\n0 4 9000 0 1 0\n0 5 3000 0 1 0\n";
        std::fs::write(dir.join("pg2.123"), log).expect("log written");
        let mut recorder = Recorder::default();
        drain_charge_latencies(&dir, "pg2", 2, &mut recorder).expect("log read");
        let summary = recorder.summary(Duration::from_secs(1));
        assert_eq!((summary.count, summary.max_ms), (3, 3.0), "only the charges count");
        assert!(!dir.join("pg2.123").exists(), "the log is removed once read");
        let _ = std::fs::remove_dir(&dir);
    }
}
