//! The audit log: events written from Rust (SQL functions call `audit()` themselves), and
//! reading the log back.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::http::pagination::Paging;

/// Who did something, as recorded in the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: Option<Uuid>,
    /// `member`, `merchant`, `admin`, `system` or `anonymous`.
    pub role: &'a str,
}

impl<'a> From<&'a AuthUser> for Actor<'a> {
    fn from(user: &'a AuthUser) -> Self {
        Actor { id: Some(user.id), role: user.role.as_str() }
    }
}

/// One audit event, inside the caller's transaction.
pub async fn record(
    conn: &mut PgConnection,
    actor: Actor<'_>,
    action: &str,
    object: (&str, &str),
    context: Value,
    request_id: &str,
) -> Result<(), ApiError> {
    sqlx::query("SELECT audit($1, $2::actor_role, $3, $4, $5, $6, $7)")
        .bind(actor.id)
        .bind(actor.role)
        .bind(action)
        .bind(object.0)
        .bind(object.1)
        .bind(context)
        .bind(request_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// One audit event.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct AuditEventView {
    pub id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    /// `member`, `merchant`, `admin`, `system` or `anonymous`.
    pub actor_role: String,
    /// Upper-case verb such as `CARD_FREEZE`.
    pub action: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    #[schema(value_type = Object)]
    pub context: Value,
    pub request_id: Option<String>,
}

/// Filters of the audit log; every one optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditFilter<'a> {
    pub actor_id: Option<Uuid>,
    pub action: Option<&'a str>,
    pub object_type: Option<&'a str>,
    pub object_id: Option<&'a str>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

const AUDIT_FILTER: &str = "($1::uuid IS NULL OR actor_id = $1) \
     AND ($2::text IS NULL OR action = $2) \
     AND ($3::text IS NULL OR object_type = $3) \
     AND ($4::text IS NULL OR object_id = $4) \
     AND ($5::timestamptz IS NULL OR occurred_at >= $5) \
     AND ($6::timestamptz IS NULL OR occurred_at < $6)";

/// One page of events, newest first, and the total matching the filter.
pub async fn list_audit_events(
    db: &PgPool,
    filter: AuditFilter<'_>,
    paging: Paging,
) -> Result<(Vec<AuditEventView>, i64), ApiError> {
    let page = format!(
        "SELECT id, occurred_at, actor_id, actor_role::text AS actor_role, action, object_type, object_id, context, \
         request_id FROM audit_events WHERE {AUDIT_FILTER} ORDER BY occurred_at DESC, id DESC LIMIT $7 OFFSET $8"
    );
    let items = sqlx::query_as(sqlx::AssertSqlSafe(page))
        .bind(filter.actor_id)
        .bind(filter.action)
        .bind(filter.object_type)
        .bind(filter.object_id)
        .bind(filter.start)
        .bind(filter.end)
        .bind(paging.limit)
        .bind(paging.offset)
        .fetch_all(db)
        .await?;
    let total =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM audit_events WHERE {AUDIT_FILTER}")))
            .bind(filter.actor_id)
            .bind(filter.action)
            .bind(filter.object_type)
            .bind(filter.object_id)
            .bind(filter.start)
            .bind(filter.end)
            .fetch_one(db)
            .await?;
    Ok((items, total))
}
