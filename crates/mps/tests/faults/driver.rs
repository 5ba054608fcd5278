//! The load: concurrent clients doing what tills, members and the payment channel do — charge,
//! refund, top up, recharge — and retrying every unknown outcome with the same idempotency key
//! until the server gives a definitive answer. Each client keeps the books it was told about
//! (the ledger), which the scenario then compares with the database.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit as _, Mac as _};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use serde_json::{Value, json};

use crate::cluster::{REQUEST_TIMEOUT, WEBHOOK_SECRET};

/// How long a client waits for one answer: longer than the server's own request timeout, so a
/// server that hangs past its timeout shows up as a client timeout.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);
/// A response slower than this broke the promise that requests end within the timeout.
const LATENCY_LIMIT: Duration = Duration::from_millis(REQUEST_TIMEOUT.as_millis() as u64 + 2000);
/// How long a client keeps retrying one operation before calling it unresolved.
const RESOLVE_LIMIT: Duration = Duration::from_secs(120);

/// What the clients saw, for the report and the assertions.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub sent: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub connect_refused: u64,
    pub transport_errors: u64,
    pub client_timeouts: u64,
    /// 502/504 from the load balancer: the replica it chose died with the request in hand, so the
    /// outcome is unknown (only counted behind a proxy, see [`Api::behind_proxy`]).
    pub gateway_errors: u64,
    pub slowest_ms: u128,
    pub over_time: u64,
    /// Error statuses whose body was not the error envelope (or a 503 not `UNAVAILABLE`).
    pub bad_envelopes: Vec<String>,
    pub server_errors: Vec<String>,
    /// Operations that met at least one unknown outcome (no answer, 5xx, 429).
    pub unknown_ops: u64,
    /// … resolved by a replay: the first attempt had executed.
    pub replayed_after_unknown: u64,
    /// … that executed on a retry: the first attempt never had.
    pub fresh_after_unknown: u64,
    pub unresolved: Vec<String>,
    pub ops_ok: u64,
    pub ops_refused: u64,
    pub unexpected: Vec<String>,
    pub negative_balances_seen: u64,
    pub balances_seen: u64,
}

impl Stats {
    pub fn summary(&self) -> String {
        let statuses: Vec<String> = self.by_status.iter().map(|(s, n)| format!("{s}×{n}")).collect();
        format!(
            "requests {} ({}); refused connections {}, other transport errors {}, client timeouts {}, \
             gateway errors {}; \
             slowest {} ms; operations ok {}, refused by business rules {}; unknown outcomes {} \
             (replayed: had executed {}, ran on retry {}, unresolved {}); balances observed {} (negative {})",
            self.sent,
            statuses.join(" "),
            self.connect_refused,
            self.transport_errors,
            self.client_timeouts,
            self.gateway_errors,
            self.slowest_ms,
            self.ops_ok,
            self.ops_refused,
            self.unknown_ops,
            self.replayed_after_unknown,
            self.fresh_after_unknown,
            self.unresolved.len(),
            self.balances_seen,
            self.negative_balances_seen,
        )
    }
}

fn sample(list: &mut Vec<String>, item: String) {
    if list.len() < 20 {
        list.push(item);
    }
}

/// One HTTP request, sent as often as needed.
#[derive(Clone)]
pub struct Req {
    pub method: reqwest::Method,
    pub path: String,
    pub token: Option<String>,
    pub key: Option<String>,
    pub body: Option<Value>,
    /// Webhook deliveries are signed over the exact body bytes.
    pub signed: bool,
}

impl Req {
    pub fn get(path: impl Into<String>, token: &str) -> Req {
        Req {
            method: reqwest::Method::GET,
            path: path.into(),
            token: Some(token.into()),
            key: None,
            body: None,
            signed: false,
        }
    }

    pub fn post(path: impl Into<String>, token: Option<&str>, body: Value) -> Req {
        Req {
            method: reqwest::Method::POST,
            path: path.into(),
            token: token.map(str::to_owned),
            key: None,
            body: Some(body),
            signed: false,
        }
    }

    /// A money-moving POST with a fresh idempotency key (kept for every retry).
    pub fn money(path: impl Into<String>, token: &str, body: Value) -> Req {
        Req { key: Some(uuid::Uuid::new_v4().to_string()), ..Req::post(path, Some(token), body) }
    }
}

/// A definitive answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub replayed: bool,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

enum Reply {
    Done(Answer),
    Unknown,
}

/// The HTTP client all load goes through; it counts everything it sees.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub stats: Arc<Mutex<Stats>>,
    /// True when `base` is a load balancer in front of replicas (see [`Stats::gateway_errors`]).
    gateway: bool,
}

impl Api {
    pub fn new(base: String) -> Api {
        let http = reqwest::Client::builder().no_proxy().timeout(CLIENT_TIMEOUT).build().expect("http client");
        Api { http, base, stats: Arc::new(Mutex::new(Stats::default())), gateway: false }
    }

    /// An API reached through a load balancer: its own 502 and 504 (not the server's envelope)
    /// mean a replica died holding the request, an unknown outcome the client resolves by
    /// replaying the key, as it does a dropped connection.
    pub fn behind_proxy(base: String) -> Api {
        Api { gateway: true, ..Api::new(base) }
    }

    pub fn stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn send(&self, req: &Req) -> Reply {
        let mut builder = self.http.request(req.method.clone(), format!("{}{}", self.base, req.path));
        if let Some(token) = &req.token {
            builder = builder.bearer_auth(token);
        }
        if let Some(key) = &req.key {
            builder = builder.header("idempotency-key", key);
        }
        if let Some(body) = &req.body {
            let bytes = serde_json::to_vec(body).expect("json");
            if req.signed {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("hmac key");
                mac.update(&bytes);
                builder =
                    builder.header("x-mps-signature", format!("sha256={}", hex::encode(mac.finalize().into_bytes())));
            }
            builder = builder.header("content-type", "application/json").body(bytes);
        }
        let started = Instant::now();
        self.stats().sent += 1;
        let result = builder.send().await;
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                let mut stats = self.stats();
                if e.is_timeout() {
                    stats.client_timeouts += 1;
                } else if e.is_connect() {
                    stats.connect_refused += 1;
                } else {
                    stats.transport_errors += 1;
                }
                return Reply::Unknown;
            }
        };
        let status = response.status().as_u16();
        let replayed = response.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
        let body = match response.bytes().await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(_) => {
                self.stats().transport_errors += 1;
                return Reply::Unknown;
            }
        };
        let elapsed = started.elapsed();
        let mut stats = self.stats();
        *stats.by_status.entry(status).or_default() += 1;
        stats.slowest_ms = stats.slowest_ms.max(elapsed.as_millis());
        if elapsed > LATENCY_LIMIT {
            stats.over_time += 1;
        }
        let answer = Answer { status, body, replayed };
        if self.gateway && matches!(status, 502 | 504) && answer.code().is_empty() {
            stats.gateway_errors += 1;
            return Reply::Unknown;
        }
        if status >= 400 {
            let code = answer.code();
            let envelope_ok = !code.is_empty()
                && answer.body["error"]["request_id"].as_str().is_some_and(|r| !r.is_empty())
                && (status != 503 || code == "UNAVAILABLE");
            if !envelope_ok {
                sample(&mut stats.bad_envelopes, format!("{} {} → {status} {}", req.method, req.path, answer.body));
            }
        }
        if status >= 500 && status != 503 {
            sample(&mut stats.server_errors, format!("{} {} → {status} {}", req.method, req.path, answer.body));
        }
        if status >= 500 || status == 429 { Reply::Unknown } else { Reply::Done(answer) }
    }

    /// Sends until there is a definitive answer, reusing the request (and its key) each time.
    pub async fn resolve(&self, req: &Req) -> Option<Answer> {
        let started = Instant::now();
        let mut unknown = false;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.send(req).await {
                Reply::Done(answer) => {
                    if unknown {
                        let executed_before =
                            answer.replayed || (req.signed && answer.body["changed"] == Value::Bool(false));
                        let mut stats = self.stats();
                        if executed_before {
                            stats.replayed_after_unknown += 1;
                        } else {
                            stats.fresh_after_unknown += 1;
                        }
                    }
                    return Some(answer);
                }
                Reply::Unknown => {
                    if !unknown {
                        unknown = true;
                        self.stats().unknown_ops += 1;
                    }
                    if started.elapsed() > RESOLVE_LIMIT {
                        let mut stats = self.stats();
                        sample(&mut stats.unresolved, format!("{} {} key {:?}", req.method, req.path, req.key));
                        return None;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// Resolves and insists on `status`; anything else is recorded as unexpected.
    pub async fn expect(&self, req: &Req, status: u16) -> Option<Answer> {
        let answer = self.resolve(req).await?;
        if answer.status != status {
            let mut stats = self.stats();
            sample(&mut stats.unexpected, format!("{} {} → {} {}", req.method, req.path, answer.status, answer.body));
            return None;
        }
        Some(answer)
    }
}

/// A transaction as the clients were told it happened.
#[derive(Debug, Clone)]
pub struct Acknowledged {
    pub card_no: String,
    pub tx_type: &'static str,
    pub amount: Decimal,
    /// `processing` for recharge orders not confirmed yet, else `completed`.
    pub completed: bool,
}

/// What the clients believe the books are.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    pub balances: HashMap<String, Decimal>,
    pub transactions: HashMap<String, Acknowledged>,
}

impl Ledger {
    fn record(&mut self, tx_no: &str, ack: Acknowledged) {
        if ack.completed {
            let sign = if ack.tx_type == "payment" { -Decimal::ONE } else { Decimal::ONE };
            *self.balances.entry(ack.card_no.clone()).or_default() += sign * ack.amount;
        }
        self.transactions.insert(tx_no.to_owned(), ack);
    }

    /// Records the transaction of a 201 money answer (`transaction` or `refund`).
    pub fn record_answer(&mut self, tx: &Value) {
        let tx_type = match tx["tx_type"].as_str() {
            Some("payment") => "payment",
            Some("refund") => "refund",
            _ => "recharge",
        };
        let ack = Acknowledged {
            card_no: tx["card_no"].as_str().unwrap_or_default().to_owned(),
            tx_type,
            amount: money(&tx["final_amount"]),
            completed: tx["status"] != "processing",
        };
        self.record(tx["tx_no"].as_str().unwrap_or_default(), ack);
    }

    /// A recharge order confirmed by the channel: now it credits.
    pub fn complete_order(&mut self, tx_no: &str) {
        if let Some(ack) = self.transactions.get(tx_no).cloned()
            && !ack.completed
        {
            self.record(tx_no, Acknowledged { completed: true, ..ack });
        }
    }
}

pub fn money(value: &Value) -> Decimal {
    value.as_str().and_then(|s| Decimal::from_str(s).ok()).unwrap_or_default()
}

/// A member a client acts for, with its standard card and a voucher.
#[derive(Debug, Clone)]
pub struct Member {
    pub token: String,
    pub card_id: String,
    pub card_no: String,
    pub voucher_id: String,
}

/// A payment that can still be refunded.
struct Refundable {
    tx_no: String,
    remaining: Decimal,
}

/// A small deterministic generator, so a run can be repeated with the same seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    /// An amount in [0.01, max] with two places.
    pub fn amount(&mut self, max_cents: u64) -> Decimal {
        Decimal::new(i64::try_from(1 + self.below(max_cents)).unwrap_or(1), 2)
    }
}

/// One till with its members: runs operations until told to stop or out of budget.
pub struct Client {
    pub api: Api,
    pub merchant_token: String,
    pub members: Vec<Member>,
    pub ledger: Arc<Mutex<Ledger>>,
    pub rng: Rng,
    refundable: Vec<Refundable>,
}

impl Client {
    pub fn new(
        api: Api,
        merchant_token: String,
        members: Vec<Member>,
        ledger: Arc<Mutex<Ledger>>,
        seed: u64,
    ) -> Client {
        Client { api, merchant_token, members, ledger, rng: Rng::new(seed), refundable: Vec::new() }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn member(&mut self) -> Member {
        let i = usize::try_from(self.rng.below(self.members.len() as u64)).unwrap_or(0);
        self.members[i].clone()
    }

    /// Runs until `stop` is set or the shared request budget is spent; finishes the operation
    /// in hand (resolving it) before returning.
    pub async fn run(mut self, stop: Arc<AtomicBool>, budget: u64) {
        while !stop.load(Ordering::Relaxed) && self.api.stats().sent < budget {
            match self.rng.below(100) {
                0..=44 => self.charge().await,
                45..=64 => self.refund().await,
                65..=79 => self.topup().await,
                80..=91 => self.member_recharge().await,
                _ => self.look_at_cards().await,
            }
        }
    }

    fn outcome(&self, answer: &Answer, ok: u16, acceptable: &[&str]) -> bool {
        let mut stats = self.api.stats();
        if answer.status == ok {
            stats.ops_ok += 1;
            true
        } else if acceptable.contains(&answer.code()) {
            stats.ops_refused += 1;
            false
        } else {
            sample(&mut stats.unexpected, format!("{} {}", answer.status, answer.body));
            false
        }
    }

    async fn charge(&mut self) {
        let member = self.member();
        // One charge in four pays with the voucher (face value, no points).
        let card_id = if self.rng.below(4) == 0 { &member.voucher_id } else { &member.card_id };
        let qr = Req::post("/member/qr", Some(&member.token), json!({ "card_id": card_id }));
        let Some(qr) = self.api.expect(&qr, 201).await else { return };
        // Large enough against the top-ups that some charges meet INSUFFICIENT_BALANCE, a stored refusal.
        let amount = self.rng.amount(15000);
        let body = json!({ "qr_plain": qr.body["qr_plain"], "amount": amount.to_string() });
        let Some(answer) = self.api.resolve(&Req::money("/merchant/charge", &self.merchant_token, body)).await else {
            return;
        };
        if self.outcome(&answer, 201, &["INSUFFICIENT_BALANCE"]) {
            let tx = &answer.body["transaction"];
            self.ledger().record_answer(tx);
            self.refundable.push(Refundable {
                tx_no: tx["tx_no"].as_str().unwrap_or_default().into(),
                remaining: money(&tx["final_amount"]),
            });
        }
    }

    async fn refund(&mut self) {
        if self.refundable.is_empty() {
            return self.topup().await;
        }
        let i = usize::try_from(self.rng.below(self.refundable.len() as u64)).unwrap_or(0);
        let remaining = self.refundable[i].remaining;
        let cents = (remaining * Decimal::ONE_HUNDRED).trunc().to_u64().unwrap_or(1);
        let amount = if self.rng.below(3) == 0 { remaining } else { self.rng.amount(cents) };
        let body = json!({ "original_tx_no": self.refundable[i].tx_no, "amount": amount.to_string(), "reason": "fault suite" });
        let Some(answer) = self.api.resolve(&Req::money("/merchant/refund", &self.merchant_token, body)).await else {
            return;
        };
        if self.outcome(&answer, 201, &[]) {
            self.ledger().record_answer(&answer.body["refund"]);
            self.refundable[i].remaining -= amount;
            if self.refundable[i].remaining <= Decimal::ZERO {
                self.refundable.swap_remove(i);
            }
        }
    }

    async fn topup(&mut self) {
        let member = self.member();
        let body = json!({ "card_no": member.card_no, "amount": self.rng.amount(3000).to_string() });
        let Some(answer) = self.api.resolve(&Req::money("/merchant/recharge", &self.merchant_token, body)).await else {
            return;
        };
        if self.outcome(&answer, 201, &[]) {
            self.ledger().record_answer(&answer.body["transaction"]);
        }
    }

    async fn member_recharge(&mut self) {
        let member = self.member();
        let amount = self.rng.amount(6000).to_string();
        let order = json!({ "card_id": member.card_id, "amount": amount, "payment_method": "wechat" });
        let Some(answer) = self.api.resolve(&Req::money("/member/recharge", &member.token, order)).await else {
            return;
        };
        if !self.outcome(&answer, 201, &[]) {
            return;
        }
        let tx_no = answer.body["transaction"]["tx_no"].as_str().unwrap_or_default().to_owned();
        self.ledger().record_answer(&answer.body["transaction"]);
        let delivery =
            json!({ "tx_no": tx_no, "status": "succeeded", "amount": amount, "channel_ref": format!("ch-{tx_no}") });
        let webhook = Req { signed: true, ..Req::post("/webhooks/payments", None, delivery) };
        if let Some(confirmed) = self.api.expect(&webhook, 200).await
            && confirmed.body["status"] == "completed"
        {
            self.ledger().complete_order(&tx_no);
        }
    }

    async fn look_at_cards(&mut self) {
        let member = self.member();
        if let Some(cards) = self.api.expect(&Req::get("/member/cards", &member.token), 200).await {
            let balances: Vec<Decimal> =
                cards.body["items"].as_array().into_iter().flatten().map(|c| money(&c["balance"])).collect();
            let mut stats = self.api.stats();
            stats.balances_seen += balances.len() as u64;
            stats.negative_balances_seen += balances.iter().filter(|b| b.is_sign_negative()).count() as u64;
        }
    }
}
