//! The audit log: events written from Rust (SQL functions call `audit()` themselves), and
//! reading the log back.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use mps_api::admin::AuditEventView;
use mps_api::pagination::Paging;

use crate::auth::AuthUser;
use crate::db::paging::{SortKey, count_within_budget};
use crate::error::ApiError;

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

/// The order of the audit log: newest first, by `(occurred_at, id)`.
pub const AUDIT_ORDER: SortKey = SortKey { at: "occurred_at", id: "id", id_type: "bigint", descending: true };

/// ` AND …` for the filters given (only those, so that each combination plans on its index).
fn push_audit_filter(qb: &mut QueryBuilder<Postgres>, filter: &AuditFilter<'_>) {
    if let Some(actor) = filter.actor_id {
        qb.push(" AND actor_id = ").push_bind(actor);
    }
    if let Some(action) = filter.action {
        qb.push(" AND action = ").push_bind(action.to_owned());
    }
    if let Some(object_type) = filter.object_type {
        qb.push(" AND object_type = ").push_bind(object_type.to_owned());
    }
    if let Some(object_id) = filter.object_id {
        qb.push(" AND object_id = ").push_bind(object_id.to_owned());
    }
    if let Some(start) = filter.start {
        qb.push(" AND occurred_at >= ").push_bind(start);
    }
    if let Some(end) = filter.end {
        qb.push(" AND occurred_at < ").push_bind(end);
    }
}

/// One page of events, newest first, and the total matching the filter when asked for.
pub async fn list_audit_events(
    db: &PgPool,
    filter: AuditFilter<'_>,
    paging: &Paging,
) -> Result<(Vec<AuditEventView>, Option<i64>), ApiError> {
    let mut qb = QueryBuilder::new(
        "SELECT id, occurred_at, actor_id, actor_role::text AS actor_role, action, object_type, object_id, context, \
         request_id FROM audit_events WHERE true",
    );
    push_audit_filter(&mut qb, &filter);
    AUDIT_ORDER.push_after(&mut qb, paging);
    AUDIT_ORDER.push_order_limit(&mut qb, paging);
    let items = qb.build_query_as().fetch_all(db).await?;
    let total = if paging.count {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM audit_events WHERE true");
        push_audit_filter(&mut qb, &filter);
        count_within_budget(db, qb.build_query_scalar()).await?
    } else {
        None
    };
    Ok((items, total))
}
