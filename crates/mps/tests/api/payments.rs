//! Charging by QR: pricing, rounding, points and levels, and every refusal.

use crate::helpers::{TestApp, TestMember, assert_books_balance, card_state, new_key};

/// An app with an admin, a member whose card holds `balance`, and a merchant.
async fn shop(balance: &str) -> (TestApp, TestMember, crate::helpers::TestMerchant) {
    let app = TestApp::new().await;
    let (member, merchant) = {
        let admin = app.admin().await;
        let member = admin.create_member("Ana").await;
        admin.credit(&member.card_id, balance).await;
        (member, admin.create_merchant("Corner Shop").await)
    };
    (app, member, merchant)
}

#[tokio::test]
async fn a_charge_debits_the_discounted_amount_and_earns_floor_of_raw_points() {
    let (app, member, merchant) = shop("500.00").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let qr = ana.qr(&member.card_id).await;
    let response = shop.charge(&qr, "99.99").await;
    assert_eq!(response.status, 201, "{}", response.text);
    let tx = &response.json["transaction"];
    assert_eq!(tx["raw_amount"], "99.99");
    assert_eq!(tx["discount_applied"], "1.000");
    assert_eq!(tx["final_amount"], "99.99");
    assert_eq!(tx["points_earned"], 99);
    assert_eq!(tx["status"], "completed");
    assert_eq!(tx["payment_method"], "balance");
    assert_eq!(tx["merchant_code"], merchant.code.as_str());
    assert!(tx["tx_no"].as_str().unwrap().starts_with("PAY"));
    assert_eq!(response.json["card"]["card_no"], member.card_no.as_str());
    assert_eq!(card_state(&app.pool, &member.card_id).await, ("400.01".into(), 99, 0));
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn rounding_is_half_away_from_zero_at_each_level() {
    let (app, member, merchant) = shop("10000.00").await;
    let admin = app.admin().await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    // (points to reach the level, amount, expected final amount)
    let table = [
        (1000, "10.01", "9.51"),  // 9.5095
        (0, "1.30", "1.24"),      // 1.235 → up
        (0, "0.10", "0.10"),      // 0.095 → 0.10
        (4000, "33.33", "30.00"), // gold: 29.997
        (0, "0.05", "0.05"),      // 0.045 → 0.05
        (5000, "0.10", "0.09"),   // diamond: 0.085 → 0.09
        (0, "0.01", "0.01"),      // 0.0085 → 0.01
        (0, "123.45", "104.93"),  // 104.9325
    ];
    let mut points = 0;
    for (bump, amount, expected) in table {
        if bump > 0 {
            admin.adjust_points(&member.card_id, bump).await;
            points += bump;
        }
        let response = shop.charge(&ana.qr(&member.card_id).await, amount).await;
        assert_eq!(response.status, 201, "{}", response.text);
        assert_eq!(response.json["transaction"]["final_amount"], expected, "{amount} at {points} points");
        points += response.json["transaction"]["points_earned"].as_i64().unwrap();
    }
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn a_payment_is_priced_at_the_level_before_it_and_its_points_count_from_the_next() {
    let (app, member, merchant) = shop("1000.00").await;
    let admin = app.admin().await;
    admin.adjust_points(&member.card_id, 995).await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;

    let first = shop.charge(&ana.qr(&member.card_id).await, "10.00").await;
    assert_eq!(first.json["transaction"]["discount_applied"], "1.000", "still Regular when paying");
    assert_eq!(first.json["card"]["level"], 1, "the 10 points lift the card to Silver");
    let second = shop.charge(&ana.qr(&member.card_id).await, "10.00").await;
    assert_eq!(second.json["transaction"]["discount_applied"], "0.950");
    assert_eq!(second.json["transaction"]["final_amount"], "9.50");
}

#[tokio::test]
async fn insufficient_balance_rolls_back_and_leaves_the_token_usable() {
    let (app, member, merchant) = shop("10.00").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let qr = ana.qr(&member.card_id).await;
    shop.charge(&qr, "10.01").await.assert_error(409, "INSUFFICIENT_BALANCE");
    assert_eq!(card_state(&app.pool, &member.card_id).await, ("10.00".into(), 0, 0));
    let retry = shop.charge(&qr, "10.00").await;
    assert_eq!(retry.status, 201, "the token survived the refused charge: {}", retry.text);
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "0.00");
}

#[tokio::test]
async fn a_used_token_and_a_superseded_token_are_refused() {
    let (app, member, merchant) = shop("100.00").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let used = ana.qr(&member.card_id).await;
    assert_eq!(shop.charge(&used, "1.00").await.status, 201);
    shop.charge(&used, "1.00").await.assert_error(409, "QR_EXPIRED_OR_INVALID");

    let old = ana.qr(&member.card_id).await;
    let new = ana.qr(&member.card_id).await;
    shop.charge(&old, "1.00").await.assert_error(409, "QR_EXPIRED_OR_INVALID");
    assert_eq!(shop.charge(&new, "1.00").await.status, 201);
    let history: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT end_reason::text FROM qr_issues ORDER BY id").fetch_all(&app.pool).await.unwrap();
    assert_eq!(history, [(Some("used".into()),), (Some("superseded".into()),), (Some("used".into()),)]);
}

#[tokio::test]
async fn expired_and_revoked_tokens_are_refused() {
    let (app, member, merchant) = shop("100.00").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let qr = ana.qr(&member.card_id).await;
    sqlx::query(
        "UPDATE qr_issues SET issued_at = now() - interval '2 hours', expires_at = now() - interval '1 second' \
         WHERE ended_at IS NULL",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    shop.charge(&qr, "1.00").await.assert_error(409, "QR_EXPIRED_OR_INVALID");

    let qr = ana.qr(&member.card_id).await;
    let revoked = ana.call(axum::http::Method::DELETE, &format!("/member/qr/{}", member.card_id), None, &[]).await;
    assert_eq!(revoked.status, 200);
    assert_eq!(revoked.json["revoked"], true);
    shop.charge(&qr, "1.00").await.assert_error(409, "QR_EXPIRED_OR_INVALID");
}

#[tokio::test]
async fn a_suspended_owner_a_frozen_card_and_a_suspended_merchant_cannot_pay() {
    let (app, member, merchant) = shop("100.00").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;

    let qr = ana.qr(&member.card_id).await;
    sqlx::query("UPDATE members SET status = 'suspended'").execute(&app.pool).await.unwrap();
    shop.charge(&qr, "1.00").await.assert_error(409, "MEMBER_NOT_ACTIVE");
    sqlx::query("UPDATE members SET status = 'active'").execute(&app.pool).await.unwrap();

    sqlx::query("UPDATE cards SET status = 'inactive'").execute(&app.pool).await.unwrap();
    shop.charge(&qr, "1.00").await.assert_error(409, "CARD_NOT_ACTIVE");
    ana.post("/member/qr", serde_json::json!({"card_id": member.card_id})).await.assert_error(409, "CARD_NOT_ACTIVE");
    sqlx::query("UPDATE cards SET status = 'active'").execute(&app.pool).await.unwrap();

    sqlx::query("UPDATE merchants SET status = 'suspended'").execute(&app.pool).await.unwrap();
    shop.charge(&qr, "1.00").await.assert_error(409, "MERCHANT_NOT_ACTIVE");
    sqlx::query("UPDATE merchants SET status = 'active'").execute(&app.pool).await.unwrap();

    sqlx::query("UPDATE cards SET expires_at = now() - interval '1 minute'").execute(&app.pool).await.unwrap();
    shop.charge(&qr, "1.00").await.assert_error(409, "CARD_EXPIRED");
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "100.00", "nothing was debited");
}

#[tokio::test]
async fn bad_amounts_are_422_invalid_amount() {
    let (app, member, merchant) = shop("100.00").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let qr = ana.qr(&member.card_id).await;
    for amount in [
        serde_json::json!("0"),
        serde_json::json!("-1.00"),
        serde_json::json!("1.001"),
        serde_json::json!("1e2"),
        serde_json::json!("50000.01"),
        serde_json::json!("abc"),
        serde_json::json!(0),
    ] {
        let body = serde_json::json!({"qr_plain": qr, "amount": amount});
        shop.post_idempotent("/merchant/charge", &new_key(), body).await.assert_error(422, "INVALID_AMOUNT");
    }
    let response =
        shop.post_idempotent("/merchant/charge", &new_key(), serde_json::json!({"qr_plain": qr, "amount": 12.5})).await;
    assert_eq!(response.status, 201, "a JSON number is accepted: {}", response.text);
    assert_eq!(response.json["transaction"]["raw_amount"], "12.50");
}

#[tokio::test]
async fn a_json_number_with_a_hidden_fraction_is_refused_not_rounded() {
    let (app, member, merchant) = shop("100.00").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let qr = ana.qr(&member.card_id).await;
    let body = format!(r#"{{"qr_plain": "{qr}", "amount": 12.500000000000001}}"#);
    let request = axum::http::Request::post("/merchant/charge")
        .header("authorization", format!("Bearer {}", shop.token))
        .header("content-type", "application/json")
        .header("idempotency-key", new_key())
        .body(axum::body::Body::from(body))
        .unwrap();
    app.send(request).await.assert_error(422, "INVALID_AMOUNT");
}

#[tokio::test]
async fn a_merchant_sees_the_card_of_a_token_but_never_its_balance() {
    let (app, member, merchant) = shop("123.45").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let qr = ana.qr(&member.card_id).await;
    let response = shop.post("/merchant/qr/validate", serde_json::json!({"qr_plain": qr})).await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["card_no"], member.card_no.as_str());
    assert_eq!(response.json["status"], "active");
    assert!(!response.text.contains("123.45") && response.json.get("balance").is_none());
    shop.post("/merchant/qr/validate", serde_json::json!({"qr_plain": "nope"}))
        .await
        .assert_error(409, "QR_EXPIRED_OR_INVALID");
}

#[tokio::test]
async fn the_same_external_order_is_charged_at_most_once() {
    let (app, member, merchant) = shop("100.00").await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let body = |qr: &str| serde_json::json!({"qr_plain": qr, "amount": "5.00", "external_order_id": "ORDER-1"});
    let first = shop.post_idempotent("/merchant/charge", &new_key(), body(&ana.qr(&member.card_id).await)).await;
    assert_eq!(first.status, 201);
    let second = shop.post_idempotent("/merchant/charge", &new_key(), body(&ana.qr(&member.card_id).await)).await;
    second.assert_error(409, "DUPLICATE_EXTERNAL_ORDER");
    assert_eq!(second.json["error"]["details"]["original_tx_no"], first.json["transaction"]["tx_no"]);
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "95.00");
}

#[tokio::test]
async fn voucher_cards_pay_at_face_value_without_points_and_corporate_cards_cannot_pay() {
    let (app, member, merchant) = shop("0.01").await;
    let admin = app.admin().await;
    let voucher = admin.issue_voucher(&member.id, "50.00").await.id;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;
    let response = shop.charge(&ana.qr(&voucher).await, "20.00").await;
    assert_eq!(response.status, 201, "{}", response.text);
    assert_eq!(response.json["transaction"]["discount_applied"], "1.000");
    assert_eq!(response.json["transaction"]["points_earned"], 0);
    assert_eq!(card_state(&app.pool, &voucher).await, ("30.00".into(), 0, 0));

    let corporate = admin.issue_corporate(&member.id, "0.80", None).await.id;
    ana.post("/member/qr", serde_json::json!({"card_id": corporate}))
        .await
        .assert_error(422, "CORPORATE_CARD_CANNOT_PAY");
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn the_best_corporate_discount_applies_and_a_payment_rounding_to_zero_is_refused() {
    let (app, member, merchant) = shop("100.00").await;
    for discount in ["0.90", "0.80", "0.95"] {
        sqlx::query(
            "WITH c AS (INSERT INTO cards (card_no, card_type, name, fixed_discount) \
                        VALUES (next_card_no('corporate'), 'corporate', 'Co', $2::numeric) RETURNING id) \
             INSERT INTO card_bindings (card_id, member_id, role) SELECT id, $1::uuid, 'member' FROM c",
        )
        .bind(&member.id)
        .bind(discount)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    let ana = app.member_client(&member).await;
    let cards = ana.get("/member/cards").await;
    assert_eq!(cards.status, 200);
    let standard = cards.json["items"].as_array().unwrap().iter().find(|c| c["card_type"] == "standard").unwrap();
    assert_eq!(standard["effective_discount"], "0.800", "the best of the bindings");
    // Admins see the price the owner pays: the card by id, and its row of the card list (the
    // view prices with the same rule, inlined, as the charge's `effective_discount`).
    let admin = app.admin().await;
    let by_id = admin.get(&format!("/admin/cards/{}", member.card_id)).await;
    assert_eq!(by_id.json["effective_discount"], "0.800", "{}", by_id.text);
    let listed = admin.get("/admin/cards?card_type=standard").await;
    let row = listed.json["items"].as_array().unwrap().iter().find(|c| c["id"] == member.card_id.as_str()).unwrap();
    assert_eq!(row["effective_discount"], "0.800", "{}", listed.text);
    let corporate = admin.get("/admin/cards?card_type=corporate").await;
    let mut fixed: Vec<_> =
        corporate.json["items"].as_array().unwrap().iter().map(|c| c["effective_discount"].clone()).collect();
    fixed.sort_by_key(|d| d.to_string());
    assert_eq!(fixed, ["0.800", "0.900", "0.950"], "a corporate card shows its own fixed discount");
    let shop = app.merchant_client(&merchant).await;
    let response = shop.charge(&ana.qr(&member.card_id).await, "10.00").await;
    assert_eq!(response.json["transaction"]["final_amount"], "8.00");

    sqlx::query("UPDATE cards SET fixed_discount = 0.01 WHERE card_type = 'corporate'")
        .execute(&app.pool)
        .await
        .unwrap();
    shop.charge(&ana.qr(&member.card_id).await, "0.01").await.assert_error(422, "INVALID_AMOUNT");
}

#[tokio::test]
async fn every_movement_answers_and_records_the_cards_balance_right_after_it() {
    let (app, member, merchant) = shop("100.00").await;
    let admin = app.admin().await;
    let ana = app.member_client(&member).await;
    let shop = app.merchant_client(&merchant).await;

    let qr = ana.qr(&member.card_id).await;
    let charge = shop.charge(&qr, "30.25").await;
    assert_eq!(charge.status, 201, "{}", charge.text);
    assert_eq!(charge.json["transaction"]["balance_after"], "69.75");
    let tx_no = charge.json["transaction"]["tx_no"].as_str().unwrap().to_owned();

    let refund = shop.refund(&tx_no, "10.00").await;
    assert_eq!(refund.status, 201, "{}", refund.text);
    assert_eq!(refund.json["refund"]["balance_after"], "79.75");

    let topup = shop
        .post_idempotent(
            "/merchant/recharge",
            &new_key(),
            serde_json::json!({ "card_no": member.card_no, "amount": "0.25" }),
        )
        .await;
    assert_eq!(topup.status, 201, "{}", topup.text);
    assert_eq!(topup.json["transaction"]["balance_after"], "80.00");
    let credit = admin
        .post_idempotent(
            &format!("/admin/cards/{}/recharge", member.card_id),
            &new_key(),
            serde_json::json!({ "amount": "5.00" }),
        )
        .await;
    assert_eq!(credit.status, 201, "{}", credit.text);
    assert_eq!(credit.json["transaction"]["balance_after"], "85.00");
    assert_eq!(card_state(&app.pool, &member.card_id).await.0, "85.00");

    // The same figure is stored with each row, and every card's rows chain: the previous
    // balance after plus this movement is this balance after.
    let broken: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ( \
             SELECT balance_after, \
                    lag(balance_after) OVER (ORDER BY created_at, tx_no) \
                    + CASE WHEN tx_type = 'payment' THEN -final_amount ELSE final_amount END AS expected \
             FROM transactions WHERE card_id = $1::uuid AND status IN ('completed', 'refunded')) s \
         WHERE expected IS NOT NULL AND expected <> balance_after",
    )
    .bind(&member.card_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(broken, 0, "balance_after chains along the card's transactions");
    let listed = ana.get("/member/transactions").await;
    assert_eq!(listed.json["items"][0]["balance_after"], "85.00", "{}", listed.text);
    assert_books_balance(&app.pool).await;
}
