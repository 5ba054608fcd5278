//! Reading transactions and point ledgers, as each caller may see them.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use mps_api::domain::{TransactionView, TxType};
use mps_api::member::{CardHistory, LedgerEntry};
use mps_api::pagination::Paging;
use mps_api::roles::Role;

use crate::auth::AuthUser;
use crate::db::paging::{SortKey, count_within_budget};
use crate::error::ApiError;

/// Filters of a transaction list.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxFilter {
    pub card_id: Option<Uuid>,
    /// One store's transactions (a merchant's list: `?store=`, or a store-restricted caller's).
    pub store_id: Option<Uuid>,
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

/// `SELECT` and the columns of `transaction_views` as `TransactionView` decodes them, plain (no
/// JSON): a list page is rendered by serde in Rust, not by `to_jsonb` per row and `jsonb_agg` in
/// PostgreSQL then parsed back (issue 15). Keep in step with the view
/// (sql/functions/payments.sql); the list tests compare a list's rows with the single-transaction
/// answer, which reads the view. `card_no` is where the card number comes from; `merchant`, when
/// every row is that merchant's, has its code read once instead of per row. The names a row
/// refers to are read by scalar subqueries, one primary-key probe each for the page's rows only:
/// as joins, the planner may hash a whole table for a page of 51 rows (it read all 10,010 stores
/// for the busy merchant's page at 10M, issue 15 fifth pass).
fn push_tx_columns(qb: &mut QueryBuilder<Postgres>, card_no: &str, merchant: Option<Uuid>) {
    qb.push(format_args!("SELECT t.id, t.tx_no, t.tx_type, t.card_id, {card_no} AS card_no, "));
    match merchant {
        Some(merchant) => qb.push("(SELECT m.code FROM merchants m WHERE m.id = ").push_bind(merchant).push(")"),
        None => qb.push("(SELECT m.code FROM merchants m WHERE m.id = t.merchant_id)"),
    };
    qb.push(
        " AS merchant_code, t.raw_amount, t.discount_applied, t.final_amount, t.points_earned, t.status, \
         t.payment_method, (SELECT o.tx_no FROM transactions o WHERE o.id = t.original_tx_id) AS original_tx_no, \
         t.external_order_id, t.tag, t.operator, \
         CASE WHEN t.tx_type = 'payment' THEN t.refunded_total END AS refunded_total, t.created_at, t.balance_after, \
         (SELECT st.code FROM stores st WHERE st.id = t.store_id) AS store_code, t.staff_id, t.pos_key_id, \
         (SELECT k.terminal_id FROM pos_keys k WHERE k.id = t.pos_key_id) AS terminal_id",
    );
}

/// A row's card number, read for the page's rows only.
const CARD_NO: &str = "(SELECT c.card_no FROM cards c WHERE c.id = t.card_id)";

/// The order of transaction lists: newest first, by `(created_at, id)`.
pub const TX_ORDER: SortKey = SortKey { at: "t.created_at", id: "t.id", id_type: "uuid", descending: true };

/// The filters of a transaction list as ` AND …` conditions on `t`. A type other than
/// `payment` also repeats the predicate of the partial indexes that serve such lists.
fn push_tx_filters(qb: &mut QueryBuilder<Postgres>, filter: &TxFilter) {
    if let Some(tx_type) = filter.tx_type {
        qb.push(" AND t.tx_type = ").push_bind(tx_type.as_str()).push("::tx_type");
        if tx_type != TxType::Payment {
            qb.push(" AND t.tx_type <> 'payment'");
        }
    }
    if let Some(start) = filter.start {
        qb.push(" AND t.created_at >= ").push_bind(start);
    }
    if let Some(end) = filter.end {
        qb.push(" AND t.created_at < ").push_bind(end);
    }
    if let Some(store) = filter.store_id {
        qb.push(" AND t.store_id = ").push_bind(store);
    }
}

/// One page of transactions, newest first, and the total matching the filters when asked for.
///
/// A merchant's page is one range of `transactions_merchant_page_idx`; a member's takes the page
/// from each of the member's cards (one range of `transactions_card_page_idx` each) and merges
/// them, so neither reads more than a page per card whatever the history holds.
///
/// A page by cursor (or the first) reads its rows from that range directly and looks the
/// merchant (a merchant's list) or the cards (a member's) up once, not per row (issue 15, fifth
/// pass: at 10M, a page touches about half the buffers it did). A page by `offset` (kept for
/// old clients, at most `MAX_OFFSET`) first skips along the index alone, then fetches its rows
/// by id, as before.
pub async fn list_transactions(
    db: &PgPool,
    owner: TxOwner,
    filter: TxFilter,
    paging: &Paging,
) -> Result<(Vec<TransactionView>, Option<i64>), ApiError> {
    let mut qb = QueryBuilder::new("");
    match (owner, paging.offset == 0) {
        (TxOwner::Merchant(merchant), true) => {
            push_tx_columns(&mut qb, CARD_NO, Some(merchant));
            qb.push(" FROM (SELECT t.* FROM transactions t WHERE t.merchant_id = ").push_bind(merchant);
            push_tx_filters(&mut qb, &filter);
            TX_ORDER.push_after(&mut qb, paging);
            TX_ORDER.push_order_limit(&mut qb, paging);
            qb.push(") t");
        }
        (TxOwner::Member(member), true) => {
            // The member's few cards are joined once, each card's page carrying its number.
            push_tx_columns(&mut qb, "t.page_card_no", None);
            qb.push(" FROM (SELECT t.*, c.card_no AS page_card_no FROM card_bindings b ");
            qb.push("JOIN cards c ON c.id = b.card_id CROSS JOIN LATERAL (");
            qb.push("SELECT t.* FROM transactions t WHERE t.card_id = b.card_id");
            push_tx_filters(&mut qb, &filter);
            TX_ORDER.push_after(&mut qb, paging);
            TX_ORDER.push_order_limit(&mut qb, paging);
            push_member_cards(&mut qb, member, &filter);
            TX_ORDER.push_order_limit(&mut qb, paging);
            qb.push(") t");
        }
        (TxOwner::Merchant(merchant), false) => {
            push_tx_columns(&mut qb, CARD_NO, Some(merchant));
            qb.push(" FROM (SELECT t.id FROM transactions t WHERE t.merchant_id = ").push_bind(merchant);
            push_tx_filters(&mut qb, &filter);
            TX_ORDER.push_after(&mut qb, paging);
            TX_ORDER.push_order_limit(&mut qb, paging);
            qb.push(") p JOIN transactions t ON t.id = p.id");
        }
        (TxOwner::Member(member), false) => {
            push_tx_columns(&mut qb, CARD_NO, None);
            qb.push(" FROM (SELECT t.id, t.created_at FROM card_bindings b CROSS JOIN LATERAL (");
            qb.push("SELECT t.id, t.created_at FROM transactions t WHERE t.card_id = b.card_id");
            push_tx_filters(&mut qb, &filter);
            TX_ORDER.push_after(&mut qb, paging);
            TX_ORDER.push_order(&mut qb);
            // Each card's page and the offset before it (one of thousands of values: a parameter).
            qb.push(" LIMIT ").push_bind(paging.fetch_limit() + paging.offset);
            push_member_cards(&mut qb, member, &filter);
            TX_ORDER.push_order_limit(&mut qb, paging);
            qb.push(") p JOIN transactions t ON t.id = p.id");
        }
    }
    qb.push(" ORDER BY t.created_at DESC, t.id DESC");
    let mut items: Vec<TransactionView> = qb.build_query_as().fetch_all(db).await?;
    if let TxOwner::Member(_) = owner {
        items = items.into_iter().map(TransactionView::for_member).collect();
    }
    let total = if paging.count { count_transactions(db, owner, &filter).await? } else { None };
    Ok((items, total))
}

/// `) t WHERE` the binding is the member's live one (and of the card asked for).
fn push_member_cards(qb: &mut QueryBuilder<Postgres>, member: Uuid, filter: &TxFilter) {
    qb.push(") t WHERE b.member_id = ").push_bind(member).push(" AND b.active");
    if let Some(card) = filter.card_id {
        qb.push(" AND b.card_id = ").push_bind(card);
    }
}

async fn count_transactions(db: &PgPool, owner: TxOwner, filter: &TxFilter) -> Result<Option<i64>, ApiError> {
    let mut qb = QueryBuilder::new("SELECT count(*) FROM transactions t WHERE ");
    match owner {
        TxOwner::Merchant(merchant) => {
            qb.push("t.merchant_id = ").push_bind(merchant);
        }
        TxOwner::Member(member) => {
            qb.push("t.card_id IN (SELECT card_id FROM card_bindings WHERE active AND member_id = ").push_bind(member);
            qb.push(")");
            if let Some(card) = filter.card_id {
                qb.push(" AND t.card_id = ").push_bind(card);
            }
        }
    }
    push_tx_filters(&mut qb, filter);
    count_within_budget(db, qb.build_query_scalar()).await
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
    let view: Option<TransactionView> = raw
        .map(|r| serde_json::from_value(r).map_err(|e| ApiError::internal(format!("transaction view: {e}"))))
        .transpose()?;
    Ok(if user.role == Role::Member { view.map(TransactionView::for_member) } else { view })
}

/// The order of a points ledger: newest first, by `(created_at, id)`.
pub const LEDGER_ORDER: SortKey = SortKey { at: "l.created_at", id: "l.id", id_type: "bigint", descending: true };

/// A card's ledger rows, up to `WHERE l.card_id = ` (the card bound next).
const LEDGER_SELECT: &str = "SELECT l.id, l.delta, l.points_after, l.reason::text AS reason, t.tx_no, l.note, \
     l.created_at FROM point_ledger l LEFT JOIN transactions t ON t.id = l.tx_id WHERE l.card_id = ";

/// A page of a card's ledger, newest first, with the total when asked for.
pub async fn points_ledger(
    db: &PgPool,
    card_id: Uuid,
    paging: &Paging,
) -> Result<(Vec<LedgerEntry>, Option<i64>), ApiError> {
    let mut qb = QueryBuilder::new(LEDGER_SELECT);
    qb.push_bind(card_id);
    LEDGER_ORDER.push_after(&mut qb, paging);
    LEDGER_ORDER.push_order_limit(&mut qb, paging);
    let items = qb.build_query_as().fetch_all(db).await?;
    let total = if paging.count {
        count_within_budget(
            db,
            sqlx::query_scalar("SELECT count(*) FROM point_ledger WHERE card_id = $1").bind(card_id),
        )
        .await?
    } else {
        None
    };
    Ok((items, total))
}

/// How many of the latest movements and ledger rows a card's view shows.
pub const CARD_HISTORY_ROWS: i64 = 20;

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
    let mut qb = QueryBuilder::new(LEDGER_SELECT);
    qb.push_bind(card_id);
    LEDGER_ORDER.push_order(&mut qb);
    qb.push(" LIMIT ");
    qb.push_bind(limit);
    let points = qb.build_query_as().fetch_all(db).await?;
    Ok(CardHistory { transactions: decode(raw)?, points })
}
