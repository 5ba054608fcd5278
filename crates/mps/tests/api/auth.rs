//! Logins for the three roles, sessions, and the first admin flows.

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn each_role_logs_in_and_me_tells_who_it_is() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let merchant = admin.create_merchant("Corner Shop").await;

    for (role, identifier) in
        [("member", member.phone.as_str()), ("member", member.member_no.as_str()), ("merchant", merchant.code.as_str())]
    {
        let client = app.client(role, identifier, PASSWORD).await;
        let me = client.get("/auth/me").await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.json["user"]["role"], role);
        assert!(me.json["permissions"].as_array().unwrap().iter().any(|p| p.as_str().unwrap().starts_with(role)));
        assert!(me.json["session"]["expires_at"].is_string());
    }
}

#[tokio::test]
async fn a_new_member_gets_a_standard_card_it_owns() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let response = admin
        .post("/admin/members", serde_json::json!({"name": "Bo", "phone": "13800000001", "password": PASSWORD}))
        .await;
    assert_eq!(response.status, 201, "{}", response.text);
    let card = &response.json["card"];
    assert!(card["card_no"].as_str().unwrap().starts_with("STD"));
    assert_eq!(card["balance"], "0.00");
    assert_eq!(card["role"], "owner");
    assert_eq!(card["effective_discount"], "1.000");
    assert!(response.json["member"]["member_no"].as_str().unwrap().starts_with('M'));
    assert!(!response.text.contains("password"), "no password or hash in the response");
}

#[tokio::test]
async fn duplicates_are_409_with_a_specific_code_and_nothing_half_created() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let first = serde_json::json!({"name": "A", "phone": "13900000001", "email": "a@example.com",
                                   "external_identity": {"provider": "wechat", "external_id": "openid-1"}});
    assert_eq!(admin.post("/admin/members", first).await.status, 201);
    let cases = [
        (serde_json::json!({"name": "B", "phone": "13900000001"}), "DUPLICATE_PHONE"),
        (serde_json::json!({"name": "B", "email": "A@example.com"}), "DUPLICATE_EMAIL"),
        (
            serde_json::json!({"name": "B", "external_identity": {"provider": "wechat", "external_id": "openid-1"}}),
            "DUPLICATE_EXTERNAL_IDENTITY",
        ),
    ];
    for (body, code) in cases {
        admin.post("/admin/members", body).await.assert_error(409, code);
    }
    let counts: (i64, i64) = sqlx::query_as("SELECT (SELECT count(*) FROM members), (SELECT count(*) FROM cards)")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(counts, (1, 1), "failed creations left no member or card behind");

    let shop = serde_json::json!({"code": "SHOP1", "name": "Shop", "password": PASSWORD});
    assert_eq!(admin.post("/admin/merchants", shop).await.status, 201);
    let again = serde_json::json!({"code": "shop1", "name": "Shop", "password": PASSWORD});
    admin.post("/admin/merchants", again).await.assert_error(409, "DUPLICATE_MERCHANT_CODE");
}

#[tokio::test]
async fn short_passwords_are_refused() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let response =
        admin.post("/admin/merchants", serde_json::json!({"code": "ABC", "name": "S", "password": "short"})).await;
    response.assert_error(422, "PASSWORD_TOO_SHORT");
}

#[tokio::test]
async fn logout_revokes_the_token_at_once() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    assert_eq!(admin.get("/auth/me").await.status, 200);
    assert_eq!(admin.post("/auth/logout", serde_json::json!({})).await.status, 204);
    admin.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn wrong_password_and_unknown_account_fail_alike_and_are_audited() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    let wrong = app.login("merchant", &merchant.code, "not-the-password").await;
    let unknown = app.login("merchant", "NOSUCHSHOP", "not-the-password").await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    unknown.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.json["error"]["message"], unknown.json["error"]["message"]);
    let failed: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'LOGIN_FAILED'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(failed, 2, "both failed logins are audited");
}
