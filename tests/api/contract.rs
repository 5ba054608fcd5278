//! Regressions found by contract fuzzing (scripts/fuzz.sh): every status the server answers is
//! documented for its operation in /openapi.json, and no input makes it answer 500.

use axum::http::Method;
use serde_json::json;

use crate::helpers::{TestApp, TestResponse};

/// Asserts the OpenAPI document lists `status` among the responses of `method path`.
async fn assert_documented(app: &TestApp, method: &str, path: &str, response: &TestResponse) {
    let document = app.get("/openapi.json").await.json;
    let status = response.status.as_str().to_owned();
    let documented = &document["paths"][path][method]["responses"];
    assert!(
        documented.get(&status).is_some(),
        "{} {path} answered {status}, which /openapi.json does not list: {}",
        method.to_uppercase(),
        documented.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default()
    );
}

#[tokio::test]
async fn a_failed_login_answers_401_and_the_document_says_so() {
    let app = TestApp::new().await;
    let response = app.login("member", "13800000000", "wrong-password").await;
    response.assert_error(401, "INVALID_CREDENTIALS");
    assert_documented(&app, "post", "/auth/login", &response).await;
}

#[tokio::test]
async fn a_points_adjustment_of_the_smallest_integer_is_a_422_not_a_panic() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let member = admin.create_member("Ana").await;
    for delta in [i64::MIN, i64::MAX, -100_000_001] {
        let body = json!({ "card_id": member.card_id, "delta_points": delta, "reason": "fuzz" });
        let response = admin.call(Method::POST, "/admin/points/adjust", Some(body), &[]).await;
        response.assert_error(422, "VALIDATION_FAILED");
    }
}
