//! The middleware stack, in one place. From the outside in:
//!
//! 1. `request_context` — accepts a sane `X-Request-Id` or makes one, opens the request's
//!    tracing span, writes the error envelope for every error response (ours, axum's 404/405/413,
//!    timeouts, caught panics), logs the request once, and echoes `X-Request-Id`.
//! 2. `security_headers` — SPEC §4 headers on every response; `/docs` gets a CSP that lets it run,
//!    `/console/` the console's own strict one.
//! 3. CORS from `CORS_ORIGINS` (no layer when the list is empty: browsers then get no grant).
//! 4. `CatchPanicLayer` — a panic becomes a 500 `INTERNAL` instead of a dropped connection.
//! 5. `TimeoutLayer` — a request that takes longer than `REQUEST_TIMEOUT_SECONDS` (slow client
//!    bodies included) is answered 503 `UNAVAILABLE`.
//! 6. `RequestBodyLimitLayer` + `DefaultBodyLimit` — bodies over `BODY_LIMIT_BYTES` are 413.
//! 7. `record_metrics` (per route, inside routing so the route template is known).
//! 8. `limit_callers` — the general per-caller rate limit (token subject, else client IP); the
//!    ops endpoints are exempt so health checks and scrapes are never refused, and so are the
//!    docs and the console's static files.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::{Router, extract::DefaultBodyLimit};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tracing::Instrument as _;

use mps_api::error::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

/// The request id header, accepted from clients and always echoed.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Marks a response replayed from a stored idempotent outcome.
pub static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The id of the current request, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Wraps the routed application in the whole stack.
pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = &state.config;
    let mut router = router
        .layer(from_fn_with_state(state.clone(), limit_callers))
        .layer(from_fn_with_state(state.clone(), record_metrics))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.request_timeout))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("handler panicked").into_response()));
    if !config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = config.cors_origins.iter().filter_map(|o| o.parse().ok()).collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, REQUEST_ID.clone(), idempotency_key()])
                .expose_headers([REQUEST_ID.clone(), header::RETRY_AFTER])
                .max_age(Duration::from_secs(600)),
        );
    }
    router.layer(from_fn(security_headers)).layer(from_fn(request_context))
}

fn idempotency_key() -> HeaderName {
    HeaderName::from_static("idempotency-key")
}

/// A client's request id is kept when it is short and printable, so it cannot inject log lines.
fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = (1..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| text.to_owned())
}

/// A random (v4) UUID from the thread-local generator: `Uuid::new_v4` makes a getrandom system
/// call per request.
fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid().to_string()
}

async fn request_context(mut request: Request, next: Next) -> Response {
    let request_id = request.headers().get(&REQUEST_ID).and_then(acceptable_request_id).unwrap_or_else(new_request_id);
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
        user_id = tracing::field::Empty,
        role = tracing::field::Empty,
        operation = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let mut response = span.in_scope(|| {
        let response = render_error(response, &request_id);
        let status = response.status().as_u16();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(status, latency_ms, "request completed");
        response
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

/// Writes the envelope for error responses that do not have one yet.
fn render_error(response: Response, request_id: &str) -> Response {
    let status = response.status();
    let error = match response.extensions().get::<ApiError>() {
        Some(error) => error.clone(),
        None if status.is_client_error() || status.is_server_error() => {
            let is_json = response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
            if is_json {
                return response;
            }
            let code = ErrorCode::for_status(status.as_u16());
            if status == StatusCode::SERVICE_UNAVAILABLE {
                ApiError::new(code, "The request took too long and was abandoned; try again.")
            } else {
                ApiError::from_code(code)
            }
        }
        None => return response,
    };
    if error.status().is_server_error() {
        tracing::error!(code = error.code.as_str(), cause = error.internal_cause().unwrap_or(""), "request failed");
    }
    let (mut parts, _) = response.into_parts();
    parts.status = error.status();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if error.replayed_from.is_some() {
        parts.headers.insert(IDEMPOTENT_REPLAYED.clone(), HeaderValue::from_static("true"));
    }
    if let Some(secs) = error.retry_after_secs {
        parts.headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    let body = serde_json::to_vec(&error.envelope(request_id)).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}

const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
                        img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'";

async fn security_headers(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let csp = if path.starts_with("/docs") {
        DOCS_CSP
    } else if super::console::serves(path) {
        super::console::CSP
    } else {
        API_CSP
    };
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    response
}

/// Counts and times requests by route template; unmatched paths share one label.
async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    let status = response.extensions().get::<ApiError>().map(|e| e.status()).unwrap_or(response.status());
    metrics.requests_total.with_label_values(&[&method, &endpoint, status.as_str()]).inc();
    metrics.request_duration.with_label_values(&[&method, &endpoint]).observe(started.elapsed().as_secs_f64());
    response
}

/// Answers unknown routes with the envelope.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "No route matches this path.")
}

const UNLIMITED_PATHS: &[&str] = &["/health", "/ready", "/metrics", "/openapi.json"];

async fn limit_callers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if UNLIMITED_PATHS.contains(&path) || path.starts_with("/docs") || super::console::serves(path) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    // A POS key counts on its own (by its prefix, no lookup needed); a staff member too.
    let key_prefix = crate::auth::extract::bearer_token(&parts)
        .filter(|t| crate::auth::pos_keys::is_pos_key(t))
        .and_then(|t| t.get(crate::auth::pos_keys::KEY_PREFIX.len()..).and_then(|rest| rest.split('_').next()))
        .map(|prefix| format!("key:{prefix}"));
    let caller = match (key_prefix, crate::auth::extract::verified_claims(&mut parts, &state)) {
        (Some(key), _) => key,
        (None, Some(claims)) => format!("sub:{}", claims.staff_id.unwrap_or(claims.sub)),
        (None, None) => format!("ip:{}", crate::auth::extract::client_ip(&parts, &state.config)),
    };
    if let Err(error) = state.limits.check_general(&caller) {
        return error.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}
