//! Redis, used only for what may be lost: caches, shared rate-limit counters and a cache of
//! session liveness. Every caller has a per-process or PostgreSQL fallback, so the server keeps
//! serving (correctly) while Redis is down and picks it up again when it returns.
//!
//! Writes that fail while Redis is unreachable (revocation tombstones, card-list invalidations)
//! are lost to Redis, and a Redis that comes back — from its dump, or after a network split —
//! still holds what they should have replaced. So every failure leaves the cache *unsettled*:
//! callers then trust no cached positive (a `live` session marker, a cached card list) until
//! the recovery task (`auth::session::recover_after_redis_failures`) has replayed what was missed
//! and [`Cache::settle`]d.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::redis::aio::MultiplexedConnection;
use deadpool_redis::redis::{self, AsyncCommands as _};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::error::ApiError;

/// How long to leave Redis alone after a failure before trying it again.
const BACKOFF: Duration = Duration::from_secs(2);
/// Redis calls are on request paths: a slow Redis must not make a slow API.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);

/// Redis did not answer; callers fall back.
#[derive(Debug, thiserror::Error)]
#[error("redis unavailable: {0}")]
pub struct CacheError(String);

/// A cache that cannot answer makes the request answer 503 `UNAVAILABLE`.
impl From<CacheError> for ApiError {
    fn from(error: CacheError) -> Self {
        ApiError::unavailable(error)
    }
}

/// A handle on Redis (possibly absent), with every key under one prefix.
#[derive(Clone)]
pub struct Cache {
    pool: Option<deadpool_redis::Pool>,
    /// The connection every call shares (see [`Cache::connection`]).
    shared: Arc<Mutex<Option<MultiplexedConnection>>>,
    prefix: Arc<str>,
    /// Unix millis before which Redis is skipped after a failure (a tiny circuit breaker).
    skip_until_ms: Arc<AtomicI64>,
    /// Failures seen so far, and how many of them the recovery has settled.
    failures: Arc<AtomicU64>,
    settled: Arc<AtomicU64>,
}

impl Cache {
    /// Builds the pool without connecting; `REDIS_URL` empty gives a cache that is always absent.
    pub fn new(config: &Config) -> anyhow::Result<Cache> {
        let pool = match &config.redis_url {
            None => None,
            Some(url) => {
                let mut cfg = deadpool_redis::Config::from_url(url.expose());
                // Only opens connections: calls share one (see `connection`); the health check takes another.
                let mut pool_cfg = deadpool_redis::PoolConfig::new(4);
                pool_cfg.timeouts.wait = Some(CALL_TIMEOUT);
                pool_cfg.timeouts.create = Some(CALL_TIMEOUT);
                pool_cfg.timeouts.recycle = Some(CALL_TIMEOUT);
                cfg.pool = Some(pool_cfg);
                Some(cfg.create_pool(Some(deadpool_redis::Runtime::Tokio1))?)
            }
        };
        Ok(Cache {
            pool,
            shared: Arc::new(Mutex::new(None)),
            prefix: config.redis_key_prefix.as_str().into(),
            skip_until_ms: Arc::new(AtomicI64::new(0)),
            failures: Arc::new(AtomicU64::new(0)),
            settled: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Whether Redis is configured at all.
    pub fn is_configured(&self) -> bool {
        self.pool.is_some()
    }

    /// The full key for a name under this cache's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// Runs one Redis command batch, with a timeout and the circuit breaker.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, CacheError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let pool = self.pool.as_ref().ok_or_else(|| CacheError("not configured".into()))?;
        let now = now_ms();
        if now < self.skip_until_ms.load(Ordering::Relaxed) {
            return Err(CacheError("backing off after a recent failure".into()));
        }
        let result = tokio::time::timeout(CALL_TIMEOUT, async {
            let conn = self.connection(pool).await?;
            f(conn).await.map_err(|e| CacheError(e.to_string()))
        })
        .await
        .unwrap_or_else(|_| Err(CacheError("timed out".into())));
        if let Err(e) = &result {
            // The connection may be what failed: the next call opens a new one.
            self.lock_shared().take();
            tracing::warn!(error = %e, "redis call failed; falling back");
            self.skip_until_ms.store(now + i64::try_from(BACKOFF.as_millis()).unwrap_or(i64::MAX), Ordering::Relaxed);
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// The shared connection, opened through the pool when there is none yet.
    ///
    /// A multiplexed connection pipelines every concurrent call over one socket, so many
    /// requests' commands leave in one write and their replies come back in one read. Checking a
    /// connection out of the pool per call instead cost an extra round trip each time (deadpool
    /// PINGs a connection before handing it out) and a socket per concurrent request.
    async fn connection(&self, pool: &deadpool_redis::Pool) -> Result<MultiplexedConnection, CacheError> {
        if let Some(conn) = self.lock_shared().as_ref() {
            return Ok(conn.clone());
        }
        let fresh = pool.get().await.map_err(|e| CacheError(e.to_string()))?;
        let conn = deadpool_redis::Connection::take(fresh);
        Ok(self.lock_shared().get_or_insert(conn).clone())
    }

    fn lock_shared(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True when Redis failed since the last recovery: writes may have missed it, so cached
    /// positives must not be trusted yet.
    pub fn unsettled(&self) -> bool {
        self.failures.load(Ordering::Relaxed) != self.settled.load(Ordering::Relaxed)
    }

    /// The failure count now; pass it to [`Cache::settle`] once what was missed up to here has
    /// been replayed. Failures after it keep the cache unsettled.
    pub fn failure_mark(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Declares the failures up to `mark` dealt with.
    pub fn settle(&self, mark: u64) {
        self.settled.fetch_max(mark, Ordering::Relaxed);
    }

    /// PING, bypassing the breaker, for the health check.
    pub async fn ping(&self) -> bool {
        let Some(pool) = &self.pool else { return false };
        let ok = tokio::time::timeout(CALL_TIMEOUT * 3, async {
            let mut conn = pool.get().await.ok()?;
            redis::cmd("PING").query_async::<String>(&mut conn).await.ok()
        })
        .await
        .ok()
        .flatten()
        .is_some();
        if ok {
            self.skip_until_ms.store(0, Ordering::Relaxed);
        } else {
            // Down for the health check means down for other instances' writes too.
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Reads a JSON value; any failure (absent, down, undecodable) is a miss.
    pub async fn get_json<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let key = self.key(name);
        let raw: Option<String> = self.run(|mut c| async move { c.get(key).await }).await.ok()?;
        raw.and_then(|raw| serde_json::from_str(&raw).ok())
    }

    /// Stores a JSON value with a lifetime; failures are ignored (it is only a cache).
    pub async fn set_json<T: Serialize>(&self, name: &str, value: &T, ttl: Duration) {
        let Ok(raw) = serde_json::to_string(value) else { return };
        let key = self.key(name);
        let _ = self.run(|mut c| async move { c.set_ex::<_, _, ()>(key, raw, ttl.as_secs().max(1)).await }).await;
    }

    /// Deletes keys. Returns an error when Redis could not be reached, for callers that must know.
    pub async fn delete(&self, names: &[String]) -> Result<(), CacheError> {
        if names.is_empty() || self.pool.is_none() {
            return Ok(());
        }
        let keys: Vec<String> = names.iter().map(|n| self.key(n)).collect();
        self.run(|mut c| async move { c.del::<_, ()>(keys).await }).await
    }

    /// Deletes every key under this cache's prefix (used to clean up after tests).
    pub async fn delete_all_with_prefix(&self) -> Result<(), CacheError> {
        let pattern = format!("{}*", self.prefix);
        self.run(|mut c| async move {
            let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut c).await?;
            if !keys.is_empty() {
                c.del::<_, ()>(keys).await?;
            }
            Ok(())
        })
        .await
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
