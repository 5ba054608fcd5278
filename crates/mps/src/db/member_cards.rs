//! Reading cards as a caller sees them.

use sqlx::PgExecutor;
use uuid::Uuid;

use mps_api::domain::CardView;

use crate::error::ApiError;

/// The columns of a [`CardView`] for card `c`, priced for member `$1` with binding `b`.
pub const CARD_VIEW_COLUMNS: &str = "c.id, c.card_no, c.card_type, c.name, c.balance, c.points, c.level, \
     c.level_discount AS discount, \
     effective_discount(c.card_type, c.level_discount, c.fixed_discount, $1) AS effective_discount, \
     c.fixed_discount, effective_card_status(c.status, c.expires_at) AS status, c.expires_at, \
     b.role, c.created_at";

/// One card as member `member_id` sees it through their live binding; `None` when not bound.
pub async fn card_for_member(
    db: impl PgExecutor<'_>,
    member_id: Uuid,
    card_id: Uuid,
) -> Result<Option<CardView>, ApiError> {
    let sql = format!(
        "SELECT {CARD_VIEW_COLUMNS} FROM card_bindings b JOIN cards c ON c.id = b.card_id \
         WHERE b.member_id = $1 AND b.active AND c.id = $2"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(member_id).bind(card_id).fetch_optional(db).await?)
}

/// Every card member `member_id` is actively bound to, oldest first.
pub async fn cards_for_member(db: impl PgExecutor<'_>, member_id: Uuid) -> Result<Vec<CardView>, ApiError> {
    let sql = format!(
        "SELECT {CARD_VIEW_COLUMNS} FROM card_bindings b JOIN cards c ON c.id = b.card_id \
         WHERE b.member_id = $1 AND b.active ORDER BY c.created_at, c.card_no"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(member_id).fetch_all(db).await?)
}
