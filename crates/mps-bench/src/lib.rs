//! The load harness behind `mps-bench` (see `docs/benchmarks.md`).
//!
//! It recreates its own database, seeds it, starts the release server as a separate process on
//! a free port with its own Redis key prefix and raised rate limits, drives it over HTTP, stops
//! it, then drives `charge` directly with pgbench for the ceiling, and writes
//! `summary.json` and `summary.md`.

#![expect(
    clippy::as_conversions,
    reason = "statistics over counts and clock ticks: the float arithmetic on integers is the point"
)]

pub mod http;
pub mod load;
pub mod pgbench;
pub mod private_pg;
pub mod report;
pub mod seed;
pub mod server;
pub mod stats;
pub mod volume;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};

use load::Window;
use mps::config::Config;
use mps_api::money::Money;
use report::{ProcessFigures, Scenario, Summary, mib};
use server::{Machine, ServerProcess, machine_cpu_ticks};
use stats::{OpSummary, round1};

/// What `mps-bench` accepts on its command line.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "mps-bench", about = "Load harness of the MPS server (see docs/benchmarks.md)")]
pub struct Options {
    /// A short run (a few seconds per scenario) instead of the full one.
    #[arg(long)]
    pub quick: bool,
    /// The server binary; default: `mps` next to this executable (build both with --release).
    #[arg(long)]
    pub server: Option<PathBuf>,
    /// The harness' own database: dropped and recreated on every run.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/mps_bench")]
    pub database_url: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Where summary.json, summary.md and the server log go.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Concurrent connections of each HTTP scenario and of pgbench.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    pub concurrency: Vec<usize>,
    #[arg(long, default_value_t = 1000)]
    pub members: usize,
    #[arg(long, default_value_t = 10)]
    pub merchants: usize,
    /// Scenarios to run (logins always run: the others need their tokens). `payment` runs the
    /// pair against today's functions and, at 16 connections, against those before issue 16;
    /// `pgbench` drives the charge (today's and before), the QR issue (both) and the reference
    /// charge; `wal` measures WAL per payment, both ways.
    #[arg(long, value_delimiter = ',', default_value = "payment,charge,read,pgbench,wal")]
    pub scenarios: Vec<String>,
    /// Also the volume scenario (issue 15): the reads, reports, a monthly settlement and the
    /// payment pair on the small data set, then again after seeding a large history on top of it.
    #[arg(long)]
    pub volume: bool,
    /// Members (each with a standard card) the volume history adds.
    #[arg(long, default_value_t = 1_000_000)]
    pub volume_members: u64,
    #[arg(long, default_value_t = 10_000)]
    pub volume_merchants: u64,
    /// Transactions of the volume history: 90% payments, 5% refunds, 5% counter top-ups; 20% of
    /// them at the busy merchant and 1% on the busy card; a point-ledger row per payment and an
    /// audit row per transaction.
    #[arg(long, default_value_t = 10_000_000)]
    pub volume_transactions: u64,
    /// Days the volume history spreads over, ending now.
    #[arg(long, default_value_t = 90)]
    pub volume_days: u64,
    /// Run against a PostgreSQL of the harness' own (data directory under `target/`, a port of
    /// `MPS_BENCH_PORT_BASE`'s range, stopped and removed afterwards) configured as
    /// docs/operations.md recommends for production ("PostgreSQL settings"), instead of the
    /// server `--database-url` names (whose database name is kept). The shared cluster's settings
    /// are never changed.
    #[arg(long)]
    pub private_postgres: bool,
    /// Settings of the private PostgreSQL beyond the recommended ones, `name=value` (repeatable;
    /// later ones win), e.g. `shared_buffers=128MB` to compare with the Debian default.
    #[arg(long = "private-postgres-setting", value_name = "NAME=VALUE")]
    pub private_postgres_settings: Vec<String>,
    /// Extra server environment, `NAME=value` (e.g. DB_MAX_CONNECTIONS=32), for experiments.
    #[arg(long = "server-env", value_name = "NAME=VALUE")]
    pub server_env: Vec<String>,
}

/// How long each scenario runs.
struct Plan {
    warmup: Duration,
    payment: Duration,
    charge: Duration,
    read: Duration,
    pgbench: Duration,
    login_concurrency: usize,
}

impl Plan {
    fn for_options(options: &Options) -> Plan {
        let s = Duration::from_secs;
        if options.quick {
            Plan { warmup: s(1), payment: s(5), charge: s(5), read: s(5), pgbench: s(5), login_concurrency: 16 }
        } else {
            Plan { warmup: s(5), payment: s(30), charge: s(30), read: s(20), pgbench: s(30), login_concurrency: 16 }
        }
    }
}

/// Each card's float: enough for every charge of a full run.
const CARD_FLOAT: &str = "50000.00";

fn server_env(options: &Options, port: u16) -> anyhow::Result<BTreeMap<String, String>> {
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let mut env: BTreeMap<String, String> = [
        ("APP_ENV", "production".to_owned()),
        ("DATABASE_URL", options.database_url.clone()),
        ("REDIS_URL", options.redis_url.clone()),
        ("REDIS_KEY_PREFIX", format!("mps:bench:{}:", std::process::id())),
        ("JWT_SECRET", secret),
        ("API_HOST", "127.0.0.1".into()),
        ("API_PORT", port.to_string()),
        ("LOG_LEVEL", "info".into()),
        ("LOG_FORMAT", "json".into()),
        ("MIGRATE_ON_START", "false".into()),
        // Raised so the generator measures the server, not its limiters (which stay in the path).
        ("RATE_LIMIT_REQUESTS", "10000000".into()),
        ("LOGIN_IP_RATE_LIMIT", "10000000".into()),
        ("LOGIN_RATE_LIMIT", "1000000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for pair in &options.server_env {
        let (name, value) = pair.split_once('=').with_context(|| format!("--server-env `{pair}` is not NAME=VALUE"))?;
        env.insert(name.to_owned(), value.to_owned());
    }
    Ok(env)
}

/// The database URL with a `search_path` for every connection (libpq's `options` parameter).
fn with_search_path(url: &str, search_path: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{}", search_path.replace(',', "%2C"))
}

fn default_server_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    Ok(me.with_file_name("mps"))
}

/// How many requests the server has answered, by its own `mps_api_requests_total`: the scenario's
/// CPU time covers its warm-up and untimed requests too, so it is divided by all of them.
async fn requests_served(addr: std::net::SocketAddr) -> u64 {
    let mut conn = http::Conn::new(addr);
    let Ok(answer) = conn.send(axum::http::Method::GET, "/metrics", None, None, None).await else { return 0 };
    String::from_utf8_lossy(&answer.body)
        .lines()
        .filter(|line| line.starts_with("mps_api_requests_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Runs a scenario against the server, with its peak RSS, CPU time and the machine's load.
async fn observed<T>(
    server: &ServerProcess,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<(T, ProcessFigures, f64)> {
    let reset = server.reset_peak_rss();
    let requests_before = requests_served(server.addr).await;
    let cpu_before = server.cpu_seconds().unwrap_or(0.0);
    let machine_before = machine_cpu_ticks();
    // Sampled too, in case the kernel refuses to reset the peak.
    let sampled = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampled, pid) = (sampled.clone(), server.pid());
        tokio::spawn(async move {
            loop {
                if let Some((_, rss)) = server::rss_kib(pid) {
                    sampled.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let result = work.await;
    sampler.abort();
    let value = result?;
    let cpu = server.cpu_seconds().unwrap_or(0.0) - cpu_before;
    let requests = requests_served(server.addr).await.saturating_sub(requests_before);
    let peak_kib = match server::rss_kib(server.pid()) {
        Some((hwm, _)) if reset => hwm,
        _ => sampled.load(Ordering::Relaxed),
    };
    let busy = match (machine_before, machine_cpu_ticks()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => 100.0 * (b1 - b0) as f64 / (t1 - t0) as f64,
        _ => 0.0,
    };
    Ok((
        value,
        ProcessFigures {
            peak_rss_mib: mib(peak_kib),
            cpu_seconds: round1(cpu),
            requests,
            cpu_us_per_request: (cpu * 1e6 / requests.max(1) as f64).round(),
        },
        busy,
    ))
}

fn scenario(
    name: &str,
    concurrency: usize,
    main: &str,
    operations: Vec<(&str, OpSummary)>,
    server: Option<ProcessFigures>,
    busy: f64,
    notes: Option<String>,
) -> Scenario {
    let operations: BTreeMap<String, OpSummary> = operations.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Scenario {
        name: name.into(),
        concurrency,
        main: main.into(),
        operations,
        server,
        machine_cpu_busy_percent: round1(busy),
        notes,
    }
}

/// The whole run; returns the summary it also wrote to `options.out`.
pub async fn run(mut options: Options) -> anyhow::Result<Summary> {
    // Declared first, dropped last: the private server outlives every connection to it.
    let private = if options.private_postgres {
        let dir = std::env::current_dir()?.join("target").join(format!("bench-postgres-{}", std::process::id()));
        let pg = private_pg::PrivatePostgres::start(&dir, server::free_port()?, &options.private_postgres_settings)?;
        options.database_url = pg.url_for(&options.database_url)?;
        eprintln!("mps-bench: private PostgreSQL in {} on port {}: {}", dir.display(), pg.port, pg.settings.join(" "));
        Some(pg)
    } else {
        None
    };
    let plan = Plan::for_options(&options);
    let wants = |s: &str| options.scenarios.iter().any(|x| x == s);
    let binary = match &options.server {
        Some(path) => path.clone(),
        None => default_server_binary()?,
    };
    if !binary.is_file() {
        bail!("no server binary at {}: run `cargo build --release --bins` first", binary.display());
    }
    if !binary.components().any(|c| c.as_os_str() == "release") {
        eprintln!("mps-bench: warning: {} does not look like a --release build", binary.display());
    }
    std::fs::create_dir_all(&options.out)?;
    let out = options.out.canonicalize()?;

    let env = server_env(&options, server::free_port()?)?;
    let config = Config::from_lookup(|k| env.get(k).cloned()).context("the server environment is invalid")?;
    eprintln!("mps-bench: recreating {} and seeding", options.database_url);
    seed::reset_database(&config).await?;
    let mut pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&options.database_url).await?;
    let float = Money::parse_text(CARD_FLOAT).map_err(|e| anyhow::anyhow!("{e}"))?;
    let dataset = seed::seed(&pool, options.members, options.merchants, float).await?;
    pgbench::install_variants(&pool).await?;
    let postgres: String = sqlx::query_scalar("SELECT split_part(version(), ' (', 1)").fetch_one(&pool).await?;
    let machine = Machine::describe(postgres);
    let cache = mps::cache::Cache::new(&config)?;

    eprintln!("mps-bench: starting {} on {}", binary.display(), config.listen_addr());
    let mut server = ServerProcess::start(&binary, &env, &out.join("server.log")).await?;
    let addr = server.addr;
    let mut scenarios = Vec::new();

    eprintln!("mps-bench: logging {} members and {} merchants in", dataset.members.len(), dataset.merchants.len());
    let ((actors, login), figures, busy) =
        observed(&server, load::login_all(addr, &dataset, plan.login_concurrency)).await?;
    let note = format!(
        "argon2 {} (the server's default cost, not weakened); at most one hash per core at once",
        dataset.argon2
    );
    scenarios.push(scenario(
        "login",
        plan.login_concurrency,
        "login",
        vec![("login", login)],
        Some(figures),
        busy,
        Some(note),
    ));
    let actors = Arc::new(actors);
    let window = |measure| Window { warmup: plan.warmup, measure };

    for &c in options.concurrency.iter().filter(|_| wants("payment")) {
        if c == 16 {
            // The A/B of issue 16: the same pair against the functions as they were, served by a
            // second server whose connections resolve names in `bench_before` first.
            let mut before_env = env.clone();
            before_env.insert("API_PORT".into(), server::free_port()?.to_string());
            before_env.insert("DATABASE_URL".into(), with_search_path(&options.database_url, "bench_before,public"));
            let before = ServerProcess::start(&binary, &before_env, &out.join("server-before.log")).await?;
            eprintln!("mps-bench: payment (issue QR + charge) at {c} connections, functions before issue 16");
            let (f, figures, busy) =
                observed(&before, load::payment(before.addr, &actors, c, window(plan.payment))).await?;
            let ops = vec![("charge", f.charge), ("qr", f.qr), ("pair", f.pair)];
            let note = "the pair against the functions before issue 16 (schema bench_before), same tables";
            scenarios.push(scenario("payment_before", c, "pair", ops, Some(figures), busy, Some(note.into())));
            drop(before);
        }
        eprintln!("mps-bench: payment (issue QR + charge) at {c} connections");
        let (f, figures, busy) = observed(&server, load::payment(addr, &actors, c, window(plan.payment))).await?;
        let ops = vec![("charge", f.charge), ("qr", f.qr), ("pair", f.pair)];
        scenarios.push(scenario("payment", c, "charge", ops, Some(figures), busy, None));
    }
    for &c in options.concurrency.iter().filter(|_| wants("charge")) {
        eprintln!("mps-bench: charge only, token rounds, at {c} connections");
        let (f, figures, busy) = observed(&server, load::charge_rounds(addr, &actors, c, plan.charge)).await?;
        let note = format!(
            "{} rounds; tokens issued between rounds in {:.1} s, not timed ({} issue errors)",
            f.rounds, f.issue_seconds, f.issue_errors
        );
        scenarios.push(scenario(
            "charge_only",
            c,
            "charge",
            vec![("charge", f.charge)],
            Some(figures),
            busy,
            Some(note),
        ));
    }
    for &c in options.concurrency.iter().filter(|_| wants("read")) {
        eprintln!("mps-bench: cached GET /member/cards at {c} connections");
        let (reads, figures, busy) = observed(&server, load::cached_reads(addr, &actors, c, window(plan.read))).await?;
        scenarios.push(scenario("cached_read", c, "read", vec![("read", reads)], Some(figures), busy, None));
    }
    let mut volume_targets = Vec::new();
    if options.volume {
        let launch = (binary.as_path(), &env, out.as_path());
        let (built, targets) =
            volume_scenario(&options, &plan, &mut pool, &dataset, &mut server, launch, &actors).await?;
        scenarios.extend(built);
        volume_targets = targets;
    }
    drop(server);
    let _ = cache.delete_all_with_prefix().await;

    for &c in options.concurrency.iter().filter(|_| wants("pgbench")) {
        use pgbench::Workload;
        // Before and after back to back, the reference between them, at each concurrency.
        for workload in
            [Workload::ChargeBefore, Workload::Charge, Workload::Reference, Workload::IssueQrBefore, Workload::IssueQr]
        {
            eprintln!("mps-bench: pgbench {} at {c} clients", workload.scenario());
            let before = machine_cpu_ticks();
            let ceiling = pgbench::ceiling(
                &pool,
                &options.database_url,
                &dataset,
                workload,
                c,
                plan.pgbench,
                &out.join("pgbench"),
            )
            .await?;
            let busy = match (before, machine_cpu_ticks()) {
                (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => 100.0 * (b1 - b0) as f64 / (t1 - t0) as f64,
                _ => 0.0,
            };
            let note = format!(
                "clients / mean latency; {:.0}/s by the wall clock{}; `{}`",
                ceiling.wall_clock_per_second,
                if workload == Workload::Charge || workload == Workload::ChargeBefore {
                    " with the token-issuing transactions"
                } else {
                    ""
                },
                ceiling.command
            );
            scenarios.push(scenario(
                workload.scenario(),
                c,
                workload.op(),
                vec![(workload.op(), ceiling.charge)],
                None,
                busy,
                Some(note),
            ));
        }
    }
    let mut wal = BTreeMap::new();
    if wants("wal") {
        eprintln!("mps-bench: WAL per payment, before and after");
        let payments = if options.quick { 100 } else { 500 }.min(dataset.members.len());
        let (before, after) = pgbench::wal_per_payment(&pool, &dataset, payments).await?;
        for (figures, suffix) in [(before, "_before"), (after, "")] {
            wal.insert(format!("bytes_per_payment{suffix}"), round1(figures.bytes_per_payment()));
            wal.insert(format!("records_per_payment{suffix}"), round1(figures.records_per_payment()));
            wal.insert(format!("full_page_images{suffix}"), figures.fpi as f64);
        }
    }
    pool.close().await;

    let mut server_env = env.clone();
    server_env.remove("JWT_SECRET");
    let dataset_info = BTreeMap::from([
        ("members".to_owned(), dataset.members.len().to_string()),
        ("merchants".to_owned(), dataset.merchants.len().to_string()),
        ("cards".to_owned(), format!("{} standard, each credited {CARD_FLOAT}", dataset.members.len())),
        ("charge amounts".to_owned(), "1.00–9.99, level discounts apply".to_owned()),
        ("argon2".to_owned(), dataset.argon2.clone()),
    ]);
    let conditions = vec![
        format!(
            "Rate limits raised for this run (RATE_LIMIT_REQUESTS={}, LOGIN_RATE_LIMIT={}, LOGIN_IP_RATE_LIMIT={}): \
             seeding {} logins from one address would otherwise take half an hour. The limiters stay in the \
             request path and do their usual work.",
            env["RATE_LIMIT_REQUESTS"],
            env["LOGIN_RATE_LIMIT"],
            env["LOGIN_IP_RATE_LIMIT"],
            dataset.members.len() + dataset.merchants.len()
        ),
        match &private {
            Some(pg) => format!(
                "PostgreSQL of the harness' own (--private-postgres; docs/operations.md, PostgreSQL settings): {}",
                pg.settings.join(" ")
            ),
            None => format!("PostgreSQL at {} with its own settings", options.database_url),
        },
        format!(
            "LOG_LEVEL={}: {}",
            env["LOG_LEVEL"],
            if env["LOG_LEVEL"] == "info" {
                "one JSON log line per request, as in a default deployment"
            } else {
                "no per-request log line (a default deployment logs each request at info)"
            }
        ),
    ];
    let mut summary = Summary {
        generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        mode: if options.quick { "quick" } else { "full" }.into(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine,
        server_binary: binary.display().to_string(),
        server_env,
        conditions,
        dataset: dataset_info,
        scenarios,
        ratios: BTreeMap::new(),
        wal,
        targets: Vec::new(),
    };
    summary.evaluate();
    summary.targets.extend(volume_targets);
    write_summary(&out, &summary)?;
    Ok(summary)
}

/// How many times the payment pair runs on each data set, the two sets alternating (small,
/// volume, small, …): the ratio the target reads is the median of the rounds' ratios, so that a
/// drift of the machine over the run (the seventh pass saw ±14% between two windows on
/// statements whose tables do not grow) weighs on both sides alike instead of on one.
const PAIR_ROUNDS: usize = 5;

/// The volume scenario: the same reads, reports, settlement and payment pair on the small data
/// set and on the volume history seeded on a copy of it; the two scenarios and the issue's
/// targets, evaluated.
///
/// The small set is copied (`CREATE DATABASE … TEMPLATE`) before the history is seeded into the
/// copy, and a second server serves the copy, so that the payment pair alternates between the
/// two sets, round by round, in one run.
async fn volume_scenario(
    options: &Options,
    plan: &Plan,
    pool: &mut sqlx::PgPool,
    dataset: &seed::Dataset,
    server: &mut ServerProcess,
    launch: (&Path, &BTreeMap<String, String>, &Path),
    actors: &Arc<load::Actors>,
) -> anyhow::Result<(Vec<Scenario>, Vec<report::Target>)> {
    let (binary, env, out) = launch;
    // Each read is warmed right before its window, for as long on the small set as on the volume
    // history (sixth pass: a 1-s warm-up left the first read after the seed refilling caches).
    let c = 16;
    let timing = if options.quick {
        (c, Duration::from_secs(3), Duration::from_secs(5))
    } else {
        (c, Duration::from_secs(5), Duration::from_secs(10))
    };
    let readers = volume::Readers {
        merchant: actors.merchants.first().context("no merchant")?.clone(),
        member: actors.members.first().context("no member")?.1.clone(),
        admin: volume::admin_token(server.addr).await?,
        big_card: dataset.members.first().context("no member")?.card_id,
    };

    // The reads and the settlement of the small set, then its copy: no connection may be open to
    // a template, so its server and the harness' pool close for the copy and open again after.
    let (mut small_ops, mut small_notes, _) =
        reads_and_settlement("small", server.addr, pool, &readers, 2, timing).await?;
    server.stop();
    pool.close().await;
    let small_url = options.database_url.clone();
    let volume_url = volume::copy_database(&small_url, "_volume").await?;
    *pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&small_url).await?;
    let mut small_env = env.clone();
    small_env.insert("API_PORT".into(), server::free_port()?.to_string());
    *server = ServerProcess::start(binary, &small_env, &out.join("server-small.log")).await?;

    let volume_pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&volume_url).await?;
    let scale = volume::Scale {
        members: options.volume_members,
        merchants: options.volume_merchants,
        transactions: options.volume_transactions,
        big_merchant_percent: 20,
        big_card_permille: 10,
        days: options.volume_days,
    };
    let seeded = volume::seed(&volume_pool, dataset, scale).await?;
    eprintln!("mps-bench: volume seeded in {} s: {seeded:?}", seeded.total_seconds);
    // The copy's server: its own port and Redis prefix (the two sets' cards share ids but not
    // balances, so their caches must not meet), the same JWT secret (the actors' tokens).
    let mut volume_env = env.clone();
    volume_env.insert("API_PORT".into(), server::free_port()?.to_string());
    volume_env.insert("DATABASE_URL".into(), volume_url.clone());
    let prefix = format!("{}volume:", env.get("REDIS_KEY_PREFIX").map_or("", String::as_str));
    volume_env.insert("REDIS_KEY_PREFIX".into(), prefix);
    let volume_server = ServerProcess::start(binary, &volume_env, &out.join("server-volume.log")).await?;
    let (mut volume_ops, mut volume_notes, settlement) =
        reads_and_settlement("volume", volume_server.addr, &volume_pool, &readers, 1, timing).await?;

    // The payment pair, alternating between the sets. Each window's per-charge counters are read
    // right before and after it (the WAL and bgwriter counters are the cluster's: only one set
    // works at a time, and every window ends with the wait that lets backends flush theirs).
    let sets = [("small", server.addr, &*pool), ("volume", volume_server.addr, &volume_pool)];
    let mut pairs = [Vec::new(), Vec::new()];
    let mut counted = [Vec::new(), Vec::new()];
    tokio::time::sleep(volume::STATS_FLUSH).await;
    for round in 1..=PAIR_ROUNDS {
        for (i, (set, addr, db)) in sets.iter().enumerate() {
            eprintln!("mps-bench: {set} data set: payment pair at {c} connections, round {round} of {PAIR_ROUNDS}");
            let before = volume::pg_counters(db).await?;
            let pair = load::payment(*addr, actors, c, Window { warmup: plan.warmup, measure: plan.payment }).await?;
            tokio::time::sleep(volume::STATS_FLUSH).await;
            let line = volume::per_charge(&before, &volume::pg_counters(db).await?);
            eprintln!("mps-bench: {set} data set: payment pair round {round}: {line}");
            counted[i].push(format!("payment pair round {round}: {line}"));
            pairs[i].push((volume::pair_round(round), pair.pair));
        }
    }
    drop(volume_server);
    volume_pool.close().await;
    if let Err(e) = seed::drop_database(&volume_url).await {
        eprintln!("mps-bench: warning: the volume copy was not dropped: {e:#}");
    }
    let volume_config = Config::from_lookup(|k| volume_env.get(k).cloned()).context("the copy's environment")?;
    let _ = mps::cache::Cache::new(&volume_config)?.delete_all_with_prefix().await;

    let [small_pairs, volume_pairs] = pairs;
    let [small_counted, volume_counted] = counted;
    small_ops.extend(small_pairs);
    volume_ops.extend(volume_pairs);
    small_notes.extend(small_counted);
    volume_notes.extend(volume_counted);
    volume_notes.push(format!("volume history seeded in {} s: {:?}", seeded.total_seconds, seeded));
    let main = volume::pair_round(1);
    let built = |set: &str, ops: Vec<(String, OpSummary)>, notes: Vec<String>| {
        let operations = ops.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        scenario(&format!("volume_{set}"), c, &main, operations, None, 0.0, Some(notes.join("; ")))
    };
    let built = vec![built("small", small_ops, small_notes), built("volume", volume_ops, volume_notes)];
    let targets = volume::targets(&built, &seeded, settlement);
    Ok((built, targets))
}

/// One set's reads (each list page, the reports) at `timing` = (connections, warm-up, window),
/// from a checkpoint, and the busy merchant's settlement of the month `months_back` ago: the
/// operations, a note, and the settlement (ms, payments).
async fn reads_and_settlement(
    set: &str,
    addr: std::net::SocketAddr,
    pool: &sqlx::PgPool,
    readers: &volume::Readers,
    months_back: u32,
    timing: (usize, Duration, Duration),
) -> anyhow::Result<(Vec<(String, OpSummary)>, Vec<String>, (f64, i64))> {
    let (c, warmup, window) = timing;
    // Both sets start their reads from a checkpoint: the seed's (or the small set's) dirty
    // buffers are written before, not during, the windows.
    sqlx::query("CHECKPOINT").execute(pool).await.context("CHECKPOINT before the reads")?;
    let mut ops = Vec::new();
    for read in volume::reads(addr, readers).await? {
        eprintln!("mps-bench: {set} data set: {} at {c} connections", read.name);
        ops.push((read.name.clone(), volume::measure(addr, &read, c, warmup, window).await?));
    }
    let (settle_ms, settled) = volume::monthly_settlement(addr, &readers.merchant, months_back).await?;
    let note = format!("monthly settlement of the busy merchant: {settle_ms:.1} ms for {settled} payments");
    Ok((ops, vec![note], (settle_ms, settled)))
}

fn write_summary(out: &Path, summary: &Summary) -> anyhow::Result<()> {
    std::fs::write(out.join("summary.json"), serde_json::to_vec_pretty(summary)?)?;
    std::fs::write(out.join("summary.md"), summary.markdown())?;
    Ok(())
}
