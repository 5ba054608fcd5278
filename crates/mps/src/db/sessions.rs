//! Server-side sessions in PostgreSQL, the truth `auth::session` caches in Redis: creating,
//! checking and revoking them, and the queue of revocations Redis has not yet been told of
//! (`session_cache_invalidations`, flushed by `crate::recovery`).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use mps_api::roles::Role;

use crate::error::ApiError;

/// A session a revocation ended: its id and its subject (which names its marker's slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct RevokedSession {
    pub id: Uuid,
    pub subject_id: Uuid,
}

/// A new session's row.
pub struct SessionRow<'a> {
    pub role: Role,
    pub subject_id: Uuid,
    pub operator: Option<&'a str>,
    pub staff_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub client_ip: std::net::IpAddr,
}

/// Creates a session row inside the caller's transaction; returns its id.
pub async fn create_session(conn: &mut PgConnection, session: SessionRow<'_>) -> Result<Uuid, ApiError> {
    let id = sqlx::query_scalar(
        "INSERT INTO sessions (role, subject_id, operator, expires_at, client_ip, staff_id) \
         VALUES ($1::actor_role, $2, $3, $4, $5::inet, $6) RETURNING id",
    )
    .bind(session.role.as_str())
    .bind(session.subject_id)
    .bind(session.operator)
    .bind(session.expires_at)
    .bind(session.client_ip.to_string())
    .bind(session.staff_id)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// When the session expires, if it is live, belongs to `subject` in `role`, and that account
/// (and its staff member, for a staff session) may still act; `None` otherwise.
pub async fn live_session_expiry(
    pool: &PgPool,
    session_id: Uuid,
    subject: Uuid,
    role: Role,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let expires_at = sqlx::query_scalar(
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
    .bind(session_id)
    .bind(subject)
    .bind(role.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(expires_at)
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

/// Revokes sessions inside the caller's transaction; returns them for
/// `auth::session::publish_revocations` once the transaction has committed.
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

/// Queues revocations Redis could not take, for the recovery to write once it answers.
pub async fn queue_invalidations(pool: &PgPool, session_ids: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO session_cache_invalidations (session_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING",
    )
    .bind(session_ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// The oldest `limit` queued revocations.
pub async fn pending_invalidations(pool: &PgPool, limit: usize) -> Result<Vec<RevokedSession>, ApiError> {
    let pending = sqlx::query_as(
        "SELECT s.id, s.subject_id FROM session_cache_invalidations i JOIN sessions s ON s.id = i.session_id \
         ORDER BY i.created_at LIMIT $1",
    )
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    Ok(pending)
}

/// Takes written revocations off the queue.
pub async fn delete_invalidations(pool: &PgPool, session_ids: &[Uuid]) -> Result<(), ApiError> {
    sqlx::query("DELETE FROM session_cache_invalidations WHERE session_id = ANY($1)")
        .bind(session_ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every session revoked within the last `within`.
pub async fn revoked_since(pool: &PgPool, within: std::time::Duration) -> Result<Vec<RevokedSession>, ApiError> {
    let recent = sqlx::query_as(
        "SELECT id, subject_id FROM sessions \
         WHERE revoked_at IS NOT NULL AND revoked_at > now() - make_interval(secs => $1)",
    )
    .bind(within.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(recent)
}
