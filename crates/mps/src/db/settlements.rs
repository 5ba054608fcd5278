//! Settlements (`sql/functions/settlements.sql`): generate, move along the state machine, read.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use mps_api::merchant::{SettlementMode, SettlementStatus, SettlementView};
use mps_api::pagination::Paging;

use crate::db::call_with_retry;
use crate::db::money_ops::decode;
use crate::db::paging::{SortKey, count_within_budget};
use crate::error::ApiError;

/// A validated settlement request.
#[derive(Debug, Clone, Copy)]
pub struct SettlementPeriod {
    pub mode: SettlementMode,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Settles the merchant's closed period (422 `PERIOD_NOT_CLOSED`, 409 `SETTLEMENT_ALREADY_EXISTS`).
pub async fn generate_settlement(
    db: &PgPool,
    merchant_id: Uuid,
    period: SettlementPeriod,
    margin_seconds: i64,
    request_id: &str,
) -> Result<SettlementView, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT generate_settlement($1, $2, $3, $4, $5::int, $6)")
            .bind(merchant_id)
            .bind(period.mode)
            .bind(period.start)
            .bind(period.end)
            .bind(margin_seconds)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}

/// Moves a settlement along pending → settled → paid, pending → failed → pending.
pub async fn update_settlement_status(
    db: &PgPool,
    admin_id: Uuid,
    settlement_id: Uuid,
    status: SettlementStatus,
    request_id: &str,
) -> Result<SettlementView, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT update_settlement_status($1, $2, $3, $4)")
            .bind(admin_id)
            .bind(settlement_id)
            .bind(status)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}

/// Filters of a settlement list.
#[derive(Debug, Clone, Copy, Default)]
pub struct SettlementFilter {
    /// Only this merchant's (always set for merchants).
    pub merchant_id: Option<Uuid>,
    pub status: Option<SettlementStatus>,
}

/// The order of settlement lists: latest period first, by `(period_start, id)`.
pub const SETTLEMENT_ORDER: SortKey = SortKey { at: "s.period_start", id: "s.id", id_type: "uuid", descending: true };

fn push_settlement_filter(qb: &mut QueryBuilder<Postgres>, filter: &SettlementFilter) {
    if let Some(merchant) = filter.merchant_id {
        qb.push(" AND s.merchant_id = ").push_bind(merchant);
    }
    if let Some(status) = filter.status {
        qb.push(" AND s.status = ").push_bind(status);
    }
}

/// One page of settlements, latest period first, and the total matching the filter when asked.
pub async fn list_settlements(
    db: &PgPool,
    filter: SettlementFilter,
    paging: &Paging,
) -> Result<(Vec<SettlementView>, Option<i64>), ApiError> {
    let mut qb = QueryBuilder::new(
        "SELECT coalesce(jsonb_agg(to_jsonb(v) ORDER BY v.period_start DESC, v.id DESC), '[]') FROM (\
         SELECT s.id FROM settlements s WHERE true",
    );
    push_settlement_filter(&mut qb, &filter);
    SETTLEMENT_ORDER.push_after(&mut qb, paging);
    SETTLEMENT_ORDER.push_order_limit(&mut qb, paging);
    qb.push(") p JOIN settlement_views v ON v.id = p.id");
    let items: Value = qb.build_query_scalar().fetch_one(db).await?;
    let total = if paging.count {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM settlements s WHERE true");
        push_settlement_filter(&mut qb, &filter);
        count_within_budget(db, qb.build_query_scalar()).await?
    } else {
        None
    };
    Ok((decode(items)?, total))
}

/// A settlement by id or number, if it belongs to `merchant_id` (any merchant's when `None`).
pub async fn find_settlement(
    db: &PgPool,
    id_or_no: &str,
    merchant_id: Option<Uuid>,
) -> Result<Option<SettlementView>, ApiError> {
    let id_or_no = id_or_no.trim();
    let raw: Option<Value> = sqlx::query_scalar(
        "SELECT to_jsonb(v) FROM settlement_views v \
         WHERE ($1::uuid IS NOT NULL AND v.id = $1 OR $1::uuid IS NULL AND v.settlement_no = upper($2)) \
           AND ($3::uuid IS NULL OR v.merchant_id = $3)",
    )
    .bind(Uuid::parse_str(id_or_no).ok())
    .bind(id_or_no)
    .bind(merchant_id)
    .fetch_optional(db)
    .await?;
    raw.map(decode).transpose()
}
