//! One-time secrets of sign-up: 6-digit phone codes and link tokens, and how they are stored.
//!
//! A code has only a million values, so a bare hash of it would fall to a dictionary in
//! moments: it is stored as an HMAC under the server's JWT secret, bound to its phone and
//! purpose. A link token is 32 random bytes, so its SHA-256 is enough.

use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::error::ApiError;

/// A uniformly random 6-digit code, zero-padded.
pub fn generate_code() -> String {
    // Rejection sampling keeps every code equally likely.
    loop {
        let n = rand::random::<u32>();
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// Whether a string has the shape of a code: exactly 6 ASCII digits.
pub fn is_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// What is stored for a code: HMAC-SHA256 of phone, purpose and code under `key`, in hex.
pub fn hash_code(key: &str, phone: &str, purpose: &str, code: &str) -> Result<String, ApiError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).map_err(ApiError::internal)?;
    mac.update(format!("phone-code\n{phone}\n{purpose}\n{code}").as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// A new link token: 32 random bytes, base64url without padding.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a link token: its SHA-256 in hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
