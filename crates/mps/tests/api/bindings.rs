//! Sharing corporate cards: members join with the binding password (rate limited), admins bind
//! anyone, the last owner stays, and the best corporate discount applies at payment time.

use axum::http::Method;
use serde_json::json;

use crate::helpers::TestApp;
use crate::programme_support::{Corporate, audited_actions};

const PASSWORD: &str = "team-card-2026";

#[tokio::test]
async fn a_member_joins_a_corporate_card_with_its_password_and_sees_it_with_the_discount() {
    let app = TestApp::new().await;
    let Corporate { card, member, .. } = app.corporate(PASSWORD).await;
    assert_eq!(member.get("/member/cards").await.json["items"].as_array().unwrap().len(), 1);

    let joined = member.bind(&card.card_no.to_lowercase(), "member", PASSWORD).await;

    assert_eq!(joined.status, 201, "{}", joined.text);
    assert_eq!((&joined.json["card_no"], &joined.json["role"]), (&json!(card.card_no), &json!("member")));
    assert_eq!(audited_actions(&app.pool, &joined).await, ["BIND_CARD"]);
    let cards = member.get("/member/cards").await;
    let items = cards.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "the cached list shows the new card: {}", cards.text);
    let standard = items.iter().find(|c| c["card_type"] == "standard").unwrap();
    assert_eq!(standard["effective_discount"], "0.850", "the corporate discount prices the member's own card");
    member.bind(&card.card_no, "viewer", PASSWORD).await.assert_error(409, "ALREADY_BOUND");
}

#[tokio::test]
async fn only_corporate_cards_with_a_password_can_be_joined_and_only_with_the_right_one() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let boss = admin.create_member("Boss").await;
    let open = admin.issue_corporate(&boss.id, "0.85", Some(PASSWORD)).await;
    let closed_door = admin.issue_corporate(&boss.id, "0.85", None).await;
    let voucher = admin.issue_voucher(&boss.id, "10.00").await;
    let member = app.member_client(&admin.create_member("Ana").await).await;

    member.bind(&boss.card_no, "member", PASSWORD).await.assert_error(422, "CARD_TYPE_NOT_SHAREABLE");
    member.bind(&voucher.card_no, "viewer", PASSWORD).await.assert_error(422, "CARD_TYPE_NOT_SHAREABLE");
    member.bind(&closed_door.card_no, "member", PASSWORD).await.assert_error(422, "INVALID_BINDING_PASSWORD");
    member.bind("COR99999999", "member", PASSWORD).await.assert_error(404, "CARD_NOT_FOUND");
    member.bind(&open.card_no, "owner", PASSWORD).await.assert_error(422, "VALIDATION_FAILED");
    let by_id = json!({ "card_id": open.id, "role": "viewer", "binding_password": PASSWORD });
    let both = json!({ "card_id": open.id, "card_no": open.card_no, "role": "viewer", "binding_password": PASSWORD });
    member.post("/member/bindings", both).await.assert_error(422, "VALIDATION_FAILED");
    let joined = member.post("/member/bindings", by_id).await;
    assert_eq!((joined.status.as_u16(), &joined.json["role"]), (201, &json!("viewer")), "{}", joined.text);
}

#[tokio::test]
async fn a_sixth_attempt_within_a_minute_is_429_even_with_the_right_password() {
    let app = TestApp::new().await;
    let Corporate { admin, card, member, .. } = app.corporate(PASSWORD).await;
    for attempt in 1..=5 {
        let guess = member.bind(&card.card_no, "member", &format!("guess-{attempt}")).await;
        guess.assert_error(422, "INVALID_BINDING_PASSWORD");
    }
    let limited = member.bind(&card.card_no, "member", PASSWORD).await;
    limited.assert_error(429, "RATE_LIMITED");
    assert!(limited.header("retry-after").is_some_and(|s| s.parse::<u32>().is_ok_and(|s| (1..=60).contains(&s))));
    let bound: i64 = sqlx::query_scalar("SELECT count(*) FROM card_bindings WHERE card_id = $1::uuid")
        .bind(&card.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(bound, 1, "only the owner: the limit came before the password");
    let other = app.member_client(&admin.create_member("Bo").await).await;
    assert_eq!(other.bind(&card.card_no, "member", PASSWORD).await.status, 201, "the limit is per member");
}

#[tokio::test]
async fn a_frozen_corporate_card_cannot_be_joined() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let boss = admin.create_member("Boss").await;
    let card = admin.issue_corporate(&boss.id, "0.85", Some(PASSWORD)).await;
    admin.card_status(&card.id, "inactive").await;
    let member = app.member_client(&admin.create_member("Ana").await).await;
    member.bind(&card.card_no, "member", PASSWORD).await.assert_error(409, "CARD_NOT_ACTIVE");
}

#[tokio::test]
async fn the_best_of_several_corporate_discounts_applies_and_leaving_one_keeps_the_others() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let boss = admin.create_member("Boss").await;
    let good = admin.issue_corporate(&boss.id, "0.90", Some(PASSWORD)).await;
    let best = admin.issue_corporate(&boss.id, "0.80", Some(PASSWORD)).await;
    let worse = admin.issue_corporate(&boss.id, "0.95", Some(PASSWORD)).await;
    let viewed = admin.issue_corporate(&boss.id, "0.50", Some(PASSWORD)).await;
    let ana = admin.create_member("Ana").await;
    admin.credit(&ana.card_id, "1000.00").await;
    let member = app.member_client(&ana).await;
    let shop = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let pay = |amount: &'static str| {
        let (member, shop, card) = (&member, &shop, ana.card_id.clone());
        async move {
            let response = shop.charge(&member.qr(&card).await, amount).await;
            assert_eq!(response.status, 201, "{}", response.text);
            response.json["transaction"]["discount_applied"].as_str().unwrap().to_owned()
        }
    };

    for card in [&good, &best, &worse] {
        assert_eq!(member.bind(&card.card_no, "member", PASSWORD).await.status, 201);
    }
    assert_eq!(member.bind(&viewed.card_no, "viewer", PASSWORD).await.status, 201);
    assert_eq!(pay("100.00").await, "0.800", "the lowest discount of the member bindings; viewers get none");

    assert_eq!(member.leave(&best.id).await.status, 200);
    assert_eq!(pay("100.00").await, "0.900", "the others stay in force");
    admin.card_status(&good.id, "inactive").await;
    assert_eq!(pay("100.00").await, "0.950", "a frozen card's discount does not apply");
    assert_eq!(member.leave(&worse.id).await.status, 200);
    assert_eq!(pay("100.00").await, "1.000");
}

#[tokio::test]
async fn a_member_leaves_a_shared_card_but_never_as_its_last_owner() {
    let app = TestApp::new().await;
    let Corporate { boss, card, member, .. } = app.corporate(PASSWORD).await;
    member.bind(&card.card_no, "member", PASSWORD).await;

    let left = member.leave(&card.id).await;
    assert_eq!(left.status, 200, "{}", left.text);
    assert_eq!(left.json["role"], "member");
    assert_eq!(audited_actions(&app.pool, &left).await, ["UNBIND_CARD"]);
    member.leave(&card.id).await.assert_error(404, "CARD_NOT_FOUND");
    let owner = app.member_client(&boss).await;
    owner.leave(&card.id).await.assert_error(409, "CANNOT_REMOVE_LAST_OWNER");
    owner.leave(&boss.card_id).await.assert_error(409, "CANNOT_REMOVE_LAST_OWNER");
}

#[tokio::test]
async fn an_admin_binds_anyone_with_any_role_and_never_removes_or_downgrades_the_last_owner() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let boss = admin.create_member("Boss").await;
    let deputy = admin.create_member("Deputy").await;
    let card = admin.issue_corporate(&boss.id, "0.85", None).await;
    let bindings = format!("/admin/cards/{}/bindings", card.card_no);

    let added = admin.post(&bindings, json!({ "member_id": deputy.id, "role": "admin" })).await;
    assert_eq!(added.status, 201, "{}", added.text);
    assert_eq!(audited_actions(&app.pool, &added).await, ["BIND_CARD"]);
    admin.post(&bindings, json!({ "member_id": deputy.id, "role": "viewer" })).await.assert_error(409, "ALREADY_BOUND");
    let standard = format!("/admin/cards/{}/bindings", boss.card_id);
    admin
        .post(&standard, json!({ "member_id": deputy.id, "role": "member" }))
        .await
        .assert_error(422, "CARD_TYPE_NOT_SHAREABLE");
    let listed = admin.get(&format!("{bindings}?count=exact")).await;
    assert_eq!(listed.json["pagination"]["total_count"], 2, "{}", listed.text);

    let boss_role = format!("{bindings}/{}", boss.id);
    admin.patch(&boss_role, json!({ "role": "member" })).await.assert_error(409, "CANNOT_REMOVE_LAST_OWNER");
    let by_query = format!("{bindings}?member_id={}", boss.id);
    admin.call(Method::DELETE, &by_query, None, &[]).await.assert_error(409, "CANNOT_REMOVE_LAST_OWNER");

    let promoted = admin.patch(&format!("{bindings}/{}", deputy.id), json!({ "role": "owner" })).await;
    assert_eq!(promoted.json["role"], "owner", "{}", promoted.text);
    assert_eq!(audited_actions(&app.pool, &promoted).await, ["BINDING_ROLE_CHANGE"]);
    assert_eq!(admin.patch(&boss_role, json!({ "role": "viewer" })).await.status, 200, "another owner remains");
    let removed = admin.call(Method::DELETE, &bindings, Some(json!({ "member_id": boss.id })), &[]).await;
    assert_eq!((removed.status.as_u16(), &removed.json["role"]), (200, &json!("viewer")), "{}", removed.text);
    admin.call(Method::DELETE, &bindings, None, &[]).await.assert_error(422, "VALIDATION_FAILED");
    let deputy_out = format!("{bindings}?member_id={}", deputy.id);
    admin.call(Method::DELETE, &deputy_out, None, &[]).await.assert_error(409, "CANNOT_REMOVE_LAST_OWNER");
    let stranger = format!("{bindings}?member_id={}", uuid::Uuid::new_v4());
    admin.call(Method::DELETE, &stranger, None, &[]).await.assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn a_member_bound_to_a_corporate_card_asking_for_its_qr_gets_422_not_404() {
    let app = TestApp::new().await;
    let Corporate { admin, card, member, .. } = app.corporate(PASSWORD).await;
    for role in ["member", "viewer"] {
        if role == "viewer" {
            member.call(Method::DELETE, &format!("/member/bindings/{}", card.id), None, &[]).await;
        }
        assert_eq!(member.bind(&card.card_no, role, PASSWORD).await.status, 201);
        let listed = member.get("/member/cards").await;
        assert!(listed.json["items"].as_array().unwrap().iter().any(|c| c["id"] == json!(card.id)), "{role} sees it");

        let qr = member.post("/member/qr", json!({ "card_id": card.id })).await;
        qr.assert_error(422, "CORPORATE_CARD_CANNOT_PAY");
        let revoke = member.call(Method::DELETE, &format!("/member/qr/{}", card.id), None, &[]).await;
        revoke.assert_error(422, "CORPORATE_CARD_CANNOT_PAY");
    }
    let stranger = app.member_client(&admin.create_member("Bob").await).await;
    let unseen = stranger.post("/member/qr", json!({ "card_id": card.id })).await;
    unseen.assert_error(404, "CARD_NOT_FOUND");
}
