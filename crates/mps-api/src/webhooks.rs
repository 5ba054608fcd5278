//! Webhooks: the payment channels' callbacks, and merchants' and the programme's endpoints and
//! deliveries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::TxStatus;
use crate::money::AmountInput;

/// The channel's verdict on an order.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChannelStatus {
    /// `succeeded`.
    Succeeded,
    /// `failed`.
    Failed,
}

/// A payment channel's callback on a recharge order.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PaymentWebhook {
    /// The recharge order (`RCG…`).
    pub tx_no: String,
    /// The channel's verdict.
    pub status: ChannelStatus,
    /// What the channel collected; must equal the order's amount.
    pub amount: AmountInput,
    /// The channel's own reference for the payment, if any (at most 128 characters).
    pub channel_ref: Option<String>,
}

/// The outcome of a payment channel's callback.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookResponse {
    /// The recharge order's number.
    pub tx_no: String,
    /// The order's status after this delivery.
    pub status: TxStatus,
    /// False when the order was already final and this delivery changed nothing.
    pub changed: bool,
}

/// Registers a webhook endpoint.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
    /// The endpoint.
    pub endpoint: WebhookEndpointView,
    /// Verifies `MPS-Signature`; store it now: it is never shown again.
    pub secret: String,
}

/// Sends an event to an endpoint again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RedeliverRequest {
    /// The event to send again (its id is unchanged: receivers dedupe on it).
    pub event_id: Uuid,
}

/// A webhook endpoint as its merchant sees it (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct WebhookEndpointView {
    /// The endpoint's id (UUID).
    pub id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    /// The event types sent to it.
    pub events: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    /// Until when the secret replaced by the last rotation still signs (a second `v1=`).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// When the endpoint was registered (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
    /// When the endpoint last changed (RFC 3339, UTC).
    pub updated_at: DateTime<Utc>,
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct WebhookDeliveryView {
    /// The delivery's id (UUID).
    pub id: Uuid,
    /// The event's stable id (the body's `id` and the `MPS-Event-Id` header).
    pub event_id: Uuid,
    /// The event's type, e.g. `payment.succeeded`.
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (gave up after the retry window).
    pub status: String,
    /// How many attempts were made.
    pub attempts: i32,
    /// When the next attempt is (or was) due (RFC 3339, UTC); meaningful while `pending`.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the latest attempt was made (RFC 3339, UTC), if any.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status the latest attempt got, if any.
    pub last_status_code: Option<i32>,
    /// Why the latest attempt failed, if it did (cut to 500 characters).
    pub last_error: Option<String>,
    /// When the event was delivered (RFC 3339, UTC), if it was.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the delivery was queued (RFC 3339, UTC).
    pub created_at: DateTime<Utc>,
}

impl WebhookEndpointView {
    /// Its position in an endpoint list (`db::webhooks::ENDPOINT_ORDER` in the server).
    pub fn page_key(&self) -> (DateTime<Utc>, String) {
        (self.created_at, self.id.to_string())
    }
}

impl WebhookDeliveryView {
    /// Its position in a delivery list (`db::webhooks::DELIVERY_ORDER` in the server).
    pub fn page_key(&self) -> (DateTime<Utc>, String) {
        (self.created_at, self.id.to_string())
    }
}
