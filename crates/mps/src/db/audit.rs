//! Audit events written from Rust (SQL functions call `audit()` themselves).

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::ApiError;

/// Who did something, as recorded in the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: Option<Uuid>,
    /// `member`, `merchant`, `admin`, `system` or `anonymous`.
    pub role: &'a str,
}

impl<'a> From<&'a AuthUser> for Actor<'a> {
    fn from(user: &'a AuthUser) -> Self {
        Actor { id: Some(user.id), role: user.role.as_str() }
    }
}

/// One audit event, inside the caller's transaction.
pub async fn record(
    conn: &mut PgConnection,
    actor: Actor<'_>,
    action: &str,
    object: (&str, &str),
    context: Value,
    request_id: &str,
) -> Result<(), ApiError> {
    sqlx::query("SELECT audit($1, $2::actor_role, $3, $4, $5, $6, $7)")
        .bind(actor.id)
        .bind(actor.role)
        .bind(action)
        .bind(object.0)
        .bind(object.1)
        .bind(context)
        .bind(request_id)
        .execute(conn)
        .await?;
    Ok(())
}
