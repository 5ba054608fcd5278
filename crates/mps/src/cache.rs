//! Redis, used only for what may be lost: caches, shared rate-limit counters and a cache of
//! session liveness. Every caller has a per-process or PostgreSQL fallback, so the server keeps
//! serving (correctly) while Redis is down and picks it up again when it returns.
//!
//! Writes that fail while Redis is unreachable (revocation tombstones, card-list invalidations)
//! are lost to Redis, and a Redis that comes back — from its dump, or after a network split —
//! still holds what they should have replaced. So every failure leaves the cache *unsettled*:
//! callers then trust no cached positive (a `live` session marker, a cached card list) until
//! the recovery task (`recovery::recover_after_redis_failures`) has replayed what was missed
//! and [`Cache::settle`]d.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_redis::redis::aio::{ConnectionLike, MultiplexedConnection};
use deadpool_redis::redis::cluster_async::ClusterConnection;
use deadpool_redis::redis::{self, AsyncCommands as _, RedisFuture};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{Config, RedisTarget};
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

/// Where connections come from: one server, a Sentinel-watched master, or a Redis Cluster.
enum Backend {
    Single(deadpool_redis::Pool),
    Sentinel(deadpool_redis::sentinel::Pool),
    Cluster(deadpool_redis::cluster::Pool),
}

impl Backend {
    fn new(target: RedisTarget) -> anyhow::Result<Backend> {
        // Only opens connections: calls share one (see `Cache::connection`); the health check takes another.
        let mut pool = deadpool_redis::PoolConfig::new(4);
        pool.timeouts.wait = Some(CALL_TIMEOUT);
        pool.timeouts.create = Some(CALL_TIMEOUT);
        pool.timeouts.recycle = Some(CALL_TIMEOUT);
        let runtime = Some(deadpool_redis::Runtime::Tokio1);
        Ok(match target {
            RedisTarget::Single(url) => {
                let mut cfg = deadpool_redis::Config::from_url(url);
                cfg.pool = Some(pool);
                Backend::Single(cfg.create_pool(runtime)?)
            }
            RedisTarget::Sentinel { sentinels, master } => {
                let mut cfg = deadpool_redis::sentinel::Config::from_urls(
                    sentinels,
                    master,
                    deadpool_redis::sentinel::SentinelServerType::Master,
                );
                cfg.pool = Some(pool);
                Backend::Sentinel(cfg.create_pool(runtime)?)
            }
            RedisTarget::Cluster(nodes) => {
                let mut cfg = deadpool_redis::cluster::Config::from_urls(nodes);
                // A cluster connection opens one socket per node when it is created.
                pool.timeouts.create = Some(CALL_TIMEOUT * 3);
                cfg.pool = Some(pool);
                Backend::Cluster(cfg.create_pool(runtime)?)
            }
        })
    }

    async fn connect(&self) -> Result<Connection, CacheError> {
        let fail = |e: &dyn std::fmt::Display| CacheError(e.to_string());
        Ok(match self {
            Backend::Single(p) => {
                Connection::Node(deadpool_redis::Connection::take(p.get().await.map_err(|e| fail(&e))?))
            }
            Backend::Sentinel(p) => {
                Connection::Node(deadpool_redis::sentinel::Connection::take(p.get().await.map_err(|e| fail(&e))?))
            }
            Backend::Cluster(p) => {
                Connection::Cluster(deadpool_redis::cluster::Connection::take(p.get().await.map_err(|e| fail(&e))?))
            }
        })
    }
}

/// One connection to whichever Redis `REDIS_URL` names; callers use it through
/// [`redis::AsyncCommands`]. On a cluster every command and pipeline must stay in one hash slot:
/// keys that are read or written together share a `{hash tag}` (see [`Cache::tagged_key`]).
#[derive(Clone)]
pub enum Connection {
    /// A single server or the master a Sentinel named.
    Node(MultiplexedConnection),
    /// A Redis Cluster: commands are routed to the master owning their slot.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        match self {
            Connection::Node(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Connection::Node(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Node(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// A handle on Redis (possibly absent), with every key under one prefix.
#[derive(Clone)]
pub struct Cache {
    pool: Option<Arc<Backend>>,
    /// The connection every call shares (see [`Cache::connection`]).
    shared: Arc<Mutex<Option<Connection>>>,
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
                let target = RedisTarget::parse(url.expose()).map_err(|e| anyhow::anyhow!("REDIS_URL {e}"))?;
                Some(Arc::new(Backend::new(target)?))
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

    /// The full key of something that belongs to `owner` (a member, a merchant, an admin):
    /// `{prefix}{owner}:name`. The braces make `owner` the key's Redis Cluster hash tag, so one
    /// owner's keys share a slot and one MGET or pipeline may read or write them together.
    pub fn tagged_key(&self, owner: &uuid::Uuid, name: &str) -> String {
        format!("{}{{{owner}}}:{name}", self.prefix)
    }

    /// Runs one Redis command batch, with a timeout and the circuit breaker.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, CacheError>
    where
        F: FnOnce(Connection) -> Fut,
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
    async fn connection(&self, pool: &Backend) -> Result<Connection, CacheError> {
        if let Some(conn) = self.lock_shared().as_ref() {
            return Ok(conn.clone());
        }
        let conn = pool.connect().await?;
        Ok(self.lock_shared().get_or_insert(conn).clone())
    }

    fn lock_shared(&self) -> std::sync::MutexGuard<'_, Option<Connection>> {
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
            let mut conn = pool.connect().await.ok()?;
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
        self.run(|c| delete_each(c, keys)).await
    }

    /// Deletes every key under this cache's prefix (used to clean up after tests). On a cluster
    /// KEYS asks every master and gathers their answers.
    pub async fn delete_all_with_prefix(&self) -> Result<(), CacheError> {
        let pattern = format!("{}*", self.prefix);
        self.run(|mut c| async move {
            let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut c).await?;
            delete_each(c, keys).await
        })
        .await
    }
}

/// One DEL for all keys on a single server; one per key on a cluster, where they may lie in
/// different slots.
async fn delete_each(mut c: Connection, keys: Vec<String>) -> redis::RedisResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    if matches!(c, Connection::Node(_)) {
        return c.del(keys).await;
    }
    for key in keys {
        c.del::<_, ()>(key).await?;
    }
    Ok(())
}

/// A value read from Redis and when, shared by the requests of one process.
#[derive(Default)]
pub struct Memo(Mutex<Option<(i64, std::time::Instant)>>);

impl Memo {
    /// The value, when it was stored less than `max_age` ago.
    pub fn fresh(&self, max_age: Duration) -> Option<i64> {
        let guard = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.filter(|(_, at)| at.elapsed() < max_age).map(|(value, _)| value)
    }

    /// Remembers `value` as read at `at`.
    pub fn store(&self, value: i64, at: std::time::Instant) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((value, at));
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
