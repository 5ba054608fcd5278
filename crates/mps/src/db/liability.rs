//! What the programme owes its card holders (issue 19): outstanding stored value at an instant,
//! by card type and by age of last activity, the window's flows that reconcile opening to closing,
//! and breakage (balances left on expired or closed vouchers). Movements are dated by
//! `created_at`, as settlements date them; one REPEATABLE READ snapshot for the whole report.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use mps_api::admin::{LiabilityGroup, LiabilityReport};
use mps_api::money::SignedMoney;

use crate::error::ApiError;

/// What a transaction does to its card's balance, once it counts: + completed recharges and
/// refunds, − payments (completed, or refunded since: the refund is its own movement).
const SIGNED: &str = "CASE WHEN t.tx_type = 'payment' AND t.status IN ('completed', 'refunded') THEN -t.final_amount \
     WHEN t.tx_type IN ('recharge', 'refund') AND t.status = 'completed' THEN t.final_amount ELSE 0 END";

/// Reads the report in one snapshot.
pub async fn liability_report(
    db: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<LiabilityReport, ApiError> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY").execute(&mut *tx).await?;
    let (opening, recharges_in, refunds_in, payments_out, closing): (
        SignedMoney,
        SignedMoney,
        SignedMoney,
        SignedMoney,
        SignedMoney,
    ) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce(sum({SIGNED}) FILTER (WHERE t.created_at < $1), 0), \
                coalesce(sum({SIGNED}) FILTER (WHERE t.tx_type = 'recharge' AND t.created_at >= $1 AND t.created_at < $2), 0), \
                coalesce(sum({SIGNED}) FILTER (WHERE t.tx_type = 'refund' AND t.created_at >= $1 AND t.created_at < $2), 0), \
                coalesce(-sum({SIGNED}) FILTER (WHERE t.tx_type = 'payment' AND t.created_at >= $1 AND t.created_at < $2), 0), \
                coalesce(sum({SIGNED}) FILTER (WHERE t.created_at < $2), 0) \
         FROM transactions t"
    )))
    .bind(from)
    .bind(to)
    .fetch_one(&mut *tx)
    .await?;
    let per_card = format!(
        "WITH per_card AS ( \
             SELECT t.card_id, sum({SIGNED}) AS balance, max(t.created_at) FILTER (WHERE ({SIGNED}) <> 0) AS last_moved \
             FROM transactions t WHERE t.created_at < $1 GROUP BY t.card_id HAVING sum({SIGNED}) <> 0) "
    );
    let by_card_type: Vec<LiabilityGroup> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{per_card} SELECT c.card_type::text AS \"group\", count(*) AS cards, sum(p.balance) AS amount \
         FROM per_card p JOIN cards c ON c.id = p.card_id GROUP BY c.card_type ORDER BY c.card_type"
    )))
    .bind(to)
    .fetch_all(&mut *tx)
    .await?;
    let by_last_activity: Vec<LiabilityGroup> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{per_card}, aged AS ( \
             SELECT p.balance, CASE WHEN $1 - p.last_moved <= interval '30 days' THEN 1 \
                                    WHEN $1 - p.last_moved <= interval '90 days' THEN 2 \
                                    WHEN $1 - p.last_moved <= interval '180 days' THEN 3 \
                                    WHEN $1 - p.last_moved <= interval '365 days' THEN 4 ELSE 5 END AS bucket \
             FROM per_card p) \
         SELECT (ARRAY['0-30d', '31-90d', '91-180d', '181-365d', 'over-365d'])[bucket] AS \"group\", \
                count(*) AS cards, sum(balance) AS amount \
         FROM aged GROUP BY bucket ORDER BY bucket"
    )))
    .bind(to)
    .fetch_all(&mut *tx)
    .await?;
    let breakage: LiabilityGroup = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{per_card} SELECT 'voucher_expired_or_closed' AS \"group\", count(*) AS cards, coalesce(sum(p.balance), 0) AS amount \
         FROM per_card p JOIN cards c ON c.id = p.card_id \
         WHERE c.card_type = 'voucher' AND (c.status = 'closed' OR c.expires_at <= $1)"
    )))
    .bind(to)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(LiabilityReport {
        from,
        to,
        opening_liability: opening,
        recharges_in,
        refunds_in,
        payments_out,
        closing_liability: closing,
        by_card_type,
        by_last_activity,
        breakage,
    })
}
