//! Password hashing with argon2id, always off the async runtime and never more at once than
//! there are cores, so a burst of logins cannot starve the server or balloon its memory
//! (one hash peaks at about 22 MiB).

use std::sync::LazyLock;

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::Semaphore;

use mps_api::error::ErrorCode;

use crate::error::ApiError;

/// Shortest password accepted for new passwords.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted: hashing cost must not be driven by the client.
pub const MAX_PASSWORD_LEN: usize = 128;

static HASHING_SLOTS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// A hash of a password nobody has, verified against for unknown accounts so that timing does
/// not tell them from known ones.
static DUMMY_HASH: LazyLock<Option<String>> =
    LazyLock::new(|| hash_blocking("not-a-real-password-only-for-timing").ok());

/// Checks a new password's length: 422 `PASSWORD_TOO_SHORT` below the minimum.
pub fn check_new_password(field: &str, password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_LEN {
        return Err(ApiError::new(
            ErrorCode::PasswordTooShort,
            format!("`{field}` must be at least {MIN_PASSWORD_LEN} characters."),
        ));
    }
    if chars > MAX_PASSWORD_LEN {
        return Err(ApiError::validation(field, format!("must be at most {MAX_PASSWORD_LEN} characters")));
    }
    Ok(())
}

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default().hash_password(password.as_bytes())?.to_string())
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

async fn run_bounded<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    let _slot = HASHING_SLOTS.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(job).await.map_err(ApiError::internal)
}

/// Hashes a password (argon2id, default parameters, random salt).
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    run_bounded(move || hash_blocking(&password)).await?.map_err(ApiError::internal)
}

/// Verifies a password against a stored hash; with no hash (unknown account) it still spends
/// the time of a verification and answers false.
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    run_bounded(move || match hash {
        Some(hash) => verify_blocking(&password, &hash),
        None => {
            if let Some(dummy) = DUMMY_HASH.as_deref() {
                verify_blocking(&password, dummy);
            }
            false
        }
    })
    .await
}
