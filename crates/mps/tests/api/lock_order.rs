//! Charges against QR issue, QR revoke and card freeze (issue 13 §2): one lock order (card, then
//! token) means no deadlock, and a deadlock or serialization failure that still happens is
//! retried by the server and then answered 503, never 500.
//! Revoke-all, which ends live QR rows without locking their cards, against a charge on either
//! side of the claim (issue 16, third pass: the QR issue row is the token).
//!
//! Deadlocks are counted in `pg_stat_database.deadlocks` of the test's own database, read after
//! the app's connections have closed (a backend reports its counters when it exits).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request};
use serde_json::{Value, json};
use sqlx::PgPool;
use tower::ServiceExt as _;

use crate::helpers::{TestApp, TestResponse, assert_books_balance, card_state, new_key, quiet_pool, server_url};

/// The card-first operation raced against a charge.
#[derive(Debug, Clone, Copy)]
enum Rival {
    IssueQr,
    RevokeQr,
    Freeze,
}

/// Who takes part: tokens of the member, the merchant and an admin, and the member's card.
struct Parties {
    member: String,
    merchant: String,
    admin: String,
    card_id: String,
}

async fn parties(app: &TestApp) -> Parties {
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    admin.credit(&member.card_id, "1000.00").await;
    let merchant = admin.create_merchant("Shop").await;
    Parties {
        member: app.member_client(&member).await.token,
        merchant: app.merchant_client(&merchant).await.token,
        admin: admin.token.clone(),
        card_id: member.card_id,
    }
}

fn request(method: Method, path: &str, token: &str, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", new_key());
    match body {
        Some(body) => builder.header("content-type", "application/json").body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap()
}

fn charge(parties: &Parties, qr: &str) -> Request<Body> {
    let body = json!({ "qr_plain": qr, "amount": "0.01" });
    request(Method::POST, "/merchant/charge", &parties.merchant, Some(body))
}

fn rival(parties: &Parties, rival: Rival) -> Request<Body> {
    let card = &parties.card_id;
    match rival {
        Rival::IssueQr => request(Method::POST, "/member/qr", &parties.member, Some(json!({ "card_id": card }))),
        Rival::RevokeQr => request(Method::DELETE, &format!("/member/qr/{card}"), &parties.member, None),
        Rival::Freeze => request(Method::POST, &format!("/admin/cards/{card}/freeze"), &parties.admin, None),
    }
}

async fn issue_qr(app: &TestApp, parties: &Parties) -> String {
    let response = send(app, rival(parties, Rival::IssueQr)).await;
    assert_eq!(response.status, 201, "issue a QR: {}", response.text);
    response.json["qr_plain"].as_str().unwrap().to_owned()
}

async fn send(app: &TestApp, request: Request<Body>) -> TestResponse {
    TestResponse::read(app.router.clone().oneshot(request).await.unwrap()).await
}

fn spawn(app: &TestApp, request: Request<Body>) -> tokio::task::JoinHandle<TestResponse> {
    let router = app.router.clone();
    tokio::spawn(async move { TestResponse::read(router.oneshot(request).await.unwrap()).await })
}

/// Waits until `n` statements of this database wait for a lock.
pub(crate) async fn wait_for_lock_waiters(observer: &PgPool, database: &str, n: i64) {
    for _ in 0..500 {
        let waiting: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'")
                .bind(database)
                .fetch_one(observer)
                .await
                .unwrap();
        if waiting >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{n} statements never queued on a lock");
}

/// The deadlocks PostgreSQL has counted in `database`, once every connection of the app has
/// closed (so every backend has reported its counters).
async fn deadlocks_after_closing(app: &TestApp, observer: &PgPool, database: &str) -> i64 {
    app.pool.close().await;
    for _ in 0..500 {
        let open: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
            .bind(database)
            .fetch_one(observer)
            .await
            .unwrap();
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    deadlocks(observer, database).await
}

async fn deadlocks(observer: &PgPool, database: &str) -> i64 {
    sqlx::query_scalar("SELECT coalesce(deadlocks, 0) FROM pg_stat_database WHERE datname = $1")
        .bind(database)
        .fetch_one(observer)
        .await
        .unwrap()
}

async fn database_name(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT current_database()").fetch_one(&app.pool).await.unwrap()
}

/// Replays the order that deadlocked: the test holds the card's row lock, the rival queues on it
/// first, then the charge (which, taking the token before the card, held the token while it
/// queued). Released, the rival gets the card first and needs the token next.
async fn replay_rival_first(rival_kind: Rival) {
    let app = TestApp::new().await;
    let parties = parties(&app).await;
    let qr = issue_qr(&app, &parties).await;
    let (database, observer) = (database_name(&app).await, quiet_pool(&server_url(), 1).await);
    let before = deadlocks(&observer, &database).await;

    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM cards WHERE id = $1::uuid FOR UPDATE")
        .bind(&parties.card_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let rival_response = spawn(&app, rival(&parties, rival_kind));
    wait_for_lock_waiters(&observer, &database, 1).await;
    let charge_response = spawn(&app, charge(&parties, &qr));
    wait_for_lock_waiters(&observer, &database, 2).await;
    holder.rollback().await.unwrap();

    let (rival_response, charge_response) = (rival_response.await.unwrap(), charge_response.await.unwrap());
    assert!(rival_response.status.is_success(), "{rival_kind:?} goes through: {}", rival_response.text);
    assert!(
        charge_response.status == 201 || charge_response.error_code() == "QR_EXPIRED_OR_INVALID",
        "the charge either wins or finds its token gone: {}",
        charge_response.text
    );
    assert_books_balance(&app.pool).await;
    let after = deadlocks_after_closing(&app, &observer, &database).await;
    assert_eq!(after - before, 0, "a charge queued behind {rival_kind:?} on one card must not deadlock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_charge_queued_behind_a_qr_issue_of_its_card_does_not_deadlock() {
    replay_rival_first(Rival::IssueQr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_charge_queued_behind_a_qr_revoke_of_its_card_does_not_deadlock() {
    replay_rival_first(Rival::RevokeQr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_charge_queued_behind_a_freeze_of_its_card_does_not_deadlock() {
    replay_rival_first(Rival::Freeze).await;
}

/// Cards raced at once, and rounds per card: 300 pairs of each kind.
const CARDS: usize = 10;
const ROUNDS: usize = 30;

/// One card's rounds: a fresh QR, then a charge and the rival sent together; answers every
/// status seen.
async fn race_rounds(app: Arc<TestApp>, parties: Parties, rival_kind: Rival) -> Vec<(u16, String)> {
    let mut statuses = Vec::new();
    for _ in 0..ROUNDS {
        let qr = issue_qr(&app, &parties).await;
        let (charged, raced) =
            tokio::join!(spawn(&app, charge(&parties, &qr)), spawn(&app, rival(&parties, rival_kind)));
        let (charged, raced) = (charged.unwrap(), raced.unwrap());
        if let (Rival::Freeze, 200) = (rival_kind, raced.status.as_u16()) {
            let card = &parties.card_id;
            let unfrozen =
                send(&app, request(Method::POST, &format!("/admin/cards/{card}/unfreeze"), &parties.admin, None)).await;
            assert_eq!(unfrozen.status, 200, "unfreeze for the next round: {}", unfrozen.text);
        }
        for response in [charged, raced] {
            statuses.push((response.status.as_u16(), response.text));
        }
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_charges_racing_qr_issue_revoke_and_freeze_answer_no_5xx_and_never_deadlock() {
    let limits = [("LOGIN_IP_RATE_LIMIT", "1000"), ("RATE_LIMIT_REQUESTS", "100000")];
    let app = Arc::new(TestApp::with_vars(&limits).await);
    let (database, observer) = (database_name(&app).await, quiet_pool(&server_url(), 1).await);
    let before = deadlocks(&observer, &database).await;
    let mut failures = Vec::new();
    let mut pairs = 0;
    for rival_kind in [Rival::IssueQr, Rival::RevokeQr, Rival::Freeze] {
        let mut cards = Vec::new();
        for _ in 0..CARDS {
            cards.push(tokio::spawn(race_rounds(app.clone(), parties(&app).await, rival_kind)));
        }
        for card in cards {
            let statuses = card.await.unwrap();
            pairs += statuses.len() / 2;
            failures.extend(statuses.into_iter().filter(|(status, _)| *status >= 500).map(|f| (rival_kind, f)));
        }
    }
    assert_eq!(pairs, 3 * CARDS * ROUNDS);
    assert!(failures.is_empty(), "{} answers were 5xx, e.g. {:?}", failures.len(), failures.first());
    assert_books_balance(&app.pool).await;
    let after = deadlocks_after_closing(&app, &observer, &database).await;
    assert_eq!(after - before, 0, "PostgreSQL detected deadlocks during {pairs} raced pairs");
}

/// Makes every payment insert of this database fail with `sqlstate` for its first `failures`
/// attempts (a sequence counts them: it does not roll back with the failed transaction).
async fn inject_failures(pool: &PgPool, sqlstate: &str, failures: i64) {
    sqlx::query("CREATE SEQUENCE test_injected_failures").execute(pool).await.unwrap();
    let function = format!(
        "CREATE FUNCTION test_inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.tx_type = 'payment' AND nextval('test_injected_failures') <= {failures} THEN \
             RAISE EXCEPTION USING ERRCODE = '{sqlstate}', MESSAGE = 'injected by the test'; \
           END IF; RETURN NEW; END $$"
    );
    sqlx::query(sqlx::AssertSqlSafe(function)).execute(pool).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER test_inject_failure BEFORE INSERT ON transactions \
         FOR EACH ROW EXECUTE FUNCTION test_inject_failure()",
    )
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn a_charge_aborted_by_deadlocks_twice_is_retried_by_the_server_and_charges_once() {
    let app = TestApp::new().await;
    let parties = parties(&app).await;
    let qr = issue_qr(&app, &parties).await;
    inject_failures(&app.pool, "40P01", 2).await;

    let response = send(&app, charge(&parties, &qr)).await;
    assert_eq!(response.status, 201, "the third attempt goes through: {}", response.text);
    assert_eq!(card_state(&app.pool, &parties.card_id).await.0, "999.99", "charged exactly once");
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn a_charge_that_keeps_failing_to_serialize_answers_503_and_its_key_can_be_retried() {
    let app = TestApp::new().await;
    let parties = parties(&app).await;
    let qr = issue_qr(&app, &parties).await;
    inject_failures(&app.pool, "40001", i64::MAX).await;
    let key = new_key();
    let keyed_charge = || {
        let mut request = charge(&parties, &qr);
        request.headers_mut().insert("idempotency-key", key.parse().unwrap());
        request
    };

    let response = send(&app, keyed_charge()).await;
    response.assert_error(503, "UNAVAILABLE");
    assert_eq!(card_state(&app.pool, &parties.card_id).await.0, "1000.00", "nothing was charged");

    sqlx::query("DROP TRIGGER test_inject_failure ON transactions").execute(&app.pool).await.unwrap();
    let retried = send(&app, keyed_charge()).await;
    assert_eq!(retried.status, 201, "the same key runs once the database answers: {}", retried.text);
    assert_eq!(retried.header("idempotent-replayed"), None, "the 503 stored no outcome under the key");
    assert_eq!(card_state(&app.pool, &parties.card_id).await.0, "999.99");
}

/// The QR row of the card's one issue: how it ended, whether it names a payment, whether it still
/// holds the token's hash (migration 0015: the issue row is the token while it is live).
async fn the_issue(app: &TestApp) -> (Option<String>, bool, bool) {
    sqlx::query_as("SELECT end_reason::text, tx_id IS NOT NULL, token_hash IS NOT NULL FROM qr_issues")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Revoke-all locks live QR rows without their cards: it ends the token of a charge that is
/// queued on the card's lock, and the charge, once it gets the card, finds its token ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoke_all_while_a_charge_waits_for_the_card_ends_the_token_and_the_charge_is_refused() {
    let app = TestApp::new().await;
    let parties = parties(&app).await;
    let qr = issue_qr(&app, &parties).await;
    let (database, observer) = (database_name(&app).await, quiet_pool(&server_url(), 1).await);

    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM cards WHERE id = $1::uuid FOR UPDATE")
        .bind(&parties.card_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let charge_response = spawn(&app, charge(&parties, &qr));
    wait_for_lock_waiters(&observer, &database, 1).await;
    let revoked = send(&app, request(Method::POST, "/admin/qr/revoke-all", &parties.admin, None)).await;
    assert_eq!(revoked.status, 200, "revoke-all does not wait for the card: {}", revoked.text);
    assert_eq!(revoked.json["revoked"], 1);
    holder.rollback().await.unwrap();

    charge_response.await.unwrap().assert_error(409, "QR_EXPIRED_OR_INVALID");
    assert_eq!(the_issue(&app).await, (Some("revoked_all".into()), false, false));
    assert_books_balance(&app.pool).await;
}

/// A token claimed by a charge whose transaction is still open: revoke-all queues on the QR row,
/// and once the charge commits it finds the row ended (used) and leaves it so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoke_all_queued_behind_a_claimed_token_leaves_the_payment_and_its_used_token_alone() {
    let app = TestApp::new().await;
    let parties = parties(&app).await;
    let qr = issue_qr(&app, &parties).await;
    let (database, observer) = (database_name(&app).await, quiet_pool(&server_url(), 1).await);
    let merchant_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM merchants ORDER BY created_at DESC LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    // The function the charge route calls, in a transaction held open after the claim.
    let mut charging = app.pool.begin().await.unwrap();
    let outcome: Value =
        sqlx::query_scalar("SELECT charge($1, NULL, 'held-charge', '\\x00'::bytea, $2, 0.01, NULL, NULL, 'req-held')")
            .bind(merchant_id)
            .bind(<sha2::Sha256 as sha2::Digest>::digest(qr.as_bytes()).to_vec())
            .fetch_one(&mut *charging)
            .await
            .unwrap();
    assert_eq!(outcome["ok"], true, "the charge went through inside the transaction: {outcome}");
    let revoke = spawn(&app, request(Method::POST, "/admin/qr/revoke-all", &parties.admin, None));
    wait_for_lock_waiters(&observer, &database, 1).await;
    charging.commit().await.unwrap();

    let revoked = revoke.await.unwrap();
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.json["revoked"], 0, "the used token was no longer live");
    assert_eq!(the_issue(&app).await, (Some("used".into()), true, false));
    assert_books_balance(&app.pool).await;
}
