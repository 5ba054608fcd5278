//! The HTTP scenarios. Every virtual user owns one kept-alive connection and its own cards
//! (card `i` belongs to user `i mod concurrency`), so users never contend for a card row.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::http::{HeaderValue, Method, StatusCode};
use serde::Deserialize;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::http::{Answer, Conn, TransportError, bearer};
use crate::seed::{Dataset, PASSWORD};
use crate::stats::{OpSummary, Recorder};

/// Logged-in identities: one token per member (with the card it pays with) and per merchant.
pub struct Actors {
    pub members: Vec<(Uuid, HeaderValue)>,
    pub merchants: Vec<HeaderValue>,
}

/// A scenario's timing: results of the warm-up are discarded.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

#[derive(Deserialize)]
struct LoginAnswer {
    token: String,
}

#[derive(Deserialize)]
struct QrAnswer {
    qr_plain: String,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
}

/// How a failed request is counted: its status and error code, or the transport failure.
fn error_kind(answer: Result<&Answer, &TransportError>) -> String {
    match answer {
        Ok(answer) => match serde_json::from_slice::<ErrorAnswer>(&answer.body) {
            Ok(e) => format!("{} {}", answer.status.as_u16(), e.error.code),
            Err(_) => answer.status.as_u16().to_string(),
        },
        Err(e) => format!("transport: {e}"),
    }
}

/// One virtual user: a connection, its members' indices and the merchant it charges for.
struct User {
    id: usize,
    conn: Conn,
    members: Vec<usize>,
    merchant: HeaderValue,
    seq: u64,
}

impl User {
    fn team(addr: SocketAddr, actors: &Actors, concurrency: usize) -> Vec<User> {
        (0..concurrency)
            .map(|id| User {
                id,
                conn: Conn::new(addr),
                members: (id..actors.members.len()).step_by(concurrency).collect(),
                merchant: actors.merchants[id % actors.merchants.len()].clone(),
                seq: 0,
            })
            .collect()
    }

    /// `POST /member/qr` for member `m`'s card: the token's plain text, or why not.
    async fn issue_qr(&mut self, actors: &Actors, m: usize) -> (Result<String, String>, Duration) {
        let (card_id, auth) = &actors.members[m];
        let body = serde_json::to_vec(&serde_json::json!({ "card_id": card_id })).unwrap_or_default();
        let answer = self.conn.send(Method::POST, "/member/qr", Some(auth), None, Some(body)).await;
        match answer {
            Ok(a) if a.status == StatusCode::CREATED => match serde_json::from_slice::<QrAnswer>(&a.body) {
                Ok(qr) => (Ok(qr.qr_plain), a.latency),
                Err(_) => (Err("201 without qr_plain".into()), a.latency),
            },
            Ok(a) => (Err(error_kind(Ok(&a))), a.latency),
            Err(e) => (Err(error_kind(Err(&e))), Duration::ZERO),
        }
    }

    /// `POST /merchant/charge` of a token, with a fresh Idempotency-Key and an amount of 1.00–9.99.
    async fn charge(&mut self, tag: &str, qr_plain: &str) -> (Result<(), String>, Duration) {
        self.seq += 1;
        let key = format!("{tag}-{}-{}", self.id, self.seq);
        let cents = 100 + (self.seq * 37) % 900;
        let amount = format!("{}.{:02}", cents / 100, cents % 100);
        let body =
            serde_json::to_vec(&serde_json::json!({ "qr_plain": qr_plain, "amount": amount })).unwrap_or_default();
        let answer =
            self.conn.send(Method::POST, "/merchant/charge", Some(&self.merchant), Some(&key), Some(body)).await;
        match answer {
            Ok(a) if a.status == StatusCode::CREATED => (Ok(()), a.latency),
            Ok(a) => (Err(error_kind(Ok(&a))), a.latency),
            Err(e) => (Err(error_kind(Err(&e))), Duration::ZERO),
        }
    }
}

/// Runs `f` on every item (a user, possibly with its work) as its own task, so the generator
/// uses every core; returns the users in order with what each produced.
async fn in_parallel<I, F, Fut, T>(items: Vec<I>, f: F) -> anyhow::Result<Vec<(User, T)>>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = (User, T)> + Send + 'static,
    T: Send + 'static,
{
    let mut tasks = JoinSet::new();
    for item in items {
        tasks.spawn(f(item));
    }
    let mut done = Vec::new();
    while let Some(result) = tasks.join_next().await {
        done.push(result.context("a virtual user panicked")?);
    }
    done.sort_by_key(|(user, _)| user.id);
    Ok(done)
}

/// Logs every member and merchant in (`POST /auth/login`); returns their tokens and the figures.
pub async fn login_all(addr: SocketAddr, dataset: &Dataset, concurrency: usize) -> anyhow::Result<(Actors, OpSummary)> {
    let mut requests: Vec<(usize, serde_json::Value)> = Vec::new();
    for merchant in &dataset.merchants {
        requests.push((
            requests.len(),
            serde_json::json!({"role": "merchant", "identifier": merchant.code, "password": PASSWORD}),
        ));
    }
    for member in &dataset.members {
        requests.push((
            requests.len(),
            serde_json::json!({"role": "member", "identifier": member.member_no, "password": PASSWORD}),
        ));
    }
    let requests = Arc::new(requests);
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for worker in 0..concurrency {
        let requests = requests.clone();
        tasks.spawn(async move {
            let mut conn = Conn::new(addr);
            let mut recorder = Recorder::default();
            let mut tokens = Vec::new();
            for (i, body) in requests.iter().skip(worker).step_by(concurrency) {
                let body = serde_json::to_vec(body).unwrap_or_default();
                match conn.send(Method::POST, "/auth/login", None, None, Some(body)).await {
                    Ok(a) if a.status == StatusCode::OK => match serde_json::from_slice::<LoginAnswer>(&a.body) {
                        Ok(login) => {
                            recorder.ok(a.latency);
                            tokens.push((*i, login.token));
                        }
                        Err(_) => recorder.error("200 without token"),
                    },
                    answer => recorder.error(error_kind(answer.as_ref())),
                }
            }
            (recorder, tokens)
        });
    }
    let mut recorder = Recorder::default();
    let mut tokens = vec![None; requests.len()];
    while let Some(done) = tasks.join_next().await {
        let (part, issued) = done.context("a login worker panicked")?;
        recorder.merge(part);
        for (i, token) in issued {
            tokens[i] = Some(bearer(&token));
        }
    }
    let summary = recorder.summary(started.elapsed());
    let mut tokens = tokens.into_iter();
    let merchants: Option<Vec<_>> = tokens.by_ref().take(dataset.merchants.len()).collect();
    let members: Option<Vec<_>> = tokens.collect();
    let (Some(merchants), Some(members)) = (merchants, members) else {
        anyhow::bail!("some logins failed: {:?}", summary.error_kinds);
    };
    let members = dataset.members.iter().zip(members).map(|(m, auth)| (m.card_id, auth)).collect();
    Ok((Actors { members, merchants }, summary))
}

/// Figures of the payment scenario: issue a QR, then charge it, as one member and merchant would.
pub struct PaymentFigures {
    pub charge: OpSummary,
    pub qr: OpSummary,
    pub pair: OpSummary,
}

/// The real operation, back to back: `POST /member/qr` then `POST /merchant/charge`.
pub async fn payment(
    addr: SocketAddr,
    actors: &Arc<Actors>,
    concurrency: usize,
    window: Window,
) -> anyhow::Result<PaymentFigures> {
    let measure_from = Instant::now() + window.warmup;
    let until = measure_from + window.measure;
    // A nonce per run: the pair runs twice at 16 (before and after issue 16) on the same users.
    let tag = format!("pay{concurrency}-{:08x}", rand::random::<u32>());
    let done = in_parallel(User::team(addr, actors, concurrency), |mut user| {
        let (actors, tag) = (actors.clone(), tag.clone());
        async move {
            let (mut charge, mut qr, mut pair) = (Recorder::default(), Recorder::default(), Recorder::default());
            let mut next = 0;
            while Instant::now() < until {
                let m = user.members[next % user.members.len()];
                next += 1;
                let started = Instant::now();
                let measured = started >= measure_from;
                let (issued, qr_latency) = user.issue_qr(&actors, m).await;
                let plain = match issued {
                    Ok(plain) => plain,
                    Err(kind) => {
                        if measured {
                            qr.error(kind.clone());
                            pair.error(kind);
                        }
                        continue;
                    }
                };
                let (charged, charge_latency) = user.charge(&tag, &plain).await;
                if !measured {
                    continue;
                }
                qr.ok(qr_latency);
                match charged {
                    Ok(()) => {
                        charge.ok(charge_latency);
                        pair.ok(started.elapsed());
                    }
                    Err(kind) => {
                        charge.error(kind.clone());
                        pair.error(kind);
                    }
                }
            }
            (user, (charge, qr, pair))
        }
    })
    .await?;
    let (mut charge, mut qr, mut pair) = (Recorder::default(), Recorder::default(), Recorder::default());
    for (_, (c, q, p)) in done {
        charge.merge(c);
        qr.merge(q);
        pair.merge(p);
    }
    Ok(PaymentFigures {
        charge: charge.summary(window.measure),
        qr: qr.summary(window.measure),
        pair: pair.summary(window.measure),
    })
}

/// Figures of the charge-only scenario.
pub struct ChargeRoundsFigures {
    pub charge: OpSummary,
    pub rounds: u32,
    /// Time spent issuing tokens between rounds (not measured).
    pub issue_seconds: f64,
    pub issue_errors: u64,
}

/// Charge only: each round issues a token for every card outside the timed window, then every
/// user charges its cards' tokens; rounds repeat until `measure` of charging has been timed.
pub async fn charge_rounds(
    addr: SocketAddr,
    actors: &Arc<Actors>,
    concurrency: usize,
    measure: Duration,
) -> anyhow::Result<ChargeRoundsFigures> {
    let mut users = User::team(addr, actors, concurrency);
    let (mut charge, mut timed, mut issuing, mut rounds, mut issue_errors) =
        (Recorder::default(), Duration::ZERO, Duration::ZERO, 0, 0);
    let tag = format!("chg{concurrency}");
    while timed < measure {
        let issue_started = Instant::now();
        let issued = in_parallel(users, |mut user| {
            let actors = actors.clone();
            async move {
                let mut plains = Vec::with_capacity(user.members.len());
                for m in user.members.clone() {
                    plains.push(user.issue_qr(&actors, m).await.0);
                }
                (user, plains)
            }
        })
        .await?;
        issuing += issue_started.elapsed();
        issue_errors += issued.iter().flat_map(|(_, p)| p).filter(|p| p.is_err()).count() as u64;

        let round_started = Instant::now();
        let charged = in_parallel(issued, |(mut user, plains)| {
            let tag = tag.clone();
            async move {
                let mut recorder = Recorder::default();
                for plain in plains.into_iter().flatten() {
                    match user.charge(&tag, &plain).await {
                        (Ok(()), latency) => recorder.ok(latency),
                        (Err(kind), _) => recorder.error(kind),
                    }
                }
                (user, recorder)
            }
        })
        .await?;
        timed += round_started.elapsed();
        rounds += 1;
        users = Vec::with_capacity(concurrency);
        for (user, recorder) in charged {
            charge.merge(recorder);
            users.push(user);
        }
    }
    Ok(ChargeRoundsFigures {
        charge: charge.summary(timed),
        rounds,
        issue_seconds: issuing.as_secs_f64(),
        issue_errors,
    })
}

/// Cached reads: `GET /member/cards` for every member in turn, after one untimed pass that fills
/// the cache.
pub async fn cached_reads(
    addr: SocketAddr,
    actors: &Arc<Actors>,
    concurrency: usize,
    window: Window,
) -> anyhow::Result<OpSummary> {
    let warm = in_parallel(User::team(addr, actors, concurrency), |mut user| {
        let actors = actors.clone();
        async move {
            for &m in &user.members {
                let _ = user.conn.send(Method::GET, "/member/cards", Some(&actors.members[m].1), None, None).await;
            }
            (user, ())
        }
    })
    .await?;
    let measure_from = Instant::now() + window.warmup;
    let until = measure_from + window.measure;
    let done = in_parallel(warm.into_iter().map(|(u, ())| u).collect(), |mut user| {
        let actors = actors.clone();
        async move {
            let mut recorder = Recorder::default();
            let mut next = 0;
            while Instant::now() < until {
                let auth = &actors.members[user.members[next % user.members.len()]].1;
                next += 1;
                let started = Instant::now();
                let answer = user.conn.send(Method::GET, "/member/cards", Some(auth), None, None).await;
                if started < measure_from {
                    continue;
                }
                match answer {
                    Ok(a) if a.status == StatusCode::OK => recorder.ok(a.latency),
                    answer => recorder.error(error_kind(answer.as_ref())),
                }
            }
            (user, recorder)
        }
    })
    .await?;
    let mut recorder = Recorder::default();
    for (_, part) in done {
        recorder.merge(part);
    }
    Ok(recorder.summary(window.measure))
}
