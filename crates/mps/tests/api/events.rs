//! The outbox (issue 19): every money movement, settlement change and card status move writes
//! one event in the transaction of its effect, and nothing else does.

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::helpers::{Shopping, TestApp, new_key};
use crate::programme_support::tx_no;

/// Every event, oldest first: (type, merchant_id as text, payload).
async fn events(app: &TestApp) -> Vec<(String, Option<String>, Value)> {
    sqlx::query_as("SELECT type, merchant_id::text, payload FROM event_log ORDER BY created_at, id")
        .fetch_all(&app.pool)
        .await
        .expect("events readable")
}

#[tokio::test]
async fn each_movement_writes_one_event_with_ids_and_amounts_as_strings_and_no_personal_data() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana Example").await;
    let merchant = admin.create_merchant("Corner Shop").await;
    admin.credit(&member.card_id, "100.00").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let charge = shop.charge(&ana.qr(&member.card_id).await, "30.00").await;
    let payment_no = tx_no(&charge);
    let refund = shop.refund(&payment_no, "10.00").await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    let topup = shop
        .post_idempotent("/merchant/recharge", &new_key(), json!({ "card_no": member.card_no, "amount": "5.00" }))
        .await;
    assert_eq!(topup.status, 201, "{}", topup.text);
    let frozen = admin.post(&format!("/admin/cards/{}/freeze", member.card_id), json!({})).await;
    assert_eq!(frozen.status, 200, "{}", frozen.text);
    let settled = shop
        .settle(
            json!({ "mode": "realtime", "period_start": "2024-01-01T00:00:00Z", "period_end": "2024-01-02T00:00:00Z" }),
        )
        .await;
    assert_eq!(settled.status, 201, "{}", settled.text);
    let settlement_path = format!("/admin/settlements/{}", settled.json["id"].as_str().unwrap());
    let moved = admin.patch(&settlement_path, json!({ "status": "settled" })).await;
    assert_eq!(moved.status, 200, "{}", moved.text);

    let all = events(&app).await;
    let types: Vec<&str> = all.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "recharge.succeeded",
            "payment.succeeded",
            "refund.succeeded",
            "recharge.succeeded",
            "card.frozen",
            "settlement.created",
            "settlement.status_changed"
        ],
        "one event per effect, in order"
    );
    let owners: Vec<Option<&str>> = all.iter().map(|(_, m, _)| m.as_deref()).collect();
    let shop_id = Some(merchant.id.as_str());
    assert_eq!(owners, [None, shop_id, shop_id, shop_id, None, shop_id, shop_id], "the merchant's events are its own");

    let payment = &all[1].2["transaction"];
    assert_eq!(payment["tx_no"], payment_no.as_str());
    assert_eq!(payment["card_no"], member.card_no.as_str());
    assert_eq!(payment["final_amount"], "30.00", "amounts are strings: {payment}");
    assert_eq!(all[2].2["transaction"]["original_tx_no"], payment_no.as_str());
    assert_eq!(all[2].2["transaction"]["final_amount"], "10.00");
    assert_eq!(all[4].2["to"], "inactive");
    assert_eq!(all[6].2["previous_status"], "pending");
    assert_eq!(all[6].2["settlement"]["status"], "settled");
    for (kind, _, payload) in &all {
        let text = payload.to_string();
        for personal in ["Ana Example", member.phone.as_str(), member.member_no.as_str(), "balance_after"] {
            assert!(!text.contains(personal), "{kind} carries no personal data or balance: {text}");
        }
    }
}

#[tokio::test]
async fn a_refused_charge_and_a_rolled_back_charge_emit_nothing() {
    let app = TestApp::new().await;
    let Shopping { member, merchant, shop, ana, .. } = app.shopping("20.00").await;
    let before = events(&app).await.len();

    shop.charge(&ana.qr(&member.card_id).await, "25.00").await.assert_error(409, "INSUFFICIENT_BALANCE");
    assert_eq!(events(&app).await.len(), before, "a refused charge emits no event");

    // The same function a charge calls, inside a transaction that is then rolled back: its event
    // is visible inside, and gone with the effect.
    let qr = ana.qr(&member.card_id).await;
    let mut tx = app.pool.begin().await.unwrap();
    let outcome: Value = sqlx::query_scalar(
        "SELECT charge($1::uuid, NULL, 'rollback-key', '\\x00'::bytea, $2, 5.00, NULL, NULL, 'req-rollback')",
    )
    .bind(&merchant.id)
    .bind(Sha256::digest(qr.as_bytes()).to_vec())
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert!(outcome.to_string().contains("PAY"), "the charge ran inside the transaction: {outcome}");
    let inside: i64 = sqlx::query_scalar("SELECT count(*) FROM event_log WHERE type = 'payment.succeeded'")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(inside, 1, "the event is written with the charge");
    tx.rollback().await.unwrap();

    assert_eq!(events(&app).await.len(), before, "the rolled-back charge left no event");
    let paid = shop.charge(&qr, "5.00").await;
    assert_eq!(paid.status, 201, "the token is still usable after the rollback: {}", paid.text);
    let after = events(&app).await;
    assert_eq!(after.len(), before + 1);
    assert_eq!(after[before].0, "payment.succeeded");
}
