//! The one error type of the request path; its stable codes and the JSON envelope of SPEC §3
//! are wire types (`mps_api::error`).
//!
//! Handlers return `Result<T, ApiError>`. An `ApiError` turns into a response that carries the
//! error in its extensions; `http::middleware::render_errors` writes the envelope with the
//! request id, so every error — ours, axum's rejections, timeouts, panics — looks the same.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mps_api::error::{ErrorBody, ErrorCode, ErrorEnvelope, InputError};
use serde_json::Value;

/// An error answered to the client: a stable code, a message a person can act on, optional
/// structured details, and (never sent) the internal cause for the log.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    /// Extra response headers such as `Retry-After`.
    pub retry_after_secs: Option<u32>,
    /// Set when this error is the replay of a stored idempotent outcome: the envelope then
    /// carries the original request's id, and the response `Idempotent-Replayed: true`.
    pub replayed_from: Option<Box<str>>,
    internal: Option<Box<str>>,
}

/// `Result` with the API error as the default error type.
pub type ApiResult<T, E = ApiError> = Result<T, E>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            replayed_from: None,
            internal: None,
        }
    }

    /// An error with the code's standard message.
    pub fn from_code(code: ErrorCode) -> Self {
        ApiError::new(code, code.default_message())
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// A 422 `VALIDATION_FAILED` naming one field and what is wrong with it.
    pub fn validation(field: &str, problem: impl Into<String>) -> Self {
        InputError::validation(field, problem).into()
    }

    /// A 500 whose cause goes to the log, never to the client.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError { internal: Some(cause.to_string().into()), ..ApiError::from_code(ErrorCode::Internal) }
    }

    /// A 503: a dependency is down. The cause is logged, not sent.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        ApiError { internal: Some(cause.to_string().into()), ..ApiError::from_code(ErrorCode::Unavailable) }
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The cause kept for the log, if any.
    pub fn internal_cause(&self) -> Option<&str> {
        self.internal.as_deref()
    }

    /// The envelope body of SPEC §3.
    pub fn envelope(&self, request_id: &str) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                details: self.details.clone(),
                request_id: self.replayed_from.as_deref().unwrap_or(request_id).to_owned(),
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<InputError> for ApiError {
    /// A refused input read by a wire type (`mps_api`) is answered like any client error.
    fn from(InputError { code, message, details }: InputError) -> Self {
        ApiError { details, ..ApiError::new(code, message) }
    }
}

impl IntoResponse for ApiError {
    /// The body is written by `render_errors`, which knows the request id.
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}
