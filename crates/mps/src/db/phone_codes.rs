//! Phone verification codes: wrappers of `issue_phone_code` and `verify_phone_code`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use mps_api::auth::CodePurpose;
use mps_api::error::ErrorCode;

use crate::config::OtpConfig;
use crate::error::ApiError;

/// The outcome of `issue_phone_code`.
#[derive(Debug, sqlx::FromRow)]
pub struct Issued {
    /// When the new code stops working; `None` when it was refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// How long to wait before the phone may get another code; `None` when one was issued.
    pub retry_after_seconds: Option<i32>,
}

/// Stores a new code (its hash) for a phone and purpose, unless the phone's resend or daily
/// limit refuses it, inside the caller's transaction.
pub async fn issue_phone_code(
    conn: &mut PgConnection,
    phone: &str,
    purpose: CodePurpose,
    code_hash: &str,
    config: &OtpConfig,
    client_ip: IpAddr,
) -> Result<Issued, ApiError> {
    let to_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    Ok(sqlx::query_as("SELECT * FROM issue_phone_code($1, $2, $3, $4, $5, $6, $7::inet)")
        .bind(phone)
        .bind(purpose.as_str())
        .bind(code_hash)
        .bind(to_i32(config.ttl_seconds))
        .bind(to_i32(config.resend_seconds))
        .bind(to_i32(config.daily_limit))
        .bind(client_ip.to_string())
        .fetch_one(conn)
        .await?)
}

/// How a code check ended when it did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum CodeRefusal {
    Invalid,
    Expired,
    Locked,
}

impl CodeRefusal {
    /// The client error of this refusal.
    pub fn error(self) -> ApiError {
        match self {
            CodeRefusal::Invalid => {
                ApiError::new(ErrorCode::InvalidCode, "The code is wrong, used or replaced by a newer one.")
            }
            CodeRefusal::Expired => ApiError::new(ErrorCode::CodeExpired, "The code has expired; ask for a new one."),
            CodeRefusal::Locked => {
                ApiError::new(ErrorCode::CodeLocked, "Too many wrong tries for this code; ask for a new one.")
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Checks a code inside the caller's transaction: `Ok` has used it up; a refusal has counted a
/// wrong try, which sticks only if the caller commits.
pub async fn verify_phone_code(
    conn: &mut PgConnection,
    phone: &str,
    purpose: CodePurpose,
    code_hash: &str,
    max_attempts: u32,
) -> Result<Result<(), CodeRefusal>, ApiError> {
    let outcome: String = sqlx::query_scalar("SELECT verify_phone_code($1, $2, $3, $4)")
        .bind(phone)
        .bind(purpose.as_str())
        .bind(code_hash)
        .bind(i32::try_from(max_attempts).unwrap_or(i32::MAX))
        .fetch_one(conn)
        .await?;
    Ok(match outcome.as_str() {
        "ok" => Ok(()),
        "expired" => Err(CodeRefusal::Expired),
        "locked" => Err(CodeRefusal::Locked),
        _ => Err(CodeRefusal::Invalid),
    })
}
