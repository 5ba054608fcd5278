//! The shared state every handler sees.

use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::token::JwtKeys;
use crate::cache::Cache;
use crate::config::Config;
use crate::limits::Limits;
use crate::metrics::Metrics;

/// Cheap to clone: every field is a handle.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub cache: Cache,
    pub metrics: Metrics,
    pub jwt: Arc<JwtKeys>,
    pub limits: Arc<Limits>,
}

impl AppState {
    /// Wires the state from a configuration and an open (possibly lazy) pool.
    pub fn new(config: Config, db: PgPool) -> anyhow::Result<AppState> {
        let cache = Cache::new(&config)?;
        let metrics = Metrics::new()?;
        metrics.db_pool_max.set(i64::from(config.db_max_connections));
        let jwt = Arc::new(JwtKeys::new(&config));
        let limits = Arc::new(Limits::new(&config));
        Ok(AppState { config: Arc::new(config), db, cache, metrics, jwt, limits })
    }
}
