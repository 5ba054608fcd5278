//! The resulting balance and points on every ledger row (issue 19): shown in the member's and the
//! admin's card views, and chained — the invariants suite notices a row that breaks the chain.

use serde_json::json;

use crate::helpers::{INVARIANTS_SQL, Shopping, TestApp, assert_books_balance, new_key};
use crate::programme_support::tx_no;

async fn violations(app: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query_as(INVARIANTS_SQL).fetch_all(&app.pool).await.unwrap()
}

/// Asserts that the invariants report `invariant` broken on card `card_no`.
async fn assert_reported(app: &TestApp, invariant: &str, card_no: &str) {
    let found = violations(app).await;
    assert!(
        found.iter().any(|(name, subject, _)| name.starts_with(invariant) && subject == card_no),
        "{invariant} broken on {card_no} is reported: {found:?}"
    );
}

/// Runs one statement with text parameters against the test's database.
async fn execute(app: &TestApp, sql: &'static str, parameters: &[&str]) {
    let query = parameters.iter().fold(sqlx::query(sql), |query, parameter| query.bind(*parameter));
    query.execute(&app.pool).await.unwrap();
}

#[tokio::test]
async fn card_views_show_the_balance_and_points_after_each_movement_and_the_rows_chain() {
    let app = TestApp::new().await;
    let Shopping { admin, member, shop, ana, .. } = app.shopping("100.00").await;
    let paid = tx_no(&shop.charge(&ana.qr(&member.card_id).await, "40.00").await);
    shop.refund(&paid, "10.00").await;
    let topup = shop
        .post_idempotent("/merchant/recharge", &new_key(), json!({ "card_no": member.card_no, "amount": "5.00" }))
        .await;
    assert_eq!(topup.status, 201, "{}", topup.text);

    let mine = ana.get(&format!("/member/cards/{}", member.card_id)).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let admin_view = admin.get(&format!("/admin/cards/{}", member.card_no)).await;
    assert_eq!(admin_view.status, 200, "{}", admin_view.text);
    for view in [&mine.json, &admin_view.json] {
        let balances: Vec<&str> = view["history"]["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["balance_after"].as_str().unwrap())
            .collect();
        assert_eq!(balances, ["75.00", "70.00", "60.00", "100.00"], "newest first: {view}");
        let points: Vec<i64> =
            view["history"]["points"].as_array().unwrap().iter().map(|p| p["points_after"].as_i64().unwrap()).collect();
        assert_eq!(points, [30, 40], "40 earned, 10 reversed: {view}");
    }
    assert_books_balance(&app.pool).await;

    // A row whose resulting balance is wrong breaks the chain.
    execute(&app, "UPDATE transactions SET balance_after = balance_after + 1 WHERE tx_no = $1", &[&paid]).await;
    assert_reported(&app, "balance_after chains", &member.card_no).await;
    execute(&app, "UPDATE transactions SET balance_after = balance_after - 1 WHERE tx_no = $1", &[&paid]).await;
    assert!(violations(&app).await.is_empty());

    // So does a ledger row whose resulting points are wrong.
    execute(&app, "UPDATE point_ledger SET points_after = points_after + 1 WHERE delta > 0", &[]).await;
    assert_reported(&app, "points_after chains", &member.card_no).await;
}

#[tokio::test]
async fn an_online_recharge_confirmed_after_later_movements_still_chains() {
    let app = TestApp::with_vars(&[("PAYMENT_WEBHOOK_SECRET", "a-payment-channel-secret-of-at-least-32-chars")]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let merchant = admin.create_merchant("Corner Shop").await;
    admin.credit(&member.card_id, "50.00").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let order = ana
        .post_idempotent(
            "/member/recharge",
            &new_key(),
            json!({ "card_id": member.card_id, "amount": "20.00", "payment_method": "wechat" }),
        )
        .await;
    assert_eq!(order.status, 201, "{}", order.text);
    let order_no = order.json["transaction"]["tx_no"].as_str().unwrap().to_owned();
    // The order is numbered now, paid for later: a charge happens in between.
    tx_no(&shop.charge(&ana.qr(&member.card_id).await, "30.00").await);
    let confirmed: serde_json::Value = sqlx::query_scalar("SELECT confirm_recharge($1, true, 20.00, 'ch-1', 'req')")
        .bind(&order_no)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(confirmed["status"], "completed", "{confirmed}");
    assert_books_balance(&app.pool).await;
}
