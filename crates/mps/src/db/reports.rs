//! Read-only figures (`sql/functions/reports.sql`): a merchant's day and the back office's statistics.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::db::money_ops::decode;
use crate::error::ApiError;
use crate::money::{Money, SignedMoney};

/// Payments in one hour-long bucket of a day.
#[derive(Debug, Clone, Deserialize)]
pub struct HourBucket {
    /// The bucket's first instant.
    pub start: DateTime<Utc>,
    pub count: i64,
    pub amount: Money,
}

/// A merchant's (or one store's) day as `store_daily_summary` computes it.
#[derive(Debug, Clone, Deserialize)]
pub struct DailyFigures {
    pub payment_count: i64,
    pub payment_amount: Money,
    pub refund_count: i64,
    pub refund_amount: Money,
    pub net_amount: SignedMoney,
    pub hourly: Vec<HourBucket>,
}

/// Accounts by status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountCounts {
    pub total: i64,
    pub active: i64,
    pub suspended: i64,
}

/// Cards by type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardTypeCounts {
    pub standard: i64,
    pub voucher: i64,
    pub corporate: i64,
}

/// Cards by effective status, and by type.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardCounts {
    pub total: i64,
    pub active: i64,
    /// Frozen.
    pub inactive: i64,
    pub lost: i64,
    pub expired: i64,
    pub closed: i64,
    pub by_type: CardTypeCounts,
}

/// A count and the sum of final amounts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CountAmount {
    pub count: i64,
    pub amount: Money,
}

/// Today in the business time zone.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TodayFigures {
    /// Completed payments (and those refunded since).
    pub payments: CountAmount,
    /// Completed refunds.
    pub refunds: CountAmount,
    /// Completed recharges of every channel: member orders, counter top-ups, admin credits.
    pub recharges: CountAmount,
    pub qr_issued: i64,
    pub new_members: i64,
}

/// The back office's figures.
#[derive(Debug, Clone, Deserialize)]
pub struct Statistics {
    /// Members that are not deleted.
    pub members: AccountCounts,
    pub cards: CardCounts,
    pub merchants: AccountCounts,
    pub today: TodayFigures,
}

/// Counts now, with "today" being `[day_start, day_end)`.
pub async fn admin_statistics(
    db: &PgPool,
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
) -> Result<Statistics, ApiError> {
    let raw: Value =
        sqlx::query_scalar("SELECT admin_statistics($1, $2)").bind(day_start).bind(day_end).fetch_one(db).await?;
    decode(raw)
}
