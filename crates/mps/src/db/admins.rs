//! Administrators.

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiError;

/// Inserts an administrator and its `CREATE_ADMIN` audit event in one transaction.
pub async fn create_admin(
    pool: &PgPool,
    email: &str,
    name: &str,
    password_hash: &str,
    actor_id: Option<Uuid>,
    request_id: Option<&str>,
) -> Result<Uuid, ApiError> {
    let mut tx = pool.begin().await?;
    let id: Uuid =
        sqlx::query_scalar("INSERT INTO admins (email, name, password_hash) VALUES ($1, $2, $3) RETURNING id")
            .bind(email.trim())
            .bind(name.trim())
            .bind(password_hash)
            .fetch_one(&mut *tx)
            .await?;
    let actor_role = if actor_id.is_some() { "admin" } else { "system" };
    sqlx::query(
        "SELECT audit($1, $2::actor_role, 'CREATE_ADMIN', 'admin', $3, jsonb_build_object('email', $4::text), $5)",
    )
    .bind(actor_id)
    .bind(actor_role)
    .bind(id.to_string())
    .bind(email.trim())
    .bind(request_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(id)
}
