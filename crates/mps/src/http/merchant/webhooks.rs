//! `/merchant/webhooks`: a merchant's endpoints for signed event deliveries (issue 19) — register
//! (the secret is shown once), list, read, disable, rotate the secret, list deliveries, redeliver.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::Authorized;
use crate::auth::permissions::ManageWebhooks;
use crate::config::WebhookKey;
use crate::db::webhooks::{self as store, Audit, WebhookDeliveryView, WebhookEndpointView};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::middleware::RequestId;
use crate::http::pagination::{Page, PageParams};
use crate::state::AppState;
use crate::webhooks::{seal, target};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook_endpoint, list_webhook_endpoints))
        .routes(routes!(get_webhook_endpoint))
        .routes(routes!(disable_webhook_endpoint))
        .routes(routes!(rotate_webhook_secret))
        .routes(routes!(list_webhook_deliveries))
        .routes(routes!(redeliver_webhook_event))
}

/// The event types a merchant's endpoint can subscribe to (docs/webhooks.md). Card status events
/// (`card.frozen`, …) belong to the programme, not to a merchant, and are not sent to merchants.
pub const MERCHANT_EVENT_TYPES: &[&str] =
    &["payment.succeeded", "refund.succeeded", "recharge.succeeded", "settlement.created", "settlement.status_changed"];

/// Longest URL accepted (the column's limit).
const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateWebhookRequest {
    /// Where events are POSTed: https:// (http:// only where `WEBHOOK_REQUIRE_HTTPS=false`), to a
    /// public address.
    pub url: String,
    /// Event types to send, e.g. `["payment.succeeded", "refund.succeeded"]`.
    pub events: Vec<String>,
}

/// An endpoint with its signing secret: the only time the secret is shown.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookWithSecret {
    pub endpoint: WebhookEndpointView,
    /// Verifies `MPS-Signature`; store it now: it is never shown again.
    pub secret: String,
}

/// The key secrets are sealed with, or 503 when webhooks are not configured.
fn secret_key(state: &AppState) -> ApiResult<&WebhookKey> {
    state.config.webhooks.secret_key.as_ref().ok_or_else(|| {
        ApiError::new(ErrorCode::Unavailable, "Webhooks are not configured on this server (WEBHOOK_SECRET_KEY).")
    })
}

fn validate_events(events: &[String]) -> ApiResult<Vec<String>> {
    if events.is_empty() {
        return Err(ApiError::validation("events", "must name at least one event type"));
    }
    let mut unique: Vec<String> = Vec::new();
    for event in events {
        if !MERCHANT_EVENT_TYPES.contains(&event.as_str()) {
            let known = MERCHANT_EVENT_TYPES.join(", ");
            return Err(ApiError::validation("events", format!("`{event}` is not one of {known}")));
        }
        if !unique.contains(event) {
            unique.push(event.clone());
        }
    }
    Ok(unique)
}

/// Register an endpoint for your events. The answer carries the signing secret, once.
#[utoipa::path(post, path = "/merchant/webhooks", tag = "merchant", security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses((status = 201, body = WebhookWithSecret),
              (status = 422, description = "VALIDATION_FAILED or WEBHOOK_URL_NOT_ALLOWED", body = crate::error::ErrorEnvelope),
              (status = 503, description = "Webhooks are not configured", body = crate::error::ErrorEnvelope)))]
async fn create_webhook_endpoint(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<ManageWebhooks>,
    AppJson(request): AppJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, AppJson<WebhookWithSecret>)> {
    let events = validate_events(&request.events)?;
    let config = &state.config.webhooks;
    if request.url.len() > MAX_URL_LEN {
        return Err(ApiError::validation("url", "must be at most 2048 characters"));
    }
    target::parse_url(config, &request.url).map_err(|refused| ApiError::validation("url", refused.0))?;
    let key = secret_key(&state)?;
    let checked = target::check(config, &request.url).await.map_err(|refused| {
        ApiError::new(ErrorCode::WebhookUrlNotAllowed, format!("This URL {refused}."))
            .with_details(serde_json::json!({ "fields": { "url": refused.0 } }))
    })?;
    let id = Uuid::new_v4();
    let secret = seal::new_secret();
    let sealed = seal::seal(key, id, &secret).map_err(|_| ApiError::internal("cannot seal a webhook secret"))?;
    let who = Audit { merchant_id: merchant.id, request_id: &request_id };
    let endpoint = store::create_webhook_endpoint(&state.db, who, id, checked.url.as_str(), &events, &sealed).await?;
    Ok((StatusCode::CREATED, AppJson(WebhookWithSecret { endpoint, secret })))
}

/// Your webhook endpoints, newest first.
#[utoipa::path(get, path = "/merchant/webhooks", tag = "merchant", security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<WebhookEndpointView>)))]
async fn list_webhook_endpoints(
    State(state): State<AppState>,
    merchant: Authorized<ManageWebhooks>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<WebhookEndpointView>>> {
    let paging = page.paging("webhook_endpoints", &state.config)?;
    let (items, total) = store::list_webhook_endpoints(&state.db, merchant.id, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, WebhookEndpointView::page_key)))
}

fn not_found() -> ApiError {
    ApiError::from_code(ErrorCode::WebhookNotFound)
}

/// One of your webhook endpoints (another merchant's is a 404).
#[utoipa::path(get, path = "/merchant/webhooks/{id}", tag = "merchant", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpointView),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = crate::error::ErrorEnvelope)))]
async fn get_webhook_endpoint(
    State(state): State<AppState>,
    merchant: Authorized<ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<AppJson<WebhookEndpointView>> {
    let endpoint = store::find_webhook_endpoint(&state.db, merchant.id, id).await?.ok_or_else(not_found)?;
    Ok(AppJson(endpoint))
}

/// Stop sending to an endpoint; its pending deliveries end `failed`.
#[utoipa::path(post, path = "/merchant/webhooks/{id}/disable", tag = "merchant", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpointView),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = crate::error::ErrorEnvelope)))]
async fn disable_webhook_endpoint(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<AppJson<WebhookEndpointView>> {
    let who = Audit { merchant_id: merchant.id, request_id: &request_id };
    let endpoint = store::disable_webhook_endpoint(&state.db, who, id).await?.ok_or_else(not_found)?;
    Ok(AppJson(endpoint))
}

/// Replace the signing secret. The new one is shown once; the old one keeps signing (a second
/// `v1=` in `MPS-Signature`) for `WEBHOOK_ROTATION_OVERLAP_SECONDS`, so receivers can switch over.
#[utoipa::path(post, path = "/merchant/webhooks/{id}/rotate-secret", tag = "merchant", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookWithSecret),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = crate::error::ErrorEnvelope)))]
async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<AppJson<WebhookWithSecret>> {
    let key = secret_key(&state)?;
    let secret = seal::new_secret();
    let sealed = seal::seal(key, id, &secret).map_err(|_| ApiError::internal("cannot seal a webhook secret"))?;
    let overlap = i64::try_from(state.config.webhooks.secret_overlap.as_secs()).unwrap_or(i64::MAX);
    let who = Audit { merchant_id: merchant.id, request_id: &request_id };
    let endpoint = store::rotate_webhook_secret(&state.db, who, id, &sealed, overlap).await?.ok_or_else(not_found)?;
    Ok(AppJson(WebhookWithSecret { endpoint, secret }))
}

/// The deliveries to one of your endpoints, newest first: attempts, last answer, next try.
#[utoipa::path(get, path = "/merchant/webhooks/{id}/deliveries", tag = "merchant", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<WebhookDeliveryView>),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = crate::error::ErrorEnvelope)))]
async fn list_webhook_deliveries(
    State(state): State<AppState>,
    merchant: Authorized<ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<WebhookDeliveryView>>> {
    let paging = page.paging("webhook_deliveries", &state.config)?;
    store::find_webhook_endpoint(&state.db, merchant.id, id).await?.ok_or_else(not_found)?;
    let (items, total) = store::list_webhook_deliveries(&state.db, id, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, WebhookDeliveryView::page_key)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RedeliverRequest {
    /// The event to send again (its id is unchanged: receivers dedupe on it).
    pub event_id: Uuid,
}

/// Send one of your events to this endpoint again, as a new delivery.
#[utoipa::path(post, path = "/merchant/webhooks/{id}/redeliver", tag = "merchant", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = RedeliverRequest,
    responses((status = 202, body = WebhookDeliveryView),
              (status = 404, description = "WEBHOOK_NOT_FOUND or EVENT_NOT_FOUND", body = crate::error::ErrorEnvelope),
              (status = 409, description = "INVALID_STATUS_TRANSITION: the endpoint is disabled", body = crate::error::ErrorEnvelope)))]
async fn redeliver_webhook_event(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<RedeliverRequest>,
) -> ApiResult<(StatusCode, AppJson<WebhookDeliveryView>)> {
    let endpoint = store::find_webhook_endpoint(&state.db, merchant.id, id).await?.ok_or_else(not_found)?;
    if endpoint.status != "active" {
        return Err(ApiError::new(ErrorCode::InvalidStatusTransition, "This endpoint is disabled."));
    }
    let who = Audit { merchant_id: merchant.id, request_id: &request_id };
    let delivery = store::redeliver_webhook_event(&state.db, who, id, request.event_id)
        .await?
        .ok_or_else(|| ApiError::from_code(ErrorCode::EventNotFound))?;
    Ok((StatusCode::ACCEPTED, AppJson(delivery)))
}
