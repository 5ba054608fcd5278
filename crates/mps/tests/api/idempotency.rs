//! The idempotency matrix of SPEC §2.

use axum::http::Method;

use crate::helpers::{Shopping, TestApp, card_state};

#[tokio::test]
async fn a_replay_answers_the_original_result_even_after_the_token_is_gone_and_the_payment_refunded() {
    let app = TestApp::new().await;
    let Shopping { member, shop, ana, .. } = app.shopping("100.00").await;
    let body = serde_json::json!({"qr_plain": ana.qr(&member.card_id).await, "amount": "10.00"});

    let first = shop.post_idempotent("/merchant/charge", "charge-1", body.clone()).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let tx_no = first.json["transaction"]["tx_no"].as_str().unwrap().to_owned();
    assert_eq!(shop.refund(&tx_no, "10.00").await.status, 201);

    let replay = shop.post_idempotent("/merchant/charge", "charge-1", body).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.text, first.text, "the replay is the original body, byte for byte");
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_ne!(replay.header("x-request-id"), first.header("x-request-id"), "its own request id header");
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "100.00", "charged once, refunded once");
}

/// A successful charge or refund stores a compact record (issue 16) and the replay rebuilds the
/// answer: it must be the very bytes first sent, even after the payment, the card's level and its
/// totals moved on.
#[tokio::test]
async fn a_rebuilt_replay_is_byte_identical_after_the_rows_changed() {
    let app = TestApp::new().await;
    let Shopping { member, shop, ana, .. } = app.shopping("5000.00").await;

    // 1,200 points: the card reaches level 1 with this payment (priced at level 0).
    let charge = serde_json::json!({"qr_plain": ana.qr(&member.card_id).await, "amount": "1200.00",
                                    "external_order_id": "order-1", "tag": {"till": 3}});
    let first = shop.post_idempotent("/merchant/charge", "c-1", charge.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let tx_no = first.json["transaction"]["tx_no"].as_str().unwrap().to_owned();

    let refund = serde_json::json!({"original_tx_no": tx_no, "amount": "200.00"});
    let first_refund = shop.post_idempotent("/merchant/refund", "r-1", refund.clone()).await;
    assert_eq!(first_refund.status, 201, "{}", first_refund.text);
    assert_eq!(first_refund.json["original"]["status"], "completed");
    // The rest refunded: the payment is `refunded`, its points reversed, the card back at level 0.
    assert_eq!(shop.refund(&tx_no, "1000.00").await.status, 201);

    let replay = shop.post_idempotent("/merchant/charge", "c-1", charge).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.text, first.text, "the charge as first answered");
    let replay_refund = shop.post_idempotent("/merchant/refund", "r-1", refund).await;
    assert_eq!(replay_refund.status, 201);
    assert_eq!(replay_refund.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay_refund.text, first_refund.text, "the refund as first answered");

    let stored: i32 = sqlx::query_scalar(
        "SELECT max(octet_length(outcome::text)) FROM idempotency_keys WHERE operation IN ('charge', 'refund')",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(stored < 300, "compact records, not the whole answer: {stored} bytes");
}

/// A counter top-up and an admin credit store the compact record too (issue 16, fourth pass): the
/// replay, rebuilt from the transaction row, is the very bytes first sent after the card moved on.
#[tokio::test]
async fn a_rebuilt_top_up_or_admin_credit_replay_is_byte_identical_after_the_card_changed() {
    let app = TestApp::new().await;
    let Shopping { admin, member, shop, ana, .. } = app.shopping_with_an_empty_card().await;

    let credit = serde_json::json!({"amount": "2000.00", "reason": "goodwill"});
    let credit_path = format!("/admin/cards/{}/recharge", member.card_id);
    let first_credit = admin.post_idempotent(&credit_path, "a-1", credit.clone()).await;
    assert_eq!(first_credit.status, 201, "{}", first_credit.text);
    let top_up = serde_json::json!({"card_no": member.card_no, "amount": "30.00"});
    let first_top_up = shop.post_idempotent("/merchant/recharge", "t-1", top_up.clone()).await;
    assert_eq!(first_top_up.status, 201, "{}", first_top_up.text);
    assert_eq!(first_top_up.json["transaction"]["balance_after"], "2030.00", "{}", first_top_up.text);
    // The card moves on: balance, points and level change after both answers were sent.
    assert_eq!(shop.charge(&ana.qr(&member.card_id).await, "1200.00").await.status, 201);

    let replay_credit = admin.post_idempotent(&credit_path, "a-1", credit).await;
    assert_eq!(replay_credit.status, 201);
    assert_eq!(replay_credit.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay_credit.text, first_credit.text, "the admin credit as first answered");
    let replay_top_up = shop.post_idempotent("/merchant/recharge", "t-1", top_up).await;
    assert_eq!(replay_top_up.status, 201);
    assert_eq!(replay_top_up.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay_top_up.text, first_top_up.text, "the top-up as first answered");
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "830.00", "credited once, topped up once");

    let stored: Vec<(String, i32)> = sqlx::query_as(
        "SELECT operation, octet_length(outcome::text) FROM idempotency_keys \
         WHERE operation IN ('merchant_recharge', 'admin_recharge') ORDER BY operation",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.iter().all(|(_, bytes)| *bytes < 300), "compact records, not the whole answer: {stored:?}");
}

#[tokio::test]
async fn a_business_error_is_stored_and_replayed_with_the_original_request_id() {
    let app = TestApp::new().await;
    let Shopping { admin, member, shop, ana, .. } = app.shopping_with_an_empty_card().await;
    let body = serde_json::json!({"qr_plain": ana.qr(&member.card_id).await, "amount": "10.00"});
    let refused = shop.post_idempotent("/merchant/charge", "k-1", body.clone()).await;
    refused.assert_error(409, "INSUFFICIENT_BALANCE");

    admin.credit(&member.card_id, "100.00").await;
    let replay = shop
        .call(
            Method::POST,
            "/merchant/charge",
            Some(body),
            &[("idempotency-key", "k-1"), ("x-request-id", "replay-req")],
        )
        .await;
    assert_eq!(replay.status, 409, "the stored outcome, not a new attempt: {}", replay.text);
    assert_eq!(replay.json["error"]["code"], "INSUFFICIENT_BALANCE");
    assert_eq!(replay.json["error"]["request_id"], refused.json["error"]["request_id"]);
    assert_eq!(replay.header("x-request-id"), Some("replay-req"));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "100.00");
}

#[tokio::test]
async fn the_same_key_with_another_body_is_409_and_keys_are_scoped_per_actor_and_operation() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    admin.credit(&member.card_id, "100.00").await;
    let shop_a = app.merchant_client(&admin.create_merchant("A").await).await;
    let shop_b = app.merchant_client(&admin.create_merchant("B").await).await;
    let ana = app.member_client(&member).await;
    let qr = ana.qr(&member.card_id).await;
    let charge = shop_a
        .post_idempotent("/merchant/charge", "shared", serde_json::json!({"qr_plain": qr, "amount": "1.00"}))
        .await;
    assert_eq!(charge.status, 201);
    shop_a
        .post_idempotent("/merchant/charge", "shared", serde_json::json!({"qr_plain": qr, "amount": "2.00"}))
        .await
        .assert_error(409, "IDEMPOTENCY_KEY_REUSED");
    let other_merchant = shop_b
        .post_idempotent(
            "/merchant/charge",
            "shared",
            serde_json::json!({"qr_plain": ana.qr(&member.card_id).await, "amount": "2.00"}),
        )
        .await;
    assert_eq!(other_merchant.status, 201, "another merchant's key space: {}", other_merchant.text);
    let tx_no = charge.json["transaction"]["tx_no"].as_str().unwrap();
    let refund = shop_a
        .post_idempotent("/merchant/refund", "shared", serde_json::json!({"original_tx_no": tx_no, "amount": "1.00"}))
        .await;
    assert_eq!(refund.status, 201, "another operation's key space: {}", refund.text);
}

#[tokio::test]
async fn keys_are_required_and_checked_before_the_body_and_refusals_store_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    let shop = app.merchant_client(&merchant).await;
    let body = serde_json::json!({"qr_plain": "x", "amount": "not money"});
    shop.post("/merchant/charge", body.clone()).await.assert_error(400, "IDEMPOTENCY_KEY_REQUIRED");
    shop.post_idempotent("/merchant/charge", "has space", body.clone())
        .await
        .assert_error(400, "INVALID_IDEMPOTENCY_KEY");
    shop.post_idempotent("/merchant/charge", &"k".repeat(256), body.clone())
        .await
        .assert_error(400, "INVALID_IDEMPOTENCY_KEY");
    shop.post_idempotent("/merchant/charge", "k-422", body).await.assert_error(422, "INVALID_AMOUNT");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stored, 0, "requests refused before running store nothing");
    for path in ["/merchant/recharge", "/merchant/refund"] {
        shop.post(path, serde_json::json!({})).await.assert_error(400, "IDEMPOTENCY_KEY_REQUIRED");
    }
    let member = admin.create_member("Ana").await;
    admin
        .post(&format!("/admin/cards/{}/recharge", member.card_id), serde_json::json!({"amount": "1.00"}))
        .await
        .assert_error(400, "IDEMPOTENCY_KEY_REQUIRED");
    app.member_client(&member)
        .await
        .post("/member/recharge", serde_json::json!({}))
        .await
        .assert_error(400, "IDEMPOTENCY_KEY_REQUIRED");
}
