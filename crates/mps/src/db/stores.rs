//! Stores (`sql/functions/stores.sql`): a merchant's stores, its settings, per-store books, and
//! the refund rules of restricted callers.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, QueryBuilder};
use uuid::Uuid;

use mps_api::merchant::{MerchantSettings, PeriodTotals, StoreStatus, StoreView};
use mps_api::money::Money;
use mps_api::pagination::Paging;

use crate::db::money_ops::decode;
use crate::db::paging::count_within_budget;
use crate::db::reports::DailyFigures;
use crate::error::ApiError;

const STORE_COLUMNS: &str = "id, code, name, address, time_zone, status, is_default, created_at";

/// A store to create.
#[derive(Debug, Clone, Copy)]
pub struct NewStore<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub address: Option<&'a str>,
    pub time_zone: Option<&'a str>,
}

/// Creates a store inside the caller's transaction (409 `DUPLICATE_STORE_CODE`).
pub async fn create_store(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    store: NewStore<'_>,
) -> Result<StoreView, ApiError> {
    let sql = format!(
        "INSERT INTO stores (merchant_id, code, name, address, time_zone) VALUES ($1, $2, $3, $4, $5) \
         RETURNING {STORE_COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(merchant_id)
        .bind(store.code)
        .bind(store.name)
        .bind(store.address)
        .bind(store.time_zone)
        .fetch_one(conn)
        .await?)
}

/// A store's place in its merchant's list: the default store first (`''`), then by upper-case
/// code; unique per merchant (one default, codes unique regardless of case), served by the index
/// `stores_page_idx` (migration 0008).
const STORE_ORDER_KEY: &str = "(CASE WHEN is_default THEN '' ELSE upper(code) END)";

/// One page of a merchant's stores, the default first, then by code, and how many there are when
/// asked. The cursor's key is [`StoreView::page_key`]; its timestamp is not used by this list.
pub async fn list_stores(
    db: &PgPool,
    merchant_id: Uuid,
    paging: &Paging,
) -> Result<(Vec<StoreView>, Option<i64>), ApiError> {
    let mut qb = QueryBuilder::new(format!("SELECT {STORE_COLUMNS} FROM stores WHERE merchant_id = "));
    qb.push_bind(merchant_id);
    if let Some(after) = paging.after_key() {
        qb.push(format_args!(" AND {STORE_ORDER_KEY} > "));
        qb.push_bind(after.to_owned());
    }
    qb.push(format_args!(" ORDER BY {STORE_ORDER_KEY}"));
    crate::db::paging::push_limit(&mut qb, paging.fetch_limit(), paging.offset);
    let items = qb.build_query_as().fetch_all(db).await?;
    let total = if paging.count {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM stores WHERE merchant_id = ");
        qb.push_bind(merchant_id);
        count_within_budget(db, qb.build_query_scalar()).await?
    } else {
        None
    };
    Ok((items, total))
}

/// A merchant's store by code (regardless of case), whatever its status.
pub async fn find_store(db: &PgPool, merchant_id: Uuid, code: &str) -> Result<Option<StoreView>, ApiError> {
    let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE merchant_id = $1 AND upper(code) = upper($2)");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(merchant_id).bind(code.trim()).fetch_optional(db).await?)
}

/// A merchant's store by id.
pub async fn find_store_by_id(db: &PgPool, merchant_id: Uuid, id: Uuid) -> Result<Option<StoreView>, ApiError> {
    let sql = format!("SELECT {STORE_COLUMNS} FROM stores WHERE merchant_id = $1 AND id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(merchant_id).bind(id).fetch_optional(db).await?)
}

/// The store a transaction records when its request names none: the caller's own store when
/// restricted to one, else the merchant's default store, in one round trip.
pub async fn store_for_charge(
    db: &PgPool,
    merchant_id: Uuid,
    code: Option<&str>,
    restricted_to: Option<Uuid>,
) -> Result<Option<StoreView>, ApiError> {
    let sql = format!(
        "SELECT {STORE_COLUMNS} FROM stores \
         WHERE merchant_id = $1 AND CASE WHEN $2::text IS NOT NULL THEN upper(code) = upper($2) \
                                         WHEN $3::uuid IS NOT NULL THEN id = $3 \
                                         ELSE is_default END"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(merchant_id)
        .bind(code.map(str::trim))
        .bind(restricted_to)
        .fetch_optional(db)
        .await?)
}

/// What may change of a store.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreChange<'a> {
    pub name: Option<&'a str>,
    pub address: Option<Option<&'a str>>,
    pub time_zone: Option<Option<&'a str>>,
    pub status: Option<StoreStatus>,
}

/// Changes a store inside the caller's transaction; `None` when the merchant has no such store.
pub async fn update_store(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    id: Uuid,
    change: StoreChange<'_>,
) -> Result<Option<StoreView>, ApiError> {
    let sql = format!(
        "UPDATE stores SET name = coalesce($3, name), \
                address = CASE WHEN $4 THEN $5 ELSE address END, \
                time_zone = CASE WHEN $6 THEN $7 ELSE time_zone END, \
                status = coalesce($8, status), updated_at = now() \
         WHERE merchant_id = $1 AND id = $2 RETURNING {STORE_COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(merchant_id)
        .bind(id)
        .bind(change.name)
        .bind(change.address.is_some())
        .bind(change.address.flatten())
        .bind(change.time_zone.is_some())
        .bind(change.time_zone.flatten())
        .bind(change.status)
        .fetch_optional(conn)
        .await?)
}

/// A merchant's settings.
pub async fn merchant_settings(db: &PgPool, merchant_id: Uuid) -> Result<MerchantSettings, ApiError> {
    let limit: String = sqlx::query_scalar("SELECT cashier_refund_limit::text FROM merchants WHERE id = $1")
        .bind(merchant_id)
        .fetch_one(db)
        .await?;
    decode(serde_json::json!({ "cashier_refund_limit": limit }))
}

/// Sets the cashier refund limit inside the caller's transaction; returns the previous one.
pub async fn set_cashier_refund_limit(
    conn: &mut PgConnection,
    merchant_id: Uuid,
    limit: Money,
) -> Result<String, ApiError> {
    Ok(sqlx::query_scalar(
        "UPDATE merchants m SET cashier_refund_limit = $2, updated_at = now() \
         FROM (SELECT cashier_refund_limit FROM merchants WHERE id = $1 FOR UPDATE) old \
         WHERE m.id = $1 RETURNING old.cashier_refund_limit::text",
    )
    .bind(merchant_id)
    .bind(limit.amount())
    .fetch_one(conn)
    .await?)
}

/// `store_period_totals`: one store's books (the whole merchant's with `store_id` `None`).
pub async fn store_period_totals(
    db: &PgPool,
    merchant_id: Uuid,
    store_id: Option<Uuid>,
    period: (DateTime<Utc>, DateTime<Utc>),
) -> Result<PeriodTotals, ApiError> {
    let raw: Value = sqlx::query_scalar(
        "SELECT jsonb_build_object('payment_count', t.payment_count, 'payment_amount', t.payment_amount::text, \
                'refund_count', t.refund_count, 'refund_amount', t.refund_amount::text, \
                'topup_count', t.topup_count, 'topup_amount', t.topup_amount::text, \
                'net_amount', (t.payment_amount - t.refund_amount - t.topup_amount)::text) \
         FROM store_period_totals($1, $2, $3, $4) t",
    )
    .bind(merchant_id)
    .bind(store_id)
    .bind(period.0)
    .bind(period.1)
    .fetch_one(db)
    .await?;
    decode(raw)
}

/// `store_daily_summary`: one store's day (the whole merchant's with `store_id` `None`).
pub async fn store_daily_summary(
    db: &PgPool,
    merchant_id: Uuid,
    store_id: Option<Uuid>,
    period: (DateTime<Utc>, DateTime<Utc>),
) -> Result<DailyFigures, ApiError> {
    let raw: Value = sqlx::query_scalar("SELECT store_daily_summary($1, $2, $3, $4)")
        .bind(merchant_id)
        .bind(store_id)
        .bind(period.0)
        .bind(period.1)
        .fetch_one(db)
        .await?;
    decode(raw)
}

/// `check_restricted_refund`: refuses a refund a restricted caller may not make (404
/// `TX_NOT_FOUND` for another store's payment, 403 `REFUND_LIMIT_EXCEEDED`, 403
/// `REFUND_NOT_SAME_DAY`).
pub async fn check_restricted_refund(
    db: &PgPool,
    merchant_id: Uuid,
    original_tx_no: &str,
    amount: Money,
    restriction: (Option<Uuid>, bool),
    default_zone: &str,
) -> Result<(), ApiError> {
    sqlx::query("SELECT check_restricted_refund($1, $2, $3, $4, $5, $6)")
        .bind(merchant_id)
        .bind(original_tx_no)
        .bind(amount.amount())
        .bind(restriction.0)
        .bind(restriction.1)
        .bind(default_zone)
        .execute(db)
        .await?;
    Ok(())
}
