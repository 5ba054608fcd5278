//! Reading transactions and point ledgers, as each caller may see them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::{AuthUser, Role};
use crate::domain::{TransactionView, TxType};
use crate::error::ApiError;
use crate::http::pagination::Paging;

/// Filters of a transaction list.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxFilter {
    pub card_id: Option<Uuid>,
    pub tx_type: Option<TxType>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// Whose transactions a list shows.
#[derive(Debug, Clone, Copy)]
pub enum TxOwner {
    /// Transactions of the cards the member is actively bound to.
    Member(Uuid),
    /// The merchant's own transactions.
    Merchant(Uuid),
}

fn decode(raw: serde_json::Value) -> Result<Vec<TransactionView>, ApiError> {
    serde_json::from_value(raw).map_err(|e| ApiError::internal(format!("transaction view: {e}")))
}

/// One page of transactions, newest first, and the total matching the filters.
pub async fn list_transactions(
    db: &PgPool,
    owner: TxOwner,
    filter: TxFilter,
    paging: Paging,
) -> Result<(Vec<TransactionView>, i64), ApiError> {
    let (member, merchant) = match owner {
        TxOwner::Member(id) => (Some(id), None),
        TxOwner::Merchant(id) => (None, Some(id)),
    };
    let (items, total): (serde_json::Value, i64) = sqlx::query_as(
        "WITH matching AS ( \
             SELECT v.* FROM transaction_views v \
             WHERE ($1::uuid IS NULL OR v.card_id IN \
                       (SELECT card_id FROM card_bindings WHERE member_id = $1 AND active)) \
               AND ($2::uuid IS NULL OR v.merchant_id = $2) \
               AND ($3::uuid IS NULL OR v.card_id = $3) \
               AND ($4::tx_type IS NULL OR v.tx_type = $4::tx_type) \
               AND ($5::timestamptz IS NULL OR v.created_at >= $5) \
               AND ($6::timestamptz IS NULL OR v.created_at < $6)), \
         page AS (SELECT * FROM matching ORDER BY created_at DESC, tx_no DESC LIMIT $7 OFFSET $8) \
         SELECT coalesce((SELECT jsonb_agg(to_jsonb(p) - 'merchant_id' ORDER BY p.created_at DESC, p.tx_no DESC) \
                          FROM page p), '[]'), \
                (SELECT count(*) FROM matching)",
    )
    .bind(member)
    .bind(merchant)
    .bind(filter.card_id)
    .bind(filter.tx_type.map(TxType::as_str))
    .bind(filter.start)
    .bind(filter.end)
    .bind(paging.limit)
    .bind(paging.offset)
    .fetch_one(db)
    .await?;
    Ok((decode(items)?, total))
}

/// A transaction by number, if the caller may see it: members bound to its card, its merchant
/// (a caller restricted to a store: that store's only), and admins.
pub async fn visible_transaction(
    db: &PgPool,
    user: &AuthUser,
    tx_no: &str,
) -> Result<Option<TransactionView>, ApiError> {
    let (member, merchant, admin) = match user.role {
        Role::Member => (Some(user.id), None, false),
        Role::Merchant => (None, Some(user.id), false),
        Role::Admin => (None, None, true),
    };
    let raw: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT to_jsonb(v) - 'merchant_id' FROM transaction_views v \
         WHERE v.tx_no = upper($1) \
           AND ($4 \
                OR (v.merchant_id = $3 AND ($5::uuid IS NULL OR v.store_id = $5)) \
                OR EXISTS (SELECT 1 FROM card_bindings b WHERE b.card_id = v.card_id AND b.member_id = $2 AND b.active))",
    )
    .bind(tx_no)
    .bind(member)
    .bind(merchant)
    .bind(admin)
    .bind(user.store_id.filter(|_| user.role == Role::Merchant))
    .fetch_optional(db)
    .await?;
    raw.map(|r| serde_json::from_value(r).map_err(|e| ApiError::internal(format!("transaction view: {e}")))).transpose()
}

/// One row of a card's points ledger.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct LedgerEntry {
    pub id: i64,
    /// Points added (positive) or removed (negative).
    pub delta: i64,
    pub points_after: i64,
    /// `payment`, `refund_reverse` or `admin_adjust`.
    pub reason: String,
    pub tx_no: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A page of a card's ledger, newest first, with the total.
pub async fn points_ledger(db: &PgPool, card_id: Uuid, paging: Paging) -> Result<(Vec<LedgerEntry>, i64), ApiError> {
    let items = sqlx::query_as(
        "SELECT l.id, l.delta, l.points_after, l.reason::text AS reason, t.tx_no, l.note, l.created_at \
         FROM point_ledger l LEFT JOIN transactions t ON t.id = l.tx_id \
         WHERE l.card_id = $1 ORDER BY l.created_at DESC, l.id DESC LIMIT $2 OFFSET $3",
    )
    .bind(card_id)
    .bind(paging.limit)
    .bind(paging.offset)
    .fetch_all(db)
    .await?;
    let total =
        sqlx::query_scalar("SELECT count(*) FROM point_ledger WHERE card_id = $1").bind(card_id).fetch_one(db).await?;
    Ok((items, total))
}

/// How many of the latest movements and ledger rows a card's view shows.
pub const CARD_HISTORY_ROWS: i64 = 20;

/// A card's latest movements with the balance after each, and its latest points ledger rows with
/// the points after each (issue 19).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardHistory {
    /// Newest first; each carries `balance_after`.
    pub transactions: Vec<TransactionView>,
    /// Newest first; each carries `points_after`.
    pub points: Vec<LedgerEntry>,
}

/// The `limit` latest transactions and points ledger rows of a card.
pub async fn card_history(db: &PgPool, card_id: Uuid, limit: i64) -> Result<CardHistory, ApiError> {
    let raw: serde_json::Value = sqlx::query_scalar(
        "SELECT coalesce(jsonb_agg(to_jsonb(p) - 'merchant_id' ORDER BY p.created_at DESC, p.tx_no DESC), '[]') \
         FROM (SELECT * FROM transaction_views v WHERE v.card_id = $1 \
               ORDER BY v.created_at DESC, v.tx_no DESC LIMIT $2) p",
    )
    .bind(card_id)
    .bind(limit)
    .fetch_one(db)
    .await?;
    let (points, _) = points_ledger(db, card_id, Paging { limit, offset: 0 }).await?;
    Ok(CardHistory { transactions: decode(raw)?, points })
}
