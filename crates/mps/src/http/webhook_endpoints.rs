//! What the merchant's (`/merchant/webhooks`) and the programme's (`/admin/webhooks`) webhook
//! endpoint routes share: request and answer types, and each operation for an endpoint owner.
//! The handlers (and their OpenAPI descriptions) stay in `merchant/webhooks.rs` and
//! `admin/webhooks.rs`.

use uuid::Uuid;

use mps_api::error::ErrorCode;
use mps_api::webhooks::{CreateWebhookRequest, WebhookDeliveryView, WebhookEndpointView, WebhookWithSecret};

use crate::config::WebhookKey;
use crate::db::webhooks::{self as store, Audit, EndpointOwner};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::webhooks::{seal, target};

/// The event types a merchant's endpoint can subscribe to (docs/webhooks.md): its own money
/// movements and settlements.
pub const MERCHANT_EVENT_TYPES: &[&str] =
    &["payment.succeeded", "refund.succeeded", "recharge.succeeded", "settlement.created", "settlement.status_changed"];

/// The event types a programme endpoint can subscribe to: the events of no merchant — card status
/// moves, and the credits no merchant made (admin credits, online recharges, voucher issues).
pub const PROGRAMME_EVENT_TYPES: &[&str] =
    &["card.frozen", "card.unfrozen", "card.status_changed", "recharge.succeeded"];

/// Longest URL accepted (the column's limit).
const MAX_URL_LEN: usize = 2048;

/// The key secrets are sealed with, or 503 when webhooks are not configured.
fn secret_key(state: &AppState) -> ApiResult<&WebhookKey> {
    state.config.webhooks.secret_key.as_ref().ok_or_else(|| {
        ApiError::new(ErrorCode::Unavailable, "Webhooks are not configured on this server (WEBHOOK_SECRET_KEY).")
    })
}

fn validate_events(events: &[String], allowed: &[&str]) -> ApiResult<Vec<String>> {
    if events.is_empty() {
        return Err(ApiError::validation("events", "must name at least one event type"));
    }
    let mut unique: Vec<String> = Vec::new();
    for event in events {
        if !allowed.contains(&event.as_str()) {
            let known = allowed.join(", ");
            return Err(ApiError::validation("events", format!("`{event}` is not one of {known}")));
        }
        if !unique.contains(event) {
            unique.push(event.clone());
        }
    }
    Ok(unique)
}

pub fn not_found() -> ApiError {
    ApiError::from_code(ErrorCode::WebhookNotFound)
}

/// Registers an endpoint subscribed to some of `allowed`; the answer carries its secret, once.
pub async fn create(
    state: &AppState,
    who: Audit<'_>,
    allowed: &[&str],
    request: &CreateWebhookRequest,
) -> ApiResult<WebhookWithSecret> {
    let events = validate_events(&request.events, allowed)?;
    let config = &state.config.webhooks;
    if request.url.len() > MAX_URL_LEN {
        return Err(ApiError::validation("url", "must be at most 2048 characters"));
    }
    target::parse_url(config, &request.url).map_err(|refused| ApiError::validation("url", refused.0))?;
    let key = secret_key(state)?;
    let checked = target::check(config, &request.url).await.map_err(|refused| {
        ApiError::new(ErrorCode::WebhookUrlNotAllowed, format!("This URL {refused}."))
            .with_details(serde_json::json!({ "fields": { "url": refused.0 } }))
    })?;
    let id = Uuid::new_v4();
    let secret = seal::new_secret();
    let sealed = seal::seal(key, id, &secret).map_err(|_| ApiError::internal("cannot seal a webhook secret"))?;
    let endpoint = store::create_webhook_endpoint(&state.db, who, id, checked.url.as_str(), &events, &sealed).await?;
    Ok(WebhookWithSecret { endpoint, secret })
}

/// One of the owner's endpoints (another owner's is a 404).
pub async fn get(state: &AppState, owner: EndpointOwner, id: Uuid) -> ApiResult<WebhookEndpointView> {
    store::find_webhook_endpoint(&state.db, owner, id).await?.ok_or_else(not_found)
}

/// Stops sending to an endpoint; its pending deliveries end `failed`.
pub async fn disable(state: &AppState, who: Audit<'_>, id: Uuid) -> ApiResult<WebhookEndpointView> {
    store::disable_webhook_endpoint(&state.db, who, id).await?.ok_or_else(not_found)
}

/// Replaces an endpoint's signing secret; the old one keeps signing for the overlap window.
pub async fn rotate(state: &AppState, who: Audit<'_>, id: Uuid) -> ApiResult<WebhookWithSecret> {
    let key = secret_key(state)?;
    let secret = seal::new_secret();
    let sealed = seal::seal(key, id, &secret).map_err(|_| ApiError::internal("cannot seal a webhook secret"))?;
    let overlap = i64::try_from(state.config.webhooks.secret_overlap.as_secs()).unwrap_or(i64::MAX);
    let endpoint = store::rotate_webhook_secret(&state.db, who, id, &sealed, overlap).await?.ok_or_else(not_found)?;
    Ok(WebhookWithSecret { endpoint, secret })
}

/// Queues one more delivery of one of the owner's events to one of its active endpoints.
pub async fn redeliver(state: &AppState, who: Audit<'_>, id: Uuid, event_id: Uuid) -> ApiResult<WebhookDeliveryView> {
    let endpoint = store::find_webhook_endpoint(&state.db, who.owner, id).await?.ok_or_else(not_found)?;
    if endpoint.status != "active" {
        return Err(ApiError::new(ErrorCode::InvalidStatusTransition, "This endpoint is disabled."));
    }
    store::redeliver_webhook_event(&state.db, who, id, event_id)
        .await?
        .ok_or_else(|| ApiError::from_code(ErrorCode::EventNotFound))
}
