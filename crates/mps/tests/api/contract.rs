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

#[tokio::test]
async fn an_unknown_qr_token_is_a_409_that_validate_and_charge_both_document() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let merchant = app.merchant_client(&admin.create_merchant("Shop").await).await;
    let validated = merchant.post("/merchant/qr/validate", json!({ "qr_plain": "P" })).await;
    validated.assert_error(409, "QR_EXPIRED_OR_INVALID");
    assert_documented(&app, "post", "/merchant/qr/validate", &validated).await;
    let charged = merchant.charge("P", "1.00").await;
    charged.assert_error(409, "QR_EXPIRED_OR_INVALID");
    assert_documented(&app, "post", "/merchant/charge", &charged).await;
}

#[tokio::test]
async fn every_operation_taking_an_idempotency_key_documents_409() {
    let app = TestApp::new().await;
    let document = app.get("/openapi.json").await.json;
    let mut keyed = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let takes_key = operation["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"].as_str() == Some("Idempotency-Key")));
            if takes_key {
                keyed += 1;
                assert!(operation["responses"].get("409").is_some(), "{method} {path} takes a key but lists no 409");
            }
        }
    }
    assert!(keyed >= 5, "the money operations take keys: found {keyed}");
}

/// The operations that take no token: each must say so with `security: []`.
const PUBLIC_OPERATIONS: [&str; 6] =
    ["get /health", "get /levels", "get /metrics", "get /ready", "post /auth/login", "post /webhooks/payments"];

#[tokio::test]
async fn the_document_gives_every_operation_a_unique_id_a_security_declaration_and_described_responses() {
    let document = mps::http::openapi();
    let document = serde_json::to_value(&document).expect("the document serializes");
    assert!(document["servers"].as_array().is_some_and(|s| !s.is_empty()), "servers is not empty");
    let mut ids = std::collections::BTreeMap::new();
    let mut public = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let name = format!("{method} {path}");
            let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{name} has no operationId"));
            if let Some(other) = ids.insert(id.to_owned(), name.clone()) {
                panic!("operationId `{id}` names both {other} and {name}");
            }
            let security = operation["security"].as_array().unwrap_or_else(|| panic!("{name} declares no security"));
            if security.is_empty() {
                public.push(name.clone());
            }
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let described = response["description"].as_str().is_some_and(|d| !d.is_empty());
                assert!(described, "{name} response {status} has no description");
            }
        }
    }
    public.sort();
    assert_eq!(public, PUBLIC_OPERATIONS, "exactly these operations are public (`security: []`)");
}
