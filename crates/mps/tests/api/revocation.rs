//! Sessions end everywhere at once: by logout, by password change, by suspension and by an admin
//! password reset — on every instance, and even when Redis was down when it happened.

use axum::http::Method;
use serde_json::json;

use crate::helpers::{Client, PASSWORD, TestApp};

#[tokio::test]
async fn logout_ends_only_the_session_it_is_sent_with() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let phone = app.member_client(&member).await;
    let tablet = app.member_client(&member).await;

    let logout = phone.call(Method::POST, "/auth/logout", None, &[]).await;
    assert_eq!(logout.status, 204, "logout needs no body: {}", logout.text);
    phone.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(tablet.get("/auth/me").await.status, 200, "the member's other session lives on");
    assert_eq!(tablet.post("/auth/logout", json!({"reason": "done"})).await.status, 204, "or takes a reason");
    tablet.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_keeps_the_callers() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let caller = app.member_client(&member).await;
    let others = [app.member_client(&member).await, app.member_client(&member).await];

    let wrong_old =
        caller.post("/auth/password", json!({"old_password": "nope-nope", "new_password": "new-password-1"}));
    wrong_old.await.assert_error(401, "INVALID_CREDENTIALS");
    let short = caller.post("/auth/password", json!({"old_password": PASSWORD, "new_password": "short"})).await;
    short.assert_error(422, "PASSWORD_TOO_SHORT");
    assert_eq!(others[0].get("/auth/me").await.status, 200, "refused changes revoke nothing");

    let changed =
        caller.post("/auth/password", json!({"old_password": PASSWORD, "new_password": "new-password-1"})).await;
    assert_eq!(changed.status, 204, "{}", changed.text);
    assert_eq!(caller.get("/auth/me").await.status, 200, "the caller's session lives on");
    for other in &others {
        other.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    }
    app.login("member", &member.phone, PASSWORD).await.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(app.login("member", &member.phone, "new-password-1").await.status, 200);
}

/// The same caller on another instance.
fn on<'a>(app: &'a TestApp, client: &Client<'_>) -> Client<'a> {
    Client { app, token: client.token.clone(), id: client.id }
}

#[tokio::test]
async fn a_suspension_on_one_instance_ends_the_sessions_on_every_instance_at_once() {
    let app = TestApp::new().await;
    let other_instance = app.sibling(&[]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let merchant = admin.create_merchant("Shop").await;
    let member_there = on(&other_instance, &app.member_client(&member).await);
    let merchant_there = on(&other_instance, &app.merchant_client(&merchant).await);
    assert_eq!(member_there.get("/auth/me").await.status, 200, "the other instance has seen the session live");
    assert_eq!(merchant_there.get("/auth/me").await.status, 200);

    assert_eq!(admin.post(&format!("/admin/members/{}/suspend", member.id), json!({})).await.status, 200);
    assert_eq!(admin.post(&format!("/admin/merchants/{}/suspend", merchant.id), json!({})).await.status, 200);
    member_there.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    merchant_there.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_admin_password_reset_on_one_instance_ends_the_sessions_on_another() {
    let app = TestApp::new().await;
    let other_instance = app.sibling(&[]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let there = on(&other_instance, &app.member_client(&member).await);
    assert_eq!(there.get("/auth/me").await.status, 200);
    let path = format!("/admin/members/{}/password", member.id);
    assert_eq!(admin.post(&path, json!({"password": "reset-by-admin"})).await.status, 204);
    there.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_session_revoked_while_redis_was_down_stays_revoked_once_redis_hears_of_it() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let session = app.member_client(&member).await;
    assert_eq!(session.get("/auth/me").await.status, 200, "Redis now caches the session as live");

    // A second instance that cannot reach Redis suspends the member.
    let cut_off = app.sibling(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let suspended = on(&cut_off, &admin).post(&format!("/admin/members/{}/suspend", member.id), json!({})).await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    on(&cut_off, &session).get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM session_cache_invalidations").fetch_one(&app.pool).await.unwrap();
    assert_eq!(queued, 1, "the tombstone Redis could not take waits in PostgreSQL");
    // Until the queue is flushed the first instance still trusts its cached marker; every
    // instance flushes it each second (`spawn_invalidation_flusher`), here by hand.
    assert_eq!(session.get("/auth/me").await.status, 200, "the stale marker is what the flush must fix");

    let flushed = mps::recovery::flush_pending_invalidations(&app.state).await.expect("flush");
    assert_eq!(flushed, 1);
    session.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    session.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM session_cache_invalidations").fetch_one(&app.pool).await.unwrap();
    assert_eq!(left, 0, "flushed tombstones leave the queue");
}

/// The value of `mps_active_sessions{role="…"}` in a scrape.
async fn active_sessions(app: &TestApp, role: &str) -> i64 {
    let scrape = app.get("/metrics").await;
    let prefix = format!("mps_active_sessions{{role=\"{role}\"}} ");
    scrape
        .text
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in the scrape:\n{}", scrape.text))
}

#[tokio::test]
async fn active_sessions_per_role_follow_logins_logouts_and_suspensions() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let merchant = admin.create_merchant("Shop").await;
    let first = app.member_client(&member).await;
    let _second = app.member_client(&member).await;
    let _cashier = app.merchant_client(&merchant).await;
    assert_eq!(
        (
            active_sessions(&app, "member").await,
            active_sessions(&app, "merchant").await,
            active_sessions(&app, "admin").await
        ),
        (2, 1, 1)
    );

    assert_eq!(first.post("/auth/logout", json!({})).await.status, 204);
    assert_eq!(active_sessions(&app, "member").await, 1, "logout ends one session");
    assert_eq!(admin.post(&format!("/admin/merchants/{}/suspend", merchant.code), json!({})).await.status, 200);
    assert_eq!(active_sessions(&app, "merchant").await, 0, "suspension ends the merchant's sessions");
}

/// `GET /member/cards` checks the session in the same Redis read as the cached list: a cached
/// list must never outlive the session that asked for it.
#[tokio::test]
async fn the_cached_card_list_is_served_to_live_sessions_only() {
    let app = TestApp::new().await;
    let other_instance = app.sibling(&[]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let merchant = admin.create_merchant("Shop").await;
    let phone = app.member_client(&member).await;
    let tablet = on(&other_instance, &app.member_client(&member).await);
    for client in [&phone, &tablet] {
        for pass in ["fills the cache", "is served from it"] {
            let cards = client.get("/member/cards").await;
            assert_eq!(cards.status, 200, "{pass}: {}", cards.text);
            assert_eq!(cards.json["items"].as_array().map(Vec::len), Some(1), "{pass}");
        }
    }

    assert_eq!(phone.post("/auth/logout", json!({})).await.status, 204);
    phone.get("/member/cards").await.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(tablet.get("/member/cards").await.status, 200, "the other session lives on");

    assert_eq!(admin.post(&format!("/admin/members/{}/suspend", member.id), json!({})).await.status, 200);
    tablet.get("/member/cards").await.assert_error(401, "UNAUTHENTICATED");

    let shop = app.merchant_client(&merchant).await;
    shop.get("/member/cards").await.assert_error(403, "FORBIDDEN");
    let forged = Client { app: &app, token: "not-a-token".into(), id: shop.id };
    forged.get("/member/cards").await.assert_error(401, "UNAUTHENTICATED");
}
