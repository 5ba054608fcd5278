//! Operations endpoints: deep health, shallow readiness, metrics.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::error::ErrorCode;
use mps_api::ops::{HealthResponse, HealthStatus, ReadyResponse, ServiceStatus, Services};

use crate::error::ApiError;
use crate::http::extract::AppJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).routes(routes!(metrics))
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Deep health check of the database and Redis.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses(
        (status = 200, description = "Healthy, or degraded while only Redis is down", body = HealthResponse),
        (status = 503, description = "The database is down", body = HealthResponse),
    ))]
async fn health(State(state): State<AppState>) -> Response {
    let (database_up, redis_up) = tokio::join!(crate::db::ping(&state.db, CHECK_TIMEOUT), state.cache.ping());
    let database = if database_up { ServiceStatus::Up } else { ServiceStatus::Down };
    let redis = match (state.cache.is_configured(), redis_up) {
        (false, _) => ServiceStatus::Disabled,
        (true, true) => ServiceStatus::Up,
        (true, false) => ServiceStatus::Down,
    };
    let status = match (database, redis) {
        (ServiceStatus::Down, _) => HealthStatus::Unhealthy,
        (_, ServiceStatus::Down) => HealthStatus::Degraded,
        _ => HealthStatus::Healthy,
    };
    let code = if status == HealthStatus::Unhealthy { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let body = HealthResponse {
        status,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        services: Services { database, redis },
    };
    (code, AppJson(body)).into_response()
}

/// Shallow readiness: the process is up and serving; no dependency is called on the request. A
/// background watch (once a second) marks the process not ready while the primary's address
/// leads to a server in recovery, mid-failover.
#[utoipa::path(get, path = "/ready", tag = "ops",
    responses(
        (status = 200, description = "Serving", body = ReadyResponse),
        (status = 503, description = "DATABASE_URL leads to a standby (a failover is under way)", body = ReadyResponse),
    ))]
async fn ready(State(state): State<AppState>) -> Response {
    if state.primary_writable.load(std::sync::atomic::Ordering::Relaxed) {
        (StatusCode::OK, AppJson(ReadyResponse { status: "ready".into() })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, AppJson(ReadyResponse { status: "not_ready".into() })).into_response()
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 404, description = "Metrics are disabled", body = mps_api::error::ErrorEnvelope),
    ))]
async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    if !state.config.metrics_enabled {
        return Err(ApiError::new(ErrorCode::NotFound, "Metrics are disabled (METRICS_ENABLED=false)."));
    }
    refresh_gauges(&state).await;
    let body = state.metrics.render();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response())
}

/// Gauges read at scrape time, so they are right whichever instance changed them.
async fn refresh_gauges(state: &AppState) {
    let metrics = &state.metrics;
    let idle = i64::try_from(state.db.num_idle()).unwrap_or(i64::MAX);
    let size = i64::from(state.db.size());
    metrics.db_pool_connections.with_label_values(&["idle"]).set(idle);
    metrics.db_pool_connections.with_label_values(&["in_use"]).set(size - idle);

    let counts = tokio::time::timeout(CHECK_TIMEOUT, crate::db::credentials::live_session_counts(&state.db)).await;
    if let Ok(Ok(counts)) = counts {
        for role in ["member", "merchant", "admin"] {
            let count = counts.iter().find(|(r, _)| r == role).map_or(0, |(_, c)| *c);
            metrics.active_sessions.with_label_values(&[role]).set(count);
        }
    }
}
