//! POS API keys: creation, reads, revocation, rotation, and the lookup that authenticates them.
//! Only the SHA-256 of a key is stored; nothing here ever reads or writes a key's plain text.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use mps_api::merchant::KeyView;
use mps_api::pagination::Paging;

use crate::db::paging::{SortKey, count_within_budget};
use crate::error::ApiError;

const KEY_COLUMNS: &str = "k.id, k.prefix, k.name, k.store_id, st.code AS store_code, k.permissions, k.terminal_id, \
     k.expires_at, k.revoked_at, k.last_used_at, k.previous_valid_until, k.created_at";

/// A key to create.
#[derive(Debug, Clone, Copy)]
pub struct NewKey<'a> {
    pub store_id: Uuid,
    pub prefix: &'a str,
    pub name: &'a str,
    pub permissions: &'a [String],
    pub terminal_id: Option<&'a str>,
    pub secret_hash: &'a [u8],
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a key inside the caller's transaction.
pub async fn create_key(conn: &mut PgConnection, merchant_id: Uuid, new: NewKey<'_>) -> Result<KeyView, ApiError> {
    let sql = format!(
        "WITH k AS (INSERT INTO pos_keys (merchant_id, store_id, prefix, name, permissions, terminal_id, secret_hash, \
                                          expires_at) \
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *) \
         SELECT {KEY_COLUMNS} FROM k JOIN stores st ON st.id = k.store_id"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(merchant_id)
        .bind(new.store_id)
        .bind(new.prefix)
        .bind(new.name)
        .bind(new.permissions)
        .bind(new.terminal_id)
        .bind(new.secret_hash)
        .bind(new.expires_at)
        .fetch_one(conn)
        .await?)
}

/// How a key list is ordered: latest first (index `pos_keys_page_idx`, migration 0008).
pub const KEY_ORDER: SortKey = SortKey { at: "k.created_at", id: "k.id", id_type: "uuid", descending: true };

/// One page of a merchant's keys, latest first, and how many there are when asked.
pub async fn list_keys(
    db: &PgPool,
    merchant_id: Uuid,
    paging: &Paging,
) -> Result<(Vec<KeyView>, Option<i64>), ApiError> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {KEY_COLUMNS} FROM pos_keys k JOIN stores st ON st.id = k.store_id WHERE k.merchant_id = "
    ));
    qb.push_bind(merchant_id);
    KEY_ORDER.push_after(&mut qb, paging);
    KEY_ORDER.push_order_limit(&mut qb, paging);
    let items = qb.build_query_as().fetch_all(db).await?;
    let total = if paging.count {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM pos_keys WHERE merchant_id = ");
        qb.push_bind(merchant_id);
        count_within_budget(db, qb.build_query_scalar()).await?
    } else {
        None
    };
    Ok((items, total))
}

/// One of a merchant's keys.
pub async fn find_key(db: &PgPool, merchant_id: Uuid, id: Uuid) -> Result<Option<KeyView>, ApiError> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM pos_keys k JOIN stores st ON st.id = k.store_id \
         WHERE k.merchant_id = $1 AND k.id = $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(merchant_id).bind(id).fetch_optional(db).await?)
}

/// Revokes a key inside the caller's transaction (a revoked key stays revoked, at its first
/// revocation time); `None` when the merchant has no such key.
pub async fn revoke_key(conn: &mut PgConnection, merchant_id: Uuid, id: Uuid) -> Result<Option<KeyView>, ApiError> {
    let sql = format!(
        "WITH k AS (UPDATE pos_keys SET revoked_at = coalesce(revoked_at, now()), updated_at = now() \
                    WHERE merchant_id = $1 AND id = $2 RETURNING *) \
         SELECT {KEY_COLUMNS} FROM k JOIN stores st ON st.id = k.store_id"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(merchant_id).bind(id).fetch_optional(conn).await?)
}

/// Gives a live key a new secret; the previous one keeps working until `previous_valid_until`.
/// `None` when the merchant has no such key, or it is revoked.
pub async fn rotate_key(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    id: Uuid,
    secret_hash: &[u8],
    previous_valid_until: DateTime<Utc>,
) -> Result<Option<KeyView>, ApiError> {
    let sql = format!(
        "WITH k AS (UPDATE pos_keys SET previous_secret_hash = secret_hash, secret_hash = $3, \
                           previous_valid_until = $4, updated_at = now() \
                    WHERE merchant_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING *) \
         SELECT {KEY_COLUMNS} FROM k JOIN stores st ON st.id = k.store_id"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(merchant_id)
        .bind(id)
        .bind(secret_hash)
        .bind(previous_valid_until)
        .fetch_optional(conn)
        .await?)
}

/// What authenticating a key needs, read by its prefix in one indexed lookup.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KeyCredentials {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub merchant_code: String,
    pub name: String,
    pub store_id: Uuid,
    pub permissions: Vec<String>,
    pub secret_hash: Vec<u8>,
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_valid_until: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Not revoked, not expired, its merchant active and its store open.
    pub usable: bool,
}

/// The key with this prefix.
pub async fn key_credentials(db: &PgPool, prefix: &str) -> Result<Option<KeyCredentials>, ApiError> {
    Ok(sqlx::query_as(
        "SELECT k.id, k.merchant_id, m.code AS merchant_code, k.name, k.store_id, k.permissions, k.secret_hash, \
                k.previous_secret_hash, k.previous_valid_until, k.expires_at, k.last_used_at, \
                (k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now()) \
                 AND m.status = 'active' AND st.status = 'active') AS usable \
         FROM pos_keys k JOIN merchants m ON m.id = k.merchant_id JOIN stores st ON st.id = k.store_id \
         WHERE k.prefix = $1",
    )
    .bind(prefix)
    .fetch_optional(db)
    .await?)
}

/// Records that a key was used now.
pub async fn touch_key(db: &PgPool, id: Uuid) -> Result<(), ApiError> {
    sqlx::query("UPDATE pos_keys SET last_used_at = now() WHERE id = $1").bind(id).execute(db).await?;
    Ok(())
}

/// Revokes a merchant's key with its audit event, by the merchant's side (with the staff member
/// acting) or an admin; `None` when the merchant has no such key.
pub async fn revoke(
    db: &PgPool,
    merchant_id: Uuid,
    key_id: Uuid,
    by: (crate::db::audit::Actor<'_>, Option<Uuid>),
    request_id: &str,
) -> Result<Option<KeyView>, ApiError> {
    let mut tx = db.begin().await?;
    let Some(key) = revoke_key(&mut tx, merchant_id, key_id).await? else { return Ok(None) };
    let context = serde_json::json!({ "prefix": key.prefix, "merchant_id": merchant_id, "by_staff_id": by.1 });
    crate::db::audit::record(&mut tx, by.0, "POS_KEY_REVOKE", ("pos_key", &key.id.to_string()), context, request_id)
        .await?;
    tx.commit().await?;
    Ok(Some(key))
}
