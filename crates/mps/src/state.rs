//! The shared state every handler sees.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
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
    /// Where a test harness holds requests to make a race deterministic; always `None` in the
    /// server (only [`AppState::with_pause_hook`] sets it, and only tests call that).
    pause_hook: Option<PauseHook>,
}

/// A point in a request where a test may hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PausePoint {
    /// A login whose password has been verified, before its session is created.
    LoginVerified,
}

/// What a test runs at a [`PausePoint`]: the request waits until the returned future ends.
pub type PauseHook = Arc<dyn Fn(PausePoint) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Wires the state from a configuration and an open (possibly lazy) pool.
    pub fn new(config: Config, db: PgPool) -> anyhow::Result<AppState> {
        AppState::build(config, db, None)
    }

    /// The state of a test harness that holds requests at [`PausePoint`]s with `hook`, so a race
    /// can be replayed in a chosen order. The server never calls this.
    pub fn with_pause_hook(config: Config, db: PgPool, hook: PauseHook) -> anyhow::Result<AppState> {
        AppState::build(config, db, Some(hook))
    }

    fn build(config: Config, db: PgPool, pause_hook: Option<PauseHook>) -> anyhow::Result<AppState> {
        let cache = Cache::new(&config)?;
        let metrics = Metrics::new()?;
        metrics.db_pool_max.set(i64::from(config.db_max_connections));
        let jwt = Arc::new(JwtKeys::new(&config));
        let limits = Arc::new(Limits::new(&config));
        let shared = Shared { config: Arc::new(config), db, cache, metrics, jwt, limits, pause_hook };
        Ok(AppState(Arc::new(shared)))
    }

    /// Lets a test harness hold the request at `point`; does nothing in the server.
    pub async fn pause_at(&self, point: PausePoint) {
        if let Some(hook) = &self.pause_hook {
            hook(point).await;
        }
    }
}
