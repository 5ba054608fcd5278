//! The `Idempotency-Key` header and request fingerprints.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use mps_api::error::ErrorCode;

use crate::error::ApiError;

/// A validated `Idempotency-Key`: 1–255 visible ASCII characters. Missing → 400
/// `IDEMPOTENCY_KEY_REQUIRED`; malformed → 400 `INVALID_IDEMPOTENCY_KEY`.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = parts.headers.get("idempotency-key").ok_or_else(|| {
            ApiError::new(
                ErrorCode::IdempotencyKeyRequired,
                "Send an `Idempotency-Key` header (e.g. a UUID) and reuse it when you retry this request.",
            )
        })?;
        let key =
            value.to_str().ok().filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
        match key {
            Some(key) => Ok(IdempotencyKey(key.to_owned())),
            None => Err(ApiError::new(
                ErrorCode::InvalidIdempotencyKey,
                "`Idempotency-Key` must be 1 to 255 visible ASCII characters.",
            )),
        }
    }
}

/// SHA-256 of a parsed request, canonicalised (object keys sorted), so the same request always
/// has the same fingerprint. Callers put secrets in hashed form only.
pub fn fingerprint(operation: &str, request: &Value) -> Vec<u8> {
    let canonical =
        serde_json::to_vec(&serde_json::json!({ "operation": operation, "request": request })).unwrap_or_default();
    Sha256::digest(canonical).to_vec()
}
