//! Token hardening: only HS256 tokens signed with our secret, from our issuer for our audience,
//! unexpired, with every claim present and a live session, are accepted.

use axum::http::Method;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse};

fn sign(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret.as_bytes()))
        .expect("test token signs")
}

/// The claims of a token, read without checking anything.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON claims")
}

async fn me_with(app: &TestApp, token: &str) -> TestResponse {
    app.call(Method::GET, "/auth/me", None, &[("authorization", &format!("Bearer {token}"))]).await
}

/// A member's real token, its claims, and the server's secret.
async fn member_token(app: &TestApp) -> (String, Value, String) {
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    let client = app.member_client(&member).await;
    let claims = claims_of(&client.token);
    (client.token.clone(), claims, app.state.config.jwt_secret.expose().to_owned())
}

/// The claims with `key` set to `value`.
fn replaced(claims: &Value, key: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims[key] = value;
    claims
}

/// The claims without `key`.
fn without(claims: &Value, key: &str) -> Value {
    let mut claims = claims.clone();
    claims.as_object_mut().expect("claims are an object").remove(key);
    claims
}

#[tokio::test]
async fn only_hs256_is_accepted() {
    assert_eq!(mps::auth::token::ALGORITHMS, &[Algorithm::HS256]);
}

#[tokio::test]
async fn a_token_re_signed_with_the_right_secret_and_unchanged_claims_is_accepted() {
    let app = TestApp::new().await;
    let (_, claims, secret) = member_token(&app).await;
    let response = me_with(&app, &sign(&claims, &secret, Algorithm::HS256)).await;
    assert_eq!(response.status, 200, "the forging helper itself makes valid tokens: {}", response.text);
}

#[tokio::test]
async fn a_tampered_payload_is_401() {
    let app = TestApp::new().await;
    let (token, claims, _) = member_token(&app).await;
    let parts: Vec<&str> = token.split('.').collect();
    let forged = replaced(&claims, "role", json!("admin"));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    me_with(&app, &tampered).await.assert_error(401, "UNAUTHENTICATED");
    let unsigned = format!("{}.{}.", parts[0], parts[1]);
    me_with(&app, &unsigned).await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn alg_none_and_other_algorithms_are_401() {
    let app = TestApp::new().await;
    let (_, claims, secret) = member_token(&app).await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    me_with(&app, &format!("{header}.{payload}.")).await.assert_error(401, "UNAUTHENTICATED");
    for algorithm in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign(&claims, &secret, algorithm);
        me_with(&app, &token).await.assert_error(401, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_401() {
    let app = TestApp::new().await;
    let (_, claims, _) = member_token(&app).await;
    let token = sign(&claims, "another-secret-that-is-also-long-enough-987654", Algorithm::HS256);
    me_with(&app, &token).await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn expired_tokens_and_wrong_issuer_or_audience_are_401() {
    let app = TestApp::new().await;
    let (_, claims, secret) = member_token(&app).await;
    let now = chrono::Utc::now().timestamp();
    let cases = [
        ("expired an hour ago", replaced(&claims, "exp", json!(now - 3600))),
        ("wrong issuer", replaced(&claims, "iss", json!("someone_else"))),
        ("wrong audience", replaced(&claims, "aud", json!("other_clients"))),
    ];
    for (case, claims) in cases {
        let response = me_with(&app, &sign(&claims, &secret, Algorithm::HS256)).await;
        assert_eq!(response.status, 401, "{case}: {}", response.text);
        response.assert_error(401, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn tokens_missing_a_claim_are_401() {
    let app = TestApp::new().await;
    let (_, claims, secret) = member_token(&app).await;
    for missing in ["session_id", "permissions", "exp", "iss", "aud", "sub", "role", "jti", "iat"] {
        let claims = without(&claims, missing);
        let response = me_with(&app, &sign(&claims, &secret, Algorithm::HS256)).await;
        assert_eq!(response.status, 401, "a token without `{missing}` is refused: {}", response.text);
        response.assert_error(401, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn a_well_signed_token_for_a_session_that_never_existed_is_401() {
    let app = TestApp::new().await;
    let (_, claims, secret) = member_token(&app).await;
    let claims = replaced(&claims, "session_id", json!(uuid::Uuid::new_v4()));
    me_with(&app, &sign(&claims, &secret, Algorithm::HS256)).await.assert_error(401, "UNAUTHENTICATED");
}

#[tokio::test]
async fn malformed_authorization_headers_are_401() {
    let app = TestApp::new().await;
    let (token, _, _) = member_token(&app).await;
    for header in ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer not.a.jwt", token.as_str()] {
        let response = app.call(Method::GET, "/auth/me", None, &[("authorization", header)]).await;
        response.assert_error(401, "UNAUTHENTICATED");
    }
    let lower = app.call(Method::GET, "/auth/me", None, &[("authorization", &format!("bearer {token}"))]).await;
    assert_eq!(lower.status, 200, "the scheme is case-insensitive: {}", lower.text);
}

#[tokio::test]
async fn tokens_signed_with_the_previous_secret_still_work_during_a_rotation() {
    let previous = "the-previous-jwt-secret-still-long-enough-42";
    let app = TestApp::with_vars(&[("JWT_SECRET_PREVIOUS", previous)]).await;
    let (_, claims, _) = member_token(&app).await;
    let response = me_with(&app, &sign(&claims, previous, Algorithm::HS256)).await;
    assert_eq!(response.status, 200, "{}", response.text);
}

#[tokio::test]
async fn a_token_re_signed_for_another_subject_or_role_is_refused_though_its_session_is_live() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (ana, bob) = (admin.create_member("Ana").await, admin.create_member("Bob").await);
    let client = app.member_client(&ana).await;
    let secret = app.state.config.jwt_secret.expose().to_owned();
    let claims = claims_of(&client.token);
    let as_bob = sign(&replaced(&claims, "sub", json!(bob.id)), &secret, Algorithm::HS256);
    let admin_permissions = claims_of(&admin.token)["permissions"].clone();
    let as_admin = sign(
        &replaced(&replaced(&claims, "role", json!("admin")), "permissions", admin_permissions),
        &secret,
        Algorithm::HS256,
    );
    for cached in [true, false] {
        // First with Ana's live marker in Redis (her own request warms it), then without it.
        if cached {
            assert_eq!(client.get("/member/cards").await.status, 200, "Ana's own token works");
        } else {
            app.state.cache.delete_all_with_prefix().await.unwrap();
        }
        for path in ["/member/cards", "/member/transactions", "/auth/me"] {
            let auth = format!("Bearer {as_bob}");
            let response = app.call(Method::GET, path, None, &[("authorization", &auth)]).await;
            response.assert_error(401, "UNAUTHENTICATED");
        }
        let auth = format!("Bearer {as_admin}");
        let response = app.call(Method::GET, "/admin/members", None, &[("authorization", &auth)]).await;
        response.assert_error(401, "UNAUTHENTICATED");
    }
    assert_eq!(client.get("/member/cards").await.status, 200, "Ana's own session stays live");
}
