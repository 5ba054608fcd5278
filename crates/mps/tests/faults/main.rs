//! The fault suite (issue 9): the built `mps` binary, its own PostgreSQL and its own Redis,
//! concurrent clients charging, refunding and recharging with idempotency keys, and one fault at
//! a time — `kill -9` of the server, PostgreSQL stopped, Redis stopped, SIGTERM — under that
//! load. After each scenario the books are checked twice: the invariants query
//! (`tests/invariants.sql`) and the clients' own ledger against the database.
//!
//! Every test is `#[ignore]`d (they take minutes and start processes): `scripts/faults.sh` runs
//! them, bounded by `FAULTS_*` variables (`--ci` picks the small set).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::as_conversions,
    reason = "test code: a failed step panics with its message; which of these a suite uses changes with its tests"
)]

mod cluster;
mod driver;
mod past_one_machine;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use cluster::{Postgres, REQUEST_TIMEOUT, Redis, Scratch, Server, start_postgres};
use driver::{Answer, Api, Client, Ledger, Member, Req, Stats};

use test_support::INVARIANTS_SQL;
const PASSWORD: &str = "fault-suite-password";

/// How hard a run pushes, from `FAULTS_*` variables.
struct Settings {
    clients: usize,
    rounds: u32,
    pause: Duration,
    budget: u64,
}

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn settings() -> Settings {
    Settings {
        clients: var("FAULTS_CLIENTS", 4),
        rounds: var("FAULTS_ROUNDS", 2),
        pause: Duration::from_millis(var("FAULTS_PAUSE_MS", 1500)),
        budget: var("FAULTS_MAX_REQUESTS", 20_000),
    }
}

/// One scenario's world. Fields drop in order: the server, Redis and PostgreSQL stop before
/// their scratch directory goes.
struct Env {
    server: Server,
    /// Our own Redis and PostgreSQL, for the scenarios that stop them; `None` where the scenario
    /// owns a topology of its own (see `past_one_machine`).
    redis: Option<Redis>,
    pg: Option<Postgres>,
    /// Where the books are checked after the scenario.
    database_url: String,
    api: Api,
    admin_token: String,
    ledger: Arc<Mutex<Ledger>>,
    clients: Vec<Client>,
    /// A member no client uses, for the checks a scenario makes itself.
    spare: Member,
    spare_phone: String,
    merchant_tokens: Vec<String>,
    started: Instant,
    _scratch: Scratch,
}

/// A load balancer the clients go through, in front of replicas whose first one [`Env::on`]
/// starts on `first_replica_port`.
struct Front {
    base_url: String,
    first_replica_port: u16,
}

/// Load running in the background.
struct Load {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    async fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(180), task)
                .await
                .expect("clients finish their operation in hand within 180 s")
                .expect("client task");
        }
    }
}

fn login(role: &str, identifier: &str, operator: Option<&str>) -> Req {
    let mut body = json!({ "role": role, "identifier": identifier, "password": PASSWORD });
    if let Some(operator) = operator {
        body["operator"] = json!(operator);
    }
    Req::post("/auth/login", None, body)
}

impl Env {
    async fn start(name: &str, settings: &Settings) -> Env {
        let scratch = Scratch::new(name);
        let (pg, redis) = tokio::task::block_in_place(|| (start_postgres(&scratch.0), Redis::start_new(&scratch.0)));
        let (database_url, redis_url) = (pg.url("mps"), redis.url());
        Env::on(scratch, Some(pg), Some(redis), &database_url, &redis_url, settings, None).await
    }

    fn pg(&self) -> &Postgres {
        self.pg.as_ref().expect("the scenario's own PostgreSQL")
    }

    fn redis(&mut self) -> &mut Redis {
        self.redis.as_mut().expect("the scenario's own Redis")
    }

    /// The server on `database_url` and `redis_url`, an admin, and the seeded clients.
    async fn on(
        scratch: Scratch,
        pg: Option<Postgres>,
        redis: Option<Redis>,
        database_url: &str,
        redis_url: &str,
        settings: &Settings,
        front: Option<Front>,
    ) -> Env {
        let started = Instant::now();
        let mut server = match &front {
            Some(front) => Server::on_port(&scratch.0, database_url, redis_url, front.first_replica_port),
            None => Server::new(&scratch.0, database_url, redis_url),
        };
        let admin_email = "faults@example.com";
        tokio::task::block_in_place(|| server.create_admin(admin_email, PASSWORD));
        server.start().await;
        let api = match front {
            Some(front) => Api::behind_proxy(front.base_url),
            None => Api::new(server.base_url()),
        };
        let admin_token = token(&api, &login("admin", admin_email, None)).await;
        let ledger = Arc::new(Mutex::new(Ledger::default()));

        let mut clients = Vec::new();
        let mut merchant_tokens = Vec::new();
        for i in 0..settings.clients {
            let code = format!("FAULT{i:03}");
            let merchant = json!({ "code": code, "name": format!("Till {i}"), "password": PASSWORD });
            api.expect(&Req::post("/admin/merchants", Some(&admin_token), merchant), 201).await.expect("merchant");
            let merchant_token = token(&api, &login("merchant", &code, Some(&format!("till-{i}")))).await;
            let mut members = Vec::new();
            for j in 0..2 {
                let (member, _) = seed_member(&api, &admin_token, &ledger, &format!("1{:03}{:07}", i, j)).await;
                members.push(member);
            }
            merchant_tokens.push(merchant_token.clone());
            clients.push(Client::new(api.clone(), merchant_token, members, ledger.clone(), 7919 * (i as u64 + 1)));
        }
        let spare_phone = "19990000001".to_owned();
        let (spare, _) = seed_member(&api, &admin_token, &ledger, &spare_phone).await;
        println!(
            "  set-up: PostgreSQL {database_url}, Redis {redis_url}, mps :{} in {:.1} s",
            server.port,
            started.elapsed().as_secs_f64()
        );
        Env {
            server,
            redis,
            pg,
            database_url: database_url.to_owned(),
            api,
            admin_token,
            ledger,
            clients,
            spare,
            spare_phone,
            merchant_tokens,
            started,
            _scratch: scratch,
        }
    }

    fn start_load(&mut self, settings: &Settings) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let tasks =
            self.clients.drain(..).map(|client| tokio::spawn(client.run(stop.clone(), settings.budget))).collect();
        Load { stop, tasks }
    }

    async fn health(&self) -> Option<(u16, Value)> {
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().ok()?;
        let response = client.get(format!("{}/health", self.server.base_url())).send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Polls `/health` until it answers `status` with `state`; returns how long that took.
    /// How many 503s the clients have had so far.
    fn unavailable_answers(&self) -> u64 {
        self.api.stats().by_status.get(&503).copied().unwrap_or(0)
    }

    /// Lets the load run one more pause and stops it. The server must still be the process
    /// `pid`, started once, and the clients must have had more than `before` 503s (else `what`
    /// hit no load).
    async fn finish_load_after_outage(
        &self,
        load: Load,
        settings: &Settings,
        (pid, before): (Option<u32>, u64),
        what: &str,
        failures: &mut Vec<String>,
    ) {
        tokio::time::sleep(settings.pause).await;
        load.finish().await;
        if self.server.pid() != pid || self.server.starts != 1 {
            failures.push("the server was restarted".into());
        }
        if self.unavailable_answers() == before {
            failures.push(format!("no client saw a 503: {what} hit no load"));
        }
    }

    async fn await_health(&self, status: u16, state: &str, limit: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        let mut last = None;
        while started.elapsed() < limit {
            let health = self.health().await;
            if let Some((s, body)) = &health
                && *s == status
                && body["status"] == state
            {
                return Ok(started.elapsed());
            }
            last = health;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("/health did not become {status} {state} within {limit:?}; last: {last:?}"))
    }

    /// The books after a scenario: invariants, then the clients' ledger against the database.
    /// Prints the report and fails the test with every violation.
    async fn check(&self, scenario: &str, faults: &str, mut failures: Vec<String>, notes: &[String]) {
        let stats = self.api.stats().clone();
        failures.extend(load_failures(&stats));
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url)
            .await
            .expect("our PostgreSQL answers after the scenario");
        let violations: Vec<(String, String, String)> =
            sqlx::query_as(INVARIANTS_SQL).fetch_all(&pool).await.expect("the invariants query runs");
        for (invariant, subject, detail) in &violations {
            println!("  VIOLATION {invariant}: {subject}: {detail}");
            failures.push(format!("invariant '{invariant}' broken for {subject}: {detail}"));
        }
        let ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mismatches = compare_ledger(&pool, &ledger).await;
        for mismatch in &mismatches {
            println!("  LEDGER {mismatch}");
        }
        failures.extend(mismatches);
        let (transactions, cards) = (ledger.transactions.len(), ledger.balances.len());
        for line in self.server.error_lines().iter().take(10) {
            println!("  server error log: {line}");
        }
        let report = format!(
            "{scenario}: faults injected: {faults}; {}; books: {} invariant violations, {transactions} acknowledged \
             transactions and {cards} card balances checked against the database; {}; {:.0} s",
            stats.summary(),
            violations.len(),
            if failures.is_empty() { "PASS".to_owned() } else { format!("FAIL ({} problems)", failures.len()) },
            self.started.elapsed().as_secs_f64(),
        );
        println!("{report}");
        for note in notes {
            println!("  - {note}");
        }
        if let Ok(path) = std::env::var("FAULTS_REPORT") {
            use std::io::Write as _;
            if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                let _ = writeln!(file, "- {report}");
                for note in notes {
                    let _ = writeln!(file, "  - {note}");
                }
            }
        }
        assert!(failures.is_empty(), "{scenario}: {} problems:\n{}", failures.len(), failures.join("\n"));
    }
}

async fn token(api: &Api, login: &Req) -> String {
    let answer = api.expect(login, 200).await.expect("login succeeds");
    answer.body["token"].as_str().expect("token").to_owned()
}

/// A member with a standard card credited 500.00 and a voucher issued with 200.00, through the
/// API, so the ledger knows both credits.
async fn seed_member(api: &Api, admin: &str, ledger: &Arc<Mutex<Ledger>>, phone: &str) -> (Member, Answer) {
    let body = json!({ "name": format!("Member {phone}"), "phone": phone, "password": PASSWORD });
    let created = api.expect(&Req::post("/admin/members", Some(admin), body), 201).await.expect("member");
    let card_id = created.body["card"]["id"].as_str().expect("card id").to_owned();
    let card_no = created.body["card"]["card_no"].as_str().expect("card no").to_owned();
    let credit = Req::money(format!("/admin/cards/{card_id}/recharge"), admin, json!({ "amount": "500.00" }));
    let credited = api.expect(&credit, 201).await.expect("credit");
    ledger.lock().unwrap_or_else(|p| p.into_inner()).record_answer(&credited.body["transaction"]);
    let member_id = created.body["member"]["id"].clone();
    let voucher = json!({ "card_type": "voucher", "owner_member_id": member_id, "initial_balance": "200.00" });
    let issued = api.expect(&Req::post("/admin/cards", Some(admin), voucher), 201).await.expect("voucher");
    ledger.lock().unwrap_or_else(|p| p.into_inner()).record_answer(&issued.body["initial_transaction"]);
    let voucher_id = issued.body["card"]["id"].as_str().expect("voucher id").to_owned();
    let member_token = token(api, &login("member", phone, None)).await;
    (Member { token: member_token, card_id, card_no, voucher_id }, created)
}

/// What the load itself must never have seen, whatever the fault.
fn load_failures(stats: &Stats) -> Vec<String> {
    let mut failures = Vec::new();
    let mut list = |what: &str, items: &[String]| {
        if !items.is_empty() {
            failures.push(format!("{what}: {}", items.join(" | ")));
        }
    };
    list("5xx other than 503", &stats.server_errors);
    list("error responses outside the envelope (or a 503 not UNAVAILABLE)", &stats.bad_envelopes);
    list("operations never resolved", &stats.unresolved);
    list("unexpected answers", &stats.unexpected);
    if stats.over_time > 0 {
        failures.push(format!("{} responses took longer than the request timeout + 2 s", stats.over_time));
    }
    if stats.client_timeouts > 0 {
        failures.push(format!("{} requests hung past the client's 15 s timeout", stats.client_timeouts));
    }
    if stats.negative_balances_seen > 0 {
        failures.push(format!("{} negative balances observed", stats.negative_balances_seen));
    }
    failures
}

/// Every acknowledged transaction exists once with its amount; every transaction in the
/// database was acknowledged; every balance is what the clients were told.
async fn compare_ledger(pool: &sqlx::PgPool, ledger: &Ledger) -> Vec<String> {
    let mut problems = Vec::new();
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT t.tx_no, t.tx_type::text, t.status::text, t.final_amount::text, c.card_no \
         FROM transactions t JOIN cards c ON c.id = t.card_id",
    )
    .fetch_all(pool)
    .await
    .expect("read transactions");
    let mut seen = std::collections::HashSet::new();
    for (tx_no, tx_type, status, amount, card_no) in &rows {
        seen.insert(tx_no.clone());
        let amount = driver::money(&json!(amount));
        match ledger.transactions.get(tx_no) {
            None => problems.push(format!("executed but never acknowledged: {tx_type} {tx_no} {amount} on {card_no}")),
            Some(ack) => {
                let status_ok = tx_type != "recharge" || ack.completed == (status == "completed");
                if ack.tx_type != tx_type || ack.amount != amount || &ack.card_no != card_no || !status_ok {
                    problems.push(format!(
                        "{tx_no} differs: database {tx_type} {amount} {status} on {card_no}, acknowledged {ack:?}"
                    ));
                }
            }
        }
    }
    for (tx_no, ack) in &ledger.transactions {
        if !seen.contains(tx_no) {
            problems.push(format!("acknowledged but lost: {tx_no} {ack:?}"));
        }
    }
    let balances: Vec<(String, String)> =
        sqlx::query_as("SELECT card_no, balance::text FROM cards").fetch_all(pool).await.expect("read balances");
    for (card_no, balance) in balances {
        let balance = driver::money(&json!(balance));
        let expected = ledger.balances.get(&card_no).copied().unwrap_or_default();
        if balance != expected {
            problems.push(format!("card {card_no}: balance {balance}, the acknowledged operations say {expected}"));
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault suite: run by scripts/faults.sh"]
async fn kill_9_under_load_loses_no_acknowledged_operation_and_doubles_none() {
    let settings = settings();
    let mut env = Env::start("kill9", &settings).await;
    let load = env.start_load(&settings);
    let mut down = Vec::new();
    for _ in 0..settings.rounds {
        tokio::time::sleep(settings.pause).await;
        env.server.kill9();
        let killed = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.server.start().await;
        down.push(killed.elapsed().as_millis());
    }
    tokio::time::sleep(settings.pause).await;
    load.finish().await;
    let stats = env.api.stats().clone();
    let mut failures = Vec::new();
    if stats.unknown_ops == 0 {
        failures.push("no operation met an unknown outcome: the kills hit no load".into());
    }
    let notes = [format!("server down for {down:?} ms per kill; every unknown outcome resolved by replaying its key")];
    env.check(
        "kill -9 of the server under load",
        &format!("{} × kill -9 + restart", settings.rounds),
        failures,
        &notes,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault suite: run by scripts/faults.sh"]
async fn postgres_stopped_under_load_gives_503s_and_the_server_recovers_without_a_restart() {
    let settings = settings();
    let mut env = Env::start("postgres", &settings).await;
    let pid = env.server.pid();
    let load = env.start_load(&settings);
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    for round in 0..settings.rounds {
        tokio::time::sleep(settings.pause).await;
        let before = env.unavailable_answers();
        tokio::task::block_in_place(|| env.pg().stop_immediate());
        let stopped = Instant::now();
        match env.await_health(503, "unhealthy", Duration::from_secs(10)).await {
            Ok(t) => notes.push(format!("outage {round}: /health 503 unhealthy after {} ms", t.as_millis())),
            Err(e) => failures.push(e),
        }
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(stopped.elapsed())).await;
        tokio::task::block_in_place(|| env.pg().start(cluster::PG_SETTINGS));
        let outage = stopped.elapsed();
        match env.await_health(200, "healthy", Duration::from_secs(30)).await {
            Ok(t) => notes.push(format!(
                "outage {round}: database down {} ms; /health healthy again {} ms after PostgreSQL restarted; \
                 clients got {} × 503 meanwhile",
                outage.as_millis(),
                t.as_millis(),
                env.unavailable_answers() - before
            )),
            Err(e) => failures.push(format!("the server did not recover: {e}")),
        }
    }
    env.finish_load_after_outage(load, &settings, (pid, 0), "the outage", &mut failures).await;
    let faults = format!("{} × pg_ctl stop -m immediate, 3 s down, restart", settings.rounds);
    env.check("PostgreSQL stopped under load", &faults, failures, &notes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault suite: run by scripts/faults.sh"]
async fn redis_stopped_under_load_keeps_money_right_and_revocations_enforced() {
    let settings = settings();
    let mut env = Env::start("redis", &settings).await;
    let api = env.api.clone();
    let me = |token: &str| Req::get("/auth/me", token);
    let cards = |token: &str| Req::get("/member/cards", token);
    // Two sessions of one member: one is logged out while Redis is down, the other stays.
    let revoked = token(&api, &login("member", &env.spare_phone, None)).await;
    let kept = env.spare.token.clone();
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    // Cache what Redis can cache: the session's liveness and the card list.
    api.expect(&me(&revoked), 200).await;
    let balance_before = spare_balance(&api, &kept, &env.spare.card_id).await;
    let load = env.start_load(&settings);

    for round in 0..settings.rounds {
        tokio::time::sleep(settings.pause).await;
        tokio::task::block_in_place(|| env.redis().stop());
        match env.await_health(200, "degraded", Duration::from_secs(5)).await {
            Ok(t) => notes.push(format!("outage {round}: /health 200 degraded after {} ms", t.as_millis())),
            Err(e) => failures.push(e),
        }
        if round == 0 {
            let logout = Req::post("/auth/logout", Some(&revoked), json!({}));
            if api.resolve(&logout).await.map(|a| a.status) != Some(204) {
                failures.push("logout failed while Redis was down".into());
            }
        }
        // Money moves and reads stay right without Redis: credit the spare card, read it back.
        let credit = Req::money(
            format!("/admin/cards/{}/recharge", env.spare.card_id),
            &env.admin_token,
            json!({ "amount": "10.00" }),
        );
        if let Some(answer) = api.expect(&credit, 201).await {
            env.ledger.lock().unwrap_or_else(|p| p.into_inner()).record_answer(&answer.body["transaction"]);
        }
        let expected = balance_before + rust_decimal::Decimal::new(1000 * (i64::from(round) + 1), 2);
        check_revocation(&api, &revoked, &kept, "while Redis is down", &mut failures).await;
        let seen = spare_balance(&api, &kept, &env.spare.card_id).await;
        if seen != expected {
            failures.push(format!("while Redis is down the card list shows {seen}, the books {expected}"));
        }
        tokio::time::sleep(settings.pause).await;
        tokio::task::block_in_place(|| env.redis().start());
        match env.await_health(200, "healthy", Duration::from_secs(10)).await {
            Ok(t) => {
                notes.push(format!("outage {round}: /health healthy again {} ms after Redis restarted", t.as_millis()))
            }
            Err(e) => failures.push(e),
        }
        // Redis came back with what it saved, the session's old `live` marker included.
        for _ in 0..10 {
            check_revocation(&api, &revoked, &kept, "after Redis returned", &mut failures).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let seen = spare_balance(&api, &kept, &env.spare.card_id).await;
        if seen != expected {
            failures.push(format!("after Redis returned the card list shows {seen}, the books {expected}"));
        }
        let _ = api.resolve(&cards(&kept)).await;
    }
    tokio::time::sleep(settings.pause).await;
    load.finish().await;
    failures.dedup();
    let faults =
        format!("{} × Redis SHUTDOWN SAVE, down {:?}, restarted from its dump", settings.rounds, settings.pause);
    env.check("Redis stopped under load", &faults, failures, &notes).await;
}

/// The balance `GET /member/cards` shows for one card.
async fn spare_balance(api: &Api, token: &str, card_id: &str) -> rust_decimal::Decimal {
    let cards = api.expect(&Req::get("/member/cards", token), 200).await;
    let items = cards.map(|c| c.body["items"].as_array().cloned().unwrap_or_default()).unwrap_or_default();
    items.iter().find(|c| c["id"] == card_id).map(|c| driver::money(&c["balance"])).unwrap_or_default()
}

async fn check_revocation(api: &Api, revoked: &str, kept: &str, when: &str, failures: &mut Vec<String>) {
    match api.resolve(&Req::get("/auth/me", revoked)).await {
        Some(a) if a.status == 401 => {}
        other => failures.push(format!("a logged-out token was accepted {when}: {:?}", other.map(|a| a.status))),
    }
    match api.resolve(&Req::get("/auth/me", kept)).await {
        Some(a) if a.status == 200 => {}
        other => failures.push(format!("a live token was refused {when}: {:?}", other.map(|a| a.status))),
    }
}

/// Waits until new connections to `port` are refused (the listener is closed), at most `limit`;
/// returns how long that took.
async fn await_refused(port: u16, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Ok(started.elapsed()),
            other if started.elapsed() > limit => {
                return Err(format!("new connections still not refused {limit:?} after SIGTERM: {other:?}"));
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Starts a charge and sends half its body; returns the connection and the other half.
async fn trickled_charge(port: u16, merchant_token: &str, qr_plain: &str) -> (tokio::net::TcpStream, Vec<u8>) {
    let body = serde_json::to_vec(&json!({ "qr_plain": qr_plain, "amount": "1.00" })).expect("json");
    let head = format!(
        "POST /merchant/charge HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {merchant_token}\r\n\
         Idempotency-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        uuid::Uuid::new_v4(),
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    let half = body.len() / 2;
    stream.write_all(&body[..half]).await.expect("write half the body");
    (stream, body[half..].to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault suite: run by scripts/faults.sh"]
async fn sigterm_under_load_finishes_in_flight_requests_refuses_new_ones_and_exits_0() {
    let settings = settings();
    let mut env = Env::start("sigterm", &settings).await;
    let load = env.start_load(&settings);
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let mut completed = 0;
    for round in 0..settings.rounds {
        tokio::time::sleep(settings.pause).await;
        let qr = env
            .api
            .expect(&Req::post("/member/qr", Some(&env.spare.token), json!({ "card_id": env.spare.card_id })), 201)
            .await;
        let qr_plain = qr.map(|q| q.body["qr_plain"].as_str().unwrap_or_default().to_owned()).unwrap_or_default();
        let (mut in_flight, rest) = trickled_charge(env.server.port, &env.merchant_tokens[0], &qr_plain).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        env.server.sigterm();
        let signalled = Instant::now();
        let refused = match await_refused(env.server.port, Duration::from_secs(3)).await {
            Ok(after) => format!("new connections refused {} ms after SIGTERM", after.as_millis()),
            Err(e) => {
                failures.push(format!("round {round}: {e}"));
                "new connections NOT refused".into()
            }
        };
        let _ = in_flight.write_all(&rest).await;
        let mut response = Vec::new();
        let _ = tokio::time::timeout(REQUEST_TIMEOUT * 2, in_flight.read_to_end(&mut response)).await;
        let response = String::from_utf8_lossy(&response).into_owned();
        if response.starts_with("HTTP/1.1 201") {
            completed += 1;
            if let Some((_, body)) = response.split_once("\r\n\r\n")
                && let Ok(body) = serde_json::from_str::<Value>(body)
            {
                env.ledger.lock().unwrap_or_else(|p| p.into_inner()).record_answer(&body["transaction"]);
            }
        } else {
            failures.push(format!("round {round}: the in-flight charge did not complete: {response:?}"));
        }
        match env.server.wait_exit(REQUEST_TIMEOUT + Duration::from_secs(10)).await {
            Some(status) if status.code() == Some(0) => notes.push(format!(
                "round {round}: {refused}; exited 0 {} ms after SIGTERM",
                signalled.elapsed().as_millis()
            )),
            other => failures.push(format!("round {round}: exit after SIGTERM was {other:?}, not 0")),
        }
        env.server.start().await;
    }
    tokio::time::sleep(settings.pause).await;
    load.finish().await;
    let stats = env.api.stats().clone();
    if stats.replayed_after_unknown > 0 {
        failures.push(format!(
            "{} requests were executed but their answer never reached the client",
            stats.replayed_after_unknown
        ));
    }
    notes.push(format!(
        "{completed} of {} charges whose body was half sent at SIGTERM completed with 201",
        settings.rounds
    ));
    let faults = format!("{} × SIGTERM (then restart)", settings.rounds);
    env.check("SIGTERM under load", &faults, failures, &notes).await;
}
