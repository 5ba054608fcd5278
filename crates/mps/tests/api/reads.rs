//! What members and merchants read: card lists (cached), transactions, ledgers, visibility,
//! audit rows and metrics of the money paths.

use axum::http::Method;

use crate::helpers::{Shopping, TestApp, new_key};

#[tokio::test]
async fn the_cached_card_list_follows_every_change_to_the_card() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let merchant = admin.create_merchant("Shop").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let balance = |response: &crate::helpers::TestResponse| response.json["summary"]["total_balance"].clone();

    assert_eq!(balance(&ana.get("/member/cards").await), "0.00");
    admin.credit(&member.card_id, "50.00").await;
    assert_eq!(balance(&ana.get("/member/cards").await), "50.00", "credit invalidates");
    let paid = shop.charge(&ana.qr(&member.card_id).await, "20.00").await;
    let cards = ana.get("/member/cards").await;
    assert_eq!(balance(&cards), "30.00", "charge invalidates");
    assert_eq!(cards.json["summary"]["total_points"], 20);
    assert_eq!(cards.json["summary"]["total_cards"], 1);
    assert_eq!(cards.json["summary"]["active_cards"], 1);
    shop.refund(paid.json["transaction"]["tx_no"].as_str().unwrap(), "5.00").await;
    assert_eq!(balance(&ana.get("/member/cards").await), "35.00", "refund invalidates");
    admin.adjust_points(&member.card_id, 1000).await;
    assert_eq!(ana.get("/member/cards").await.json["items"][0]["level"], 1, "points adjustment invalidates");
}

#[tokio::test]
async fn with_redis_down_cards_and_payments_still_work_from_the_database() {
    let app = TestApp::with_vars(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let Shopping { member, shop, ana, .. } = app.shopping("10.00").await;
    assert_eq!(shop.charge(&ana.qr(&member.card_id).await, "4.00").await.status, 201);
    assert_eq!(ana.get("/member/cards").await.json["summary"]["total_balance"], "6.00");
    assert_eq!(ana.post("/auth/logout", serde_json::json!({})).await.status, 204);
    ana.get("/member/cards").await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_transaction_is_visible_to_its_card_members_its_merchant_and_admins_only() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let stranger = admin.create_member("Bo").await;
    admin.credit(&member.card_id, "10.00").await;
    let merchant = admin.create_merchant("Shop").await;
    let other = admin.create_merchant("Other").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let tx_no = shop.charge(&ana.qr(&member.card_id).await, "4.00").await.json["transaction"]["tx_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/transactions/{tx_no}");
    for client in [&ana, &shop, &admin] {
        let response = client.get(&path).await;
        assert_eq!(response.status, 200, "{}", response.text);
        assert_eq!(response.json["transaction"]["tx_no"], tx_no.as_str());
    }
    app.member_client(&stranger).await.get(&path).await.assert_error(404, "TX_NOT_FOUND");
    app.merchant_client(&other).await.get(&path).await.assert_error(404, "TX_NOT_FOUND");
}

#[tokio::test]
async fn transaction_lists_filter_and_paginate_and_the_ledger_explains_the_points() {
    let app = TestApp::with_vars(&[("BUSINESS_TIMEZONE", "Asia/Shanghai")]).await;
    let Shopping { admin, member, shop, ana, .. } = app.shopping("100.00").await;
    for amount in ["1.00", "2.00", "3.00"] {
        assert_eq!(shop.charge(&ana.qr(&member.card_id).await, amount).await.status, 201);
    }
    let all = ana.get("/member/transactions?limit=2&count=exact").await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.json["pagination"]["total_count"], 4, "three payments and the credit");
    assert_eq!(all.json["pagination"]["has_next"], true);
    assert_eq!(all.json["items"].as_array().unwrap().len(), 2);
    assert_eq!(all.json["items"][0]["final_amount"], "3.00", "newest first");

    let payments =
        ana.get(&format!("/member/transactions?count=exact&tx_type=payment&card_id={}", member.card_id)).await;
    assert_eq!(payments.json["pagination"]["total_count"], 3);
    let future = ana.get("/member/transactions?start_date=2999-01-01&count=exact").await;
    assert_eq!(future.json["pagination"]["total_count"], 0);
    ana.get("/member/transactions?start_date=yesterday").await.assert_error(422, "VALIDATION_FAILED");
    let clamped = ana.get("/member/transactions?limit=1000").await;
    assert_eq!(clamped.json["pagination"]["limit"], 100, "limits above 100 are clamped");

    let merchant_view = shop.get("/merchant/transactions?tx_type=payment&count=exact").await;
    assert_eq!(merchant_view.json["pagination"]["total_count"], 3);

    let ledger = ana.get(&format!("/member/points/{}?count=exact", member.card_id)).await;
    assert_eq!(ledger.status, 200, "{}", ledger.text);
    assert_eq!(ledger.json["pagination"]["total_count"], 3);
    assert_eq!(ledger.json["items"][0]["delta"], 3);
    assert_eq!(ledger.json["items"][0]["points_after"], 6);
    assert_eq!(ledger.json["items"][0]["reason"], "payment");
    let stranger = admin.create_member("Bo").await;
    app.member_client(&stranger)
        .await
        .get(&format!("/member/points/{}", member.card_id))
        .await
        .assert_error(404, "CARD_NOT_FOUND");
}

#[tokio::test]
async fn every_money_mutation_writes_one_audit_event_with_actor_and_request_id() {
    let app = TestApp::new().await;
    let Shopping { member, shop, ana, .. } = app.shopping("10.00").await;
    let qr = ana.qr(&member.card_id).await;
    let charge = shop
        .call(
            Method::POST,
            "/merchant/charge",
            Some(serde_json::json!({"qr_plain": qr, "amount": "1.00"})),
            &[("idempotency-key", &new_key()), ("x-request-id", "req-charge-1")],
        )
        .await;
    assert_eq!(charge.status, 201);
    let events: Vec<(String, Option<uuid::Uuid>, String, Option<String>)> = sqlx::query_as(
        "SELECT action, actor_id, actor_role::text, request_id FROM audit_events \
         WHERE action IN ('QR_ISSUE', 'PAYMENT', 'RECHARGE') ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(actions, ["RECHARGE", "QR_ISSUE", "PAYMENT"]);
    assert!(events.iter().all(|e| e.1.is_some() && e.3.is_some()), "actor and request id on each: {events:?}");
    assert_eq!(events[2].2, "merchant");
    assert_eq!(events[2].3.as_deref(), Some("req-charge-1"));
}

#[tokio::test]
async fn money_paths_feed_the_payment_and_function_call_metrics() {
    let app = TestApp::new().await;
    let Shopping { member, shop, ana, .. } = app.shopping("100.00").await;
    shop.charge(&ana.qr(&member.card_id).await, "75.00").await;
    shop.charge(&ana.qr(&member.card_id).await, "500.00").await;
    let metrics = app.get("/metrics").await.text;
    assert!(metrics.contains(r#"mps_payment_amount_bucket{le="100"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"mps_api_rpc_calls_total{function_name="charge",status="ok"} 1"#));
    assert!(metrics.contains(r#"mps_api_rpc_calls_total{function_name="charge",status="INSUFFICIENT_BALANCE"} 1"#));
    assert!(metrics.contains(r#"mps_api_rpc_calls_total{function_name="issue_qr_token",status="ok"} 2"#));
}
