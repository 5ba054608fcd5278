//! Losing the database host (issue 21): a primary with a synchronous streaming standby behind a
//! stable address (a repointable proxy, as a Kubernetes service of an operator would be). The
//! primary is stopped hard, the address briefly leads to the standby, the standby is promoted:
//! meanwhile every answer is 503 in the envelope, `/health` and `/ready` say so, and afterwards
//! the same server process serves again, with every acknowledged payment on the new primary.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use crate::helpers::topology::{PgPair, Scratch, TcpProxy, local, port};
use crate::helpers::{PASSWORD, TestApp, assert_books_balance, new_key, quiet_pool};
use crate::programme_support::tx_no;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("the blocking step ran")
}

async fn wait_for(app: &TestApp, path: &str, status: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if app.get(path).await.status == status {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{path} did not answer {status} within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_answer_is_503_in_the_envelope_never_500() {
    let scratch = Scratch::new("pg-read-only");
    let dir = scratch.0.clone();
    let pair = blocking(move || PgPair::start(&dir, port(30), port(31))).await;
    let standby = quiet_pool(&pair.standby.url("postgres"), 1).await;
    let error = sqlx::query("CREATE TABLE t (id int)").execute(&standby).await.expect_err("a standby refuses writes");
    let api_error = mps::db::map_sqlx_error(error);
    assert_eq!(api_error.status(), StatusCode::SERVICE_UNAVAILABLE, "25006 is 503: {}", api_error.message);
    assert_eq!(api_error.code, mps_api::error::ErrorCode::Unavailable);
    standby.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_answers_503_meanwhile_and_loses_no_acknowledged_payment() {
    let scratch = Scratch::new("pg-failover");
    let dir = scratch.0.clone();
    let (primary_port, standby_port) = (port(20), port(21));
    let pair = blocking(move || PgPair::start(&dir, primary_port, standby_port)).await;
    let proxy = TcpProxy::start(port(22), local(primary_port)).await;
    let url = proxy.pg_url("mps");
    let app = TestApp::on_own_database(&[("DATABASE_URL", url.as_str())]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let merchant = admin.create_merchant("Shop").await;
    admin.credit(&member.card_id, "1000.00").await;
    let payer = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let mut acknowledged = Vec::new();
    for _ in 0..5 {
        acknowledged.push(tx_no(&shop.charge(&payer.qr(&member.card_id).await, "10.00").await));
    }
    let pending_qr = payer.qr(&member.card_id).await;
    let pending_key = new_key();
    let charge = json!({ "qr_plain": pending_qr, "amount": "7.00" });

    let (pair, ()) = blocking(move || {
        pair.primary.stop_immediate();
        (pair, ())
    })
    .await;
    let lost = shop.post_idempotent("/merchant/charge", &pending_key, charge.clone()).await;
    lost.assert_error(503, "UNAVAILABLE");
    assert_eq!(app.get("/health").await.status, 503, "the database is down");

    // The address moves to the standby before it is promoted: it answers, read-only.
    proxy.repoint(Some(local(standby_port)));
    let refused = shop.post_idempotent("/merchant/charge", &pending_key, charge.clone()).await;
    refused.assert_error(503, "UNAVAILABLE");
    let health = app.get("/health").await;
    assert_eq!(health.status, 503, "{}", health.text);
    assert_eq!(health.json["services"]["database"], "down", "a standby is no primary: {}", health.text);
    wait_for(&app, "/ready", 503, Duration::from_secs(5)).await;

    let promoted = Instant::now();
    let pair = blocking(move || {
        pair.standby.promote();
        pair
    })
    .await;
    let ready_after = wait_for(&app, "/ready", 200, Duration::from_secs(10)).await;
    wait_for(&app, "/health", 200, Duration::from_secs(10)).await;
    let retried = shop.post_idempotent("/merchant/charge", &pending_key, charge.clone()).await;
    acknowledged.push(tx_no(&retried));
    let replayed = shop.post_idempotent("/merchant/charge", &pending_key, charge).await;
    assert_eq!(tx_no(&replayed), tx_no(&retried), "the retry with the same key is the same payment");
    eprintln!("postgres failover: ready again {:?} after promotion", promoted.elapsed().min(ready_after));

    let new_primary = quiet_pool(&pair.standby.url("mps"), 2).await;
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM transactions WHERE tx_no = ANY($1)")
        .bind(&acknowledged)
        .fetch_one(&new_primary)
        .await
        .unwrap();
    assert_eq!(found, i64::try_from(acknowledged.len()).unwrap(), "every acknowledged payment survived");
    let (balance,): (String,) = sqlx::query_as("SELECT balance::text FROM cards WHERE id = $1::uuid")
        .bind(&member.card_id)
        .fetch_one(&new_primary)
        .await
        .unwrap();
    assert_eq!(balance, "943.00", "1000.00 less five payments of 10.00 and one of 7.00");
    assert_books_balance(&new_primary).await;
    assert_eq!(app.login("member", &member.phone, PASSWORD).await.status, 200, "no restart was needed");
    new_primary.close().await;
    app.pool.close().await;
}

/// The ids `GET /admin/members` lists.
async fn listed_members(admin: &crate::helpers::Client<'_>) -> Vec<String> {
    let page = admin.get("/admin/members?page_size=100").await;
    assert_eq!(page.status, 200, "{}", page.text);
    page.json["items"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_read_the_standby_while_a_members_own_cards_read_the_primary() {
    let scratch = Scratch::new("pg-read-replica");
    let dir = scratch.0.clone();
    let pair = blocking(move || PgPair::start(&dir, port(40), port(41))).await;
    let (primary, standby) = (pair.primary.url("mps"), pair.standby.url("mps"));
    let app =
        TestApp::on_own_database(&[("DATABASE_URL", primary.as_str()), ("DATABASE_READ_URL", standby.as_str())]).await;
    let admin = app.admin().await;

    // The standby stops applying what it receives: it now lags, as a busy read replica may.
    let pair = blocking(move || {
        pair.standby.psql("SELECT pg_wal_replay_pause()");
        pair
    })
    .await;
    let member = admin.create_member("Late").await;
    assert!(!listed_members(&admin).await.contains(&member.id), "the admin list reads the lagging standby");
    let own = app.member_client(&member).await;
    let cards = own.get("/member/cards").await;
    assert_eq!(cards.status, 200, "{}", cards.text);
    assert_eq!(cards.json["items"][0]["id"], member.card_id.as_str(), "a member's own cards read the primary");

    let pair = blocking(move || {
        pair.standby.psql("SELECT pg_wal_replay_resume()");
        pair
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listed_members(&admin).await.contains(&member.id) {
        assert!(Instant::now() < deadline, "the standby catches up once it replays again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.state.read_db.close().await;
    app.pool.close().await;
    drop(pair);
}
