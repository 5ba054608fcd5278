//! WeChat mini-program sign-in (issue 17) against a fake code-to-session server on loopback.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fakes::{FakeSms, FakeWechat, SMS_TOKEN, WECHAT_APPID, WECHAT_SECRET, WechatAnswer};
use crate::helpers::{PASSWORD, TestApp, TestResponse, assert_books_balance, unique_digits};

async fn app_with(wechat: &FakeWechat, sms: &FakeSms, extra: &[(&str, &str)]) -> TestApp {
    let mut vars: Vec<(&str, &str)> = vec![
        ("WECHAT_API_BASE", &wechat.base),
        ("WECHAT_APPID", WECHAT_APPID),
        ("WECHAT_SECRET", WECHAT_SECRET),
        ("WECHAT_TIMEOUT_SECONDS", "1"),
        ("SMS_PROVIDER", "http"),
        ("SMS_HTTP_URL", &sms.url),
        ("SMS_HTTP_TOKEN", SMS_TOKEN),
        ("RATE_LIMIT_REQUESTS", "100000"),
        ("LOGIN_IP_RATE_LIMIT", "100000"),
    ];
    vars.extend_from_slice(extra);
    TestApp::with_vars(&vars).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> TestResponse {
    app.call(axum::http::Method::POST, path, Some(body), &[]).await
}

async fn sign_in(app: &TestApp, code: &str) -> TestResponse {
    post(app, "/auth/wechat", json!({"code": code, "name": "Mini Lin"})).await
}

async fn as_member(app: &TestApp, method: axum::http::Method, path: &str, token: &str) -> TestResponse {
    let auth = format!("Bearer {token}");
    app.call(method, path, None, &[("authorization", &auth)]).await
}

fn token_of(response: &TestResponse) -> String {
    response.json["token"].as_str().expect("a token").to_owned()
}

#[tokio::test]
async fn a_first_wechat_sign_in_creates_the_member_and_the_second_signs_the_same_member_in() {
    let (wechat, sms) = (FakeWechat::start().await, FakeSms::start().await);
    let app = app_with(&wechat, &sms, &[("WECHAT_AUTO_REGISTER", "true")]).await;
    wechat.user("code-1", "openid-lin");
    wechat.user("code-2", "openid-lin");

    let first = sign_in(&app, "code-1").await;
    assert_eq!(first.status, 201, "first sign-in creates the member: {}", first.text);
    assert_eq!(first.json["member"]["name"], "Mini Lin");
    assert_eq!(first.json["card"]["card_type"], "standard");
    let second = sign_in(&app, "code-2").await;
    assert_eq!(second.status, 200, "second sign-in: {}", second.text);
    assert_eq!(second.json["user"]["id"], first.json["member"]["id"], "the same member");
    let cards = as_member(&app, axum::http::Method::GET, "/member/cards", &token_of(&second)).await;
    assert_eq!(cards.json["items"].as_array().map(Vec::len), Some(1), "one standard card: {}", cards.text);
    let identities = as_member(&app, axum::http::Method::GET, "/member/identities", &token_of(&second)).await;
    assert_eq!(identities.status, 200, "{}", identities.text);
    assert_eq!(identities.json["items"][0]["provider"], "wechat");
    assert_eq!(identities.json["items"][0]["external_id"], "openid-lin");
    assert_eq!(wechat.calls(), 2);
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn the_session_key_wechat_returns_is_never_stored() {
    let (wechat, sms) = (FakeWechat::start().await, FakeSms::start().await);
    let app = app_with(&wechat, &sms, &[("WECHAT_AUTO_REGISTER", "true")]).await;
    wechat.user("code-1", "openid-secretive");
    assert_eq!(sign_in(&app, "code-1").await.status, 201);
    let dump: String = sqlx::query_scalar(
        "SELECT concat_ws(' ', (SELECT string_agg(context::text, ' ') FROM audit_events), \
                (SELECT string_agg(i::text, ' ') FROM member_identities i), \
                (SELECT string_agg(m::text, ' ') FROM members m))",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!dump.contains("SESSIONKEY"), "no session key anywhere in the database: {dump}");
}

#[tokio::test]
async fn an_unknown_identity_gets_a_link_token_that_sign_up_uses_to_link_it() {
    let (wechat, sms) = (FakeWechat::start().await, FakeSms::start().await);
    let app = app_with(&wechat, &sms, &[]).await;
    wechat.user("code-1", "openid-new");
    wechat.user("code-2", "openid-new");
    let unknown = sign_in(&app, "code-1").await;
    unknown.assert_error(404, "IDENTITY_NOT_LINKED");
    let link_token = unknown.json["error"]["details"]["link_token"].as_str().expect("a link token").to_owned();
    let members: i64 = sqlx::query_scalar("SELECT count(*) FROM members").fetch_one(&app.pool).await.unwrap();
    assert_eq!(members, 0, "nothing is created without WECHAT_AUTO_REGISTER");

    let phone = format!("1{}", unique_digits());
    let asked = post(&app, "/auth/otp", json!({"phone": phone, "purpose": "register"})).await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let body = json!({"phone": phone, "code": sms.last_code(&phone), "name": "Lin", "link_token": link_token});
    let joined = post(&app, "/auth/register", body).await;
    assert_eq!(joined.status, 201, "sign-up with the link token: {}", joined.text);

    let signed_in = sign_in(&app, "code-2").await;
    assert_eq!(signed_in.status, 200, "the linked identity signs in: {}", signed_in.text);
    assert_eq!(signed_in.json["user"]["id"], joined.json["member"]["id"]);
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn a_password_login_with_a_link_token_links_the_identity_once() {
    let (wechat, sms) = (FakeWechat::start().await, FakeSms::start().await);
    let app = app_with(&wechat, &sms, &[]).await;
    let member = app.admin().await.create_member("Ana").await;
    wechat.user("code-1", "openid-ana");
    wechat.user("code-2", "openid-ana");
    let link_token = sign_in(&app, "code-1").await.json["error"]["details"]["link_token"].as_str().unwrap().to_owned();
    let login = json!({"role": "member", "identifier": member.phone, "password": PASSWORD, "link_token": link_token});
    let linked = post(&app, "/auth/login", login.clone()).await;
    assert_eq!(linked.status, 200, "login links: {}", linked.text);
    post(&app, "/auth/login", login).await.assert_error(422, "INVALID_LINK_TOKEN");
    let signed_in = sign_in(&app, "code-2").await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.text);
    assert_eq!(signed_in.json["user"]["id"], member.id.as_str());
}

#[tokio::test]
async fn an_expired_link_token_is_refused() {
    let (wechat, sms) = (FakeWechat::start().await, FakeSms::start().await);
    let app = app_with(&wechat, &sms, &[]).await;
    let member = app.admin().await.create_member("Ana").await;
    wechat.user("code-1", "openid-late");
    let link_token = sign_in(&app, "code-1").await.json["error"]["details"]["link_token"].as_str().unwrap().to_owned();
    sqlx::query("UPDATE identity_link_tokens SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let login = json!({"role": "member", "identifier": member.phone, "password": PASSWORD, "link_token": link_token});
    post(&app, "/auth/login", login).await.assert_error(422, "INVALID_LINK_TOKEN");
}

#[tokio::test]
async fn one_identity_belongs_to_one_member_only() {
    let (wechat, sms) = (FakeWechat::start().await, FakeSms::start().await);
    let app = app_with(&wechat, &sms, &[]).await;
    let admin = app.admin().await;
    let (ana, bo) = (admin.create_member("Ana").await, admin.create_member("Bo").await);
    wechat.user("code-1", "openid-shared");
    wechat.user("code-2", "openid-shared");
    let token = |r: TestResponse| r.json["error"]["details"]["link_token"].as_str().unwrap().to_owned();
    let (first, second) = (token(sign_in(&app, "code-1").await), token(sign_in(&app, "code-2").await));
    let login = |phone: &str, token: &str| json!({"role": "member", "identifier": phone, "password": PASSWORD, "link_token": token});
    assert_eq!(post(&app, "/auth/login", login(&ana.phone, &first)).await.status, 200);
    post(&app, "/auth/login", login(&bo.phone, &second)).await.assert_error(409, "DUPLICATE_EXTERNAL_IDENTITY");
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT member_id::text FROM member_identities WHERE provider = 'wechat' AND external_id = 'openid-shared'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(owners, vec![ana.id.clone()], "the identity stays with its first member");
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn wechat_refusals_and_outages_map_to_clear_answers() {
    let (wechat, sms) = (FakeWechat::start().await, FakeSms::start().await);
    let app = app_with(&wechat, &sms, &[("WECHAT_AUTO_REGISTER", "true")]).await;
    sign_in(&app, "never-issued").await.assert_error(422, "WECHAT_CODE_INVALID");
    wechat.answer("limited", WechatAnswer::Json(json!({"errcode": 45011, "errmsg": "api minute-quota reach limit"})));
    let limited = sign_in(&app, "limited").await;
    limited.assert_error(429, "RATE_LIMITED");
    assert!(limited.header("retry-after").is_some());
    wechat.answer("risky", WechatAnswer::Json(json!({"errcode": 40226, "errmsg": "high risk user"})));
    sign_in(&app, "risky").await.assert_error(422, "WECHAT_LOGIN_REFUSED");
    wechat.answer("busy", WechatAnswer::Json(json!({"errcode": -1, "errmsg": "system error"})));
    sign_in(&app, "busy").await.assert_error(503, "UNAVAILABLE");
    wechat.answer("slow", WechatAnswer::Slow(Duration::from_secs(3)));
    let started = std::time::Instant::now();
    sign_in(&app, "slow").await.assert_error(503, "UNAVAILABLE");
    assert!(started.elapsed() < Duration::from_millis(2500), "gives up after WECHAT_TIMEOUT_SECONDS");
    post(&app, "/auth/wechat", json!({"code": ""})).await.assert_error(422, "VALIDATION_FAILED");
    let members: i64 = sqlx::query_scalar("SELECT count(*) FROM members").fetch_one(&app.pool).await.unwrap();
    assert_eq!(members, 0, "no refusal created anything");
}

#[tokio::test]
async fn wechat_sign_in_without_credentials_configured_is_unavailable() {
    let app = TestApp::new().await;
    let response = post(&app, "/auth/wechat", json!({"code": "any"})).await;
    response.assert_error(503, "UNAVAILABLE");
}

#[tokio::test]
async fn a_suspended_member_cannot_sign_in_with_wechat() {
    let (wechat, sms) = (FakeWechat::start().await, FakeSms::start().await);
    let app = app_with(&wechat, &sms, &[("WECHAT_AUTO_REGISTER", "true")]).await;
    wechat.user("code-1", "openid-x");
    wechat.user("code-2", "openid-x");
    let created = sign_in(&app, "code-1").await;
    let id = created.json["member"]["id"].as_str().unwrap();
    let suspended = app.admin().await.post(&format!("/admin/members/{id}/suspend"), json!({})).await;
    assert_eq!(suspended.status, 200, "{}", suspended.text);
    sign_in(&app, "code-2").await.assert_error(401, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked_but_a_spare_one_can() {
    let (wechat, sms) = (FakeWechat::start().await, FakeSms::start().await);
    let app = app_with(&wechat, &sms, &[("WECHAT_AUTO_REGISTER", "true")]).await;
    wechat.user("code-1", "openid-only");
    let only = sign_in(&app, "code-1").await;
    let token = token_of(&only);
    let list = as_member(&app, axum::http::Method::GET, "/member/identities", &token).await;
    let identity = list.json["items"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/member/identities/{identity}");
    as_member(&app, axum::http::Method::DELETE, &path, &token).await.assert_error(409, "LAST_SIGN_IN_METHOD");

    let ana = app.admin().await.create_member("Ana").await;
    let ana_client = app.member_client(&ana).await;
    ana_client.call(axum::http::Method::DELETE, &path, None, &[]).await.assert_error(404, "NOT_FOUND");

    wechat.user("code-2", "openid-ana");
    let link = sign_in(&app, "code-2").await;
    assert_eq!(link.status, 201, "auto-registers a new member for the new identity");
    let ana_identity: String =
        sqlx::query_scalar("SELECT id::text FROM member_identities WHERE external_id = 'openid-ana'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    sqlx::query("UPDATE member_identities SET member_id = $1::uuid WHERE id = $2::uuid")
        .bind(&ana.id)
        .bind(&ana_identity)
        .execute(&app.pool)
        .await
        .unwrap();
    let unlinked =
        ana_client.call(axum::http::Method::DELETE, &format!("/member/identities/{ana_identity}"), None, &[]).await;
    assert_eq!(unlinked.status, 204, "a member with a password may drop WeChat: {}", unlinked.text);
    assert_eq!(ana_client.get("/member/identities").await.json["items"], json!([]));
    let audited: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'IDENTITY_UNLINK'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(audited, 1);
}

#[tokio::test]
async fn two_racing_first_sign_ins_of_one_user_end_with_one_member() {
    let wechat = FakeWechat::start().await;
    let vars = [
        ("WECHAT_API_BASE", wechat.base.as_str()),
        ("WECHAT_APPID", WECHAT_APPID),
        ("WECHAT_SECRET", WECHAT_SECRET),
        ("WECHAT_AUTO_REGISTER", "true"),
    ];
    let (app, gate) = TestApp::with_vars_and_pause_gate(&vars, mps::state::PausePoint::WechatIdentityUnknown).await;
    wechat.user("code-1", "openid-twice");
    wechat.user("code-2", "openid-twice");
    gate.arm();
    let (held, other) = tokio::join!(async { sign_in(&app, "code-1").await }, async {
        gate.reached().await;
        // The held sign-in has looked the identity up and found nothing; this one creates it.
        let other = sign_in(&app, "code-2").await;
        gate.release();
        other
    });
    assert_eq!(other.status, 201, "the unheld sign-in creates the member: {}", other.text);
    assert_eq!(held.status, 200, "the held one finds it taken and signs in instead: {}", held.text);
    assert_eq!(held.json["user"]["id"], other.json["member"]["id"]);
    let members: i64 = sqlx::query_scalar("SELECT count(*) FROM members").fetch_one(&app.pool).await.unwrap();
    assert_eq!(members, 1, "one member, and no half-made second one");
    assert_books_balance(&app.pool).await;
}
