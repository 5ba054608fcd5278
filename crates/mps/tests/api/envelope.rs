//! Every kind of error answers in the envelope of SPEC §3, with the request id and no internals.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use axum::routing::{get, post};
use mps::http::extract::{AppJson, AppPath, AppQuery};
use serde::{Deserialize, Serialize};

use crate::helpers::{TestApp, TestResponse};

#[derive(Debug, Serialize, Deserialize)]
struct Probe {
    name: String,
    count: u32,
}

#[derive(Debug, Deserialize)]
struct Page {
    #[allow(dead_code)]
    limit: u32,
}

/// Routes that exercise each extractor and failure, wrapped in the server's real middleware.
async fn probe_app(overrides: &[(&str, &str)]) -> (TestApp, Router) {
    let app = TestApp::with_vars(overrides).await;
    let routes = Router::new()
        .route("/probe/json", post(|AppJson(body): AppJson<Probe>| async move { AppJson(body) }))
        .route("/probe/query", get(|AppQuery(_): AppQuery<Page>| async { "ok" }))
        .route("/probe/path/{id}", get(|AppPath(id): AppPath<uuid::Uuid>| async move { id.to_string() }))
        .route("/probe/panic", get(panicking_handler))
        .route("/probe/slow", get(|| async { tokio::time::sleep(Duration::from_secs(10)).await }))
        .fallback(mps::http::middleware::not_found);
    let router = mps::http::middleware::apply(routes, &app.state).with_state(app.state.clone());
    (app, router)
}

async fn panicking_handler() -> &'static str {
    panic!("secret internal detail")
}

async fn send(router: &Router, method: Method, path: &str, content_type: Option<&str>, body: &str) -> TestResponse {
    use tower::ServiceExt as _;
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    let response = router.clone().oneshot(builder.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    TestResponse::read(response).await
}

#[tokio::test]
async fn malformed_json_is_a_400_in_the_envelope() {
    let (_app, router) = probe_app(&[]).await;
    let response = send(&router, Method::POST, "/probe/json", Some("application/json"), "{\"name\": ").await;
    response.assert_error(400, "BAD_REQUEST");
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_a_422_naming_the_problem() {
    let (_app, router) = probe_app(&[]).await;
    let response = send(&router, Method::POST, "/probe/json", Some("application/json"), r#"{"name": "x"}"#).await;
    response.assert_error(422, "VALIDATION_FAILED");
    assert!(response.text.contains("count"), "the message names the missing field: {}", response.text);
}

#[tokio::test]
async fn a_body_without_json_content_type_is_a_415_in_the_envelope() {
    let (_app, router) = probe_app(&[]).await;
    let response = send(&router, Method::POST, "/probe/json", Some("text/plain"), r#"{"name":"x","count":1}"#).await;
    response.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn bad_query_and_path_parameters_are_422s() {
    let (_app, router) = probe_app(&[]).await;
    send(&router, Method::GET, "/probe/query?limit=lots", None, "").await.assert_error(422, "VALIDATION_FAILED");
    send(&router, Method::GET, "/probe/path/not-a-uuid", None, "").await.assert_error(422, "VALIDATION_FAILED");
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405() {
    let app = TestApp::new().await;
    app.get("/no/such/route").await.assert_error(404, "NOT_FOUND");
    app.call(Method::DELETE, "/health", None, &[]).await.assert_error(405, "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let (_app, router) = probe_app(&[("BODY_LIMIT_BYTES", "1024")]).await;
    let big = format!(r#"{{"name": "{}", "count": 1}}"#, "x".repeat(4096));
    let response = send(&router, Method::POST, "/probe/json", Some("application/json"), &big).await;
    response.assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn requests_past_the_timeout_are_503_unavailable() {
    let (_app, router) = probe_app(&[("REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let started = std::time::Instant::now();
    let response = send(&router, Method::GET, "/probe/slow", None, "").await;
    response.assert_error(503, "UNAVAILABLE");
    assert!(started.elapsed() < Duration::from_secs(5), "the timeout cut the request short");
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_without_internals() {
    let (_app, router) = probe_app(&[]).await;
    let response = send(&router, Method::GET, "/probe/panic", None, "").await;
    response.assert_error(500, "INTERNAL");
    assert!(!response.text.contains("secret internal detail"), "internals leaked: {}", response.text);
}

#[tokio::test]
async fn a_valid_request_passes_through_untouched() {
    let (_app, router) = probe_app(&[]).await;
    let response =
        send(&router, Method::POST, "/probe/json", Some("application/json"), r#"{"name":"x","count":2}"#).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json, serde_json::json!({"name": "x", "count": 2}));
}
