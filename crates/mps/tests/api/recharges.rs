//! Recharges: member orders confirmed by the signed webhook, counter top-ups and admin credits.

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use crate::helpers::{TestApp, assert_books_balance, card_state, new_key};

const SECRET: &str = "webhook-test-secret-0123456789abcdefXYZ";

fn sign(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(app: &TestApp, body: &str, signature: &str) -> crate::helpers::TestResponse {
    let request = axum::http::Request::post("/webhooks/payments")
        .header("content-type", "application/json")
        .header("x-mps-signature", signature)
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    app.send(request).await
}

fn notification(tx_no: &str, status: &str, amount: &str) -> String {
    serde_json::json!({"tx_no": tx_no, "status": status, "amount": amount, "channel_ref": "ch-1"}).to_string()
}

/// An app with the webhook secret, and a member with an open recharge order of 100.00.
async fn order() -> (TestApp, crate::helpers::TestMember, String) {
    let app = TestApp::with_vars(&[("PAYMENT_WEBHOOK_SECRET", SECRET)]).await;
    let member = app.admin().await.create_member("Ana").await;
    let tx_no = {
        let ana = app.member_client(&member).await;
        let body = serde_json::json!({"card_id": member.card_id, "amount": "100.00", "payment_method": "wechat"});
        let response = ana.post_idempotent("/member/recharge", &new_key(), body).await;
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.json["transaction"]["status"], "processing");
        response.json["transaction"]["tx_no"].as_str().unwrap().to_owned()
    };
    (app, member, tx_no)
}

#[tokio::test]
async fn a_signed_delivery_credits_the_order_exactly_once() {
    let (app, member, tx_no) = order().await;
    assert_eq!(
        card_state(&app.pool, &member.card_id).await.0,
        "0.00",
        "nothing is credited before the channel confirms"
    );
    let body = notification(&tx_no, "succeeded", "100.00");
    for attempt in 0..3 {
        let response = deliver(&app, &body, &sign(&body)).await;
        assert_eq!(response.status, 200, "{}", response.text);
        assert_eq!(response.json["status"], "completed");
        assert_eq!(response.json["changed"], attempt == 0);
    }
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "100.00");
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn bad_signatures_unknown_orders_mismatches_and_failures_credit_nothing() {
    let (app, member, tx_no) = order().await;
    let body = notification(&tx_no, "succeeded", "100.00");
    deliver(&app, &body, "sha256=00").await.assert_error(401, "INVALID_SIGNATURE");
    deliver(&app, &body, &sign("something else")).await.assert_error(401, "INVALID_SIGNATURE");
    let unknown = notification("RCG99999999999", "succeeded", "100.00");
    deliver(&app, &unknown, &sign(&unknown)).await.assert_error(404, "TX_NOT_FOUND");

    let mismatch = notification(&tx_no, "succeeded", "1000.00");
    let response = deliver(&app, &mismatch, &sign(&mismatch)).await;
    assert_eq!(response.status, 200, "the channel is told to stop retrying: {}", response.text);
    assert_eq!(response.json["status"], "failed");
    let late = deliver(&app, &body, &sign(&body)).await;
    assert_eq!((late.status.as_u16(), late.json["changed"].clone()), (200, serde_json::json!(false)));
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "0.00");
    let rejected: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'WEBHOOK_REJECTED'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rejected, 1);
}

#[tokio::test]
async fn a_failed_status_fails_the_order() {
    let (app, member, tx_no) = order().await;
    let body = notification(&tx_no, "failed", "100.00");
    let response = deliver(&app, &body, &sign(&body)).await;
    assert_eq!(response.json["status"], "failed");
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "0.00");
}

#[tokio::test]
async fn without_a_secret_the_webhook_answers_503_and_credits_nothing() {
    let app = TestApp::new().await;
    let body = notification("RCG00000000001", "succeeded", "1.00");
    deliver(&app, &body, &sign(&body)).await.assert_error(503, "UNAVAILABLE");
}

#[tokio::test]
async fn counter_top_ups_and_admin_credits_apply_at_once_to_standard_cards_only() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let merchant = admin.create_merchant("Shop").await;
    let shop = app.merchant_client(&merchant).await;
    let body = serde_json::json!({"card_no": member.card_no, "amount": "25.50"});
    let response = shop.post_idempotent("/merchant/recharge", &new_key(), body).await;
    assert_eq!(response.status, 201, "{}", response.text);
    assert_eq!(response.json["transaction"]["payment_method"], "cash");
    assert_eq!(response.json["transaction"]["status"], "completed");
    admin.credit(&member.card_id, "4.50").await;
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "30.00");

    let voucher: String = sqlx::query_scalar(
        "INSERT INTO cards (card_no, card_type, name) VALUES (next_card_no('voucher'), 'voucher', 'V') RETURNING card_no",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let body = serde_json::json!({"card_no": voucher, "amount": "1.00"});
    shop.post_idempotent("/merchant/recharge", &new_key(), body).await.assert_error(422, "CARD_TYPE_NOT_RECHARGEABLE");
    let unknown = serde_json::json!({"card_no": "STD99999999", "amount": "1.00"});
    shop.post_idempotent("/merchant/recharge", &new_key(), unknown).await.assert_error(404, "CARD_NOT_FOUND");
    assert_books_balance(&app.pool).await;
}

/// Suspends a member through the admin API.
async fn suspend(app: &TestApp, member: &crate::helpers::TestMember) {
    let admin = app.admin().await;
    let response = admin.post(&format!("/admin/members/{}/suspend", member.id), serde_json::json!({})).await;
    assert_eq!(response.status, 200, "{}", response.text);
}

#[tokio::test]
async fn a_suspended_members_card_takes_no_admin_credit_and_no_new_order() {
    let (app, member, _) = order().await;
    let ana = app.member_client(&member).await;
    suspend(&app, &member).await;
    let admin = app.admin().await;

    let credit = admin
        .post_idempotent(
            &format!("/admin/cards/{}/recharge", member.card_id),
            &new_key(),
            serde_json::json!({ "amount": "50.00" }),
        )
        .await;
    credit.assert_error(409, "MEMBER_NOT_ACTIVE");
    // The member's session ended with the suspension; an order is refused whichever way it comes.
    let body = serde_json::json!({"card_id": member.card_id, "amount": "10.00", "payment_method": "wechat"});
    ana.post_idempotent("/member/recharge", &new_key(), body.clone()).await.assert_error(401, "UNAUTHENTICATED");
    let refused: serde_json::Value =
        sqlx::query_scalar("SELECT member_recharge($1::uuid, 'k', '\\x00', $2::uuid, 10, 'wechat', NULL, 'r')")
            .bind(&member.id)
            .bind(&member.card_id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(refused["error"]["code"], "MEMBER_NOT_ACTIVE", "the SQL function refuses it too: {refused}");
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "0.00");
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn an_order_paid_before_the_suspension_is_still_credited_and_audited_as_such() {
    let (app, member, tx_no) = order().await;
    suspend(&app, &member).await;

    let body = notification(&tx_no, "succeeded", "100.00");
    let response = deliver(&app, &body, &sign(&body)).await;

    assert_eq!((response.status.as_u16(), &response.json["status"]), (200, &serde_json::json!("completed")));
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "100.00", "the money was received: it is credited");
    let context: serde_json::Value =
        sqlx::query_scalar("SELECT context FROM audit_events WHERE action = 'RECHARGE' AND context ->> 'tx_no' = $1")
            .bind(&tx_no)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(context["member_status"], "suspended", "the audit says whom it credited: {context}");
    assert_books_balance(&app.pool).await;
}
