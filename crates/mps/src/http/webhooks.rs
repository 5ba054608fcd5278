//! `POST /webhooks/payments`: the payment channel confirms (or fails) a member's recharge order.
//!
//! The body is authenticated by `X-MPS-Signature: sha256=<hex HMAC-SHA256 of the raw body>` with
//! `PAYMENT_WEBHOOK_SECRET`, compared in constant time. Without a configured secret the endpoint
//! answers 503 and credits nothing.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::error::ErrorCode;
use mps_api::webhooks::{ChannelStatus, PaymentWebhook, WebhookResponse};

use crate::db::money_ops;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::AppJson;
use crate::http::middleware::RequestId;
use crate::http::respond::moved;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(payment_webhook))
}

fn signature_valid(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(hex_signature) =
        headers.get("x-mps-signature").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().strip_prefix("sha256="))
    else {
        return false;
    };
    let Ok(signature) = hex::decode(hex_signature) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// Confirm or fail a recharge order (signed by the payment channel). Deliveries are idempotent
/// per order: once completed or failed, later deliveries answer 200 and change nothing.
#[utoipa::path(post, path = "/webhooks/payments", tag = "webhooks",
    request_body = PaymentWebhook,
    params(("X-MPS-Signature" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body>")),
    responses((status = 200, body = WebhookResponse),
              (status = 401, description = "INVALID_SIGNATURE", body = mps_api::error::ErrorEnvelope),
              (status = 404, description = "TX_NOT_FOUND", body = mps_api::error::ErrorEnvelope),
              (status = 503, description = "No webhook secret is configured", body = mps_api::error::ErrorEnvelope)))]
async fn payment_webhook(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<AppJson<WebhookResponse>> {
    let Some(secret) = &state.config.payment_webhook_secret else {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            "The payment webhook is not configured (PAYMENT_WEBHOOK_SECRET).",
        ));
    };
    if !signature_valid(secret.expose(), &headers, &body) {
        return Err(ApiError::new(ErrorCode::InvalidSignature, "The X-MPS-Signature header does not match the body."));
    }
    let not_a_notification =
        |e: serde_json::Error| ApiError::validation("body", format!("is not a payment notification: {e}"));
    let delivery: serde_json::Value = serde_json::from_slice(&body).map_err(not_a_notification)?;
    crate::http::extract::reject_nul(&delivery)?;
    let delivery: PaymentWebhook = serde_json::from_value(delivery).map_err(not_a_notification)?;
    // A malformed amount cannot match the order: treat it as a mismatch, which fails the order.
    let amount = delivery.amount.to_money("amount", rust_decimal::Decimal::MAX).ok();
    let channel_ref = crate::http::validate::optional_text("channel_ref", delivery.channel_ref.as_deref(), 128)?;
    let succeeded = delivery.status == ChannelStatus::Succeeded;
    let tx_no = delivery.tx_no.trim().to_ascii_uppercase();
    let verdict = money_ops::ChannelVerdict { tx_no: &tx_no, succeeded, amount, channel_ref };
    let confirmed = money_ops::confirm_recharge(&state.db, verdict, &request_id).await;
    Ok(AppJson(moved::<WebhookResponse>(&state, "confirm_recharge", confirmed).await?))
}
