//! Read-only figures (`sql/functions/reports.sql`): a merchant's day and the back office's statistics.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgPool;

use mps_api::admin::{AccountCounts, CardCounts, TodayFigures};
use mps_api::money::{Money, SignedMoney};

use crate::db::money_ops::decode;
use crate::error::ApiError;

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
