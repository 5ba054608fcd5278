//! Card bindings (`sql/functions/bindings.sql`): bind, unbind, change a role, list.

use serde_json::Value;
use sqlx::{PgPool, QueryBuilder};
use uuid::Uuid;

use mps_api::domain::{BindingRole, BindingView};
use mps_api::error::ErrorCode;
use mps_api::member::BindingChange;
use mps_api::pagination::Paging;

use crate::db::call_with_retry;
use crate::db::money_ops::{Moved, decode_moved};
use crate::db::paging::{SortKey, count_within_budget};
use crate::error::ApiError;

/// A binding's two ends: the card and its member.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub card_id: Uuid,
    pub member_id: Uuid,
}

/// Who acts on a binding: the id and role written to the audit log.
#[derive(Debug, Clone, Copy)]
pub struct BindingActor {
    pub id: Uuid,
    /// `member` or `admin`.
    pub role: &'static str,
}

/// A card's binding password hash (`None` when it has none or does not exist), for verifying a
/// member's attempt before `bind_card`.
pub async fn binding_password_hash(db: &PgPool, card_id: Uuid) -> Result<Option<String>, ApiError> {
    Ok(sqlx::query_scalar("SELECT binding_password_hash FROM cards WHERE id = $1")
        .bind(card_id)
        .fetch_optional(db)
        .await?
        .flatten())
}

/// The id of the card with this number, if any.
pub async fn card_id_by_no(db: &PgPool, card_no: &str) -> Result<Option<Uuid>, ApiError> {
    Ok(sqlx::query_scalar("SELECT id FROM cards WHERE card_no = upper($1)").bind(card_no).fetch_optional(db).await?)
}

/// Binds `member_id` to a card; `password_ok` is the verdict on a member's binding password.
pub async fn bind_card(
    db: &PgPool,
    actor: BindingActor,
    binding: Binding,
    role: BindingRole,
    password_ok: bool,
    request_id: &str,
) -> Result<Moved<BindingChange>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT bind_card($1, $2::actor_role, $3, $4, $5, $6, $7)")
            .bind(actor.id)
            .bind(actor.role)
            .bind(binding.card_id)
            .bind(binding.member_id)
            .bind(role)
            .bind(password_ok)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode_moved(raw)
}

/// Ends a binding; never the last owner's.
pub async fn unbind_card(
    db: &PgPool,
    actor: BindingActor,
    binding: Binding,
    request_id: &str,
) -> Result<Moved<BindingChange>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT unbind_card($1, $2::actor_role, $3, $4, $5)")
            .bind(actor.id)
            .bind(actor.role)
            .bind(binding.card_id)
            .bind(binding.member_id)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode_moved(raw)
}

/// Changes a binding's role; the last owner is never downgraded.
pub async fn change_binding_role(
    db: &PgPool,
    admin_id: Uuid,
    binding: Binding,
    role: BindingRole,
    request_id: &str,
) -> Result<Moved<BindingChange>, ApiError> {
    let raw: Value = call_with_retry(|| {
        sqlx::query_scalar("SELECT change_binding_role($1, $2, $3, $4, $5)")
            .bind(admin_id)
            .bind(binding.card_id)
            .bind(binding.member_id)
            .bind(role)
            .bind(request_id)
            .fetch_one(db)
    })
    .await?;
    decode_moved(raw)
}

/// Every live binding of a card, oldest first (what its owner sees of it).
pub async fn live_bindings(db: &PgPool, card_id: Uuid) -> Result<Vec<BindingView>, ApiError> {
    Ok(sqlx::query_as(
        "SELECT b.member_id, m.member_no, m.name, b.role, b.created_at \
         FROM card_bindings b JOIN members m ON m.id = b.member_id \
         WHERE b.card_id = $1 AND b.active ORDER BY b.created_at",
    )
    .bind(card_id)
    .fetch_all(db)
    .await?)
}

/// The order of a card's bindings: oldest first, by `(created_at, member_id)` (one live binding
/// per member and card).
pub const BINDING_ORDER: SortKey =
    SortKey { at: "b.created_at", id: "b.member_id", id_type: "uuid", descending: false };

/// One page of a card's live bindings, oldest first, and their total when asked for; 404 for
/// an unknown card.
pub async fn card_bindings(
    db: &PgPool,
    card_id: Uuid,
    paging: &Paging,
) -> Result<(Vec<BindingView>, Option<i64>), ApiError> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cards WHERE id = $1)").bind(card_id).fetch_one(db).await?;
    if !exists {
        return Err(ApiError::new(ErrorCode::CardNotFound, "No card has this id or number."));
    }
    let mut qb = QueryBuilder::new(
        "SELECT b.member_id, m.member_no, m.name, b.role, b.created_at \
         FROM card_bindings b JOIN members m ON m.id = b.member_id WHERE b.active AND b.card_id = ",
    );
    qb.push_bind(card_id);
    BINDING_ORDER.push_after(&mut qb, paging);
    BINDING_ORDER.push_order_limit(&mut qb, paging);
    let items = qb.build_query_as().fetch_all(db).await?;
    let total = if paging.count {
        let count =
            sqlx::query_scalar("SELECT count(*) FROM card_bindings WHERE card_id = $1 AND active").bind(card_id);
        count_within_budget(db, count).await?
    } else {
        None
    };
    Ok((items, total))
}
