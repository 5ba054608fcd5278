//! POS API keys: `Authorization: Bearer mps_pos_<prefix>_<secret>` on merchant routes.
//!
//! The prefix (12 lowercase letters and digits) finds the key; the secret is 32 random bytes
//! (base64url), so the SHA-256 of the whole key is all that is stored — a key cannot be guessed
//! from its hash, and no slow hash is needed. Every request reads the key row by its unique
//! prefix, so a revocation holds on every instance from the moment it commits; `last_used_at` is
//! written at most once a minute per key, not once per request.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use mps_api::error::ErrorCode;
use mps_api::roles::{KeyScope, Role};

use crate::auth::AuthUser;
use crate::db::pos_keys;
use crate::error::ApiError;
use crate::state::AppState;

/// The text every key starts with.
pub const KEY_PREFIX: &str = "mps_pos_";
const PREFIX_LEN: usize = 12;
const PREFIX_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// How stale `last_used_at` may get before a request writes it again.
const LAST_USED_RESOLUTION: chrono::Duration = chrono::Duration::seconds(60);

/// Whether a bearer token is a POS key rather than a JWT.
pub fn is_pos_key(token: &str) -> bool {
    token.starts_with(KEY_PREFIX)
}

/// A new key: its prefix, its full text (shown once) and the hash stored for it.
pub struct NewKeySecret {
    pub prefix: String,
    pub secret: String,
    pub hash: Vec<u8>,
}

/// A fresh random prefix.
pub fn generate_prefix() -> String {
    (0..PREFIX_LEN)
        .map(|_| {
            let index = usize::from(rand::random::<u8>()) % PREFIX_ALPHABET.len();
            char::from(PREFIX_ALPHABET[index])
        })
        .collect()
}

/// A fresh secret for the key with this prefix.
pub fn generate_secret(prefix: &str) -> NewKeySecret {
    let random: [u8; 32] = rand::random();
    let secret = format!("{KEY_PREFIX}{prefix}_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random));
    NewKeySecret { prefix: prefix.to_owned(), hash: hash_key(&secret), secret }
}

/// What is stored for a key: the SHA-256 of its whole text.
pub fn hash_key(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The "expiry" of a key without one, as a valid RFC 3339 time: the last second of year 9999.
fn never() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).unwrap_or_default()
}

fn refused() -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, "This POS key is unknown, revoked or expired.")
}

/// The caller a POS key speaks for: its merchant, acting as its store with its permissions.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<AuthUser, ApiError> {
    let prefix = secret
        .strip_prefix(KEY_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .map(|(prefix, _)| prefix)
        .filter(|p| p.len() == PREFIX_LEN && p.bytes().all(|b| PREFIX_ALPHABET.contains(&b)))
        .ok_or_else(refused)?;
    let key = pos_keys::key_credentials(&state.db, prefix).await?.ok_or_else(refused)?;
    let now = Utc::now();
    let hash = hash_key(secret);
    // Comparing SHA-256 digests of a 256-bit secret: timing tells nothing about the secret.
    let current = hash == key.secret_hash;
    let previous = key.previous_secret_hash.as_deref() == Some(hash.as_slice())
        && key.previous_valid_until.is_some_and(|until| until > now);
    if !key.usable || !(current || previous) {
        return Err(refused());
    }
    if key.last_used_at.is_none_or(|at| now - at > LAST_USED_RESOLUTION) {
        let db = state.db.clone();
        let id = key.id;
        tokio::spawn(async move {
            if let Err(e) = pos_keys::touch_key(&db, id).await {
                tracing::debug!(error = %e, "last_used_at of a POS key not written");
            }
        });
    }
    let mut permissions: Vec<String> = Vec::new();
    for scope in key.permissions.iter().filter_map(|p| KeyScope::parse(p)) {
        permissions.extend(scope.permissions().iter().map(|p| (*p).to_owned()));
    }
    let span = tracing::Span::current();
    span.record("user_id", tracing::field::display(key.merchant_id));
    span.record("role", "merchant");
    Ok(AuthUser {
        id: key.merchant_id,
        role: Role::Merchant,
        name: key.name.clone(),
        session_id: key.id,
        permissions,
        merchant_code: Some(key.merchant_code),
        operator: Some(key.name),
        expires_at: key.expires_at.unwrap_or_else(never),
        staff_id: None,
        staff_role: None,
        store_id: Some(key.store_id),
        key_id: Some(key.id),
    })
}
