//! Looking accounts up for login, and changing their passwords.

use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::Role;
use crate::error::ApiError;

/// What login needs to know about an account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoginAccount {
    pub id: Uuid,
    pub name: String,
    pub password_hash: Option<String>,
    /// Whether the account may log in (active member or merchant, active admin).
    pub active: bool,
    /// The merchant's code, for merchant tokens.
    pub code: Option<String>,
}

/// Finds the account a login names: a member by phone or member_no, a merchant by code,
/// an admin by email (codes and emails without regard to case).
pub async fn find_for_login(pool: &PgPool, role: Role, identifier: &str) -> Result<Option<LoginAccount>, ApiError> {
    let sql = match role {
        Role::Member => {
            "SELECT id, name, password_hash, status = 'active' AS active, NULL::text AS code \
             FROM members WHERE phone = $1 OR member_no = upper($1) LIMIT 1"
        }
        Role::Merchant => {
            "SELECT id, name, password_hash, status = 'active' AS active, code \
             FROM merchants WHERE upper(code) = upper($1)"
        }
        Role::Admin => {
            "SELECT id, name, password_hash, active, NULL::text AS code FROM admins WHERE lower(email) = lower($1)"
        }
    };
    Ok(sqlx::query_as(sql).bind(identifier.trim()).fetch_optional(pool).await?)
}

/// The current password hash of an account, for a password change.
pub async fn password_hash(pool: &PgPool, role: Role, id: Uuid) -> Result<Option<String>, ApiError> {
    let sql = match role {
        Role::Member => "SELECT password_hash FROM members WHERE id = $1",
        Role::Merchant => "SELECT password_hash FROM merchants WHERE id = $1",
        Role::Admin => "SELECT password_hash FROM admins WHERE id = $1",
    };
    Ok(sqlx::query_scalar::<_, Option<String>>(sql).bind(id).fetch_optional(pool).await?.flatten())
}

/// Stores a new password hash inside the caller's transaction.
pub async fn set_password_hash(
    conn: &mut sqlx::PgConnection,
    role: Role,
    id: Uuid,
    hash: &str,
) -> Result<bool, ApiError> {
    let sql = match role {
        Role::Member => "UPDATE members SET password_hash = $2, updated_at = now() WHERE id = $1",
        Role::Merchant => "UPDATE merchants SET password_hash = $2, updated_at = now() WHERE id = $1",
        Role::Admin => "UPDATE admins SET password_hash = $2, updated_at = now() WHERE id = $1",
    };
    Ok(sqlx::query(sql).bind(id).bind(hash).execute(conn).await?.rows_affected() == 1)
}
