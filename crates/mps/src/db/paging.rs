//! Keyset pages in SQL and counting a list's matches within a time budget (issue 15; the
//! request side is `http::pagination`).

use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::QueryScalar;
use sqlx::{PgPool, QueryBuilder};

use mps_api::pagination::Paging;

use crate::error::ApiError;

/// How long an exact count may run before the list answers `total_count: null` instead.
pub const COUNT_BUDGET_MS: u32 = 150;

/// SQLSTATE of a statement cancelled by `statement_timeout`.
const QUERY_CANCELED: &str = "57014";

/// Runs a `count(*)` under `statement_timeout` = [`COUNT_BUDGET_MS`]; `None` when it runs out.
pub async fn count_within_budget<'q>(
    db: &PgPool,
    count: QueryScalar<'q, Postgres, i64, PgArguments>,
) -> Result<Option<i64>, ApiError> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT set_config('statement_timeout', $1, true)")
        .bind(COUNT_BUDGET_MS.to_string())
        .execute(&mut *tx)
        .await?;
    match count.fetch_one(&mut *tx).await {
        Ok(total) => {
            tx.commit().await?;
            Ok(Some(total))
        }
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(QUERY_CANCELED) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// How a list is ordered: by a timestamp column, then a unique tiebreaker column.
#[derive(Debug, Clone, Copy)]
pub struct SortKey {
    /// The timestamp column, qualified (`t.created_at`).
    pub at: &'static str,
    /// The tiebreaker column, qualified (`t.id`).
    pub id: &'static str,
    /// The tiebreaker's SQL type, to cast the cursor's text to (`uuid`, `bigint`).
    pub id_type: &'static str,
    /// Newest first (`DESC`) or oldest first.
    pub descending: bool,
}

impl SortKey {
    /// `AND (at, id) < (cursor)` (`>` when ascending), when the request has a cursor.
    pub fn push_after(&self, qb: &mut QueryBuilder<Postgres>, paging: &Paging) {
        let (Some(at), Some(key)) = (paging.after_at(), paging.after_key()) else { return };
        let op = if self.descending { "<" } else { ">" };
        qb.push(format_args!(" AND ({}, {}) {op} (", self.at, self.id));
        qb.push_bind(at);
        qb.push(", ");
        qb.push_bind(key.to_owned());
        qb.push(format_args!("::{})", self.id_type));
    }

    /// ` ORDER BY at, id` in the list's direction.
    pub fn push_order(&self, qb: &mut QueryBuilder<Postgres>) {
        let dir = if self.descending { "DESC" } else { "ASC" };
        qb.push(format_args!(" ORDER BY {} {dir}, {} {dir}", self.at, self.id));
    }

    /// ` ORDER BY … LIMIT (page + 1) OFFSET offset`.
    pub fn push_order_limit(&self, qb: &mut QueryBuilder<Postgres>, paging: &Paging) {
        self.push_order(qb);
        push_limit(qb, paging.fetch_limit(), paging.offset);
    }
}

/// ` LIMIT n`, written into the text, and ` OFFSET $k` only when `offset` is not 0.
///
/// The limit is a literal, not a bind parameter: PostgreSQL cannot cost a plan whose `LIMIT` is
/// a parameter (it assumes a tenth of the rows), so a prepared list query with `LIMIT $n` was
/// planned anew on every request (a custom plan, ~0.3–0.6 ms of planning for a list page, as
/// much as running it). With the limit in the text the cached generic plan is as cheap as a
/// custom one and PostgreSQL keeps it from the sixth execution on (issue 15, third pass). The
/// limit is an integer the server computed (at most `MAX_LIMIT` + 1), so each list has at most
/// a hundred statement texts per connection; a page by cursor never has an offset.
pub fn push_limit(qb: &mut QueryBuilder<Postgres>, limit: i64, offset: i64) {
    qb.push(format_args!(" LIMIT {limit}"));
    if offset != 0 {
        qb.push(" OFFSET ");
        qb.push_bind(offset);
    }
}
