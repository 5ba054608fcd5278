//! A merchant's (or one store's) statement of a window (issue 19): opening total, every movement,
//! closing total, counted with `store_period_totals` — the definition settlements use — so a statement and a
//! settlement of the same window agree to the cent. Read in one REPEATABLE READ snapshot; the
//! movements stream row by row (constant memory however long the window).

use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt as _};
use rust_decimal::Decimal;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use mps_api::merchant::{StatementMovement, StatementTotals};

use crate::error::ApiError;

/// The snapshot a statement is read from: the totals are read first, the movements after, in
/// the same REPEATABLE READ transaction.
pub struct StatementSnapshot {
    pub merchant_code: String,
    /// The merchant's running total (payments − refunds − top-ups) before the window.
    pub opening: Decimal,
    pub totals: StatementTotals,
    /// The store the statement is of (`None`: the whole merchant).
    pub store_code: Option<String>,
    tx: Transaction<'static, Postgres>,
    merchant_id: Uuid,
    store_id: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// Opens the snapshot and reads the opening total and the window's totals of the merchant, or of
/// one of its stores (`store_id`): the stores' statements add up to the merchant's.
pub async fn merchant_statement(
    db: &sqlx::PgPool,
    merchant_id: Uuid,
    store_id: Option<Uuid>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<StatementSnapshot, ApiError> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await?;
    let merchant_code: String =
        sqlx::query_scalar("SELECT code FROM merchants WHERE id = $1").bind(merchant_id).fetch_one(&mut *tx).await?;
    let store_code: Option<String> = match store_id {
        Some(id) => {
            sqlx::query_scalar("SELECT code FROM stores WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?
        }
        None => None,
    };
    let before: StatementTotals = sqlx::query_as("SELECT * FROM store_period_totals($1, $2, '-infinity', $3)")
        .bind(merchant_id)
        .bind(store_id)
        .bind(from)
        .fetch_one(&mut *tx)
        .await?;
    let totals: StatementTotals = sqlx::query_as("SELECT * FROM store_period_totals($1, $2, $3, $4)")
        .bind(merchant_id)
        .bind(store_id)
        .bind(from)
        .bind(to)
        .fetch_one(&mut *tx)
        .await?;
    let opening = before.net();
    Ok(StatementSnapshot { merchant_code, opening, totals, store_code, tx, merchant_id, store_id, from, to })
}

/// Movements read per round trip: the most a statement holds in memory at once.
const PAGE_ROWS: i64 = 500;

const MOVEMENTS_SQL: &str = "SELECT t.created_at, t.tx_no, t.tx_type::text AS tx_type, \
         t.payment_method::text AS payment_method, c.card_no, o.tx_no AS original_tx_no, t.external_order_id, \
         t.operator, s.code AS store_code, \
         CASE WHEN t.tx_type = 'payment' THEN t.final_amount ELSE -t.final_amount END AS gross_amount, \
         0::numeric(12, 2) AS fee_amount, \
         CASE WHEN t.tx_type = 'payment' THEN t.final_amount ELSE -t.final_amount END AS net_amount \
     FROM transactions t \
     JOIN cards c ON c.id = t.card_id \
     JOIN stores s ON s.id = t.store_id \
     LEFT JOIN transactions o ON o.id = t.original_tx_id \
     WHERE t.merchant_id = $1 AND t.created_at >= $2 AND t.created_at < $3 \
       AND ((t.tx_type = 'payment' AND t.status IN ('completed', 'refunded')) \
            OR (t.tx_type = 'refund' AND t.status = 'completed') \
            OR (t.tx_type = 'recharge' AND t.payment_method = 'cash' AND t.status = 'completed')) \
       AND (t.created_at, t.tx_no) > ($4, $5) \
       AND ($7::uuid IS NULL OR t.store_id = $7) \
     ORDER BY t.created_at, t.tx_no \
     LIMIT $6";

/// Where the next page of movements starts: after this (created_at, tx_no).
struct Cursor {
    tx: Transaction<'static, Postgres>,
    merchant_id: Uuid,
    store_id: Option<Uuid>,
    to: DateTime<Utc>,
    from: DateTime<Utc>,
    after: (DateTime<Utc>, String),
}

impl StatementSnapshot {
    /// The window's movements in time order (the rows the totals count), read page by page
    /// inside the snapshot: constant memory however long the window.
    pub fn movements(self) -> impl Stream<Item = Result<StatementMovement, sqlx::Error>> + Send + 'static {
        let StatementSnapshot { tx, merchant_id, store_id, from, to, .. } = self;
        // Before every row of the window: `from` itself with an empty tx_no.
        let cursor = Cursor { tx, merchant_id, store_id, to, from, after: (from, String::new()) };
        futures_util::stream::unfold(Some(cursor), |cursor| async move {
            let mut cursor = cursor?;
            let page: Result<Vec<StatementMovement>, sqlx::Error> = sqlx::query_as(MOVEMENTS_SQL)
                .bind(cursor.merchant_id)
                .bind(cursor.from)
                .bind(cursor.to)
                .bind(cursor.after.0)
                .bind(&cursor.after.1)
                .bind(PAGE_ROWS)
                .bind(cursor.store_id)
                .fetch_all(&mut *cursor.tx)
                .await;
            match page {
                Err(e) => Some((vec![Err(e)], None)),
                Ok(rows) => {
                    let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) == PAGE_ROWS;
                    let next = match rows.last() {
                        Some(last) if full => {
                            cursor.after = (last.created_at, last.tx_no.clone());
                            Some(cursor)
                        }
                        _ => None,
                    };
                    if rows.is_empty() { None } else { Some((rows.into_iter().map(Ok).collect(), next)) }
                }
            }
        })
        .flat_map(futures_util::stream::iter)
    }
}
