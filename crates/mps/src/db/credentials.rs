//! Looking accounts up for login, and changing their passwords.

use sqlx::PgPool;
use uuid::Uuid;

use mps_api::roles::{Role, StaffRole};

use crate::error::ApiError;

/// What login needs to know about an account.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct LoginAccount {
    /// The account: for a merchant's staff member, the merchant.
    pub id: Uuid,
    pub name: String,
    pub password_hash: Option<String>,
    /// Whether the account may log in (active member or merchant, active admin).
    pub active: bool,
    /// The merchant's code, for merchant tokens.
    pub code: Option<String>,
    /// A merchant's staff member logging in.
    #[sqlx(default)]
    pub staff_id: Option<Uuid>,
    #[sqlx(default)]
    pub staff_role: Option<StaffRole>,
    /// The store a staff member is restricted to.
    #[sqlx(default)]
    pub store_id: Option<Uuid>,
}

/// Finds a merchant's staff member by the merchant's code and the username (both without
/// regard to case); active only when both the staff member and the merchant are.
pub async fn find_staff_for_login(pool: &PgPool, code: &str, username: &str) -> Result<Option<LoginAccount>, ApiError> {
    Ok(sqlx::query_as(
        "SELECT m.id, s.name, s.password_hash, (m.status = 'active' AND s.status = 'active') AS active, m.code, \
                s.id AS staff_id, s.role AS staff_role, s.store_id \
         FROM merchants m JOIN staff s ON s.merchant_id = m.id \
         WHERE upper(m.code) = upper($1) AND lower(s.username) = lower($2)",
    )
    .bind(code.trim())
    .bind(username.trim())
    .fetch_optional(pool)
    .await?)
}

/// [`lock_for_session`] for a staff member: locks the staff and merchant rows (`FOR SHARE`).
pub async fn lock_staff_for_session(
    conn: &mut sqlx::PgConnection,
    staff_id: Uuid,
) -> Result<Option<LoginState>, ApiError> {
    Ok(sqlx::query_as(
        "SELECT s.password_hash, (s.status = 'active' AND m.status = 'active') AS active \
         FROM staff s JOIN merchants m ON m.id = s.merchant_id WHERE s.id = $1 FOR SHARE",
    )
    .bind(staff_id)
    .fetch_optional(conn)
    .await?)
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

/// What decides whether a verified login may still become a session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoginState {
    pub password_hash: Option<String>,
    pub active: bool,
}

/// Locks an account (`FOR SHARE`, until the caller's transaction ends) and reads its password
/// hash and whether it may log in. Suspensions and password changes lock or update the row, so
/// they wait for the caller's session to commit, and it sees theirs once they have.
pub async fn lock_for_session(
    conn: &mut sqlx::PgConnection,
    role: Role,
    id: Uuid,
) -> Result<Option<LoginState>, ApiError> {
    let sql = match role {
        Role::Member => "SELECT password_hash, status = 'active' AS active FROM members WHERE id = $1 FOR SHARE",
        Role::Merchant => "SELECT password_hash, status = 'active' AS active FROM merchants WHERE id = $1 FOR SHARE",
        Role::Admin => "SELECT password_hash, active FROM admins WHERE id = $1 FOR SHARE",
    };
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(conn).await?)
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

/// Locks the member with this phone (`FOR UPDATE`) inside the caller's transaction.
pub async fn lock_member_by_phone(conn: &mut sqlx::PgConnection, phone: &str) -> Result<Option<Uuid>, ApiError> {
    Ok(sqlx::query_scalar("SELECT id FROM members WHERE phone = $1 FOR UPDATE")
        .bind(phone)
        .fetch_optional(conn)
        .await?)
}

/// How many live sessions each role has (`member`, `merchant`, `admin`), for the metrics gauge.
pub async fn live_session_counts(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT role::text, count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > now() GROUP BY role",
    )
    .fetch_all(pool)
    .await
}
