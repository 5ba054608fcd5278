//! The membership level table (`sql/functions/levels.sql`).

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use mps_api::admin::Level;

use crate::db::call_with_retry;
use crate::db::money_ops::decode;
use crate::error::ApiError;

/// A proposed level, shaped but not yet checked against the table rules.
#[derive(Debug, Clone, Serialize)]
pub struct ProposedLevel<'a> {
    pub level: i32,
    pub name: &'a str,
    pub min_points: i64,
    pub max_points: Option<i64>,
    /// Serialized as exact decimal text; the SQL function checks its range and scale.
    pub discount: Decimal,
}

/// The active levels, lowest range first.
pub async fn level_table_json(db: &PgPool) -> Result<Vec<Level>, ApiError> {
    let raw: Value = sqlx::query_scalar("SELECT level_table_json()").fetch_one(db).await?;
    decode(raw)
}

/// Replaces the table (422 `INVALID_LEVEL_TABLE` when it breaks the rules); returns the new one.
pub async fn replace_levels(
    db: &PgPool,
    admin_id: Uuid,
    levels: &[ProposedLevel<'_>],
    request_id: &str,
) -> Result<Vec<Level>, ApiError> {
    let levels = serde_json::to_value(levels).map_err(ApiError::internal)?;
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT replace_levels($1, $2, $3)")
            .bind(admin_id)
            .bind(&levels)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}
