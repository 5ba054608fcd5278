//! Card status moves of SPEC §2: freeze and unfreeze, lost, closed, and every illegal move.

use axum::http::Method;
use serde_json::json;

use crate::helpers::{Client, TestApp, TestMember};
use crate::programme_support::{IssuedCard, audited_actions};

/// A corporate card (zero balance) of `owner`, brought to `status` by legal moves.
async fn card_in(admin: &Client<'_>, owner: &TestMember, status: &str) -> IssuedCard {
    let card = admin.issue_corporate(&owner.id, "0.90", None).await;
    let path = |action: &str| format!("/admin/cards/{}/{action}", card.id);
    match status {
        "active" => {}
        "inactive" => assert_eq!(admin.call(Method::POST, &path("freeze"), None, &[]).await.status, 200),
        other => assert_eq!(admin.card_status(&card.id, other).await.status, 200, "to {other}"),
    }
    card
}

#[tokio::test]
async fn every_status_move_is_allowed_or_refused_as_the_state_machine_says() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let owner = admin.create_member("Boss").await;
    // (from, to, allowed)
    let table = [
        ("active", "active", false),
        ("active", "inactive", true),
        ("active", "lost", true),
        ("active", "expired", false),
        ("active", "closed", true),
        ("inactive", "active", true),
        ("inactive", "inactive", false),
        ("inactive", "lost", true),
        ("inactive", "expired", false),
        ("inactive", "closed", true),
        ("lost", "active", true),
        ("lost", "inactive", false),
        ("lost", "lost", false),
        ("lost", "expired", false),
        ("lost", "closed", true),
        ("closed", "active", false),
        ("closed", "inactive", false),
        ("closed", "lost", false),
        ("closed", "expired", false),
        ("closed", "closed", false),
    ];
    for (from, to, allowed) in table {
        let card = card_in(&admin, &owner, from).await;
        let response = admin.card_status(&card.card_no, to).await;
        if allowed {
            assert_eq!(response.status, 200, "{from} → {to}: {}", response.text);
            assert_eq!(
                (&response.json["card"]["status"], &response.json["previous_status"]),
                (&json!(to), &json!(from))
            );
            assert_eq!(audited_actions(&app.pool, &response).await, ["CARD_STATUS_CHANGE"], "{from} → {to}");
        } else {
            response.assert_error(409, "INVALID_STATUS_TRANSITION");
            assert!(audited_actions(&app.pool, &response).await.is_empty(), "a refused move is not audited");
        }
    }
}

#[tokio::test]
async fn freeze_is_only_active_to_inactive_and_unfreeze_only_inactive_to_active() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let owner = admin.create_member("Boss").await;
    for from in ["active", "inactive", "lost", "closed"] {
        let card = card_in(&admin, &owner, from).await;
        let freeze = admin.call(Method::POST, &format!("/admin/cards/{}/freeze", card.id), None, &[]).await;
        if from == "active" {
            assert_eq!(freeze.status, 200, "{}", freeze.text);
            assert_eq!(audited_actions(&app.pool, &freeze).await, ["CARD_FREEZE"]);
        } else {
            freeze.assert_error(409, "INVALID_STATUS_TRANSITION");
        }
        let card = card_in(&admin, &owner, from).await;
        let unfreeze =
            admin.post(&format!("/admin/cards/{}/unfreeze", card.card_no), json!({ "reason": "paid up" })).await;
        if from == "inactive" {
            assert_eq!(unfreeze.status, 200, "{}", unfreeze.text);
            assert_eq!(unfreeze.json["card"]["status"], "active");
            assert_eq!(audited_actions(&app.pool, &unfreeze).await, ["CARD_UNFREEZE"]);
        } else {
            unfreeze.assert_error(409, "INVALID_STATUS_TRANSITION");
        }
    }
}

#[tokio::test]
async fn a_frozen_card_cannot_pay_its_qr_dies_and_its_member_sees_it_frozen_at_once() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    admin.credit(&ana.card_id, "100.00").await;
    let member = app.member_client(&ana).await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    assert_eq!(member.get("/member/cards").await.json["items"][0]["status"], "active");
    let qr = member.qr(&ana.card_id).await;

    let frozen = admin.post(&format!("/admin/cards/{}/freeze", ana.card_no), json!({})).await;
    assert_eq!(frozen.status, 200, "{}", frozen.text);
    assert_eq!(member.get("/member/cards").await.json["items"][0]["status"], "inactive");
    shop.charge(&qr, "10.00").await.assert_error(409, "QR_EXPIRED_OR_INVALID");
    member.post("/member/qr", json!({ "card_id": ana.card_id })).await.assert_error(409, "CARD_NOT_ACTIVE");

    let unfrozen = admin.call(Method::POST, &format!("/admin/cards/{}/unfreeze", ana.card_id), None, &[]).await;
    assert_eq!(unfrozen.status, 200, "{}", unfrozen.text);
    assert_eq!(shop.charge(&member.qr(&ana.card_id).await, "10.00").await.status, 201);
}

#[tokio::test]
async fn a_card_with_a_balance_cannot_be_closed_and_an_empty_one_is_closed_for_good() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    let voucher = admin.issue_voucher(&ana.id, "5.00").await;
    let refused = admin.card_status(&voucher.id, "closed").await;
    refused.assert_error(409, "CARD_HAS_BALANCE");
    assert_eq!(refused.json["error"]["details"]["balance"], "5.00");
    let corporate = admin.issue_corporate(&ana.id, "0.90", None).await;
    let closed = admin
        .post(
            &format!("/admin/cards/{}/status", corporate.id),
            json!({ "status": "closed", "reason": "contract ended" }),
        )
        .await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    let context: serde_json::Value =
        sqlx::query_scalar("SELECT context FROM audit_events WHERE action = 'CARD_STATUS_CHANGE'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (&context["from"], &context["to"], &context["reason"]),
        (&json!("active"), &json!("closed"), &json!("contract ended"))
    );
    admin.card_status(&corporate.id, "active").await.assert_error(409, "INVALID_STATUS_TRANSITION");
    admin
        .post(&format!("/admin/cards/{}/status", corporate.id), json!({ "status": "frozen" }))
        .await
        .assert_error(422, "VALIDATION_FAILED");
    admin.card_status(&uuid::Uuid::new_v4().to_string(), "inactive").await.assert_error(404, "CARD_NOT_FOUND");
}

#[tokio::test]
async fn the_binding_password_is_set_and_removed_on_corporate_cards_only() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let ana = admin.create_member("Ana").await;
    let corporate = admin.issue_corporate(&ana.id, "0.90", None).await;
    let path = format!("/admin/cards/{}/binding-password", corporate.id);

    let set = admin.post(&path, json!({ "binding_password": "open-sesame" })).await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.json["has_binding_password"], true);
    assert_eq!(audited_actions(&app.pool, &set).await, ["SET_BINDING_PASSWORD"]);
    admin.post(&path, json!({ "binding_password": "short" })).await.assert_error(422, "PASSWORD_TOO_SHORT");
    let cleared = admin.post(&path, json!({ "binding_password": null })).await;
    assert_eq!(cleared.json["has_binding_password"], false);
    admin
        .post(&format!("/admin/cards/{}/binding-password", ana.card_id), json!({ "binding_password": "open-sesame" }))
        .await
        .assert_error(422, "CARD_TYPE_NOT_SHAREABLE");
}
