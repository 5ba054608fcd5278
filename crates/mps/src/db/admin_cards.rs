//! Cards as admins manage them (`sql/functions/cards.sql`): issue, status moves, binding password, search.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use mps_api::admin::AdminCardView;
use mps_api::domain::{CardStatus, CardType, TransactionView};
use mps_api::money::Money;
use mps_api::pagination::Paging;

use crate::db::call_with_retry;
use crate::db::money_ops::decode;
use crate::db::paging::{SortKey, count_within_budget};
use crate::error::ApiError;

const ADMIN_CARD_COLUMNS: &str = "v.id, v.card_no, v.card_type, v.name, v.balance, v.points, v.level, v.discount, \
     v.effective_discount, v.fixed_discount, v.status, v.expires_at, v.role, v.created_at, v.stored_status, \
     v.updated_at, v.has_binding_password, v.binding_count, v.owner_member_id, v.owner_member_no, v.owner_name, \
     v.owner_phone";

/// A card by id, as admins see it.
pub async fn admin_card(db: &PgPool, card_id: Uuid) -> Result<Option<AdminCardView>, ApiError> {
    let sql = format!("SELECT {ADMIN_CARD_COLUMNS} FROM admin_card_views v WHERE v.id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(card_id).fetch_optional(db).await?)
}

/// Filters of the admin card search.
#[derive(Debug, Clone, Copy, Default)]
pub struct CardSearch<'a> {
    /// Part of the card number, or of an owner's name or phone.
    pub q: Option<&'a str>,
    pub card_type: Option<CardType>,
    /// The effective status.
    pub status: Option<CardStatus>,
}

/// `%text%` for LIKE, with the pattern characters of `text` escaped.
fn contains_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// The order of card lists: newest first, by `(created_at, id)`.
pub const CARD_ORDER: SortKey = SortKey { at: "v.created_at", id: "v.id", id_type: "uuid", descending: true };

/// ` AND …` for the filters given.
fn push_card_filter(qb: &mut QueryBuilder<Postgres>, search: &CardSearch<'_>) {
    if let Some(q) = search.q {
        let pattern = contains_pattern(q);
        qb.push(" AND (v.card_no ILIKE ").push_bind(pattern.clone());
        qb.push(
            " OR EXISTS (SELECT 1 FROM card_bindings b JOIN members m ON m.id = b.member_id \
             WHERE b.card_id = v.id AND b.active AND b.role = 'owner' AND (m.name ILIKE ",
        );
        qb.push_bind(pattern.clone()).push(" OR m.phone LIKE ").push_bind(pattern).push(")))");
    }
    if let Some(card_type) = search.card_type {
        qb.push(" AND v.card_type = ").push_bind(card_type);
    }
    if let Some(status) = search.status {
        qb.push(" AND v.status = ").push_bind(status);
    }
}

/// One page of cards, newest first, and the total matching the filters when asked for.
pub async fn search_cards(
    db: &PgPool,
    search: CardSearch<'_>,
    paging: &Paging,
) -> Result<(Vec<AdminCardView>, Option<i64>), ApiError> {
    let mut qb = QueryBuilder::new(format!("SELECT {ADMIN_CARD_COLUMNS} FROM admin_card_views v WHERE true"));
    push_card_filter(&mut qb, &search);
    CARD_ORDER.push_after(&mut qb, paging);
    CARD_ORDER.push_order_limit(&mut qb, paging);
    let items = qb.build_query_as().fetch_all(db).await?;
    let total = if paging.count {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM admin_card_views v WHERE true");
        push_card_filter(&mut qb, &search);
        count_within_budget(db, qb.build_query_scalar()).await?
    } else {
        None
    };
    Ok((items, total))
}

/// A validated card issue (no `Debug`: it holds a password hash).
pub struct NewCard<'a> {
    pub card_type: CardType,
    pub owner_member_id: Uuid,
    pub name: Option<&'a str>,
    pub fixed_discount: Option<Decimal>,
    pub binding_password_hash: Option<String>,
    pub initial_balance: Option<Money>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What `create_card` answers.
#[derive(Debug, Deserialize)]
pub struct CreatedCard {
    pub card_id: Uuid,
    /// The voucher's initial `manual` recharge, if it has one.
    pub initial_transaction: Option<TransactionView>,
    pub affected_members: Vec<Uuid>,
}

/// Issues a corporate or voucher card (a voucher's balance as a `manual` recharge).
pub async fn create_card(
    db: &PgPool,
    admin_id: Uuid,
    new: NewCard<'_>,
    request_id: &str,
) -> Result<CreatedCard, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT create_card($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(admin_id)
            .bind(new.card_type)
            .bind(new.owner_member_id)
            .bind(new.name)
            .bind(new.fixed_discount)
            .bind(new.binding_password_hash.as_deref())
            .bind(new.initial_balance.map(Money::amount))
            .bind(new.expires_at)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}

/// What the card mutations answer: the card changed and whose card lists are now stale.
#[derive(Debug, Deserialize)]
pub struct ChangedCard {
    pub card_id: Uuid,
    /// For status moves: the stored status before.
    #[serde(default)]
    pub previous_status: Option<CardStatus>,
    pub affected_members: Vec<Uuid>,
}

/// A status move, audited as `move_.action`.
#[derive(Debug, Clone, Copy)]
pub struct StatusMove<'a> {
    pub to: CardStatus,
    /// Only from this status (freeze: active; unfreeze: inactive).
    pub only_from: Option<CardStatus>,
    pub action: &'a str,
    pub reason: Option<&'a str>,
}

/// Moves a card's status along SPEC §2 (409 `INVALID_STATUS_TRANSITION`, `CARD_HAS_BALANCE`).
pub async fn set_card_status(
    db: &PgPool,
    admin_id: Uuid,
    card_id: Uuid,
    status_move: StatusMove<'_>,
    request_id: &str,
) -> Result<ChangedCard, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT set_card_status($1, $2, $3, $4, $5, $6, $7)")
            .bind(admin_id)
            .bind(card_id)
            .bind(status_move.to)
            .bind(status_move.only_from)
            .bind(status_move.action)
            .bind(status_move.reason)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}

/// Sets or (with `None`) clears a corporate card's binding password hash.
pub async fn set_binding_password(
    db: &PgPool,
    admin_id: Uuid,
    card_id: Uuid,
    hash: Option<&str>,
    request_id: &str,
) -> Result<ChangedCard, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT set_binding_password($1, $2, $3, $4)")
            .bind(admin_id)
            .bind(card_id)
            .bind(hash)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode(raw)
}
