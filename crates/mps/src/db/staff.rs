//! A merchant's staff accounts: creation, reads, changes and passwords.

use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use mps_api::error::ErrorCode;
use mps_api::merchant::{StaffStatus, StaffView};
use mps_api::pagination::Paging;
use mps_api::roles::{Role, StaffRole};

use crate::db::paging::count_within_budget;
use crate::error::ApiError;

const STAFF_COLUMNS: &str = "s.id, s.username, s.name, s.role, s.store_id, \
     (SELECT code FROM stores WHERE id = s.store_id) AS store_code, s.status, s.created_at, s.updated_at";

/// A staff member to create.
#[derive(Debug, Clone, Copy)]
pub struct NewStaff<'a> {
    pub username: &'a str,
    pub name: &'a str,
    pub role: StaffRole,
    pub store_id: Option<Uuid>,
    pub password_hash: &'a str,
}

/// Creates a staff member inside the caller's transaction (409 `DUPLICATE_USERNAME`).
pub async fn create_staff(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    new: NewStaff<'_>,
) -> Result<StaffView, ApiError> {
    let sql = format!(
        "INSERT INTO staff AS s (merchant_id, username, name, role, store_id, password_hash) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {STAFF_COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(merchant_id)
        .bind(new.username)
        .bind(new.name)
        .bind(new.role)
        .bind(new.store_id)
        .bind(new.password_hash)
        .fetch_one(conn)
        .await?)
}

/// One page of a merchant's staff, by username (`lower(username)`, unique per merchant: the
/// index `staff_username_key` serves the order), and how many there are when asked.
/// The cursor's key is the last row's lowercased username ([`StaffView::page_key`]); its
/// timestamp is not used by this list.
pub async fn list_staff(
    db: &PgPool,
    merchant_id: Uuid,
    store_id: Option<Uuid>,
    paging: &Paging,
) -> Result<(Vec<StaffView>, Option<i64>), ApiError> {
    let mut qb = QueryBuilder::new(format!("SELECT {STAFF_COLUMNS} FROM staff s WHERE s.merchant_id = "));
    qb.push_bind(merchant_id);
    if let Some(store) = store_id {
        qb.push(" AND s.store_id = ").push_bind(store);
    }
    if let Some(after) = paging.after_key() {
        qb.push(" AND lower(s.username) > ");
        qb.push_bind(after.to_owned());
    }
    qb.push(" ORDER BY lower(s.username)");
    crate::db::paging::push_limit(&mut qb, paging.fetch_limit(), paging.offset);
    let items = qb.build_query_as().fetch_all(db).await?;
    let total = if paging.count {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM staff WHERE merchant_id = ");
        qb.push_bind(merchant_id);
        if let Some(store) = store_id {
            qb.push(" AND store_id = ").push_bind(store);
        }
        count_within_budget(db, qb.build_query_scalar()).await?
    } else {
        None
    };
    Ok((items, total))
}

/// One of a merchant's staff, locked (`FOR UPDATE`) when read inside a transaction that changes it.
pub async fn find_staff(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    id: Uuid,
    lock: bool,
) -> Result<Option<StaffView>, ApiError> {
    let sql = format!(
        "SELECT {STAFF_COLUMNS} FROM staff s WHERE s.merchant_id = $1 AND s.id = $2{}",
        if lock { " FOR UPDATE OF s" } else { "" }
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(merchant_id).bind(id).fetch_optional(conn).await?)
}

/// What may change of a staff member.
#[derive(Debug, Clone, Copy, Default)]
pub struct StaffChange<'a> {
    pub name: Option<&'a str>,
    pub role: Option<StaffRole>,
    /// `Some(None)` lifts the store restriction.
    pub store_id: Option<Option<Uuid>>,
    pub status: Option<StaffStatus>,
}

/// Changes a staff member inside the caller's transaction. A suspension by an admin (`by_admin`)
/// marks the row `suspended_by_admin`; any activation clears it (the merchant side is refused one
/// before it gets here, in [`change_staff`]); a merchant's suspension keeps the mark it finds.
pub async fn update_staff(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    id: Uuid,
    change: StaffChange<'_>,
    by_admin: bool,
) -> Result<Option<StaffView>, ApiError> {
    let sql = format!(
        "UPDATE staff s SET name = coalesce($3, s.name), role = coalesce($4, s.role), \
                store_id = CASE WHEN $5 THEN $6 ELSE s.store_id END, status = coalesce($7, s.status), \
                suspended_by_admin = CASE WHEN $7 IS NULL THEN s.suspended_by_admin \
                                          WHEN $7 = 'active' THEN false \
                                          ELSE s.suspended_by_admin OR $8 END, \
                updated_at = now() \
         WHERE s.merchant_id = $1 AND s.id = $2 RETURNING {STAFF_COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(merchant_id)
        .bind(id)
        .bind(change.name)
        .bind(change.role)
        .bind(change.store_id.is_some())
        .bind(change.store_id.flatten())
        .bind(change.status)
        .bind(by_admin)
        .fetch_optional(conn)
        .await?)
}

/// A staff member's password hash, for a password change.
pub async fn password_hash(db: &PgPool, id: Uuid) -> Result<Option<String>, ApiError> {
    Ok(sqlx::query_scalar("SELECT password_hash FROM staff WHERE id = $1").bind(id).fetch_optional(db).await?)
}

/// Stores a staff member's new password hash inside the caller's transaction.
pub async fn set_password_hash(conn: &mut PgConnection, id: Uuid, hash: &str) -> Result<bool, ApiError> {
    let done = sqlx::query("UPDATE staff SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether an admin's suspension holds the staff member (read under the caller's row lock).
async fn suspended_by_admin(conn: &mut PgConnection, id: Uuid) -> Result<bool, ApiError> {
    Ok(sqlx::query_scalar("SELECT suspended_by_admin FROM staff WHERE id = $1").bind(id).fetch_one(conn).await?)
}

/// Who changes a staff member, for the audit event.
#[derive(Debug, Clone, Copy)]
pub struct StaffAudit<'a> {
    /// `CREATE_STAFF`, `UPDATE_STAFF`, `STAFF_SUSPEND`, `STAFF_ACTIVATE`, `STAFF_PASSWORD_RESET`.
    pub action: &'a str,
    pub actor: crate::db::audit::Actor<'a>,
    /// The merchant's staff member acting, if any.
    pub by_staff: Option<Uuid>,
    pub reason: Option<&'a str>,
    pub request_id: &'a str,
}

/// Changes a staff member in one transaction with its audit event: `allowed` sees the member as
/// it is (locked) and may refuse; a suspension, a new role, store or password ends every session
/// of the member. Who acts is the audit's actor: a suspension by an admin is lifted only by an
/// admin (403 `SUSPENDED_BY_ADMIN` for the merchant's owner or managers), decided under the row
/// lock, so an activation racing an admin's suspension sees it or comes before it.
/// Returns the member and the sessions ended, for `auth::session::publish_revocations`.
pub async fn change_staff(
    db: &PgPool,
    merchant_id: Uuid,
    id: Uuid,
    change: StaffChange<'_>,
    password_hash: Option<&str>,
    audit: StaffAudit<'_>,
    allowed: impl FnOnce(&StaffView) -> Result<(), ApiError>,
) -> Result<(StaffView, Vec<crate::db::sessions::RevokedSession>), ApiError> {
    let not_found = || ApiError::new(ErrorCode::StaffNotFound, "You have no staff member with this id.");
    let mut tx = db.begin().await?;
    let before = find_staff(&mut tx, merchant_id, id, true).await?.ok_or_else(not_found)?;
    allowed(&before)?;
    let by_admin = audit.actor.role == Role::Admin.as_str();
    if change.status == Some(StaffStatus::Active) && !by_admin && suspended_by_admin(&mut tx, id).await? {
        return Err(ApiError::new(
            ErrorCode::SuspendedByAdmin,
            "An administrator suspended this staff member; only an administrator can reactivate them.",
        ));
    }
    let after = update_staff(&mut tx, merchant_id, id, change, by_admin).await?.ok_or_else(not_found)?;
    if let Some(hash) = password_hash {
        set_password_hash(&mut tx, id, hash).await?;
    }
    let ends_sessions = after.status == StaffStatus::Suspended
        || after.role != before.role
        || after.store_id != before.store_id
        || password_hash.is_some();
    let revoked = if ends_sessions {
        crate::db::sessions::revoke_sessions(&mut tx, crate::db::sessions::Revoke::Staff(id), audit.action).await?
    } else {
        Vec::new()
    };
    let context = serde_json::json!({
        "merchant_id": merchant_id, "username": after.username, "by_staff_id": audit.by_staff,
        "reason": audit.reason, "sessions_revoked": revoked.len(),
        "before": { "name": before.name, "role": before.role, "store_id": before.store_id, "status": before.status },
        "after": { "name": after.name, "role": after.role, "store_id": after.store_id, "status": after.status },
    });
    crate::db::audit::record(&mut tx, audit.actor, audit.action, ("staff", &id.to_string()), context, audit.request_id)
        .await?;
    tx.commit().await?;
    Ok((after, revoked))
}
