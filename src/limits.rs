//! Rate limits.
//!
//! - The general per-caller limit (`RATE_LIMIT_REQUESTS` per `RATE_LIMIT_WINDOW`) is a GCRA
//!   limiter in this process (governor): cheap enough for every request.
//! - Limits that must hold across instances (logins per IP, failed logins per identifier,
//!   binding attempts per member) are fixed windows counted in Redis, one round trip each;
//!   while Redis is down they are counted in this process instead.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::cache::Cache;
use crate::config::Config;
use crate::error::{ApiError, ErrorCode};

/// All limiters of one process.
pub struct Limits {
    general: DefaultKeyedRateLimiter<String>,
    local_windows: Mutex<HashMap<String, (Instant, u32)>>,
}

/// A fixed-window limit shared through Redis.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub limit: u32,
    pub length: Duration,
}

fn rate_limited(retry_after: Duration, message: &str) -> ApiError {
    let mut error = ApiError::new(ErrorCode::RateLimited, message);
    error.retry_after_secs = Some(
        u32::try_from(retry_after.as_secs().max(1) + u64::from(retry_after.subsec_nanos() > 0)).unwrap_or(u32::MAX),
    );
    error
}

impl Limits {
    pub fn new(config: &Config) -> Limits {
        let requests = NonZeroU32::new(config.rate_limit_requests).unwrap_or(NonZeroU32::MIN);
        let period = config.rate_limit_window / requests.get();
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(requests))
            .allow_burst(requests);
        Limits { general: RateLimiter::keyed(quota), local_windows: Mutex::new(HashMap::new()) }
    }

    /// The general limit for one caller (token subject or client IP).
    pub fn check_general(&self, caller: &str) -> Result<(), ApiError> {
        if self.general.len() > 100_000 {
            self.general.retain_recent();
        }
        self.general.check_key(&caller.to_owned()).map_err(|not_until| {
            rate_limited(not_until.wait_time_from(DefaultClock::default().now()), "Too many requests: slow down.")
        })
    }

    /// Counts one event and refuses it when the window already holds `limit` of them.
    pub async fn hit(&self, cache: &Cache, name: &str, window: Window, message: &str) -> Result<(), ApiError> {
        let (count, retry_after) = self.increment(cache, name, window).await;
        if count > window.limit {
            return Err(rate_limited(retry_after, message));
        }
        Ok(())
    }

    /// Refuses when the window already holds `limit` events, without counting one.
    pub async fn check(&self, cache: &Cache, name: &str, window: Window, message: &str) -> Result<(), ApiError> {
        let (count, retry_after) = self.current(cache, name, window).await;
        if count >= window.limit {
            return Err(rate_limited(retry_after, message));
        }
        Ok(())
    }

    /// Counts one event without refusing anything (e.g. a failed login).
    pub async fn record(&self, cache: &Cache, name: &str, window: Window) {
        self.increment(cache, name, window).await;
    }

    async fn increment(&self, cache: &Cache, name: &str, window: Window) -> (u32, Duration) {
        let key = cache.key(&format!("limit:{name}"));
        let secs = window.length.as_secs().max(1);
        let shared = cache
            .run(|mut c| async move {
                redis::pipe()
                    .incr(&key, 1)
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(secs)
                    .arg("NX")
                    .ignore()
                    .ttl(&key)
                    .query_async::<(u32, i64)>(&mut c)
                    .await
            })
            .await;
        match shared {
            Ok((count, ttl)) => (count, Duration::from_secs(ttl.max(1) as u64)),
            Err(_) => self.increment_locally(name, window),
        }
    }

    async fn current(&self, cache: &Cache, name: &str, window: Window) -> (u32, Duration) {
        let key = cache.key(&format!("limit:{name}"));
        let shared =
            cache
                .run(|mut c| async move {
                    redis::pipe().get(&key).ttl(&key).query_async::<(Option<u32>, i64)>(&mut c).await
                })
                .await;
        match shared {
            Ok((count, ttl)) => (count.unwrap_or(0), Duration::from_secs(ttl.max(1) as u64)),
            Err(_) => self.current_locally(name, window),
        }
    }

    fn increment_locally(&self, name: &str, window: Window) -> (u32, Duration) {
        let now = Instant::now();
        let mut windows = self.local_windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if windows.len() > 100_000 {
            windows.retain(|_, (started, _)| now.duration_since(*started) < window.length);
        }
        let entry = windows.entry(name.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window.length {
            *entry = (now, 0);
        }
        entry.1 += 1;
        (entry.1, window.length.saturating_sub(now.duration_since(entry.0)))
    }

    fn current_locally(&self, name: &str, window: Window) -> (u32, Duration) {
        let now = Instant::now();
        let windows = self.local_windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match windows.get(name) {
            Some((started, count)) if now.duration_since(*started) < window.length => {
                (*count, window.length.saturating_sub(now.duration_since(*started)))
            }
            _ => (0, window.length),
        }
    }
}
