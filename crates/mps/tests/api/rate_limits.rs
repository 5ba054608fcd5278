//! Rate limits: logins per client IP, failed logins per account (shared by every instance on
//! one Redis, and not bypassed by sending attempts at once), the general per-caller limit, and
//! which `X-Forwarded-For` is believed.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, TestResponse};

/// A login from behind a proxy that says the client is `forwarded_for`.
async fn login_via(app: &TestApp, forwarded_for: &str, identifier: &str) -> TestResponse {
    let body = json!({"role": "merchant", "identifier": identifier, "password": "not-the-password"});
    app.call(Method::POST, "/auth/login", Some(body), &[("x-forwarded-for", forwarded_for)]).await
}

#[track_caller]
fn assert_rate_limited(response: &TestResponse, window_secs: u64) {
    response.assert_error(429, "RATE_LIMITED");
    let retry_after: u64 = response
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 429 says when to retry: {:?}", response.headers));
    assert!((1..=window_secs).contains(&retry_after), "Retry-After {retry_after} lies within the window");
}

#[tokio::test]
async fn logins_per_client_ip_are_limited_with_retry_after() {
    let app = TestApp::with_vars(&[("LOGIN_IP_RATE_LIMIT", "3")]).await;
    for i in 0..3 {
        app.login("merchant", &format!("SHOP{i}"), "whatever-1").await.assert_error(401, "INVALID_CREDENTIALS");
    }
    assert_rate_limited(&app.login("merchant", "SHOP9", "whatever-1").await, 60);
}

#[tokio::test]
async fn after_the_failure_limit_even_the_right_password_gets_429() {
    let app = TestApp::with_vars(&[("LOGIN_RATE_LIMIT", "3")]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let bystander = admin.create_member("Bo").await;
    for _ in 0..3 {
        app.login("member", &member.member_no, "wrong-password").await.assert_error(401, "INVALID_CREDENTIALS");
    }
    assert_rate_limited(&app.login("member", &member.member_no, PASSWORD).await, 60);
    let other_case = app.login("member", &member.member_no.to_lowercase(), PASSWORD).await;
    assert_rate_limited(&other_case, 60);
    assert_eq!(app.login("member", &bystander.phone, PASSWORD).await.status, 200, "other identifiers are unaffected");

    for _ in 0..3 {
        app.login("member", "M77777777", "wrong-password").await.assert_error(401, "INVALID_CREDENTIALS");
    }
    assert_rate_limited(&app.login("member", "M77777777", "wrong-password").await, 60);
}

#[tokio::test]
async fn a_members_phone_and_member_number_share_one_failure_budget() {
    let app = TestApp::with_vars(&[("LOGIN_RATE_LIMIT", "4")]).await;
    let member = app.admin().await.create_member("Ana").await;
    for identifier in [&member.phone, &member.member_no, &member.phone, &member.member_no] {
        app.login("member", identifier, "wrong-password").await.assert_error(401, "INVALID_CREDENTIALS");
    }

    for identifier in [&member.phone, &member.member_no] {
        let response = app.login("member", identifier, "wrong-password").await;
        assert_rate_limited(&response, 60);
    }
    assert_rate_limited(&app.login("member", &member.phone, PASSWORD).await, 60);
}

#[tokio::test]
async fn wrong_current_passwords_are_limited_like_failed_logins() {
    let app = TestApp::with_vars(&[("LOGIN_RATE_LIMIT", "3")]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let ana = app.member_client(&member).await;
    let change = |old: &str| json!({"old_password": old, "new_password": "new-password-1"});

    let right = ana.post("/auth/password", change(PASSWORD)).await;
    assert_eq!(right.status, 204, "a right password is not counted: {}", right.text);
    for _ in 0..3 {
        ana.post("/auth/password", change("wrong-password")).await.assert_error(401, "INVALID_CREDENTIALS");
    }
    assert_rate_limited(&ana.post("/auth/password", change("new-password-1")).await, 60);
    let short = ana.post("/auth/password", json!({"old_password": "x", "new_password": "short"})).await;
    short.assert_error(422, "PASSWORD_TOO_SHORT");
    assert_eq!(app.login("member", &member.phone, "new-password-1").await.status, 200, "logins are separate");
}

#[tokio::test]
async fn successful_logins_do_not_count_as_failures() {
    let app = TestApp::with_vars(&[("LOGIN_RATE_LIMIT", "2")]).await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    for attempt in 0..5 {
        let response = app.login("member", &member.phone, PASSWORD).await;
        assert_eq!(response.status, 200, "login {attempt}: {}", response.text);
    }
}

#[tokio::test]
async fn the_failure_limit_is_shared_by_every_instance_on_one_redis() {
    let limit = [("LOGIN_RATE_LIMIT", "3")];
    let app = TestApp::with_vars(&limit).await;
    let other_instance = app.sibling(&limit).await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    for instance in [&app, &app, &other_instance] {
        instance.login("merchant", &merchant.code, "wrong-password").await.assert_error(401, "INVALID_CREDENTIALS");
    }
    assert_rate_limited(&other_instance.login("merchant", &merchant.code, PASSWORD).await, 60);
    assert_rate_limited(&app.login("merchant", &merchant.code, PASSWORD).await, 60);
}

/// Regression: the limit used to be checked before the password and counted after it, so
/// attempts sent together all passed the check and the limit let through as many as were sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_sent_at_once_cannot_exceed_the_failure_limit() {
    let app = TestApp::with_vars(&[("LOGIN_RATE_LIMIT", "3"), ("LOGIN_IP_RATE_LIMIT", "1000")]).await;
    let admin = app.admin().await;
    let merchant = admin.create_merchant("Shop").await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let router = app.router.clone();
        let body = json!({"role": "merchant", "identifier": merchant.code, "password": "guess-guess"}).to_string();
        attempts.spawn(async move {
            use tower::ServiceExt as _;
            let request = axum::http::Request::post("/auth/login")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .expect("request");
            router.oneshot(request).await.expect("infallible").status()
        });
    }
    let statuses = attempts.join_all().await;
    let guessed = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((guessed, limited), (3, 9), "only 3 guesses may be checked: {statuses:?}");
}

#[tokio::test]
async fn the_general_limit_answers_429_with_retry_after_per_caller() {
    let app = TestApp::with_vars(&[("RATE_LIMIT_REQUESTS", "5"), ("RATE_LIMIT_WINDOW", "60")]).await;
    let admin = app.admin().await;
    for _ in 0..5 {
        assert_eq!(admin.get("/auth/me").await.status, 200);
    }
    assert_rate_limited(&admin.get("/auth/me").await, 60);
    app.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    assert_eq!(app.get("/health").await.status, 200, "health checks are never limited");
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::with_vars(&[("LOGIN_IP_RATE_LIMIT", "2")]).await;
    login_via(&app, "203.0.113.1", "SHOP1").await.assert_error(401, "INVALID_CREDENTIALS");
    login_via(&app, "203.0.113.2", "SHOP2").await.assert_error(401, "INVALID_CREDENTIALS");
    assert_rate_limited(&login_via(&app, "203.0.113.3", "SHOP3").await, 60);
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_names_the_client() {
    let app = TestApp::with_vars(&[("LOGIN_IP_RATE_LIMIT", "2"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    login_via(&app, "203.0.113.1", "SHOP1").await.assert_error(401, "INVALID_CREDENTIALS");
    login_via(&app, "203.0.113.1", "SHOP2").await.assert_error(401, "INVALID_CREDENTIALS");
    assert_rate_limited(&login_via(&app, "203.0.113.1", "SHOP3").await, 60);
    login_via(&app, "203.0.113.2", "SHOP4").await.assert_error(401, "INVALID_CREDENTIALS");
    // A client cannot escape by prepending addresses: the nearest untrusted one is believed.
    assert_rate_limited(&login_via(&app, "198.51.100.9, 203.0.113.1", "SHOP5").await, 60);
}
