//! The one error type of the request path, its stable codes, and the JSON envelope of SPEC §3.
//!
//! Handlers return `Result<T, ApiError>`. An `ApiError` turns into a response that carries the
//! error in its extensions; `http::middleware::render_errors` writes the envelope with the
//! request id, so every error — ours, axum's rejections, timeouts, panics — looks the same.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

macro_rules! error_codes {
    ($($variant:ident => $status:ident),* $(,)?) => {
        /// Every error code the API can answer with. The code and its status are stable;
        /// messages are for people and may change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            /// All codes, for documentation and for mapping codes raised by SQL functions.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The HTTP status this code is always answered with.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),* }
            }
        }
    };
}

error_codes! {
    IdempotencyKeyRequired => BAD_REQUEST,
    InvalidIdempotencyKey => BAD_REQUEST,
    BadRequest => BAD_REQUEST,
    Unauthenticated => UNAUTHORIZED,
    InvalidCredentials => UNAUTHORIZED,
    InvalidSignature => UNAUTHORIZED,
    Forbidden => FORBIDDEN,
    NotFound => NOT_FOUND,
    CardNotFound => NOT_FOUND,
    MemberNotFound => NOT_FOUND,
    MerchantNotFound => NOT_FOUND,
    TxNotFound => NOT_FOUND,
    SettlementNotFound => NOT_FOUND,
    MethodNotAllowed => METHOD_NOT_ALLOWED,
    PayloadTooLarge => PAYLOAD_TOO_LARGE,
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE,
    IdempotencyKeyReused => CONFLICT,
    IdempotencyInProgress => CONFLICT,
    DuplicatePhone => CONFLICT,
    DuplicateEmail => CONFLICT,
    DuplicateExternalIdentity => CONFLICT,
    DuplicateMerchantCode => CONFLICT,
    DuplicateExternalOrder => CONFLICT,
    InsufficientBalance => CONFLICT,
    QrExpiredOrInvalid => CONFLICT,
    CardNotActive => CONFLICT,
    CardExpired => CONFLICT,
    CardClosed => CONFLICT,
    CardHasBalance => CONFLICT,
    MemberNotActive => CONFLICT,
    MerchantNotActive => CONFLICT,
    RefundExceedsRemaining => CONFLICT,
    NotRefundable => CONFLICT,
    CannotRemoveLastOwner => CONFLICT,
    AlreadyBound => CONFLICT,
    SettlementAlreadyExists => CONFLICT,
    InvalidStatusTransition => CONFLICT,
    ValidationFailed => UNPROCESSABLE_ENTITY,
    InvalidAmount => UNPROCESSABLE_ENTITY,
    PasswordTooShort => UNPROCESSABLE_ENTITY,
    CorporateCardCannotPay => UNPROCESSABLE_ENTITY,
    CardTypeNotShareable => UNPROCESSABLE_ENTITY,
    CardTypeNotRechargeable => UNPROCESSABLE_ENTITY,
    InvalidBindingPassword => UNPROCESSABLE_ENTITY,
    InvalidLevelTable => UNPROCESSABLE_ENTITY,
    PeriodNotClosed => UNPROCESSABLE_ENTITY,
    RateLimited => TOO_MANY_REQUESTS,
    Internal => INTERNAL_SERVER_ERROR,
    Unavailable => SERVICE_UNAVAILABLE,
}

impl ErrorCode {
    /// The code as written on the wire: `INSUFFICIENT_BALANCE`.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            IdempotencyKeyRequired => "IDEMPOTENCY_KEY_REQUIRED",
            InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
            BadRequest => "BAD_REQUEST",
            Unauthenticated => "UNAUTHENTICATED",
            InvalidCredentials => "INVALID_CREDENTIALS",
            InvalidSignature => "INVALID_SIGNATURE",
            Forbidden => "FORBIDDEN",
            NotFound => "NOT_FOUND",
            CardNotFound => "CARD_NOT_FOUND",
            MemberNotFound => "MEMBER_NOT_FOUND",
            MerchantNotFound => "MERCHANT_NOT_FOUND",
            TxNotFound => "TX_NOT_FOUND",
            SettlementNotFound => "SETTLEMENT_NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            IdempotencyInProgress => "IDEMPOTENCY_IN_PROGRESS",
            DuplicatePhone => "DUPLICATE_PHONE",
            DuplicateEmail => "DUPLICATE_EMAIL",
            DuplicateExternalIdentity => "DUPLICATE_EXTERNAL_IDENTITY",
            DuplicateMerchantCode => "DUPLICATE_MERCHANT_CODE",
            DuplicateExternalOrder => "DUPLICATE_EXTERNAL_ORDER",
            InsufficientBalance => "INSUFFICIENT_BALANCE",
            QrExpiredOrInvalid => "QR_EXPIRED_OR_INVALID",
            CardNotActive => "CARD_NOT_ACTIVE",
            CardExpired => "CARD_EXPIRED",
            CardClosed => "CARD_CLOSED",
            CardHasBalance => "CARD_HAS_BALANCE",
            MemberNotActive => "MEMBER_NOT_ACTIVE",
            MerchantNotActive => "MERCHANT_NOT_ACTIVE",
            RefundExceedsRemaining => "REFUND_EXCEEDS_REMAINING",
            NotRefundable => "NOT_REFUNDABLE",
            CannotRemoveLastOwner => "CANNOT_REMOVE_LAST_OWNER",
            AlreadyBound => "ALREADY_BOUND",
            SettlementAlreadyExists => "SETTLEMENT_ALREADY_EXISTS",
            InvalidStatusTransition => "INVALID_STATUS_TRANSITION",
            ValidationFailed => "VALIDATION_FAILED",
            InvalidAmount => "INVALID_AMOUNT",
            PasswordTooShort => "PASSWORD_TOO_SHORT",
            CorporateCardCannotPay => "CORPORATE_CARD_CANNOT_PAY",
            CardTypeNotShareable => "CARD_TYPE_NOT_SHAREABLE",
            CardTypeNotRechargeable => "CARD_TYPE_NOT_RECHARGEABLE",
            InvalidBindingPassword => "INVALID_BINDING_PASSWORD",
            InvalidLevelTable => "INVALID_LEVEL_TABLE",
            PeriodNotClosed => "PERIOD_NOT_CLOSED",
            RateLimited => "RATE_LIMITED",
            Internal => "INTERNAL",
            Unavailable => "UNAVAILABLE",
        }
    }

    /// Looks a wire code up, e.g. one raised by a SQL function.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// The code that stands for a bare HTTP status produced outside our handlers.
    pub fn for_status(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
            StatusCode::FORBIDDEN => ErrorCode::Forbidden,
            StatusCode::NOT_FOUND => ErrorCode::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::ValidationFailed,
            StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
            StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                ErrorCode::Unavailable
            }
            s if s.is_client_error() => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        }
    }

    fn default_message(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Unauthenticated => "Authentication is required: send a valid bearer token.",
            Forbidden => "You are not allowed to do this.",
            NotFound => "Nothing exists at this address.",
            MethodNotAllowed => "This method is not allowed on this resource.",
            PayloadTooLarge => "The request body is too large.",
            UnsupportedMediaType => "Send the body as JSON with `Content-Type: application/json`.",
            RateLimited => "Too many requests: wait before trying again.",
            Unavailable => "A service MPS depends on is unavailable; try again shortly.",
            Internal => "Something went wrong on our side; it has been logged.",
            _ => "The request could not be processed.",
        }
    }
}

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
        let problem = problem.into();
        ApiError::new(ErrorCode::ValidationFailed, format!("`{field}`: {problem}"))
            .with_details(serde_json::json!({ "fields": { field: problem } }))
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
        self.code.status()
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

/// `{"error": {...}}` as sent to clients.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// The body of an error: machine code, human message, details and the request id.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code such as `INSUFFICIENT_BALANCE`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured details, e.g. `fields` for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// The id of the request, also sent as `X-Request-Id`.
    pub request_id: String,
}

impl IntoResponse for ApiError {
    /// The body is written by `render_errors`, which knows the request id.
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        crate::db::map_sqlx_error(error)
    }
}

impl From<crate::cache::CacheError> for ApiError {
    fn from(error: crate::cache::CacheError) -> Self {
        ApiError::unavailable(error)
    }
}
