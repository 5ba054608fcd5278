//! Rate limits.
//!
//! - The general per-caller limit (`RATE_LIMIT_REQUESTS` per `RATE_LIMIT_WINDOW`) is a GCRA
//!   limiter in this process (governor): cheap enough for every request.
//! - Limits that must hold across instances (logins per IP, failed logins per identifier,
//!   binding attempts per member) are fixed windows counted in Redis, one round trip each;
//!   while Redis is down they are counted in this process instead. A limit on *failed*
//!   attempts counts every attempt up front and forgives the ones that succeed
//!   ([`Limits::forgive`]): checking first and counting after would let a burst through.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_redis::redis;
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use mps_api::error::ErrorCode;

use crate::cache::Cache;
use crate::config::Config;
use crate::error::ApiError;

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

/// Decrements a window's count if the window still exists and holds something.
const FORGIVE_SCRIPT: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
     if n > 0 then return redis.call('DECR', KEYS[1]) end return 0";

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

    /// Takes back one event counted by [`Limits::hit`], for attempt limits that only count
    /// failures: count the attempt with `hit` *before* checking the secret — so attempts sent
    /// at once cannot all pass a check that has not seen the others yet — and forgive it when
    /// it succeeds. A window that has ended is never recreated.
    pub async fn forgive(&self, cache: &Cache, name: &str) {
        let key = cache.key(&format!("limit:{name}"));
        let shared = cache
            .run(|mut c| async move {
                redis::cmd("EVAL").arg(FORGIVE_SCRIPT).arg(1).arg(key).query_async::<i64>(&mut c).await
            })
            .await;
        if shared.is_err() {
            self.forgive_locally(name);
        }
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
            Ok((count, ttl)) => (count, Duration::from_secs(u64::try_from(ttl.max(1)).unwrap_or(1))),
            Err(_) => self.increment_locally(name, window),
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

    fn forgive_locally(&self, name: &str) {
        let mut windows = self.local_windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, count)) = windows.get_mut(name) {
            *count = count.saturating_sub(1);
        }
    }
}
