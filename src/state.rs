//! The shared state every handler sees.

use std::ops::Deref;
use std::sync::Arc;

use sqlx::PgPool;

use crate::auth::token::JwtKeys;
use crate::cache::Cache;
use crate::config::Config;
use crate::limits::Limits;
use crate::metrics::Metrics;

/// One pointer to the shared parts: axum clones the state for every request and every
/// middleware layer, and cloning a struct of handles cost a few dozen atomic increments and
/// decrements per request, all on cache lines both cores contend for.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] points to.
pub struct Shared {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub cache: Cache,
    pub metrics: Metrics,
    pub jwt: Arc<JwtKeys>,
    pub limits: Arc<Limits>,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Wires the state from a configuration and an open (possibly lazy) pool.
    pub fn new(config: Config, db: PgPool) -> anyhow::Result<AppState> {
        let cache = Cache::new(&config)?;
        let metrics = Metrics::new()?;
        metrics.db_pool_max.set(i64::from(config.db_max_connections));
        let jwt = Arc::new(JwtKeys::new(&config));
        let limits = Arc::new(Limits::new(&config));
        Ok(AppState(Arc::new(Shared { config: Arc::new(config), db, cache, metrics, jwt, limits })))
    }
}
