//! Webhook endpoints — a merchant's, or the programme's (`merchant_id` NULL: its operators',
//! registered by admins) — and their deliveries (issue 19): management, the delivery worker's
//! claims and results. Events themselves are written by the SQL money functions (a money movement's
//! event is its own transaction row; the view `event_log` shows every event)
//! (`sql/functions/events.sql`).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgPool, QueryBuilder};
use uuid::Uuid;

use mps_api::pagination::Paging;
use mps_api::webhooks::{WebhookDeliveryView, WebhookEndpointView};

use crate::db::paging::{SortKey, count_within_budget};
use crate::error::ApiError;

const ENDPOINT_COLUMNS: &str = "id, url, event_types AS events, status::text AS status, \
     previous_secret_expires_at, created_at, updated_at";

const DELIVERY_SELECT: &str = "SELECT d.id, d.event_id, e.type AS event_type, d.status::text AS status, d.attempts, \
     CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at, d.last_attempt_at, \
     d.last_status_code, d.last_error, d.delivered_at, d.created_at \
     FROM webhook_deliveries d CROSS JOIN LATERAL event_by_id(d.event_id) e";

/// Whose endpoints: a merchant's (its events), or the programme's (the events of no merchant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointOwner {
    Merchant(Uuid),
    Programme,
}

impl EndpointOwner {
    /// The endpoints' `merchant_id` (NULL for the programme).
    pub fn merchant_id(self) -> Option<Uuid> {
        match self {
            EndpointOwner::Merchant(id) => Some(id),
            EndpointOwner::Programme => None,
        }
    }
}

/// Whose endpoints a change is made to, and who makes it (audited).
pub struct Audit<'a> {
    pub owner: EndpointOwner,
    /// The actor: the merchant, or the admin changing the programme's endpoints.
    pub actor_id: Uuid,
    pub actor_role: &'static str,
    pub request_id: &'a str,
}

impl<'a> Audit<'a> {
    /// A merchant changing its own endpoints.
    pub fn merchant(merchant_id: Uuid, request_id: &'a str) -> Audit<'a> {
        Audit { owner: EndpointOwner::Merchant(merchant_id), actor_id: merchant_id, actor_role: "merchant", request_id }
    }

    /// An admin changing the programme's endpoints.
    pub fn programme(admin_id: Uuid, request_id: &'a str) -> Audit<'a> {
        Audit { owner: EndpointOwner::Programme, actor_id: admin_id, actor_role: "admin", request_id }
    }
}

async fn audit(
    tx: &mut sqlx::PgConnection,
    who: &Audit<'_>,
    action: &str,
    endpoint_id: Uuid,
    context: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT audit($1, $2::actor_role, $3, 'webhook_endpoint', $4, $5, $6)")
        .bind(who.actor_id)
        .bind(who.actor_role)
        .bind(action)
        .bind(endpoint_id.to_string())
        .bind(context)
        .bind(who.request_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Registers an endpoint whose id and sealed secret the caller made (the id seals the secret).
pub async fn create_webhook_endpoint(
    db: &PgPool,
    who: Audit<'_>,
    id: Uuid,
    url: &str,
    events: &[String],
    secret_sealed: &[u8],
) -> Result<WebhookEndpointView, ApiError> {
    let mut tx = db.begin().await?;
    let endpoint: WebhookEndpointView = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO webhook_endpoints (id, merchant_id, url, event_types, secret_sealed) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {ENDPOINT_COLUMNS}"
    )))
    .bind(id)
    .bind(who.owner.merchant_id())
    .bind(url)
    .bind(events)
    .bind(secret_sealed)
    .fetch_one(&mut *tx)
    .await?;
    audit(&mut tx, &who, "WEBHOOK_CREATE", id, json!({ "url": url, "events": events })).await?;
    tx.commit().await?;
    Ok(endpoint)
}

/// One page of the owner's endpoints, newest first, and their count.
pub async fn list_webhook_endpoints(
    db: &PgPool,
    owner: EndpointOwner,
    paging: &Paging,
) -> Result<(Vec<WebhookEndpointView>, Option<i64>), ApiError> {
    let mut qb = QueryBuilder::new(format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints w WHERE "));
    push_owner(&mut qb, owner);
    ENDPOINT_ORDER.push_after(&mut qb, paging);
    ENDPOINT_ORDER.push_order_limit(&mut qb, paging);
    let items = qb.build_query_as().fetch_all(db).await?;
    let total = if paging.count {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM webhook_endpoints w WHERE ");
        push_owner(&mut qb, owner);
        count_within_budget(db, qb.build_query_scalar()).await?
    } else {
        None
    };
    Ok((items, total))
}

/// `w.merchant_id = $n`, or `w.merchant_id IS NULL` for the programme (both use the page index).
fn push_owner(qb: &mut QueryBuilder<sqlx::Postgres>, owner: EndpointOwner) {
    match owner {
        EndpointOwner::Merchant(id) => {
            qb.push("w.merchant_id = ").push_bind(id);
        }
        EndpointOwner::Programme => {
            qb.push("w.merchant_id IS NULL");
        }
    }
}

/// How endpoint lists are ordered: newest first (index `webhook_endpoints_page_idx`, 0008).
pub const ENDPOINT_ORDER: SortKey = SortKey { at: "w.created_at", id: "w.id", id_type: "uuid", descending: true };

/// How delivery lists are ordered: newest first (index `webhook_deliveries_page_idx`, 0008).
pub const DELIVERY_ORDER: SortKey = SortKey { at: "d.created_at", id: "d.id", id_type: "uuid", descending: true };

/// One of the owner's endpoints (another owner's is `None`).
pub async fn find_webhook_endpoint(
    db: &PgPool,
    owner: EndpointOwner,
    id: Uuid,
) -> Result<Option<WebhookEndpointView>, ApiError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE merchant_id IS NOT DISTINCT FROM $1 AND id = $2"
    )))
    .bind(owner.merchant_id())
    .bind(id)
    .fetch_optional(db)
    .await?)
}

/// Disables an endpoint: nothing more is sent to it, and its pending deliveries end `failed`.
pub async fn disable_webhook_endpoint(
    db: &PgPool,
    who: Audit<'_>,
    id: Uuid,
) -> Result<Option<WebhookEndpointView>, ApiError> {
    let mut tx = db.begin().await?;
    let endpoint: Option<WebhookEndpointView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_endpoints SET status = 'disabled', updated_at = now() \
         WHERE merchant_id IS NOT DISTINCT FROM $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
    )))
    .bind(who.owner.merchant_id())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if endpoint.is_some() {
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled' \
             WHERE endpoint_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        audit(&mut tx, &who, "WEBHOOK_DISABLE", id, json!({})).await?;
    }
    tx.commit().await?;
    Ok(endpoint)
}

/// Replaces the signing secret; the old one keeps signing for `overlap_seconds`.
pub async fn rotate_webhook_secret(
    db: &PgPool,
    who: Audit<'_>,
    id: Uuid,
    secret_sealed: &[u8],
    overlap_seconds: i64,
) -> Result<Option<WebhookEndpointView>, ApiError> {
    let mut tx = db.begin().await?;
    let endpoint: Option<WebhookEndpointView> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, \
             previous_secret_expires_at = now() + make_interval(secs => $4), secret_sealed = $3, updated_at = now() \
         WHERE merchant_id IS NOT DISTINCT FROM $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
    )))
    .bind(who.owner.merchant_id())
    .bind(id)
    .bind(secret_sealed)
    .bind(overlap_seconds)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(endpoint) = &endpoint {
        let context = json!({ "previous_secret_expires_at": endpoint.previous_secret_expires_at });
        audit(&mut tx, &who, "WEBHOOK_SECRET_ROTATE", id, context).await?;
    }
    tx.commit().await?;
    Ok(endpoint)
}

/// One page of an endpoint's deliveries, newest first, and their count.
pub async fn list_webhook_deliveries(
    db: &PgPool,
    endpoint_id: Uuid,
    paging: &Paging,
) -> Result<(Vec<WebhookDeliveryView>, Option<i64>), ApiError> {
    let mut qb = QueryBuilder::new(format!("{DELIVERY_SELECT} WHERE d.endpoint_id = "));
    qb.push_bind(endpoint_id);
    DELIVERY_ORDER.push_after(&mut qb, paging);
    DELIVERY_ORDER.push_order_limit(&mut qb, paging);
    let items = qb.build_query_as().fetch_all(db).await?;
    let total = if paging.count {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = ");
        qb.push_bind(endpoint_id);
        count_within_budget(db, qb.build_query_scalar()).await?
    } else {
        None
    };
    Ok((items, total))
}

/// Queues one more delivery of one of the owner's events to one of its active endpoints;
/// `None` when the event is not the owner's or the endpoint is not an active one of its own.
pub async fn redeliver_webhook_event(
    db: &PgPool,
    who: Audit<'_>,
    endpoint_id: Uuid,
    event_id: Uuid,
) -> Result<Option<WebhookDeliveryView>, ApiError> {
    let mut tx = db.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (event_id, endpoint_id) \
         SELECT e.id, w.id FROM event_by_id($2) e JOIN webhook_endpoints w ON w.merchant_id IS NOT DISTINCT FROM e.merchant_id \
         WHERE e.id = $2 AND w.id = $3 AND e.merchant_id IS NOT DISTINCT FROM $1 AND w.status = 'active' \
         RETURNING id",
    )
    .bind(who.owner.merchant_id())
    .bind(event_id)
    .bind(endpoint_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    audit(&mut tx, &who, "WEBHOOK_REDELIVER", endpoint_id, json!({ "event_id": event_id, "delivery_id": id })).await?;
    let delivery = sqlx::query_as(sqlx::AssertSqlSafe(format!("{DELIVERY_SELECT} WHERE d.id = $1")))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(delivery))
}

/// A delivery the worker claimed, with what it needs to send it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub event_id: Uuid,
    pub event_type: String,
    pub event_created_at: DateTime<Utc>,
    pub payload: Value,
    pub endpoint_id: Uuid,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    /// The rotated-out secret while it still signs.
    pub previous_secret_sealed: Option<Vec<u8>>,
}

/// Claims up to `limit` due deliveries for this worker: `FOR UPDATE SKIP LOCKED`, so replicas
/// claim disjoint sets, and each claimed delivery's next attempt moved `lease_seconds` ahead, so
/// no one else takes it while it is being sent and it is tried again if this worker dies.
pub async fn claim_due_deliveries(
    db: &PgPool,
    limit: i64,
    lease_seconds: i64,
) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS ( \
             SELECT id FROM webhook_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= now() \
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED), \
         claimed AS ( \
             UPDATE webhook_deliveries d \
             SET attempts = d.attempts + 1, last_attempt_at = now(), \
                 next_attempt_at = now() + make_interval(secs => $2) \
             FROM due WHERE d.id = due.id \
             RETURNING d.id, d.attempts, d.created_at, d.event_id, d.endpoint_id) \
         SELECT c.id, c.attempts, c.created_at, e.id AS event_id, e.type AS event_type, \
                e.created_at AS event_created_at, e.payload, w.id AS endpoint_id, w.url, w.secret_sealed, \
                CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_sealed END \
                    AS previous_secret_sealed \
         FROM claimed c CROSS JOIN LATERAL event_by_id(c.event_id) e JOIN webhook_endpoints w ON w.id = c.endpoint_id",
    )
    .bind(limit)
    .bind(lease_seconds)
    .fetch_all(db)
    .await
}

/// Records a 2xx answer: the delivery is done.
pub async fn record_delivery_success(db: &PgPool, id: Uuid, status_code: i32) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), last_status_code = $2, \
             last_error = NULL \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(status_code)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failed attempt: tried again at `retry_at`, or `failed` for good when `None`.
pub async fn record_delivery_failure(
    db: &PgPool,
    id: Uuid,
    status_code: Option<i32>,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries \
         SET status = CASE WHEN $4::timestamptz IS NULL THEN 'failed'::webhook_delivery_status ELSE status END, \
             next_attempt_at = coalesce($4, next_attempt_at), last_status_code = $2, last_error = left($3, 500) \
         WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(status_code)
    .bind(error)
    .bind(retry_at)
    .execute(db)
    .await?;
    Ok(())
}
