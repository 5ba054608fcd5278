//! Admin management of the accounts members and merchants share: search, lookup by id or
//! number/code, partial edits, suspension and activation, password resets. Each change is one
//! transaction with exactly one audit event; those that end sessions revoke them in it too.

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use mps_api::error::ErrorCode;
use mps_api::pagination::Paging;
use mps_api::roles::Role;

use crate::db::audit::{self, Actor};
use crate::db::credentials::set_password_hash;
use crate::db::paging::{SortKey, count_within_budget};
use crate::db::sessions::{self as session, Revoke};
use crate::error::ApiError;

/// How admins address, search and change one kind of account (members or merchants), so one
/// piece of code serves both. Every query aliases the table `m`.
pub struct AccountTable {
    /// The role these accounts log in as (whose sessions a suspension ends).
    pub role: Role,
    table: &'static str,
    /// The audit `object_type`, upper-cased as the stem of its actions (`MEMBER_SUSPEND`).
    object: &'static str,
    /// The columns of the account's view.
    columns: &'static str,
    /// Matches the account by id (`$1`) or by its number or code (`$2`).
    key: &'static str,
    /// The columns `q` searches.
    searched: &'static [&'static str],
    /// The PostgreSQL enum of the `status` column.
    status_type: &'static str,
    /// The 404 code for an id that matches nothing.
    not_found: ErrorCode,
}

/// Members: addressed by id or `member_no`.
pub const MEMBERS: AccountTable = AccountTable {
    role: Role::Member,
    table: "members",
    object: "member",
    columns: crate::db::members::MEMBER_VIEW_COLUMNS,
    key: "(m.id = $1 OR m.member_no = upper($2))",
    searched: &["m.name", "m.phone", "m.email", "m.member_no"],
    status_type: "member_status",
    not_found: ErrorCode::MemberNotFound,
};

/// Merchants: addressed by id or code (regardless of case).
pub const MERCHANTS: AccountTable = AccountTable {
    role: Role::Merchant,
    table: "merchants",
    object: "merchant",
    columns: crate::db::merchants::MERCHANT_VIEW_COLUMNS,
    key: "(m.id = $1 OR upper(m.code) = upper($2))",
    searched: &["m.code", "m.name", "m.contact"],
    status_type: "merchant_status",
    not_found: ErrorCode::MerchantNotFound,
};

/// A path parameter naming an account: a UUID, or else a member_no or merchant code.
#[derive(Debug, Clone, Copy)]
pub struct AccountKey<'a> {
    id: Option<Uuid>,
    text: &'a str,
}

impl<'a> AccountKey<'a> {
    /// Reads a path parameter: a UUID is an id, anything else a number or code.
    pub fn parse(text: &'a str) -> AccountKey<'a> {
        let text = text.trim();
        AccountKey { id: Uuid::parse_str(text).ok(), text }
    }
}

/// What a list request asks for: free text over [`AccountTable`]'s searched columns, a status.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccountSearch<'a> {
    /// Validated free text, matched as a substring regardless of case.
    pub q: Option<&'a str>,
    /// A status as stored (`active`, `suspended`, …).
    pub status: Option<&'static str>,
}

/// A `LIKE` pattern matching `text` anywhere, with its wildcards taken literally.
fn contains_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// The order of account lists: newest first, by `(created_at, id)`.
pub const ACCOUNT_ORDER: SortKey = SortKey { at: "m.created_at", id: "m.id", id_type: "uuid", descending: true };

/// One page of accounts matching a search, newest first, and how many match in all when asked.
pub async fn list<V>(
    pool: &PgPool,
    table: &AccountTable,
    search: AccountSearch<'_>,
    paging: &Paging,
) -> Result<(Vec<V>, Option<i64>), ApiError>
where
    V: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let pattern = search.q.map(contains_pattern);
    let mut qb = QueryBuilder::new(format!("SELECT {} FROM {} m WHERE true", table.columns, table.table));
    push_account_filter(&mut qb, table, &search, pattern.as_deref());
    ACCOUNT_ORDER.push_after(&mut qb, paging);
    ACCOUNT_ORDER.push_order_limit(&mut qb, paging);
    let items = qb.build_query_as().fetch_all(pool).await?;
    let total = if paging.count {
        let mut qb = QueryBuilder::new(format!("SELECT count(*) FROM {} m WHERE true", table.table));
        push_account_filter(&mut qb, table, &search, pattern.as_deref());
        count_within_budget(pool, qb.build_query_scalar()).await?
    } else {
        None
    };
    Ok((items, total))
}

/// ` AND …` for a search's text and status.
fn push_account_filter(
    qb: &mut QueryBuilder<Postgres>,
    table: &AccountTable,
    search: &AccountSearch<'_>,
    pattern: Option<&str>,
) {
    if let Some(pattern) = pattern {
        qb.push(" AND (");
        for (i, column) in table.searched.iter().enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            qb.push(format_args!("{column} ILIKE ")).push_bind(pattern.to_owned());
        }
        qb.push(")");
    }
    if let Some(status) = search.status {
        qb.push(" AND m.status = ").push_bind(status).push(format_args!("::{}", table.status_type));
    }
}

/// One account by id or number/code; 404 with the table's code when there is none.
pub async fn find<V>(pool: &PgPool, table: &AccountTable, key: AccountKey<'_>) -> Result<V, ApiError>
where
    V: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let sql = format!("SELECT {} FROM {} m WHERE {}", table.columns, table.table, table.key);
    let found = sqlx::query_as(AssertSqlSafe(sql)).bind(key.id).bind(key.text).fetch_optional(pool).await?;
    found.ok_or_else(|| table.not_found())
}

impl AccountTable {
    fn not_found(&self) -> ApiError {
        ApiError::new(self.not_found, format!("No {} matches this id.", self.object))
    }

    /// `MEMBER_SUSPEND`, `MERCHANT_ACTIVATE`, …
    fn action(&self, verb: &str) -> String {
        format!("{}_{verb}", self.object.to_uppercase())
    }

    /// `UPDATE_MEMBER`, `UPDATE_MERCHANT`.
    fn update_action(&self) -> String {
        format!("UPDATE_{}", self.object.to_uppercase())
    }

    /// Locks the account for a change; its id and current status.
    async fn lock(&self, conn: &mut PgConnection, key: AccountKey<'_>) -> Result<(Uuid, String), ApiError> {
        let sql = format!("SELECT m.id, m.status::text FROM {} m WHERE {} FOR UPDATE", self.table, self.key);
        let found = sqlx::query_as(AssertSqlSafe(sql)).bind(key.id).bind(key.text).fetch_optional(conn).await?;
        found.ok_or_else(|| self.not_found())
    }

    async fn view<V>(&self, conn: &mut PgConnection, id: Uuid) -> Result<V, ApiError>
    where
        V: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let sql = format!("SELECT {} FROM {} m WHERE m.id = $1", self.columns, self.table);
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(conn).await?)
    }
}

/// Sets some columns of an account (`None` stores NULL), audited `UPDATE_<OBJECT>` with the
/// names of the fields changed (not their values: the audit log need not copy personal data).
pub async fn update<V>(
    pool: &PgPool,
    table: &AccountTable,
    key: AccountKey<'_>,
    changes: &[(&'static str, Option<&str>)],
    actor: Actor<'_>,
    request_id: &str,
) -> Result<V, ApiError>
where
    V: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let mut tx = pool.begin().await?;
    let (id, _) = table.lock(&mut tx, key).await?;
    let sets: Vec<String> =
        changes.iter().enumerate().map(|(i, (column, _))| format!("{column} = ${}", i + 2)).collect();
    let sql = format!("UPDATE {} m SET {}, updated_at = now() WHERE m.id = $1", table.table, sets.join(", "));
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(id);
    for (_, value) in changes {
        query = query.bind(*value);
    }
    query.execute(&mut *tx).await?;
    let view = table.view(&mut tx, id).await?;
    let fields: Vec<&str> = changes.iter().map(|(column, _)| *column).collect();
    let context = serde_json::json!({ "fields": fields });
    audit::record(&mut tx, actor, &table.update_action(), (table.object, &id.to_string()), context, request_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// An admin's change of an account's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// To `suspended`: the account cannot log in and every session it has ends.
    Suspend,
    /// Back to `active`.
    Activate,
}

/// Suspends or activates an account, audited `<OBJECT>_SUSPEND` / `<OBJECT>_ACTIVATE`. Repeating
/// a change succeeds (and is audited again); a deleted account cannot change (409). Returns the
/// account and the sessions revoked, for `auth::session::publish_revocations` once committed.
pub async fn set_status<V>(
    pool: &PgPool,
    table: &AccountTable,
    key: AccountKey<'_>,
    change: StatusChange,
    reason: Option<&str>,
    actor: Actor<'_>,
    request_id: &str,
) -> Result<(V, Vec<session::RevokedSession>), ApiError>
where
    V: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let mut tx = pool.begin().await?;
    let (id, previous) = table.lock(&mut tx, key).await?;
    if previous == "deleted" {
        return Err(ApiError::new(
            ErrorCode::InvalidStatusTransition,
            format!("A deleted {} cannot change status.", table.object),
        ));
    }
    let (status, verb) = match change {
        StatusChange::Suspend => ("suspended", "SUSPEND"),
        StatusChange::Activate => ("active", "ACTIVATE"),
    };
    let sql =
        format!("UPDATE {} m SET status = $2::{}, updated_at = now() WHERE m.id = $1", table.table, table.status_type);
    sqlx::query(AssertSqlSafe(sql)).bind(id).bind(status).execute(&mut *tx).await?;
    let revoked = match change {
        StatusChange::Suspend => {
            session::revoke_sessions(&mut tx, Revoke::AllOf(id), &format!("{}_suspended", table.object)).await?
        }
        StatusChange::Activate => Vec::new(),
    };
    let view = table.view(&mut tx, id).await?;
    let context =
        serde_json::json!({ "reason": reason, "previous_status": previous, "sessions_revoked": revoked.len() });
    audit::record(&mut tx, actor, &table.action(verb), (table.object, &id.to_string()), context, request_id).await?;
    tx.commit().await?;
    Ok((view, revoked))
}

/// Sets an account's password on an admin's behalf and ends every session it has, audited
/// `PASSWORD_RESET`. Returns the sessions revoked, for `auth::session::publish_revocations`.
pub async fn reset_password(
    pool: &PgPool,
    table: &AccountTable,
    key: AccountKey<'_>,
    password_hash: &str,
    actor: Actor<'_>,
    request_id: &str,
) -> Result<Vec<session::RevokedSession>, ApiError> {
    let mut tx = pool.begin().await?;
    let (id, _) = table.lock(&mut tx, key).await?;
    set_password_hash(&mut tx, table.role, id, password_hash).await?;
    let revoked = session::revoke_sessions(&mut tx, Revoke::AllOf(id), "password_reset").await?;
    let context = serde_json::json!({ "sessions_revoked": revoked.len() });
    audit::record(&mut tx, actor, "PASSWORD_RESET", (table.object, &id.to_string()), context, request_id).await?;
    tx.commit().await?;
    Ok(revoked)
}
