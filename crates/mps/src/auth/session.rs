//! Server-side sessions: PostgreSQL is the truth; Redis caches liveness.
//!
//! A session belongs to one subject in one role: a token whose `sub` or `role` is not its
//! session's is refused however live the session is. A check costs one Redis GET: a `live`
//! marker naming the token's role and subject, or `revoked`, answers at once; a miss (or Redis down) asks
//! PostgreSQL and caches the answer with `SET NX`, so it can never overwrite a revocation
//! tombstone written meanwhile. A revocation commits in PostgreSQL and then writes tombstones;
//! when Redis cannot take them, they wait in `session_cache_invalidations` and every instance
//! flushes them as soon as Redis answers again ([`flush_pending_invalidations`]). Until this
//! process has done so after a Redis failure, it trusts no `live` marker: a Redis that returns
//! with its old data still holds the markers of sessions revoked meanwhile.

use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_redis::redis::{self, AsyncCommands as _};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::permissions::Role;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a cached "live" marker may be trusted without asking PostgreSQL.
const LIVE_MARKER_TTL: Duration = Duration::from_secs(300);
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

/// A session a revocation ended: its id and its subject (which names its marker's slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct RevokedSession {
    pub id: Uuid,
    pub subject_id: Uuid,
}

/// Creates a session row inside the caller's transaction.
pub async fn create_session(
    conn: &mut PgConnection,
    role: Role,
    subject_id: Uuid,
    operator: Option<&str>,
    staff_id: Option<Uuid>,
    expires_at: DateTime<Utc>,
    client_ip: std::net::IpAddr,
) -> Result<Uuid, ApiError> {
    let id = sqlx::query_scalar(
        "INSERT INTO sessions (role, subject_id, operator, expires_at, client_ip, staff_id) \
         VALUES ($1::actor_role, $2, $3, $4, $5::inet, $6) RETURNING id",
    )
    .bind(role.as_str())
    .bind(subject_id)
    .bind(operator)
    .bind(expires_at)
    .bind(client_ip.to_string())
    .bind(staff_id)
    .fetch_one(conn)
    .await?;
    Ok(id)
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
    let expires_at: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT s.expires_at FROM sessions s \
         WHERE s.id = $1 AND s.subject_id = $2 AND s.role = $3::actor_role \
           AND s.revoked_at IS NULL AND s.expires_at > now() \
           AND CASE s.role \
                 WHEN 'member' THEN EXISTS (SELECT 1 FROM members WHERE id = s.subject_id AND status = 'active') \
                 WHEN 'merchant' THEN EXISTS (SELECT 1 FROM merchants WHERE id = s.subject_id AND status = 'active') \
                      AND (s.staff_id IS NULL OR EXISTS (SELECT 1 FROM staff WHERE id = s.staff_id AND status = 'active')) \
                 ELSE EXISTS (SELECT 1 FROM admins WHERE id = s.subject_id AND active) \
               END",
    )
    .bind(claim.session_id)
    .bind(claim.subject)
    .bind(claim.role.as_str())
    .fetch_optional(&state.db)
    .await?;
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

/// Which sessions a revocation ends.
pub enum Revoke {
    /// One session (logout).
    Session(Uuid),
    /// Every live session of an account (suspension, password reset).
    AllOf(Uuid),
    /// Every live session of an account but one (password change keeps the caller's).
    AllOfExcept(Uuid, Uuid),
    /// Every live session of a merchant's staff member (suspension, role change, password reset).
    Staff(Uuid),
    /// Every live session of a staff member but one (their own password change keeps the caller's).
    StaffExcept(Uuid, Uuid),
}

/// Revokes sessions inside the caller's transaction; returns them for [`publish_revocations`]
/// once the transaction has committed.
pub async fn revoke_sessions(
    conn: &mut PgConnection,
    which: Revoke,
    reason: &str,
) -> Result<Vec<RevokedSession>, ApiError> {
    let (subject, session, except, staff) = match which {
        Revoke::Session(id) => (None, Some(id), None, None),
        Revoke::AllOf(subject) => (Some(subject), None, None, None),
        Revoke::AllOfExcept(subject, keep) => (Some(subject), None, Some(keep), None),
        Revoke::Staff(staff) => (None, None, None, Some(staff)),
        Revoke::StaffExcept(staff, keep) => (None, None, Some(keep), Some(staff)),
    };
    let revoked = sqlx::query_as(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = $4 \
         WHERE revoked_at IS NULL \
           AND ($1::uuid IS NULL OR subject_id = $1) \
           AND ($2::uuid IS NULL OR id = $2) \
           AND ($3::uuid IS NULL OR id <> $3) \
           AND ($5::uuid IS NULL OR staff_id = $5) \
         RETURNING id, subject_id",
    )
    .bind(subject)
    .bind(session)
    .bind(except)
    .bind(reason)
    .bind(staff)
    .fetch_all(conn)
    .await?;
    Ok(revoked)
}

/// Writes revocation tombstones to Redis; when it is down, queues them in PostgreSQL.
pub async fn publish_revocations(state: &AppState, revoked: &[RevokedSession]) {
    if revoked.is_empty() || !state.cache.is_configured() {
        return;
    }
    if write_tombstones(state, revoked).await.is_err() {
        let session_ids: Vec<Uuid> = revoked.iter().map(|r| r.id).collect();
        let queued = sqlx::query(
            "INSERT INTO session_cache_invalidations (session_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING",
        )
        .bind(&session_ids)
        .execute(&state.db)
        .await;
        if let Err(e) = queued {
            tracing::error!(error = %e, "cannot queue session invalidations; cached markers expire within 300 s");
        }
    }
}

/// One pipeline per subject: a subject's markers share a hash slot, and a Redis Cluster refuses
/// a pipeline that spans slots.
async fn write_tombstones(state: &AppState, revoked: &[RevokedSession]) -> Result<(), crate::cache::CacheError> {
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

/// How many queued revocations one flush writes.
const FLUSH_BATCH: usize = 1000;

/// Pushes queued revocations to Redis; returns how many were flushed.
pub async fn flush_pending_invalidations(state: &AppState) -> Result<usize, ApiError> {
    let pending: Vec<RevokedSession> = sqlx::query_as(
        "SELECT s.id, s.subject_id FROM session_cache_invalidations i JOIN sessions s ON s.id = i.session_id \
         ORDER BY i.created_at LIMIT $1",
    )
    .bind(i64::try_from(FLUSH_BATCH).unwrap_or(i64::MAX))
    .fetch_all(&state.db)
    .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    write_tombstones(state, &pending).await?;
    let ids: Vec<Uuid> = pending.iter().map(|r| r.id).collect();
    sqlx::query("DELETE FROM session_cache_invalidations WHERE session_id = ANY($1)")
        .bind(&ids)
        .execute(&state.db)
        .await?;
    Ok(pending.len())
}

/// How far back [`rewrite_recent_tombstones`] looks: a `live` marker lives at most
/// [`LIVE_MARKER_TTL`], so a tombstone older than that has nothing left to shadow; a minute more
/// covers clock skew and a slow recovery.
const RECENT_REVOCATIONS: Duration = Duration::from_secs(360);

/// Writes again the tombstones of every session revoked in the last [`RECENT_REVOCATIONS`].
///
/// A Redis that failed over (a Sentinel-promoted replica, a Redis Cluster master replaced by its
/// replica) replicates asynchronously: tombstones it acknowledged just before the failure may be
/// missing on the new master, while the `live` markers written before them survived. Nobody saw
/// those writes fail, so they are not in `session_cache_invalidations`; PostgreSQL still knows.
pub async fn rewrite_recent_tombstones(state: &AppState) -> Result<usize, ApiError> {
    let recent: Vec<RevokedSession> = sqlx::query_as(
        "SELECT id, subject_id FROM sessions \
         WHERE revoked_at IS NOT NULL AND revoked_at > now() - make_interval(secs => $1)",
    )
    .bind(RECENT_REVOCATIONS.as_secs_f64())
    .fetch_all(&state.db)
    .await?;
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
