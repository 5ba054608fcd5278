//! Admins issue corporate cards and vouchers, search cards and look them up.

use serde_json::json;

use crate::helpers::{TestApp, assert_books_balance, card_state};
use crate::programme_support::audited_actions;

#[tokio::test]
async fn a_voucher_is_issued_with_a_manual_recharge_so_the_books_balance_and_it_pays_at_face_value() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let owner = admin.create_member("Ana").await;
    let ana = app.member_client(&owner).await;
    assert_eq!(ana.get("/member/cards").await.json["items"].as_array().unwrap().len(), 1, "warms the card cache");

    let body = json!({ "card_type": "voucher", "owner_member_id": owner.id, "initial_balance": "150.00",
                       "name": "Gift", "expires_at": "2099-01-01T00:00:00Z" });
    let response = admin.post("/admin/cards", body).await;

    assert_eq!(response.status, 201, "{}", response.text);
    let card = &response.json["card"];
    assert!(card["card_no"].as_str().unwrap().starts_with("VCH"), "{card}");
    assert_eq!(card["balance"], "150.00");
    assert_eq!(card["name"], "Gift");
    assert_eq!(card["owner_member_id"], owner.id.as_str());
    assert_eq!(card["expires_at"], "2099-01-01T00:00:00Z");
    let tx = &response.json["initial_transaction"];
    assert_eq!(
        (&tx["tx_type"], &tx["payment_method"], &tx["status"]),
        (&json!("recharge"), &json!("manual"), &json!("completed"))
    );
    assert_eq!(tx["final_amount"], "150.00");
    assert_eq!(audited_actions(&app.pool, &response).await, ["CREATE_CARD"], "one mutation, one audit event");
    assert_books_balance(&app.pool).await;

    let cards = ana.get("/member/cards").await;
    let voucher = cards.json["items"].as_array().unwrap().iter().find(|c| c["card_type"] == "voucher").cloned();
    assert_eq!(voucher.expect("the owner's cached list shows the new voucher")["role"], "owner");
    let voucher_id = card["id"].as_str().unwrap();
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let charged = shop.charge(&ana.qr(voucher_id).await, "20.00").await;
    assert_eq!(charged.status, 201, "{}", charged.text);
    assert_eq!(charged.json["transaction"]["discount_applied"], "1.000");
    assert_eq!(card_state(&app.pool, voucher_id).await.0, "130.00");
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn a_corporate_card_keeps_its_binding_password_as_a_hash_that_is_never_shown() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let owner = admin.create_member("Boss").await;
    let body = json!({ "card_type": "corporate", "owner_member_id": owner.id, "fixed_discount": 0.8,
                       "binding_password": "join-us-please" });
    let response = admin.post("/admin/cards", body).await;
    assert_eq!(response.status, 201, "{}", response.text);
    let card = &response.json["card"];
    assert!(card["card_no"].as_str().unwrap().starts_with("COR"));
    assert_eq!((&card["fixed_discount"], &card["balance"]), (&json!("0.800"), &json!("0.00")));
    assert_eq!(card["has_binding_password"], true);
    assert!(response.json["initial_transaction"].is_null());
    let stored: String = sqlx::query_scalar("SELECT binding_password_hash FROM cards WHERE id = $1::uuid")
        .bind(card["id"].as_str().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2"), "stored as an argon2 hash");
    assert!(!response.text.contains("argon2") && !response.text.contains("join-us-please"));
    assert_eq!(audited_actions(&app.pool, &response).await, ["CREATE_CARD"]);
}

#[tokio::test]
async fn card_requests_with_fields_that_do_not_fit_the_type_are_refused() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let owner = admin.create_member("Ana").await;
    let cases = [
        (json!({ "card_type": "standard" }), 422, "VALIDATION_FAILED"),
        (json!({ "card_type": "voucher" }), 422, "VALIDATION_FAILED"),
        (json!({ "card_type": "voucher", "initial_balance": "0" }), 422, "INVALID_AMOUNT"),
        (json!({ "card_type": "voucher", "initial_balance": "10.001" }), 422, "INVALID_AMOUNT"),
        (json!({ "card_type": "voucher", "initial_balance": "10", "fixed_discount": "0.9" }), 422, "VALIDATION_FAILED"),
        (
            json!({ "card_type": "voucher", "initial_balance": "10", "binding_password": "secret-123" }),
            422,
            "VALIDATION_FAILED",
        ),
        (json!({ "card_type": "corporate", "initial_balance": "10" }), 422, "VALIDATION_FAILED"),
        (json!({ "card_type": "corporate", "fixed_discount": "1.01" }), 422, "VALIDATION_FAILED"),
        (json!({ "card_type": "corporate", "fixed_discount": "0.005" }), 422, "VALIDATION_FAILED"),
        (json!({ "card_type": "corporate", "fixed_discount": "0" }), 422, "VALIDATION_FAILED"),
        (json!({ "card_type": "corporate", "fixed_discount": "-0.5" }), 422, "VALIDATION_FAILED"),
        (json!({ "card_type": "corporate", "binding_password": "short" }), 422, "PASSWORD_TOO_SHORT"),
        (json!({ "card_type": "corporate", "expires_at": "2001-01-01T00:00:00Z" }), 422, "VALIDATION_FAILED"),
    ];
    for (mut body, status, code) in cases {
        body["owner_member_id"] = json!(owner.id);
        admin.post("/admin/cards", body.clone()).await.assert_error(status, code);
    }
    let unknown = json!({ "card_type": "corporate", "owner_member_id": uuid::Uuid::new_v4() });
    admin.post("/admin/cards", unknown).await.assert_error(404, "MEMBER_NOT_FOUND");
    let issued: i64 = sqlx::query_scalar("SELECT count(*) FROM cards WHERE card_type <> 'standard'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(issued, 0, "no refused request left a card behind");
}

#[tokio::test]
async fn cards_are_found_by_number_owner_name_or_phone_and_filtered_by_type_and_status() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana Lima").await;
    let bo = admin.create_member("Bo Chen").await;
    let voucher = admin.issue_voucher(&ana.id, "10.00").await;
    let corporate = admin.issue_corporate(&bo.id, "0.90", None).await;
    admin.card_status(&corporate.id, "inactive").await;

    let numbers = |response: &crate::helpers::TestResponse| -> Vec<String> {
        assert_eq!(response.status, 200, "{}", response.text);
        response.json["items"].as_array().unwrap().iter().map(|c| c["card_no"].as_str().unwrap().to_owned()).collect()
    };
    let all = admin.get("/admin/cards?count=exact").await;
    assert_eq!(all.json["pagination"]["total_count"], 4, "two standard cards, a voucher, a corporate card");
    assert_eq!(numbers(&admin.get("/admin/cards?q=lima").await).len(), 2, "Ana's standard card and voucher");
    assert_eq!(numbers(&admin.get(&format!("/admin/cards?q={}", &bo.phone[3..])).await).len(), 2);
    assert_eq!(
        numbers(&admin.get(&format!("/admin/cards?q={}", voucher.card_no.to_lowercase())).await),
        [voucher.card_no.as_str()]
    );
    assert_eq!(numbers(&admin.get("/admin/cards?card_type=corporate").await), [corporate.card_no.as_str()]);
    assert_eq!(numbers(&admin.get("/admin/cards?status=inactive").await), [corporate.card_no.as_str()]);
    assert!(numbers(&admin.get("/admin/cards?q=%25").await).is_empty(), "LIKE wildcards are searched literally");
    let page = admin.get("/admin/cards?limit=3&offset=0").await;
    assert_eq!(page.json["items"].as_array().unwrap().len(), 3);
    assert_eq!(page.json["pagination"]["has_next"], true);
    admin.get("/admin/cards?card_type=gold").await.assert_error(422, "VALIDATION_FAILED");
}

#[tokio::test]
async fn a_card_is_looked_up_by_id_or_number_and_an_unknown_one_is_404() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    let by_id = admin.get(&format!("/admin/cards/{}", ana.card_id)).await;
    assert_eq!(by_id.status, 200, "{}", by_id.text);
    assert_eq!(by_id.json["owner_member_no"], ana.member_no.as_str());
    assert_eq!(by_id.json["stored_status"], "active");
    let by_no = admin.get(&format!("/admin/cards/{}", ana.card_no.to_lowercase())).await;
    assert_eq!(by_no.json, by_id.json);
    admin.get(&format!("/admin/cards/{}", uuid::Uuid::new_v4())).await.assert_error(404, "CARD_NOT_FOUND");
    admin.get("/admin/cards/STD99999999").await.assert_error(404, "CARD_NOT_FOUND");
    let member = app.member_client(&ana).await;
    member.get("/admin/cards").await.assert_error(403, "FORBIDDEN");
}
