//! Field checks shared by request types; each failure is a 422 naming the field.

use mps_api::admin::ActionRequest;

use crate::error::{ApiError, ApiResult};

/// A required, trimmed text of 1..=max characters without control characters.
pub fn text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::validation(field, format!("must be 1 to {max} printable characters")));
    }
    Ok(value)
}

/// An optional text: absent or blank is `None`.
pub fn optional_text<'a>(field: &str, value: Option<&'a str>, max: usize) -> Result<Option<&'a str>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// A phone number: an optional `+` and 5 to 20 digits.
pub fn phone<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let value = value.trim();
    let digits = value.strip_prefix('+').unwrap_or(value);
    if !(5..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::validation(field, "must be 5 to 20 digits, optionally starting with +"));
    }
    Ok(value)
}

/// An email address (one `@`, something on each side, at most 254 characters).
pub fn email<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let value = value.trim();
    let ok = value.len() <= 254
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !value.chars().any(char::is_whitespace)
        });
    if !ok {
        return Err(ApiError::validation(field, "must be an email address such as ana@example.com"));
    }
    Ok(value)
}

/// A merchant code: 3 to 20 letters and digits.
pub fn merchant_code<'a>(field: &str, value: &'a str) -> Result<&'a str, ApiError> {
    let value = value.trim();
    if !(3..=20).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::validation(field, "must be 3 to 20 letters and digits"));
    }
    Ok(value)
}

/// The reason of an [`ActionRequest`] (suspend, activate, close…), checked as every handler taking
/// one checks it.
pub trait ActionReason {
    /// The validated reason, if any.
    fn reason(&self) -> ApiResult<Option<&str>>;
}

impl ActionReason for ActionRequest {
    fn reason(&self) -> ApiResult<Option<&str>> {
        optional_text("reason", self.reason.as_deref(), 500)
    }
}
