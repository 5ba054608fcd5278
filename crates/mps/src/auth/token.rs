//! JSON Web Tokens per SPEC §3: HS256 only, `iss`, `aud`, `exp` and the required claims checked.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use mps_api::roles::{Role, StaffRole};

use crate::config::Config;

pub const ISSUER: &str = "mps_api";
pub const AUDIENCE: &str = "mps_clients";
/// The only algorithm accepted; anything else in a token's header is refused.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm::HS256];

/// The claims of an MPS token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    pub name: String,
    pub permissions: Vec<String>,
    pub session_id: Uuid,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Merchants' staff: who is logged in (none for the merchant's own credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<Uuid>,
    /// Merchants: `owner`, `manager` or `cashier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_role: Option<StaffRole>,
    /// Staff restricted to one store: that store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<Uuid>,
}

/// Signing key and the keys accepted for verification (current, then previous during rotation).
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: Vec<DecodingKey>,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(config: &Config) -> JwtKeys {
        let mut decoding = vec![DecodingKey::from_secret(config.jwt_secret.expose().as_bytes())];
        if let Some(previous) = &config.jwt_secret_previous {
            decoding.push(DecodingKey::from_secret(previous.expose().as_bytes()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = ALGORITHMS.to_vec();
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        JwtKeys { encoding: EncodingKey::from_secret(config.jwt_secret.expose().as_bytes()), decoding, validation }
    }

    /// Signs claims with the current secret.
    pub fn issue(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
    }

    /// The claims of a token signed by an accepted key and valid now; `None` otherwise.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        self.decoding
            .iter()
            .find_map(|key| jsonwebtoken::decode::<Claims>(token, key, &self.validation).ok())
            .map(|data| data.claims)
    }
}
