//! Operations endpoints, request ids, security headers, metrics, the subcommands' server side
//! and graceful shutdown.

use std::time::Duration;

use axum::http::Method;

use crate::helpers::{TestApp, start_server};

#[tokio::test]
async fn health_is_healthy_with_database_and_redis_up() {
    let app = TestApp::new().await;
    let response = app.get("/health").await;
    assert_eq!(response.status, 200, "{}", response.text);
    assert_eq!(response.json["status"], "healthy");
    assert_eq!(response.json["services"], serde_json::json!({"database": "up", "redis": "up"}));
    assert_eq!(response.json["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn health_is_degraded_when_redis_is_unreachable() {
    let app = TestApp::with_vars(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let response = app.get("/health").await;
    assert_eq!(response.status, 200, "degraded still answers 200: {}", response.text);
    assert_eq!(response.json["status"], "degraded");
    assert_eq!(response.json["services"]["redis"], "down");
    assert_eq!(response.json["services"]["database"], "up");
}

#[tokio::test]
async fn health_is_unhealthy_and_503_when_the_database_is_unreachable() {
    let app = TestApp::new().await;
    let mut vars = crate::helpers::base_vars("postgres://postgres@127.0.0.1:1/mps", "mps:test:x:");
    vars.insert("DB_MAX_CONNECTIONS".into(), "2".into());
    let config = crate::helpers::config_from(&vars);
    let pool = mps::db::connect_lazy(&config).unwrap();
    let state = mps::state::AppState::new(config, pool).unwrap();
    let router = mps::build_app(state);
    let response = {
        use tower::ServiceExt as _;
        let request = axum::http::Request::get("/health").body(axum::body::Body::empty()).unwrap();
        crate::helpers::TestResponse::read(router.oneshot(request).await.unwrap()).await
    };
    assert_eq!(response.status, 503, "{}", response.text);
    assert_eq!(response.json["status"], "unhealthy");
    assert_eq!(response.json["services"]["database"], "down");
    drop(app);
}

#[tokio::test]
async fn ready_answers_without_touching_dependencies() {
    let app = TestApp::with_vars(&[("REDIS_URL", "redis://127.0.0.1:1")]).await;
    let response = app.get("/ready").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.json["status"], "ready");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_good_one_is_echoed() {
    let app = TestApp::new().await;
    let generated = app.get("/ready").await;
    let id = generated.header("x-request-id").expect("a request id is generated");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "generated ids are UUIDs: {id}");

    let echoed = app.call(Method::GET, "/ready", None, &[("x-request-id", "client-abc-123")]).await;
    assert_eq!(echoed.header("x-request-id"), Some("client-abc-123"));

    let error = app.call(Method::GET, "/nowhere", None, &[("x-request-id", "trace-42")]).await;
    assert_eq!(error.json["error"]["request_id"], "trace-42");

    let hostile = app.call(Method::GET, "/ready", None, &[("x-request-id", &"x".repeat(300))]).await;
    assert_ne!(hostile.header("x-request-id"), Some("x".repeat(300).as_str()), "overlong ids are replaced");
}

#[tokio::test]
async fn security_headers_are_on_every_response_and_docs_get_a_csp_that_lets_them_run() {
    let app = TestApp::new().await;
    for path in ["/health", "/nowhere", "/openapi.json"] {
        let response = app.get(path).await;
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(response.header("x-frame-options"), Some("DENY"), "{path}");
        assert!(response.header("strict-transport-security").is_some_and(|v| v.contains("max-age=")), "{path}");
        assert_eq!(response.header("referrer-policy"), Some("strict-origin-when-cross-origin"), "{path}");
        assert!(response.header("content-security-policy").is_some_and(|v| v.contains("default-src 'none'")), "{path}");
    }
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("swagger"), "the docs page is Swagger UI");
    let csp = docs.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "docs may run their own scripts: {csp}");
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_without_network() {
    let app = TestApp::new().await;
    let redirect = app.get("/docs").await;
    assert!(redirect.status.is_redirection(), "/docs redirects to /docs/");
    for asset in ["/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js"] {
        let response = app.get(asset).await;
        assert_eq!(response.status, 200, "{asset} is vendored in the binary");
    }
    assert!(app.get("/docs/swagger-initializer.js").await.text.contains("/openapi.json"));
}

#[tokio::test]
async fn cors_grants_only_configured_origins() {
    let app = TestApp::with_vars(&[("CORS_ORIGINS", "https://shop.example")]).await;
    let allowed = app.call(Method::GET, "/ready", None, &[("origin", "https://shop.example")]).await;
    assert_eq!(allowed.header("access-control-allow-origin"), Some("https://shop.example"));
    let other = app.call(Method::GET, "/ready", None, &[("origin", "https://evil.example")]).await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn openapi_document_describes_the_served_routes() {
    let app = TestApp::new().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status, 200);
    assert!(response.json["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/health", "/ready", "/metrics"] {
        assert!(response.json["paths"][path].is_object(), "{path} is documented");
    }
}

#[tokio::test]
async fn metrics_expose_every_family_of_the_spec_with_route_templates() {
    let app = TestApp::new().await;
    app.get("/health").await;
    app.get("/no/such/path/123").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status, 200);
    assert!(response.header("content-type").unwrap().starts_with("text/plain"));
    for family in [
        "mps_api_requests_total",
        "mps_api_request_duration_seconds",
        "mps_api_rpc_calls_total",
        "mps_api_auth_attempts_total",
        "mps_member_logins_total",
        "mps_payment_amount",
        "mps_active_sessions",
        "mps_db_pool_connections",
        "mps_db_pool_max_connections",
    ] {
        assert!(response.text.contains(&format!("# TYPE {family} ")), "{family} missing:\n{}", response.text);
    }
    assert!(response.text.contains(r#"mps_api_requests_total{endpoint="/health",method="GET",status="200"} 1"#));
    assert!(response.text.contains(r#"endpoint="<unmatched>""#), "unknown paths share one label");
    assert!(!response.text.contains("/no/such/path/123"), "raw paths never become labels");
}

#[tokio::test]
async fn metrics_can_be_disabled() {
    let app = TestApp::with_vars(&[("METRICS_ENABLED", "false")]).await;
    app.get("/metrics").await.assert_error(404, "NOT_FOUND");
}

async fn raw_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut out = String::new();
    stream.read_to_string(&mut out).await?;
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_in_flight_requests_finish_and_refuses_new_connections() {
    let app = TestApp::new().await;
    let slow = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "finished"
        }),
    );
    let (addr, shutdown, server) = start_server(&app, slow).await;
    let in_flight = tokio::spawn(raw_get(addr, "/slow"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.send(()).unwrap();
    let response = in_flight.await.unwrap().expect("the in-flight request completes");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("finished"), "{response}");
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("server exits").unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "new connections are refused after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthcheck_subcommand_succeeds_against_a_live_server_and_fails_without_one() {
    let app = TestApp::new().await;
    let (addr, shutdown, server) = start_server(&app, axum::Router::new()).await;
    let mut vars = crate::helpers::base_vars("postgres://unused/x", "mps:test:x:");
    vars.insert("API_HOST".into(), "0.0.0.0".into());
    vars.insert("API_PORT".into(), addr.port().to_string());
    let config = crate::helpers::config_from(&vars);
    assert!(mps::server::healthcheck(&config).await, "healthy server → success");
    shutdown.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(!mps::server::healthcheck(&config).await, "no server → failure");
}
