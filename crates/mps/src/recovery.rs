//! Recovery after Redis failures: revocations queued in PostgreSQL while Redis was down are
//! written as tombstones once it answers again; after a failure, the tombstones of recent
//! revocations are rewritten (a failover may have lost them) and every cached card list is
//! dropped (their invalidations may have been lost). Every instance runs this once a second
//! ([`spawn_invalidation_flusher`]). It sits above `auth::session` and `card_cache`, which
//! therefore do not import each other both ways.

use std::time::Duration;

use crate::auth::session::{LIVE_MARKER_TTL, write_tombstones};
use crate::db::sessions;
use crate::error::ApiError;
use crate::state::AppState;

/// How many queued revocations one flush writes.
const FLUSH_BATCH: usize = 1000;

/// Pushes queued revocations to Redis; returns how many were flushed.
pub async fn flush_pending_invalidations(state: &AppState) -> Result<usize, ApiError> {
    let pending = sessions::pending_invalidations(&state.db, FLUSH_BATCH).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    write_tombstones(state, &pending).await?;
    let ids: Vec<uuid::Uuid> = pending.iter().map(|r| r.id).collect();
    sessions::delete_invalidations(&state.db, &ids).await?;
    Ok(pending.len())
}

/// How far back [`rewrite_recent_tombstones`] looks: a `live` marker lives at most
/// [`LIVE_MARKER_TTL`], so a tombstone older than that has nothing left to shadow; a minute more
/// covers clock skew and a slow recovery.
const RECENT_REVOCATIONS: Duration = Duration::from_secs(LIVE_MARKER_TTL.as_secs() + 60);

/// Writes again the tombstones of every session revoked in the last [`RECENT_REVOCATIONS`].
///
/// A Redis that failed over (a Sentinel-promoted replica, a Redis Cluster master replaced by its
/// replica) replicates asynchronously: tombstones it acknowledged just before the failure may be
/// missing on the new master, while the `live` markers written before them survived. Nobody saw
/// those writes fail, so they are not in `session_cache_invalidations`; PostgreSQL still knows.
pub async fn rewrite_recent_tombstones(state: &AppState) -> Result<usize, ApiError> {
    let recent = sessions::revoked_since(&state.db, RECENT_REVOCATIONS).await?;
    for chunk in recent.chunks(FLUSH_BATCH) {
        write_tombstones(state, chunk).await?;
    }
    Ok(recent.len())
}

/// Flushes queued revocations and, after a Redis failure, rewrites recent tombstones (a failover
/// may have lost them) and drops every cached card list (their invalidations may have been
/// lost); then settles the cache so cached positives count again.
pub async fn recover_after_redis_failures(state: &AppState) -> Result<(), ApiError> {
    let mark = state.cache.failure_mark();
    let unsettled = state.cache.unsettled();
    let flushed = flush_pending_invalidations(state).await?;
    if unsettled && flushed < FLUSH_BATCH {
        rewrite_recent_tombstones(state).await?;
        crate::card_cache::start_new_epoch(state).await?;
        state.cache.settle(mark);
        tracing::info!(
            revocations_flushed = flushed,
            "redis answers again: missed writes replayed, card lists dropped"
        );
    }
    Ok(())
}

/// Runs [`recover_after_redis_failures`] every second for the life of the process.
pub fn spawn_invalidation_flusher(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = recover_after_redis_failures(&state).await
                && e.status().is_server_error()
            {
                tracing::debug!(error = %e, "session invalidations not flushed yet");
            }
        }
    })
}
