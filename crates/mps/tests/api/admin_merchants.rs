//! Admin management of merchants: search, lookup by id or code, edit, suspend, activate and
//! password reset.

use axum::http::Method;
use serde_json::{Value, json};

use crate::admin_members::audit_rows;
use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn merchants_are_searched_filtered_and_paginated_with_a_total_count() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    for name in ["Tea House", "Tea Garden", "Noodle Bar"] {
        admin.create_merchant(name).await;
    }
    let with_contact = json!({"code": "BAKERY1", "name": "Bread", "contact": "Ms Wu, 021-5555", "password": PASSWORD});
    assert_eq!(admin.post("/admin/merchants", with_contact).await.status, 201);

    let tea = admin.get("/admin/merchants?q=tea&limit=1&count=exact").await;
    assert_eq!(tea.status, 200, "{}", tea.text);
    let pagination = &tea.json["pagination"];
    assert_eq!(
        (&pagination["limit"], &pagination["offset"], &pagination["total_count"], &pagination["has_next"]),
        (&json!(1), &json!(0), &json!(2), &json!(true)),
        "{pagination}"
    );
    let by_contact = admin.get("/admin/merchants?q=ms%20wu").await;
    assert_eq!(by_contact.json["items"][0]["code"], "BAKERY1", "q searches the contact: {}", by_contact.text);
    let by_code = admin.get("/admin/merchants?q=bakery&count=exact").await;
    assert_eq!(by_code.json["pagination"]["total_count"], 1, "q searches the code");

    assert_eq!(admin.post("/admin/merchants/bakery1/suspend", json!({})).await.status, 200);
    let suspended = admin.get("/admin/merchants?status=suspended&count=exact").await;
    assert_eq!(suspended.json["pagination"]["total_count"], 1);
    assert_eq!(admin.get("/admin/merchants?status=active&count=exact").await.json["pagination"]["total_count"], 3);
    let all = admin.get("/admin/merchants?count=exact").await;
    assert_eq!(all.json["pagination"]["total_count"], 4);
    assert!(!all.text.contains("password"), "no hashes in lists");
}

#[tokio::test]
async fn a_merchant_is_found_by_id_or_by_code_regardless_of_case() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    for key in [merchant.id.clone(), merchant.code.clone(), merchant.code.to_lowercase()] {
        let response = admin.get(&format!("/admin/merchants/{key}")).await;
        assert_eq!(response.status, 200, "{key}: {}", response.text);
        assert_eq!(response.json["id"], merchant.id.as_str());
    }
    admin.get(&format!("/admin/merchants/{}", uuid::Uuid::new_v4())).await.assert_error(404, "MERCHANT_NOT_FOUND");
    admin.get("/admin/merchants/NOSUCHSHOP").await.assert_error(404, "MERCHANT_NOT_FOUND");
    let patch = admin.call(Method::PATCH, "/admin/merchants/NOSUCHSHOP", Some(json!({"name": "x"})), &[]).await;
    patch.assert_error(404, "MERCHANT_NOT_FOUND");
}

#[tokio::test]
async fn patch_edits_name_and_contact_but_never_the_code() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    let path = format!("/admin/merchants/{}", merchant.code);
    let edit = |body: Value| admin.call(Method::PATCH, &path, Some(body), &[]);

    let updated = edit(json!({"contact": "Mr Li"})).await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json["contact"], "Mr Li");
    assert_eq!(updated.json["name"], "Shop", "fields not sent keep their value");
    let renamed = edit(json!({"name": "Big Shop", "contact": null})).await;
    assert_eq!(renamed.json["name"], "Big Shop");
    assert_eq!(renamed.json["contact"], Value::Null);
    edit(json!({"code": "OTHER"})).await.assert_error(422, "VALIDATION_FAILED");
    edit(json!({"name": ""})).await.assert_error(422, "VALIDATION_FAILED");

    let audits = audit_rows(&app, "UPDATE_MERCHANT", &merchant.id).await;
    assert_eq!(audits.len(), 2);
    assert!(audits.iter().all(|(actor, role, _)| *actor == Some(admin.id) && role == "admin"));
}

#[tokio::test]
async fn a_suspended_merchant_cannot_log_in_or_use_old_tokens_until_activated() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    let cashier = app.merchant_client(&merchant).await;

    let suspended = admin.call(Method::POST, &format!("/admin/merchants/{}/suspend", merchant.id), None, &[]).await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    assert_eq!(suspended.json["status"], "suspended");
    cashier.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    app.login("merchant", &merchant.code, PASSWORD).await.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(admin.post(&format!("/admin/merchants/{}/suspend", merchant.code), json!({})).await.status, 200);

    let activated =
        admin.post(&format!("/admin/merchants/{}/activate", merchant.code), json!({"reason": "paid"})).await;
    assert_eq!(activated.json["status"], "active", "{}", activated.text);
    assert_eq!(app.login("merchant", &merchant.code, PASSWORD).await.status, 200);

    assert_eq!(audit_rows(&app, "MERCHANT_SUSPEND", &merchant.id).await.len(), 2);
    let activations = audit_rows(&app, "MERCHANT_ACTIVATE", &merchant.id).await;
    assert_eq!(activations.len(), 1);
    assert_eq!(activations[0].0, Some(admin.id));
}

#[tokio::test]
async fn a_merchant_password_reset_ends_its_sessions() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    let cashier = app.merchant_client(&merchant).await;
    let path = format!("/admin/merchants/{}/password", merchant.id);
    admin.post(&path, json!({"password": "1234567"})).await.assert_error(422, "PASSWORD_TOO_SHORT");
    admin.post(&path, json!({})).await.assert_error(422, "VALIDATION_FAILED");
    assert_eq!(admin.post(&path, json!({"password": "new-merchant-pass"})).await.status, 204);
    cashier.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    app.login("merchant", &merchant.code, PASSWORD).await.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(app.login("merchant", &merchant.code, "new-merchant-pass").await.status, 200);
    assert_eq!(audit_rows(&app, "PASSWORD_RESET", &merchant.id).await.len(), 1);
}
