//! Money paths under parallel requests: tokens claimed once, keys executed once, refunds capped,
//! and the books balanced after thousands of mixed operations.

use std::sync::Arc;

use crate::helpers::{TestApp, TestResponse, assert_books_balance, card_state, new_key};

/// Runs `n` copies of a request concurrently and returns every response.
async fn in_parallel<F, Fut>(n: usize, make: F) -> Vec<TestResponse>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = TestResponse> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(make(i))).collect();
    let mut responses = Vec::new();
    for handle in handles {
        responses.push(handle.await.expect("request task"));
    }
    responses
}

fn charge_request(token: &str, key: &str, body: serde_json::Value) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post("/merchant/charge")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(axum::body::Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_parallel_charges_of_one_token_succeed_exactly_once() {
    let app = Arc::new(TestApp::new().await);
    let cast = app.shopping("1000.00").await;
    let (member, token, qr) = (&cast.member, cast.shop.token.clone(), cast.qr().await);

    let responses = in_parallel(16, |_| {
        let (app, token, qr) = (app.clone(), token.clone(), qr.clone());
        async move {
            app.send(charge_request(&token, &new_key(), serde_json::json!({"qr_plain": qr, "amount": "10.00"}))).await
        }
    })
    .await;
    let succeeded = responses.iter().filter(|r| r.status == 201).count();
    assert_eq!(succeeded, 1, "exactly one charge wins: {:?}", responses.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(responses.iter().filter(|r| r.status != 201).all(|r| r.error_code() == "QR_EXPIRED_OR_INVALID"));
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "990.00");
    assert_books_balance(&app.pool).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_parallel_requests_with_one_key_execute_once_and_answer_alike() {
    let app = Arc::new(TestApp::new().await);
    let cast = app.shopping("1000.00").await;
    let (member, token, qr) = (&cast.member, cast.shop.token.clone(), cast.qr().await);
    let body = serde_json::json!({"qr_plain": qr, "amount": "10.00"});

    let responses = in_parallel(16, |_| {
        let (app, token, body) = (app.clone(), token.clone(), body.clone());
        async move { app.send(charge_request(&token, "one-key", body)).await }
    })
    .await;
    assert!(responses.iter().all(|r| r.status == 201), "{:?}", responses.iter().map(|r| &r.text).collect::<Vec<_>>());
    assert!(responses.iter().all(|r| r.json == responses[0].json), "every answer is the same");
    assert_eq!(responses.iter().filter(|r| r.header("idempotent-replayed").is_none()).count(), 1);
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM transactions WHERE tx_type = 'payment'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(payments, 1, "executed once");
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "990.00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_partial_refunds_never_exceed_the_payment_nor_deadlock() {
    let app = Arc::new(TestApp::new().await);
    let cast = app.shopping("100.00").await;
    let (member, tx_no, token) = (&cast.member, cast.pay("100.00").await, cast.shop.token.clone());

    let responses = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        in_parallel(24, |_| {
            let (app, token, tx_no) = (app.clone(), token.clone(), tx_no.clone());
            async move {
                let request = axum::http::Request::post("/merchant/refund")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .header("idempotency-key", new_key())
                    .body(axum::body::Body::from(
                        serde_json::json!({"original_tx_no": tx_no, "amount": "7.00"}).to_string(),
                    ))
                    .unwrap();
                app.send(request).await
            }
        }),
    )
    .await
    .expect("no deadlock: every refund answered");
    let refunded = responses.iter().filter(|r| r.status == 201).count();
    assert_eq!(refunded, 14, "100.00 holds fourteen refunds of 7.00");
    assert!(responses.iter().filter(|r| r.status != 201).all(|r| r.error_code() == "REFUND_EXCEEDS_REMAINING"));
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "98.00");
    assert_books_balance(&app.pool).await;
}

/// A small deterministic generator, so a failing run can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_random_mixed_operations_leave_the_books_balanced() {
    let app = Arc::new(TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "1000000")]).await);
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    let shop_token = app.merchant_client(&merchant).await.token;
    let mut members = Vec::new();
    for i in 0..12 {
        let member = admin.create_member(&format!("Member {i}")).await;
        admin.credit(&member.card_id, "300.00").await;
        let token = app.member_client(&member).await.token;
        members.push((member, token));
    }
    let members = Arc::new(members);
    let admin_token = admin.token.clone();

    // Each worker owns a slice of the cards (a card has one live token at a time) and mixes
    // charges, retried charges, refunds, top-ups and credits.
    let workers: Vec<_> = (0..6u64)
        .map(|worker| {
            let (app, members, shop_token, admin_token) = (app.clone(), members.clone(), shop_token.clone(), admin_token.clone());
            tokio::spawn(async move {
                let mut rng = Lcg(worker + 1);
                let mut payments: Vec<String> = Vec::new();
                for _ in 0..400 {
                    let (member, member_token) = &members[(worker as usize * 2) + rng.next(2) as usize];
                    let amount = format!("{}.{:02}", rng.next(40), rng.next(100));
                    let call = |method: &str, path: String, token: &str, key: Option<String>, body: serde_json::Value| {
                        let mut request = axum::http::Request::builder()
                            .method(method)
                            .uri(path)
                            .header("authorization", format!("Bearer {token}"))
                            .header("content-type", "application/json");
                        if let Some(key) = key {
                            request = request.header("idempotency-key", key);
                        }
                        let request = request.body(axum::body::Body::from(body.to_string())).unwrap();
                        async {
                            let response = app.send(request).await;
                            assert!(response.status.is_success() || response.status.is_client_error(), "{}", response.text);
                            response
                        }
                    };
                    match rng.next(10) {
                        0..=4 => {
                            let qr = call("POST", "/member/qr".into(), member_token, None, serde_json::json!({"card_id": member.card_id})).await;
                            let Some(qr) = qr.json["qr_plain"].as_str().map(String::from) else { continue };
                            let key = new_key();
                            let body = serde_json::json!({"qr_plain": qr, "amount": amount});
                            let first = call("POST", "/merchant/charge".into(), &shop_token, Some(key.clone()), body.clone()).await;
                            if rng.next(3) == 0 {
                                let retry = call("POST", "/merchant/charge".into(), &shop_token, Some(key), body).await;
                                assert_eq!(retry.json, first.json, "a retried charge replays");
                            }
                            if let Some(tx_no) = first.json["transaction"]["tx_no"].as_str() {
                                payments.push(tx_no.to_owned());
                            }
                        }
                        5..=6 if !payments.is_empty() => {
                            let tx_no = payments[rng.next(payments.len() as u64) as usize].clone();
                            let body = serde_json::json!({"original_tx_no": tx_no, "amount": format!("{}.{:02}", rng.next(15), rng.next(100))});
                            call("POST", "/merchant/refund".into(), &shop_token, Some(new_key()), body).await;
                        }
                        7 => {
                            let body = serde_json::json!({"card_no": member.card_no, "amount": amount});
                            call("POST", "/merchant/recharge".into(), &shop_token, Some(new_key()), body).await;
                        }
                        _ => {
                            let path = format!("/admin/cards/{}/recharge", member.card_id);
                            call("POST", path, &admin_token, Some(new_key()), serde_json::json!({"amount": amount})).await;
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker finished without a failed assertion");
    }
    let operations: i64 = sqlx::query_scalar("SELECT count(*) FROM transactions").fetch_one(&app.pool).await.unwrap();
    assert!(operations > 1200, "the run did real work: {operations} transactions");
    assert_books_balance(&app.pool).await;
    let negative: i64 = sqlx::query_scalar("SELECT count(*) FROM cards WHERE balance < 0 OR points < 0")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(negative, 0);
}
