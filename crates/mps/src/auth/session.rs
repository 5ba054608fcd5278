//! Server-side sessions: PostgreSQL is the truth; Redis caches liveness.
//!
//! A session belongs to one subject in one role: a token whose `sub` or `role` is not its
//! session's is refused however live the session is. A check costs one Redis GET: a `live`
//! marker naming the token's role and subject, or `revoked`, answers at once; a miss (or Redis down) asks
//! PostgreSQL and caches the answer with `SET NX`, so it can never overwrite a revocation
//! tombstone written meanwhile. A revocation commits in PostgreSQL and then writes tombstones;
//! when Redis cannot take them, they wait in `session_cache_invalidations` and every instance
//! flushes them as soon as Redis answers again (`crate::recovery`). Until this
//! process has done so after a Redis failure, it trusts no `live` marker: a Redis that returns
//! with its old data still holds the markers of sessions revoked meanwhile.

use std::time::Duration;

use chrono::Utc;
use deadpool_redis::redis::{self, AsyncCommands as _};
use uuid::Uuid;

use mps_api::roles::Role;

use crate::db::sessions::{self, RevokedSession};
use crate::error::ApiError;
use crate::state::AppState;

/// How long a cached "live" marker may be trusted without asking PostgreSQL.
pub const LIVE_MARKER_TTL: Duration = Duration::from_secs(300);
const REVOKED: &str = "revoked";

/// A session as a token names it: its id, and the subject and role it must belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionClaim {
    pub session_id: Uuid,
    pub subject: Uuid,
    pub role: Role,
}

impl From<&crate::auth::token::Claims> for SessionClaim {
    fn from(claims: &crate::auth::token::Claims) -> SessionClaim {
        SessionClaim { session_id: claims.session_id, subject: claims.sub, role: claims.role }
    }
}

/// The marker of a live session: it names its role and subject, so a token re-signed for
/// another subject does not match it.
fn live_marker(claim: SessionClaim) -> String {
    format!("live:{}:{}", claim.role.as_str(), claim.subject)
}

/// A session's marker key, hash-tagged by its subject (see [`crate::cache::Cache::tagged_key`]):
/// the fused session + card-list MGET reads it with the member's card keys in one slot, and one
/// account's tombstones go out in one pipeline.
fn marker(state: &AppState, subject: Uuid, session_id: Uuid) -> String {
    state.cache.tagged_key(&subject, &format!("session:{session_id}"))
}

/// The Redis key of a session's liveness marker, for callers that read it together with
/// keys of their own in one round trip.
pub fn marker_key(state: &AppState, claim: SessionClaim) -> String {
    marker(state, claim.subject, claim.session_id)
}

/// What a cached marker decides on its own for this token: `Some(live)`, or `None` when
/// PostgreSQL must (no marker, a cache not yet trusted again, or a live marker of another
/// subject or role, which PostgreSQL then refuses).
pub fn cached_verdict(state: &AppState, marker: Option<&str>, claim: SessionClaim) -> Option<bool> {
    match marker {
        Some(REVOKED) => Some(false),
        Some(live) if !state.cache.unsettled() && live == live_marker(claim) => Some(true),
        _ => None,
    }
}

/// Whether the token's session is live and its own; PostgreSQL decides when the cache cannot.
pub async fn is_live(state: &AppState, claim: SessionClaim) -> Result<bool, ApiError> {
    let key = marker_key(state, claim);
    let cached: Result<Option<String>, _> = state.cache.run(|mut c| async move { c.get(key).await }).await;
    if let Some(verdict) = cached.as_ref().ok().and_then(|marker| cached_verdict(state, marker.as_deref(), claim)) {
        return Ok(verdict);
    }
    is_live_in_database(state, claim, cached.is_ok()).await
}

/// Asks PostgreSQL whether the token's session is live, belongs to the token's subject and role,
/// and that account may still act (active); a live answer is cached with `SET NX` when Redis
/// answered the read (`redis_answered`), so it can never overwrite a revocation tombstone
/// written meanwhile.
pub async fn is_live_in_database(
    state: &AppState,
    claim: SessionClaim,
    redis_answered: bool,
) -> Result<bool, ApiError> {
    let expires_at = sessions::live_session_expiry(&state.db, claim.session_id, claim.subject, claim.role).await?;
    let Some(expires_at) = expires_at else { return Ok(false) };
    if redis_answered {
        let key = marker_key(state, claim);
        let marker = live_marker(claim);
        let remaining = (expires_at - Utc::now()).to_std().unwrap_or_default();
        let ttl = remaining.min(LIVE_MARKER_TTL).as_secs().max(1);
        let _ = state
            .cache
            .run(|mut c| async move {
                redis::cmd("SET").arg(key).arg(marker).arg("NX").arg("EX").arg(ttl).query_async::<()>(&mut c).await
            })
            .await;
    }
    Ok(true)
}

/// Writes revocation tombstones to Redis; when it is down, queues them in PostgreSQL.
/// `revoked` comes from `db::sessions::revoke_sessions` once its transaction has committed.
pub async fn publish_revocations(state: &AppState, revoked: &[RevokedSession]) {
    if revoked.is_empty() || !state.cache.is_configured() {
        return;
    }
    if write_tombstones(state, revoked).await.is_err() {
        let session_ids: Vec<Uuid> = revoked.iter().map(|r| r.id).collect();
        if let Err(e) = sessions::queue_invalidations(&state.db, &session_ids).await {
            tracing::error!(error = %e, "cannot queue session invalidations; cached markers expire within 300 s");
        }
    }
}

/// Writes revocation tombstones, one pipeline per subject: a subject's markers share a hash slot,
/// and a Redis Cluster refuses a pipeline that spans slots.
pub async fn write_tombstones(state: &AppState, revoked: &[RevokedSession]) -> Result<(), crate::cache::CacheError> {
    let ttl = u64::try_from(state.config.jwt_expire_hours).unwrap_or(24) * 3600 + 60;
    let mut by_subject: std::collections::BTreeMap<Uuid, Vec<String>> = std::collections::BTreeMap::new();
    for r in revoked {
        by_subject.entry(r.subject_id).or_default().push(marker(state, r.subject_id, r.id));
    }
    state
        .cache
        .run(|mut c| async move {
            for keys in by_subject.into_values() {
                let mut pipe = redis::pipe();
                for key in keys {
                    pipe.set_ex(key, REVOKED, ttl).ignore();
                }
                pipe.query_async::<()>(&mut c).await?;
            }
            Ok(())
        })
        .await
}
