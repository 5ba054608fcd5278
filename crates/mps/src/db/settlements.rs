//! Settlements (`sql/functions/settlements.sql`): generate, move along the state machine, read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::call_with_retry;
use crate::db::money_ops::decode;
use crate::db::paging::{SortKey, count_within_budget};
use crate::error::ApiError;
use crate::http::pagination::Paging;
use crate::money::{Money, SignedMoney};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "settlement_mode", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SettlementMode {
    /// An explicit period `[period_start, period_end)`.
    Realtime,
    /// One calendar day in the business time zone.
    #[serde(rename = "t_plus_1")]
    #[sqlx(rename = "t_plus_1")]
    TPlus1,
    /// One calendar month in the business time zone.
    Monthly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "settlement_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum SettlementStatus {
    Pending,
    Settled,
    Paid,
    Failed,
}

/// A settlement of a merchant's period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SettlementView {
    pub id: Uuid,
    pub settlement_no: String,
    pub merchant_id: Uuid,
    pub merchant_code: String,
    pub mode: SettlementMode,
    /// Inclusive.
    pub period_start: DateTime<Utc>,
    /// Exclusive.
    pub period_end: DateTime<Utc>,
    /// Payments made in the period (completed, or refunded since).
    pub payment_count: i64,
    /// What members paid: Σ final amounts.
    pub payment_amount: Money,
    pub refund_count: i64,
    pub refund_amount: Money,
    /// Counter top-ups: cash the merchant collected for the platform.
    pub topup_count: i64,
    pub topup_amount: Money,
    /// payments − refunds − top-ups; negative when the merchant owes the platform.
    pub net_amount: SignedMoney,
    pub status: SettlementStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Asked with `?store=`: the store whose share the counts and amounts are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_code: Option<String>,
}

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

impl SettlementView {
    /// Its position in a settlement list ([`SETTLEMENT_ORDER`]).
    pub fn page_key(&self) -> (DateTime<Utc>, String) {
        (self.period_start, self.id.to_string())
    }
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
