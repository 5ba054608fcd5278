//! Signing secrets at rest: the sender needs each secret back to sign, so it is stored sealed
//! (ChaCha20-Poly1305 under `WEBHOOK_SECRET_KEY`, the endpoint id as associated data so a sealed
//! secret cannot be moved to another endpoint), never hashed and never in clear.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use uuid::Uuid;

use crate::config::WebhookKey;

const NONCE_LEN: usize = 12;

/// A new signing secret as shown once to the merchant: `whsec_` and 32 random bytes, base64url.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Seals `secret` for endpoint `endpoint_id`: nonce ‖ ciphertext.
pub fn seal(key: &WebhookKey, endpoint_id: Uuid, secret: &str) -> Result<Vec<u8>, chacha20poly1305::Error> {
    let cipher = ChaCha20Poly1305::new(&Key::from(key.0));
    let nonce: [u8; NONCE_LEN] = rand::random();
    let sealed =
        cipher.encrypt(&Nonce::from(nonce), Payload { msg: secret.as_bytes(), aad: endpoint_id.as_bytes() })?;
    Ok([nonce.as_slice(), &sealed].concat())
}

/// Opens a secret sealed by [`seal`] for the same endpoint; `None` when the key or endpoint differ.
pub fn open(key: &WebhookKey, endpoint_id: Uuid, sealed: &[u8]) -> Option<String> {
    if sealed.len() <= NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let cipher = ChaCha20Poly1305::new(&Key::from(key.0));
    let plain = cipher.decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: endpoint_id.as_bytes() }).ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_endpoint() {
        let key = WebhookKey([7; 32]);
        let endpoint = Uuid::new_v4();
        let secret = new_secret();
        let sealed = seal(&key, endpoint, &secret).unwrap();
        assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()), "never stored in clear");
        assert_eq!(open(&key, endpoint, &sealed).as_deref(), Some(secret.as_str()));
        assert_eq!(open(&WebhookKey([8; 32]), endpoint, &sealed), None, "another key cannot open it");
        assert_eq!(open(&key, Uuid::new_v4(), &sealed), None, "another endpoint cannot use it");
    }
}
