//! External identities of members (e.g. a WeChat openid) and the link tokens that attach one.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use mps_api::member::IdentityView;

use crate::error::ApiError;

/// The member an identity belongs to, and whether it may sign in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IdentityOwner {
    pub member_id: Uuid,
    pub name: String,
    pub active: bool,
}

/// Finds the member of an identity, locking the member row (`FOR SHARE`) until the caller's
/// transaction ends, so a suspension waits for the session it would have to revoke.
pub async fn lock_identity_owner(
    conn: &mut PgConnection,
    provider: &str,
    external_id: &str,
) -> Result<Option<IdentityOwner>, ApiError> {
    Ok(sqlx::query_as(
        "SELECT m.id AS member_id, m.name, m.status = 'active' AS active \
         FROM member_identities i JOIN members m ON m.id = i.member_id \
         WHERE i.provider = $1 AND i.external_id = $2 FOR SHARE OF m",
    )
    .bind(provider)
    .bind(external_id)
    .fetch_optional(conn)
    .await?)
}

/// Notes that an identity was just used to sign in.
pub async fn touch_identity(conn: &mut PgConnection, provider: &str, external_id: &str) -> Result<(), ApiError> {
    sqlx::query("UPDATE member_identities SET last_used_at = now() WHERE provider = $1 AND external_id = $2")
        .bind(provider)
        .bind(external_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// An identity proven by a provider, to link to a member.
#[derive(Debug, Clone)]
pub struct ProvenIdentity {
    pub provider: String,
    pub external_id: String,
    pub union_id: Option<String>,
}

/// Links an identity to a member; a taken identity is 409 `DUPLICATE_EXTERNAL_IDENTITY`.
pub async fn link_identity(
    conn: &mut PgConnection,
    member_id: Uuid,
    identity: &ProvenIdentity,
) -> Result<Uuid, ApiError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO member_identities (member_id, provider, external_id, union_id, last_used_at) \
         VALUES ($1, $2, $3, $4, now()) RETURNING id",
    )
    .bind(member_id)
    .bind(&identity.provider)
    .bind(&identity.external_id)
    .bind(&identity.union_id)
    .fetch_one(conn)
    .await?)
}

/// A member's identities, oldest first.
pub async fn list_member_identities(pool: &PgPool, member_id: Uuid) -> Result<Vec<IdentityView>, ApiError> {
    Ok(sqlx::query_as(
        "SELECT id, provider, external_id, created_at, last_used_at FROM member_identities \
         WHERE member_id = $1 ORDER BY created_at, id",
    )
    .bind(member_id)
    .fetch_all(pool)
    .await?)
}

/// Unlinks one of a member's identities, unless it is the member's last way to sign in
/// (`unlink_member_identity`, which audits it).
pub async fn unlink_member_identity(
    pool: &PgPool,
    member_id: Uuid,
    identity_id: Uuid,
    request_id: &str,
) -> Result<(), ApiError> {
    crate::db::call_with_retry(|| {
        sqlx::query("SELECT unlink_member_identity($1, $2, $3)")
            .bind(member_id)
            .bind(identity_id)
            .bind(request_id)
            .execute(pool)
    })
    .await?;
    Ok(())
}

/// Stores a link token (its hash) for an identity not linked yet.
pub async fn create_link_token(
    pool: &PgPool,
    token_hash: &str,
    identity: &ProvenIdentity,
    expires_at: DateTime<Utc>,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO identity_link_tokens (token_hash, provider, external_id, union_id, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(&identity.provider)
    .bind(&identity.external_id)
    .bind(&identity.union_id)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Uses up a link token inside the caller's transaction; `None` when it is unknown, used or expired.
pub async fn consume_identity_link_token(
    conn: &mut PgConnection,
    token_hash: &str,
) -> Result<Option<ProvenIdentity>, ApiError> {
    let row: Option<(String, String, Option<String>)> =
        sqlx::query_as("SELECT provider, external_id, union_id FROM consume_identity_link_token($1)")
            .bind(token_hash)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(provider, external_id, union_id)| ProvenIdentity { provider, external_id, union_id }))
}
