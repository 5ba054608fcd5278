//! A login in flight must not outlive a suspension or a password reset that commits while its
//! password is being verified (issue 13 §1), for members, merchants and admins.
//!
//! The race is made deterministic with a pause gate: the app holds the login after argon2 has
//! verified the old password and before its session is created; the test commits the change
//! meanwhile, then releases the login.

use axum::http::{Method, Request};
use serde_json::json;
use tower::ServiceExt as _;
use uuid::Uuid;

use mps::state::PausePoint;

use crate::helpers::{PASSWORD, PauseGate, TestApp, TestResponse};

/// What commits while the login is held.
#[derive(Debug, Clone, Copy)]
enum Change {
    Suspend,
    Reset,
}

const NEW_PASSWORD: &str = "a-brand-new-password-9";

/// An account of `role` to race against: its id and login identifier.
async fn account(app: &TestApp, role: &str) -> (Uuid, String) {
    let admin = app.admin().await;
    match role {
        "member" => {
            let member = admin.create_member("Ana").await;
            (member.id.parse().unwrap(), member.phone)
        }
        "merchant" => {
            let merchant = admin.create_merchant("Shop").await;
            (merchant.id.parse().unwrap(), merchant.code)
        }
        _ => {
            let target = app.admin().await;
            let email: String = sqlx::query_scalar("SELECT email FROM admins WHERE id = $1")
                .bind(target.id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
            (target.id, email)
        }
    }
}

/// Commits `change` to the account through the API (for an admin's suspension, as an operator
/// does it: there is no endpoint), while the login is held.
async fn commit_change(app: &TestApp, role: &str, id: Uuid, identifier: &str, change: Change) {
    let admin = app.admin().await;
    let response = match (role, change) {
        ("admin", Change::Suspend) => {
            sqlx::query("UPDATE admins SET active = false WHERE id = $1").bind(id).execute(&app.pool).await.unwrap();
            return;
        }
        ("admin", Change::Reset) => {
            // An admin resets their own password from another session.
            let own = app.client("admin", identifier, PASSWORD).await;
            let body = json!({ "old_password": PASSWORD, "new_password": NEW_PASSWORD });
            own.post("/auth/password", body).await
        }
        (_, Change::Suspend) => admin.post(&format!("/admin/{role}s/{id}/suspend"), json!({})).await,
        (_, Change::Reset) => {
            admin.post(&format!("/admin/{role}s/{id}/password"), json!({ "password": NEW_PASSWORD })).await
        }
    };
    assert!(response.status.is_success(), "{change:?} of the {role}: {}", response.text);
}

/// Sends a login in the background; it runs until the gate holds it.
fn login_in_background(app: &TestApp, role: &str, identifier: &str) -> tokio::task::JoinHandle<TestResponse> {
    let body = json!({ "role": role, "identifier": identifier, "password": PASSWORD });
    let request = Request::builder()
        .method(Method::POST)
        .uri("/auth/login")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { TestResponse::read(router.oneshot(request).await.unwrap()).await })
}

async fn live_sessions(app: &TestApp, id: Uuid) -> Vec<Uuid> {
    sqlx::query_scalar("SELECT id FROM sessions WHERE subject_id = $1 AND revoked_at IS NULL ORDER BY id")
        .bind(id)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Holds a login of `role` after verification, commits `change`, releases the login, and checks
/// that it was refused and left no session behind.
async fn a_held_login_is_refused_after(role: &str, change: Change) {
    let (app, gate): (TestApp, std::sync::Arc<PauseGate>) = TestApp::with_pause_gate(PausePoint::LoginVerified).await;
    let (id, identifier) = account(&app, role).await;
    gate.arm();
    let login = login_in_background(&app, role, &identifier);
    gate.reached().await;
    commit_change(&app, role, id, &identifier, change).await;
    let sessions_after_change = live_sessions(&app, id).await;
    gate.release();

    let response = login.await.unwrap();
    assert_eq!(
        (response.status.as_u16(), response.error_code()),
        (401, "INVALID_CREDENTIALS"),
        "a {role} login verified before the {change:?} committed must not get a session: {}",
        response.text
    );
    assert_eq!(live_sessions(&app, id).await, sessions_after_change, "the refused login left no live session");
    let reason: Option<String> = sqlx::query_scalar(
        "SELECT context ->> 'reason' FROM audit_events WHERE action = 'LOGIN_FAILED' AND actor_id = $1 \
         ORDER BY occurred_at DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&app.pool)
    .await
    .unwrap();
    assert_eq!(reason.as_deref(), Some("changed_during_login"), "the refusal is audited with its reason");
}

#[tokio::test]
async fn a_member_login_in_flight_is_refused_when_the_member_is_suspended_meanwhile() {
    a_held_login_is_refused_after("member", Change::Suspend).await;
}

#[tokio::test]
async fn a_member_login_in_flight_with_the_old_password_is_refused_after_a_reset() {
    a_held_login_is_refused_after("member", Change::Reset).await;
}

#[tokio::test]
async fn a_merchant_login_in_flight_is_refused_when_the_merchant_is_suspended_meanwhile() {
    a_held_login_is_refused_after("merchant", Change::Suspend).await;
}

#[tokio::test]
async fn a_merchant_login_in_flight_with_the_old_password_is_refused_after_a_reset() {
    a_held_login_is_refused_after("merchant", Change::Reset).await;
}

#[tokio::test]
async fn an_admin_login_in_flight_is_refused_when_the_admin_is_deactivated_meanwhile() {
    a_held_login_is_refused_after("admin", Change::Suspend).await;
}

#[tokio::test]
async fn an_admin_login_in_flight_with_the_old_password_is_refused_after_a_password_change() {
    a_held_login_is_refused_after("admin", Change::Reset).await;
}

#[tokio::test]
async fn a_held_login_whose_account_did_not_change_still_succeeds() {
    let (app, gate) = TestApp::with_pause_gate(PausePoint::LoginVerified).await;
    let (id, identifier) = account(&app, "member").await;
    gate.arm();
    let login = login_in_background(&app, "member", &identifier);
    gate.reached().await;
    gate.release();
    let response = login.await.unwrap();
    assert_eq!(response.status, 200, "the gate alone changes nothing: {}", response.text);
    assert_eq!(live_sessions(&app, id).await.len(), 1);
}

#[tokio::test]
async fn a_deactivated_admin_with_a_session_left_is_refused_on_the_next_uncached_request() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    sqlx::query("UPDATE admins SET active = false WHERE id = $1").bind(admin.id).execute(&app.pool).await.unwrap();
    // No revocation ran (an operator's SQL): PostgreSQL's check of the account still refuses it.
    app.state.cache.delete_all_with_prefix().await.unwrap();
    let response = admin.get("/auth/me").await;
    response.assert_error(401, "UNAUTHENTICATED");
}
