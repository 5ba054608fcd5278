//! Refunds: caps, proportional point reversal, card states, ownership.

use crate::helpers::{Shopping, TestApp, assert_books_balance, card_state};

#[tokio::test]
async fn partial_refunds_reverse_points_in_proportion_and_add_up_exactly() {
    let app = TestApp::new().await;
    let Shopping { member, shop, ana, .. } = app.shopping("500.00").await;
    let paid = shop.charge(&ana.qr(&member.card_id).await, "100.00").await;
    let tx_no = paid.json["transaction"]["tx_no"].as_str().unwrap().to_owned();
    assert_eq!(card_state(&app.pool, &member.card_id).await, ("400.00".into(), 100, 0));

    let steps = [("33.33", "66.67", 67), ("33.33", "33.34", 34), ("33.34", "0.00", 0)];
    for (amount, remaining, points) in steps {
        let response = shop.refund(&tx_no, amount).await;
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.json["original"]["remaining_refundable"], remaining);
        assert_eq!(response.json["refund"]["tx_type"], "refund");
        assert_eq!(response.json["refund"]["original_tx_no"], tx_no.as_str());
        assert_eq!(card_state(&app.pool, &member.card_id).await.1, points, "after refunding {amount}");
    }
    let last = shop.refund(&tx_no, "0.01").await;
    last.assert_error(409, "NOT_REFUNDABLE");
    let status: String = sqlx::query_scalar("SELECT status::text FROM transactions WHERE tx_no = $1")
        .bind(&tx_no)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "refunded");
    assert_eq!(card_state(&app.pool, &member.card_id).await, ("500.00".into(), 0, 0));
    let reversals: Vec<(i64,)> =
        sqlx::query_as("SELECT delta FROM point_ledger WHERE reason = 'refund_reverse' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(reversals, [(-33,), (-33,), (-34,)]);
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn a_refund_beyond_the_remaining_amount_is_refused_with_what_remains() {
    let app = TestApp::new().await;
    let Shopping { member, shop, ana, .. } = app.shopping("50.00").await;
    let tx_no = shop.charge(&ana.qr(&member.card_id).await, "20.00").await.json["transaction"]["tx_no"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(shop.refund(&tx_no, "15.00").await.status, 201);
    let refused = shop.refund(&tx_no, "5.01").await;
    refused.assert_error(409, "REFUND_EXCEEDS_REMAINING");
    assert_eq!(refused.json["error"]["details"]["remaining_refundable"], "5.00");
}

#[tokio::test]
async fn points_already_spent_are_dropped_not_driven_negative() {
    let app = TestApp::new().await;
    let Shopping { admin, member, shop, ana, .. } = app.shopping("100.00").await;
    let tx_no = shop.charge(&ana.qr(&member.card_id).await, "50.00").await.json["transaction"]["tx_no"]
        .as_str()
        .unwrap()
        .to_owned();
    admin.adjust_points(&member.card_id, -45).await;
    assert_eq!(shop.refund(&tx_no, "50.00").await.status, 201);
    assert_eq!(card_state(&app.pool, &member.card_id).await, ("100.00".into(), 0, 0));
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn refunds_reach_frozen_cards_but_not_closed_ones_nor_other_merchants_payments() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    admin.credit(&member.card_id, "100.00").await;
    let merchant = admin.create_merchant("Shop").await;
    let other = admin.create_merchant("Other").await;
    let shop = app.merchant_client(&merchant).await;
    let ana = app.member_client(&member).await;
    let tx_no = shop.charge(&ana.qr(&member.card_id).await, "40.00").await.json["transaction"]["tx_no"]
        .as_str()
        .unwrap()
        .to_owned();

    app.merchant_client(&other).await.refund(&tx_no, "1.00").await.assert_error(404, "TX_NOT_FOUND");
    sqlx::query("UPDATE cards SET status = 'inactive'").execute(&app.pool).await.unwrap();
    assert_eq!(shop.refund(&tx_no, "10.00").await.status, 201, "frozen cards take refunds");
    sqlx::query("UPDATE cards SET status = 'closed', balance = 0 WHERE id = $1::uuid")
        .bind(&member.card_id)
        .execute(&app.pool)
        .await
        .unwrap();
    shop.refund(&tx_no, "10.00").await.assert_error(409, "CARD_CLOSED");
}
