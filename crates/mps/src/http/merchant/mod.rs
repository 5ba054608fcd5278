//! `/merchant`: charge by QR, refund, counter top-up, QR validation and the merchant's books.

pub mod keys;
pub mod payments;
pub mod settlements;
pub mod staff;
pub mod statements;
pub mod stores;
pub mod summary;
pub mod transactions;
pub mod webhooks;

use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(payments::router())
        .merge(transactions::router())
        .merge(settlements::router())
        .merge(statements::router())
        .merge(summary::router())
        .merge(webhooks::router())
        .merge(stores::router())
        .merge(staff::router())
        .merge(keys::router())
}

/// Largest `tag` accepted, serialized.
const MAX_TAG_BYTES: usize = 4096;

/// A transaction tag must be a JSON object of modest size.
pub fn validate_tag(tag: Option<&Value>) -> ApiResult<()> {
    match tag {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(map)) if serde_json::to_vec(map).map_or(0, |v| v.len()) <= MAX_TAG_BYTES => Ok(()),
        Some(Value::Object(_)) => Err(ApiError::validation("tag", "must be at most 4 KiB of JSON")),
        Some(_) => Err(ApiError::validation("tag", "must be a JSON object such as {\"table\": \"12\"}")),
    }
}
