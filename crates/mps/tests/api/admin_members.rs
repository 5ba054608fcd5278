//! Admin management of members: search, lookup, edit, suspend, activate, password reset, and
//! the audit event each change leaves.

use axum::http::Method;
use serde_json::{Value, json};

use crate::helpers::{Client, PASSWORD, TestApp, TestResponse};

async fn patch(client: &Client<'_>, path: &str, body: Value) -> TestResponse {
    client.call(Method::PATCH, path, Some(body), &[]).await
}

/// The audit events of one action on one object: (actor id, actor role, request id) each.
pub async fn audit_rows(app: &TestApp, action: &str, object_id: &str) -> Vec<(Option<uuid::Uuid>, String, String)> {
    sqlx::query_as(
        "SELECT actor_id, actor_role::text, coalesce(request_id, '') FROM audit_events \
         WHERE action = $1 AND object_id = $2 ORDER BY id",
    )
    .bind(action)
    .bind(object_id)
    .fetch_all(&app.pool)
    .await
    .expect("audit query")
}

#[tokio::test]
async fn members_are_searched_filtered_and_paginated_with_a_total_count() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    for i in 0..5 {
        admin.create_member(&format!("Lin {i}")).await;
    }
    let other = admin.create_member("Zhao").await;
    assert_eq!(admin.post(&format!("/admin/members/{}/suspend", other.id), json!({})).await.status, 200);

    let page = admin.get("/admin/members?q=lin&limit=2&offset=2&count=exact").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.json["items"].as_array().unwrap().len(), 2);
    let pagination = &page.json["pagination"];
    assert_eq!(
        (&pagination["limit"], &pagination["offset"], &pagination["total_count"], &pagination["has_next"]),
        (&json!(2), &json!(2), &json!(5), &json!(true)),
        "{pagination}"
    );
    assert!(pagination["next_cursor"].is_string(), "a page with more after it gives a cursor: {pagination}");
    let last = admin.get("/admin/members?q=LIN&limit=2&offset=4").await;
    assert_eq!(last.json["pagination"]["has_next"], false, "the last page says so");

    let by_phone = admin.get(&format!("/admin/members?count=exact&q={}", &other.phone[3..])).await;
    assert_eq!(by_phone.json["pagination"]["total_count"], 1, "q matches part of a phone: {}", by_phone.text);
    let by_no = admin.get(&format!("/admin/members?q={}", other.member_no.to_lowercase())).await;
    assert_eq!(by_no.json["items"][0]["id"], other.id.as_str(), "q matches the member_no regardless of case");

    let suspended = admin.get("/admin/members?status=suspended&count=exact").await;
    assert_eq!(suspended.json["pagination"]["total_count"], 1);
    assert_eq!(suspended.json["items"][0]["status"], "suspended");
    let active = admin.get("/admin/members?status=active&limit=500&count=exact").await;
    assert_eq!(active.json["pagination"]["total_count"], 5);
    assert_eq!(active.json["pagination"]["limit"], 100, "limits above 100 are clamped");

    let wildcard = admin.get("/admin/members?q=%25&count=exact").await;
    assert_eq!(wildcard.json["pagination"]["total_count"], 0, "`%` in q is literal, not a wildcard");
    admin.get("/admin/members?status=sleeping").await.assert_error(422, "VALIDATION_FAILED");
    admin.get("/admin/members?offset=-1").await.assert_error(422, "VALIDATION_FAILED");
    assert!(!active.text.contains("password") && !active.text.contains("$argon2"), "no hashes in lists");
}

#[tokio::test]
async fn a_member_is_found_by_id_or_by_member_no_and_unknown_ones_are_404() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    for key in [member.id.clone(), member.member_no.clone(), member.member_no.to_lowercase()] {
        let response = admin.get(&format!("/admin/members/{key}")).await;
        assert_eq!(response.status, 200, "{key}: {}", response.text);
        assert_eq!(response.json["id"], member.id.as_str());
        assert_eq!(response.json["member_no"], member.member_no.as_str());
        assert_eq!(response.json["phone"], member.phone.as_str());
        assert!(!response.text.contains("password_hash"), "no hash: {}", response.text);
    }
    let unknown = uuid::Uuid::new_v4();
    admin.get(&format!("/admin/members/{unknown}")).await.assert_error(404, "MEMBER_NOT_FOUND");
    admin.get("/admin/members/M99999999").await.assert_error(404, "MEMBER_NOT_FOUND");
    admin.post(&format!("/admin/members/{unknown}/suspend"), json!({})).await.assert_error(404, "MEMBER_NOT_FOUND");
    let reset = admin.post(&format!("/admin/members/{unknown}/password"), json!({"password": "long-enough-1"})).await;
    reset.assert_error(404, "MEMBER_NOT_FOUND");
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent_and_is_audited() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let path = format!("/admin/members/{}", member.member_no);

    let renamed = patch(&admin, &path, json!({"name": "  Ana Li  ", "email": "ana@example.com"})).await;
    assert_eq!(renamed.status, 200, "{}", renamed.text);
    assert_eq!(renamed.json["name"], "Ana Li", "names are trimmed");
    assert_eq!(renamed.json["email"], "ana@example.com");
    assert_eq!(renamed.json["phone"], member.phone.as_str(), "fields not sent keep their value");

    let cleared = patch(&admin, &path, json!({"email": null})).await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    assert_eq!(cleared.json["email"], Value::Null, "null clears an optional field");
    assert_eq!(cleared.json["name"], "Ana Li");

    patch(&admin, &path, json!({})).await.assert_error(422, "VALIDATION_FAILED");
    patch(&admin, &path, json!({"name": null})).await.assert_error(422, "VALIDATION_FAILED");
    patch(&admin, &path, json!({"phone": "not a phone"})).await.assert_error(422, "VALIDATION_FAILED");
    patch(&admin, &path, json!({"status": "suspended"})).await.assert_error(422, "VALIDATION_FAILED");

    let audits = audit_rows(&app, "UPDATE_MEMBER", &member.id).await;
    assert_eq!(audits.len(), 2, "one audit event per successful edit, none for refused ones");
    assert!(
        audits
            .iter()
            .all(|(actor, role, request_id)| *actor == Some(admin.id) && role == "admin" && !request_id.is_empty())
    );
}

#[tokio::test]
async fn patch_with_a_taken_phone_or_email_is_409() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let first = admin.create_member("Ana").await;
    let second = admin.create_member("Bo").await;
    assert_eq!(
        patch(&admin, &format!("/admin/members/{}", first.id), json!({"email": "a@example.com"})).await.status,
        200
    );
    let path = format!("/admin/members/{}", second.id);
    patch(&admin, &path, json!({"phone": first.phone})).await.assert_error(409, "DUPLICATE_PHONE");
    patch(&admin, &path, json!({"email": "A@EXAMPLE.com"})).await.assert_error(409, "DUPLICATE_EMAIL");
    assert!(audit_rows(&app, "UPDATE_MEMBER", &second.id).await.is_empty(), "refused edits are not audited");
}

#[tokio::test]
async fn a_suspended_member_cannot_log_in_loses_its_sessions_and_activation_restores_login() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let session = app.member_client(&member).await;

    let suspended = admin.post(&format!("/admin/members/{}/suspend", member.id), json!({"reason": "chargeback"})).await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    assert_eq!(suspended.json["status"], "suspended");
    session.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    app.login("member", &member.phone, PASSWORD).await.assert_error(401, "INVALID_CREDENTIALS");

    let again = admin.call(Method::POST, &format!("/admin/members/{}/suspend", member.member_no), None, &[]).await;
    assert_eq!(again.status, 200, "suspending twice succeeds, without a body too: {}", again.text);

    let activated = admin.post(&format!("/admin/members/{}/activate", member.id), json!({})).await;
    assert_eq!(activated.status, 200, "{}", activated.text);
    assert_eq!(activated.json["status"], "active");
    assert_eq!(app.login("member", &member.phone, PASSWORD).await.status, 200, "login works again");
    session.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");

    let suspends = audit_rows(&app, "MEMBER_SUSPEND", &member.id).await;
    assert_eq!(suspends.len(), 2, "each suspension is audited");
    assert_eq!(audit_rows(&app, "MEMBER_ACTIVATE", &member.id).await.len(), 1);
    let reason: Value = sqlx::query_scalar(
        "SELECT context FROM audit_events WHERE action = 'MEMBER_SUSPEND' AND object_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(&member.id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(reason["reason"], "chargeback");
    assert_eq!(reason["sessions_revoked"], 1);
}

#[tokio::test]
async fn a_deleted_member_cannot_be_suspended_or_activated() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Gone").await;
    sqlx::query("UPDATE members SET status = 'deleted' WHERE id = $1::uuid")
        .bind(&member.id)
        .execute(&app.pool)
        .await
        .unwrap();
    for action in ["suspend", "activate"] {
        let response = admin.post(&format!("/admin/members/{}/{action}", member.id), json!({})).await;
        response.assert_error(409, "INVALID_STATUS_TRANSITION");
    }
}

#[tokio::test]
async fn action_bodies_are_optional_but_checked_when_present() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let path = format!("/admin/members/{}/activate", member.id);
    let long = json!({"reason": "x".repeat(501)});
    admin.post(&path, long).await.assert_error(422, "VALIDATION_FAILED");
    let malformed = admin.call(Method::POST, &path, None, &[("content-type", "application/json")]).await;
    assert_eq!(malformed.status, 200, "an empty body with a JSON content type is no body: {}", malformed.text);
    let request = axum::http::Request::post(&path)
        .header("authorization", format!("Bearer {}", admin.token))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"reason\": "))
        .unwrap();
    app.send(request).await.assert_error(400, "BAD_REQUEST");
}

#[tokio::test]
async fn an_admin_password_reset_replaces_the_password_and_ends_every_session() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let first = app.member_client(&member).await;
    let second = app.member_client(&member).await;
    let path = format!("/admin/members/{}/password", member.member_no);

    admin.post(&path, json!({"password": "short"})).await.assert_error(422, "PASSWORD_TOO_SHORT");
    assert_eq!(first.get("/auth/me").await.status, 200, "a refused reset changes nothing");

    let reset = admin.post(&path, json!({"password": "a-brand-new-password"})).await;
    assert_eq!(reset.status, 204, "{}", reset.text);
    for session in [&first, &second] {
        session.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    }
    app.login("member", &member.phone, PASSWORD).await.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(app.login("member", &member.phone, "a-brand-new-password").await.status, 200);
    let audits = audit_rows(&app, "PASSWORD_RESET", &member.id).await;
    assert_eq!(audits, vec![(Some(admin.id), "admin".to_owned(), audits[0].2.clone())]);
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM members WHERE id = $1::uuid")
        .bind(&member.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let context: Value = sqlx::query_scalar("SELECT context FROM audit_events WHERE action = 'PASSWORD_RESET'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!context.to_string().contains(&hash), "the audit log never holds the hash");
}
