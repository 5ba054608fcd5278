//! Health and readiness.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Overall state: `healthy`, `degraded` (Redis down) or `unhealthy` (database down).
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// `healthy`.
    Healthy,
    /// `degraded`.
    Degraded,
    /// `unhealthy`.
    Unhealthy,
}

/// State of one dependency.
#[derive(Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum ServiceStatus {
    /// `up`.
    Up,
    /// `down`.
    Down,
    /// Not configured (`REDIS_URL` empty): caches and limits are per process.
    Disabled,
}

/// The state of each dependency.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Services {
    /// PostgreSQL.
    pub database: ServiceStatus,
    /// Redis.
    pub redis: ServiceStatus,
}

/// The service's health.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// The overall state.
    pub status: HealthStatus,
    /// Version of the running binary.
    pub version: String,
    /// Each dependency's state.
    pub services: Services,
}

/// Whether the process is ready to serve.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyResponse {
    /// `ready` while the process serves; `not_ready` while `DATABASE_URL` leads to a standby.
    pub status: String,
}
