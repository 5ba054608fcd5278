//! `/admin/webhooks`: the programme's webhook endpoints (issue 19). Events that belong to no
//! merchant — a card frozen, unfrozen or closed; an admin credit, an online recharge, a voucher
//! issue — go to these, registered by the programme's operators (admins), signed and retried
//! exactly as a merchant's (docs/webhooks.md). Permission `admin:manage_webhooks`.

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
use crate::auth::permissions::ManageProgrammeWebhooks;
use crate::db::webhooks::{self as store, Audit, EndpointOwner};
use crate::error::ApiResult;
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::middleware::RequestId;
use crate::http::webhook_endpoints::{self as shared, PROGRAMME_EVENT_TYPES};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_programme_webhook, list_programme_webhooks))
        .routes(routes!(get_programme_webhook))
        .routes(routes!(disable_programme_webhook))
        .routes(routes!(rotate_programme_webhook_secret))
        .routes(routes!(list_programme_webhook_deliveries))
        .routes(routes!(redeliver_programme_event))
}

/// Register a programme endpoint for the events of no merchant: `card.frozen`, `card.unfrozen`,
/// `card.status_changed`, and `recharge.succeeded` of the credits no merchant made. The answer
/// carries the signing secret, once.
#[utoipa::path(post, path = "/admin/webhooks", tag = "admin", security(("bearer" = [])),
    request_body = CreateWebhookRequest,
    responses((status = 201, body = WebhookWithSecret),
              (status = 422, description = "VALIDATION_FAILED or WEBHOOK_URL_NOT_ALLOWED", body = mps_api::error::ErrorEnvelope),
              (status = 503, description = "Webhooks are not configured", body = mps_api::error::ErrorEnvelope)))]
async fn create_programme_webhook(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageProgrammeWebhooks>,
    AppJson(request): AppJson<CreateWebhookRequest>,
) -> ApiResult<(StatusCode, AppJson<WebhookWithSecret>)> {
    let who = Audit::programme(admin.id, &request_id);
    let created = shared::create(&state, who, PROGRAMME_EVENT_TYPES, &request).await?;
    Ok((StatusCode::CREATED, AppJson(created)))
}

/// The programme's webhook endpoints, newest first.
#[utoipa::path(get, path = "/admin/webhooks", tag = "admin", security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Page<WebhookEndpointView>)))]
async fn list_programme_webhooks(
    State(state): State<AppState>,
    _admin: Authorized<ManageProgrammeWebhooks>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<WebhookEndpointView>>> {
    let paging = page.paging("programme_webhook_endpoints", &state.config)?;
    let (items, total) = store::list_webhook_endpoints(&state.db, EndpointOwner::Programme, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, WebhookEndpointView::page_key)))
}

/// One programme endpoint (a merchant's is a 404).
#[utoipa::path(get, path = "/admin/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpointView),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn get_programme_webhook(
    State(state): State<AppState>,
    _admin: Authorized<ManageProgrammeWebhooks>,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<AppJson<WebhookEndpointView>> {
    Ok(AppJson(shared::get(&state, EndpointOwner::Programme, id).await?))
}

/// Stop sending to a programme endpoint; its pending deliveries end `failed`.
#[utoipa::path(post, path = "/admin/webhooks/{id}/disable", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpointView),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn disable_programme_webhook(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageProgrammeWebhooks>,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<AppJson<WebhookEndpointView>> {
    Ok(AppJson(shared::disable(&state, Audit::programme(admin.id, &request_id), id).await?))
}

/// Replace a programme endpoint's signing secret (shown once); the old one keeps signing for
/// `WEBHOOK_ROTATION_OVERLAP_SECONDS`.
#[utoipa::path(post, path = "/admin/webhooks/{id}/rotate-secret", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = WebhookWithSecret),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn rotate_programme_webhook_secret(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageProgrammeWebhooks>,
    AppPath(id): AppPath<Uuid>,
) -> ApiResult<AppJson<WebhookWithSecret>> {
    Ok(AppJson(shared::rotate(&state, Audit::programme(admin.id, &request_id), id).await?))
}

/// The deliveries to a programme endpoint, newest first.
#[utoipa::path(get, path = "/admin/webhooks/{id}/deliveries", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<WebhookDeliveryView>),
              (status = 404, description = "WEBHOOK_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn list_programme_webhook_deliveries(
    State(state): State<AppState>,
    _admin: Authorized<ManageProgrammeWebhooks>,
    AppPath(id): AppPath<Uuid>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<WebhookDeliveryView>>> {
    let paging = page.paging("programme_webhook_deliveries", &state.config)?;
    shared::get(&state, EndpointOwner::Programme, id).await?;
    let (items, total) = store::list_webhook_deliveries(&state.db, id, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, WebhookDeliveryView::page_key)))
}

/// Send a programme event to this endpoint again, as a new delivery (same event id).
#[utoipa::path(post, path = "/admin/webhooks/{id}/redeliver", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    request_body = RedeliverRequest,
    responses((status = 202, body = WebhookDeliveryView),
              (status = 404, description = "WEBHOOK_NOT_FOUND or EVENT_NOT_FOUND", body = mps_api::error::ErrorEnvelope),
              (status = 409, description = "INVALID_STATUS_TRANSITION: the endpoint is disabled", body = mps_api::error::ErrorEnvelope)))]
async fn redeliver_programme_event(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageProgrammeWebhooks>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<RedeliverRequest>,
) -> ApiResult<(StatusCode, AppJson<WebhookDeliveryView>)> {
    let delivery = shared::redeliver(&state, Audit::programme(admin.id, &request_id), id, request.event_id).await?;
    Ok((StatusCode::ACCEPTED, AppJson(delivery)))
}
