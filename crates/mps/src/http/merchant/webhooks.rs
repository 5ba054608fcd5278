//! `/merchant/webhooks`: a merchant's endpoints for signed event deliveries (issue 19) — register
//! (the secret is shown once), list, read, disable, rotate the secret, list deliveries, redeliver.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::pagination::{Page, PageParams};
use mps_api::webhooks::{
    CreateWebhookRequest, RedeliverRequest, WebhookDeliveryView, WebhookEndpointView, WebhookWithSecret,
};

use crate::auth::Authorized;
use crate::auth::permissions::ManageWebhooks;
use crate::db::webhooks::{self as store, Audit, EndpointOwner};
use crate::error::ApiResult;
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::middleware::RequestId;
use crate::http::webhook_endpoints as shared;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook_endpoint, list_webhook_endpoints))
        .routes(routes!(get_webhook_endpoint))
        .routes(routes!(disable_webhook_endpoint))
        .routes(routes!(rotate_webhook_secret))
        .routes(routes!(list_webhook_deliveries))
        .routes(routes!(redeliver_webhook_event))
}

pub use crate::http::webhook_endpoints::MERCHANT_EVENT_TYPES;

/// Register an endpoint for your events. The answer carries the signing secret, once.
#[utoipa::path(post, path = "/merchant/webhooks", tag = "merchant", security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses((status = 201, body = WebhookWithSecret),
              (status = 422, description = "VALIDATION_FAILED or WEBHOOK_URL_NOT_ALLOWED", body = mps_api::error::ErrorEnvelope),
              (status = 503, description = "Webhooks are not configured", body = mps_api::error::ErrorEnvelope)))]
async fn create_webhook_endpoint(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<ManageWebhooks>,
    AppJson(request): AppJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, AppJson<WebhookWithSecret>)> {
    let who = Audit::merchant(merchant.id, &request_id);
    let created = shared::create(&state, who, MERCHANT_EVENT_TYPES, &request).await?;
    Ok((StatusCode::CREATED, AppJson(created)))
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
    let (items, total) =
        store::list_webhook_endpoints(&state.db, EndpointOwner::Merchant(merchant.id), &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, WebhookEndpointView::page_key)))
}

/// One of your webhook endpoints (another merchant's is a 404).
#[utoipa::path(get, path = "/merchant/webhooks/{id}", tag = "merchant", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpointView),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn get_webhook_endpoint(
    State(state): State<AppState>,
    merchant: Authorized<ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<AppJson<WebhookEndpointView>> {
    Ok(AppJson(shared::get(&state, EndpointOwner::Merchant(merchant.id), id).await?))
}

/// Stop sending to an endpoint; its pending deliveries end `failed`.
#[utoipa::path(post, path = "/merchant/webhooks/{id}/disable", tag = "merchant", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpointView),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn disable_webhook_endpoint(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<AppJson<WebhookEndpointView>> {
    Ok(AppJson(shared::disable(&state, Audit::merchant(merchant.id, &request_id), id).await?))
}

/// Replace the signing secret. The new one is shown once; the old one keeps signing (a second
/// `v1=` in `MPS-Signature`) for `WEBHOOK_ROTATION_OVERLAP_SECONDS`, so receivers can switch over.
#[utoipa::path(post, path = "/merchant/webhooks/{id}/rotate-secret", tag = "merchant", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookWithSecret),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<AppJson<WebhookWithSecret>> {
    Ok(AppJson(shared::rotate(&state, Audit::merchant(merchant.id, &request_id), id).await?))
}

/// The deliveries to one of your endpoints, newest first: attempts, last answer, next try.
#[utoipa::path(get, path = "/merchant/webhooks/{id}/deliveries", tag = "merchant", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<WebhookDeliveryView>),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn list_webhook_deliveries(
    State(state): State<AppState>,
    merchant: Authorized<ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<WebhookDeliveryView>>> {
    let paging = page.paging("webhook_deliveries", &state.config)?;
    shared::get(&state, EndpointOwner::Merchant(merchant.id), id).await?;
    let (items, total) = store::list_webhook_deliveries(&state.db, id, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, WebhookDeliveryView::page_key)))
}

/// Send one of your events to this endpoint again, as a new delivery.
#[utoipa::path(post, path = "/merchant/webhooks/{id}/redeliver", tag = "merchant", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = RedeliverRequest,
    responses((status = 202, body = WebhookDeliveryView),
              (status = 404, description = "WEBHOOK_NOT_FOUND or EVENT_NOT_FOUND", body = mps_api::error::ErrorEnvelope),
              (status = 409, description = "INVALID_STATUS_TRANSITION: the endpoint is disabled", body = mps_api::error::ErrorEnvelope)))]
async fn redeliver_webhook_event(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<RedeliverRequest>,
) -> ApiResult<(StatusCode, AppJson<WebhookDeliveryView>)> {
    let who = Audit::merchant(merchant.id, &request_id);
    let delivery = shared::redeliver(&state, who, id, request.event_id).await?;
    Ok((StatusCode::ACCEPTED, AppJson(delivery)))
}
