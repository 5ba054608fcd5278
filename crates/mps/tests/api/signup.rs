//! Self sign-up by phone (issue 17): codes sent through a fake SMS gateway on loopback,
//! registration, login by code, password reset, limits, enumeration and the registration race.

use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit as _, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::fakes::{FakeSms, SMS_TOKEN};
use crate::helpers::{PASSWORD, TestApp, TestResponse, assert_books_balance, new_key, unique_digits};

const WEBHOOK_SECRET: &str = "signup-webhook-secret-0123456789abcdef";

/// Variables of an app whose codes go to `sms`, with generous request limits.
fn sms_vars(sms: &FakeSms) -> Vec<(&'static str, String)> {
    vec![
        ("SMS_PROVIDER", "http".into()),
        ("SMS_HTTP_URL", sms.url.clone()),
        ("SMS_HTTP_TOKEN", SMS_TOKEN.into()),
        ("RATE_LIMIT_REQUESTS", "100000".into()),
        ("LOGIN_IP_RATE_LIMIT", "100000".into()),
        ("OTP_IP_RATE_LIMIT", "100000".into()),
        ("PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
    ]
}

async fn app_with(sms: &FakeSms, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = sms_vars(sms);
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::with_vars(&borrowed).await
}

fn new_phone() -> String {
    format!("+861{}", unique_digits())
}

async fn ask_code(app: &TestApp, phone: &str, purpose: &str) -> TestResponse {
    app.call(axum::http::Method::POST, "/auth/otp", Some(json!({"phone": phone, "purpose": purpose})), &[]).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> TestResponse {
    app.call(axum::http::Method::POST, path, Some(body), &[]).await
}

async fn register(app: &TestApp, phone: &str, code: &str, password: Option<&str>) -> TestResponse {
    post(app, "/auth/register", json!({"phone": phone, "code": code, "name": "Lin", "password": password})).await
}

/// Asks for a register code and returns it as the gateway received it.
async fn register_code(app: &TestApp, sms: &FakeSms, phone: &str) -> String {
    let response = ask_code(app, phone, "register").await;
    assert_eq!(response.status, 202, "code sent: {}", response.text);
    sms.last_code(phone)
}

async fn members_with_phone(app: &TestApp, phone: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM members WHERE phone = $1").bind(phone).fetch_one(&app.pool).await.unwrap()
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn a_stranger_signs_up_with_a_phone_code_tops_up_and_pays_by_qr_with_no_admin_involved() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[]).await;
    let shop = app.admin().await.create_merchant("Tea House").await;
    let phone = new_phone();

    let code = register_code(&app, &sms, &phone).await;
    let message = sms.messages().pop().expect("the gateway got the message");
    assert_eq!(message["purpose"], "register");
    assert!(message["text"].as_str().unwrap().contains(&code), "the text carries the code: {message}");
    let joined = register(&app, &phone, &code, Some(PASSWORD)).await;
    assert_eq!(joined.status, 201, "sign-up: {}", joined.text);
    assert_eq!(joined.json["member"]["phone"], phone.as_str());
    assert_eq!(joined.json["card"]["card_type"], "standard");
    assert_eq!(joined.json["user"]["role"], "member");
    let token = joined.json["token"].as_str().unwrap().to_owned();
    let card_id = joined.json["card"]["id"].as_str().unwrap().to_owned();
    let auth = bearer(&token);
    let me = app.call(axum::http::Method::GET, "/auth/me", None, &[("authorization", &auth)]).await;
    assert_eq!(me.status, 200, "the sign-up token works: {}", me.text);

    let order = json!({"card_id": card_id, "amount": "50.00", "payment_method": "wechat"});
    let key = new_key();
    let headers = [("authorization", auth.as_str()), ("idempotency-key", key.as_str())];
    let ordered = app.call(axum::http::Method::POST, "/member/recharge", Some(order), &headers).await;
    assert_eq!(ordered.status, 201, "recharge order: {}", ordered.text);
    let tx_no = ordered.json["transaction"]["tx_no"].as_str().unwrap();
    let body = json!({"tx_no": tx_no, "status": "succeeded", "amount": "50.00", "channel_ref": "wx-1"}).to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let request = axum::http::Request::post("/webhooks/payments")
        .header("content-type", "application/json")
        .header("x-mps-signature", signature)
        .body(axum::body::Body::from(body))
        .unwrap();
    assert_eq!(app.send(request).await.status, 200, "the channel confirms the top-up");

    let qr = app
        .call(axum::http::Method::POST, "/member/qr", Some(json!({"card_id": card_id})), &[("authorization", &auth)])
        .await;
    assert_eq!(qr.status, 201, "QR: {}", qr.text);
    let till = app.merchant_client(&shop).await;
    let paid = till.charge(qr.json["qr_plain"].as_str().unwrap(), "12.30").await;
    assert_eq!(paid.status, 201, "the new member pays: {}", paid.text);
    assert_eq!(crate::helpers::card_state(&app.pool, &card_id).await.0, "37.70");
    let again = app.login("member", &phone, PASSWORD).await;
    assert_eq!(again.status, 200, "the chosen password logs in: {}", again.text);
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn codes_are_stored_only_as_keyed_hashes() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[]).await;
    let phone = new_phone();
    let code = register_code(&app, &sms, &phone).await;
    let stored: String = sqlx::query_scalar("SELECT code_hash FROM phone_codes WHERE phone = $1")
        .bind(&phone)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 64, "an HMAC-SHA256 in hex");
    assert!(!stored.contains(&code), "the code itself is not stored");
    let plain_sha = hex::encode(<Sha256 as sha2::Digest>::digest(code.as_bytes()));
    assert_ne!(stored, plain_sha, "not a bare hash a dictionary of a million codes would break");
}

#[tokio::test]
async fn wrong_expired_and_reused_codes_are_refused_with_their_own_codes() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[("OTP_RESEND_SECONDS", "0")]).await;
    let phone = new_phone();
    let code = register_code(&app, &sms, &phone).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    register(&app, &phone, wrong, None).await.assert_error(422, "INVALID_CODE");

    sqlx::query("UPDATE phone_codes SET expires_at = now() - interval '1 second' WHERE phone = $1")
        .bind(&phone)
        .execute(&app.pool)
        .await
        .unwrap();
    register(&app, &phone, &code, None).await.assert_error(422, "CODE_EXPIRED");

    let fresh = register_code(&app, &sms, &phone).await;
    assert_eq!(register(&app, &phone, &fresh, None).await.status, 201, "a fresh code works");
    let other = new_phone();
    let reused = post(&app, "/auth/register", json!({"phone": other, "code": fresh, "name": "Mallory"})).await;
    reused.assert_error(422, "INVALID_CODE");
    register(&app, &phone, &fresh, None).await.assert_error(422, "INVALID_CODE");
    assert_eq!(members_with_phone(&app, &phone).await, 1);
    assert_eq!(members_with_phone(&app, &other).await, 0);
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn a_code_of_one_purpose_does_not_serve_another() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[]).await;
    let phone = new_phone();
    assert_eq!(ask_code(&app, &phone, "login").await.status, 202);
    let login_code = sms.last_code(&phone);
    register(&app, &phone, &login_code, None).await.assert_error(422, "INVALID_CODE");
}

#[tokio::test]
async fn the_sixth_wrong_try_finds_the_code_locked_even_with_the_right_code() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[]).await;
    let phone = new_phone();
    let code = register_code(&app, &sms, &phone).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for attempt in 1..=5 {
        let response = register(&app, &phone, wrong, None).await;
        assert_eq!(response.error_code(), "INVALID_CODE", "wrong try {attempt}: {}", response.text);
    }
    register(&app, &phone, &code, None).await.assert_error(422, "CODE_LOCKED");
    assert_eq!(members_with_phone(&app, &phone).await, 0, "a locked code creates nothing");
}

#[tokio::test]
async fn a_second_code_within_a_minute_is_throttled_and_the_daily_limit_holds() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[]).await;
    let phone = new_phone();
    assert_eq!(ask_code(&app, &phone, "register").await.status, 202);
    let again = ask_code(&app, &phone, "login").await;
    again.assert_error(429, "RATE_LIMITED");
    let wait: u64 = again.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "waits at most the resend interval: {wait}");
    assert_eq!(sms.messages().len(), 1, "the throttled request sent nothing");

    let daily = app_with(&sms, &[("OTP_RESEND_SECONDS", "0"), ("OTP_DAILY_LIMIT", "2")]).await;
    let phone = new_phone();
    assert_eq!(ask_code(&daily, &phone, "register").await.status, 202);
    assert_eq!(ask_code(&daily, &phone, "register").await.status, 202);
    ask_code(&daily, &phone, "register").await.assert_error(429, "RATE_LIMITED");
}

#[tokio::test]
async fn codes_asked_for_from_one_address_are_limited() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[("OTP_IP_RATE_LIMIT", "2")]).await;
    assert_eq!(ask_code(&app, &new_phone(), "register").await.status, 202);
    assert_eq!(ask_code(&app, &new_phone(), "register").await.status, 202);
    let third = ask_code(&app, &new_phone(), "register").await;
    third.assert_error(429, "RATE_LIMITED");
    assert!(third.header("retry-after").is_some());
}

#[tokio::test]
async fn a_gateway_failure_is_a_503_and_leaves_no_code_behind() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[]).await;
    let phone = new_phone();
    sms.set_failing(true);
    ask_code(&app, &phone, "register").await.assert_error(503, "UNAVAILABLE");
    sms.set_failing(false);
    assert_eq!(ask_code(&app, &phone, "register").await.status, 202, "the failed send does not count as a send");
}

#[tokio::test]
async fn asking_for_a_code_answers_alike_and_in_similar_time_for_known_and_unknown_phones() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[("OTP_RESEND_SECONDS", "0"), ("OTP_DAILY_LIMIT", "1000")]).await;
    let known = app.admin().await.create_member("Known").await.phone;
    let unknown = format!("1{}", unique_digits());
    let mut timings: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut answers: [Vec<(u16, Value)>; 2] = [Vec::new(), Vec::new()];
    for round in 0..12 {
        for (i, phone) in [&known, &unknown].iter().enumerate() {
            let started = Instant::now();
            let response = ask_code(&app, phone, if round % 2 == 0 { "login" } else { "reset" }).await;
            if round > 1 {
                timings[i].push(started.elapsed());
            }
            answers[i].push((response.status.as_u16(), response.json.clone()));
        }
    }
    assert_eq!(answers[0], answers[1], "the same answers for a member's phone and a stranger's");
    let median = |d: &mut Vec<Duration>| {
        d.sort();
        d[d.len() / 2]
    };
    let (known_median, unknown_median) = (median(&mut timings[0]), median(&mut timings[1]));
    let gap = known_median.abs_diff(unknown_median);
    assert!(
        gap < Duration::from_millis(25) + known_median.max(unknown_median) / 2,
        "similar timing: known {known_median:?}, unknown {unknown_median:?}"
    );
    let to_unknown = sms.messages().iter().filter(|m| m["to"] == unknown.as_str()).count();
    assert_eq!(to_unknown, 12, "a stranger's phone gets its code too: the work is the same");
}

#[tokio::test]
async fn a_member_logs_in_with_a_phone_code_and_a_stranger_cannot() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[]).await;
    let member = app.admin().await.create_member("Ana").await;
    assert_eq!(ask_code(&app, &member.phone, "login").await.status, 202);
    let code = sms.last_code(&member.phone);
    let body = json!({"role": "member", "identifier": member.phone, "otp": code});
    let login = post(&app, "/auth/login", body.clone()).await;
    assert_eq!(login.status, 200, "login by code: {}", login.text);
    assert_eq!(login.json["user"]["id"], member.id.as_str());
    post(&app, "/auth/login", body).await.assert_error(422, "INVALID_CODE");

    let stranger = new_phone();
    assert_eq!(ask_code(&app, &stranger, "login").await.status, 202);
    let code = sms.last_code(&stranger);
    let refused = post(&app, "/auth/login", json!({"role": "member", "identifier": stranger, "otp": code})).await;
    refused.assert_error(401, "INVALID_CREDENTIALS");
    let both = json!({"role": "member", "identifier": member.phone, "otp": "123456", "password": PASSWORD});
    post(&app, "/auth/login", both).await.assert_error(422, "VALIDATION_FAILED");
    let merchant = json!({"role": "merchant", "identifier": "SHOP1", "otp": "123456"});
    post(&app, "/auth/login", merchant).await.assert_error(422, "VALIDATION_FAILED");
}

#[tokio::test]
async fn a_password_reset_by_code_sets_the_password_and_revokes_every_session() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[]).await;
    let member = app.admin().await.create_member("Ana").await;
    let first = app.member_client(&member).await;
    let second = app.member_client(&member).await;
    assert_eq!(ask_code(&app, &member.phone, "reset").await.status, 202);
    let code = sms.last_code(&member.phone);
    let body = json!({"phone": member.phone, "code": code, "new_password": "a-brand-new-password"});
    let reset = post(&app, "/auth/password/reset", body.clone()).await;
    assert_eq!(reset.status, 204, "reset: {}", reset.text);
    for client in [&first, &second] {
        client.get("/auth/me").await.assert_error(401, "UNAUTHENTICATED");
    }
    app.login("member", &member.phone, PASSWORD).await.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(app.login("member", &member.phone, "a-brand-new-password").await.status, 200);
    post(&app, "/auth/password/reset", body).await.assert_error(422, "INVALID_CODE");
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'PASSWORD_RESET' AND object_id = $1")
            .bind(&member.id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn a_phone_that_already_belongs_to_a_member_is_a_409_after_its_code_is_proven() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[]).await;
    let member = app.admin().await.create_member("Ana").await;
    let code = register_code(&app, &sms, &member.phone).await;
    register(&app, &member.phone, &code, None).await.assert_error(409, "DUPLICATE_PHONE");
    assert_eq!(members_with_phone(&app, &member.phone).await, 1);
}

#[tokio::test]
async fn closed_registration_refuses_sign_up_and_its_codes() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[("REGISTRATION_OPEN", "false")]).await;
    let phone = new_phone();
    ask_code(&app, &phone, "register").await.assert_error(403, "REGISTRATION_CLOSED");
    register(&app, &phone, "123456", None).await.assert_error(403, "REGISTRATION_CLOSED");
    assert_eq!(ask_code(&app, &phone, "login").await.status, 202, "members can still get login codes");
}

#[tokio::test]
async fn sending_a_code_and_signing_up_are_audited() {
    let sms = FakeSms::start().await;
    let app = app_with(&sms, &[]).await;
    let phone = new_phone();
    let code = register_code(&app, &sms, &phone).await;
    let joined = register(&app, &phone, &code, None).await;
    assert_eq!(joined.status, 201, "{}", joined.text);
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events ORDER BY id").fetch_all(&app.pool).await.unwrap();
    for action in ["OTP_SEND", "MEMBER_REGISTER", "LOGIN_SUCCESS"] {
        assert!(actions.iter().any(|a| a == action), "{action} is audited: {actions:?}");
    }
    let context: String = sqlx::query_scalar("SELECT string_agg(context::text, ' ') FROM audit_events")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!context.contains(&code), "no code in the audit log");
    assert_books_balance(&app.pool).await;
}

#[tokio::test]
async fn two_racing_registrations_of_one_phone_create_one_member() {
    let sms = FakeSms::start().await;
    let vars = sms_vars(&sms);
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (app, gate) = TestApp::with_vars_and_pause_gate(&borrowed, mps::state::PausePoint::RegistrationVerified).await;
    let phone = new_phone();
    let code = register_code(&app, &sms, &phone).await;

    gate.arm();
    let (first, second) = tokio::join!(async { register(&app, &phone, &code, None).await }, async {
        gate.reached().await;
        // The first holds the code's row; the second waits on it until the first commits.
        let second = async { register(&app, &phone, &code, None).await };
        let release = async {
            wait_for_lock_waiter(&app).await;
            gate.release();
        };
        tokio::join!(second, release).0
    });
    assert_eq!(first.status, 201, "the first registration wins: {}", first.text);
    second.assert_error(422, "INVALID_CODE");
    assert_eq!(members_with_phone(&app, &phone).await, 1, "one member");
    assert_books_balance(&app.pool).await;
}

/// Waits until some backend of the app's database waits on a row lock.
async fn wait_for_lock_waiter(app: &TestApp) {
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the second registration never waited on the first");
}

#[tokio::test]
async fn a_registration_racing_an_admin_creation_of_the_same_phone_is_a_409_and_keeps_its_code() {
    let sms = FakeSms::start().await;
    let vars = sms_vars(&sms);
    let borrowed: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (app, gate) = TestApp::with_vars_and_pause_gate(&borrowed, mps::state::PausePoint::RegistrationVerified).await;
    let admin = app.admin().await;
    let phone = new_phone();
    let code = register_code(&app, &sms, &phone).await;
    gate.arm();
    let (registered, created) = tokio::join!(async { register(&app, &phone, &code, None).await }, async {
        gate.reached().await;
        let created = admin.post("/admin/members", json!({"name": "Staff-made", "phone": phone})).await;
        gate.release();
        created
    });
    assert_eq!(created.status, 201, "the admin's creation: {}", created.text);
    registered.assert_error(409, "DUPLICATE_PHONE");
    assert_eq!(members_with_phone(&app, &phone).await, 1);
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM phone_codes WHERE phone = $1 AND ended_at IS NULL")
        .bind(&phone)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(live, 1, "the refused registration rolled back the use of its code");
    assert_books_balance(&app.pool).await;
}
