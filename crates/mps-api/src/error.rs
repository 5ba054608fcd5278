//! The API's stable error codes and the JSON envelope of SPEC §3 (`{"error": {...}}`).
//!
//! The server's `ApiError` (which also carries causes for the log and turns into a response)
//! converts from these; a client reads the envelope and looks its code up here.

use serde::Serialize;
use serde_json::Value;

/// The HTTP statuses the codes are answered with, by their `http::StatusCode` names.
mod status {
    pub const BAD_REQUEST: u16 = 400;
    pub const UNAUTHORIZED: u16 = 401;
    pub const FORBIDDEN: u16 = 403;
    pub const NOT_FOUND: u16 = 404;
    pub const METHOD_NOT_ALLOWED: u16 = 405;
    pub const REQUEST_TIMEOUT: u16 = 408;
    pub const CONFLICT: u16 = 409;
    pub const PAYLOAD_TOO_LARGE: u16 = 413;
    pub const UNSUPPORTED_MEDIA_TYPE: u16 = 415;
    pub const UNPROCESSABLE_ENTITY: u16 = 422;
    pub const TOO_MANY_REQUESTS: u16 = 429;
    pub const INTERNAL_SERVER_ERROR: u16 = 500;
    pub const SERVICE_UNAVAILABLE: u16 = 503;
    pub const GATEWAY_TIMEOUT: u16 = 504;
}

macro_rules! error_codes {
    ($($variant:ident => $status:ident, $wire:literal, $message:literal;)*) => {
        /// Every error code the API can answer with. The code and its status are stable;
        /// messages are for people and may change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $(#[doc = concat!("`", $wire, "`: ", $message)] $variant),* }

        impl ErrorCode {
            /// All codes, for documentation and for mapping codes raised by SQL functions.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The HTTP status this code is always answered with (`409`).
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => status::$status),* }
            }

            /// The code as written on the wire: `INSUFFICIENT_BALANCE`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $wire),* }
            }

            /// The message answered when the code is raised without one of its own.
            pub fn default_message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message),* }
            }
        }
    };
}

// One row per error code: the variant, its HTTP status, the code on the wire, its default message.
error_codes! {
    IdempotencyKeyRequired => BAD_REQUEST, "IDEMPOTENCY_KEY_REQUIRED", "The request could not be processed.";
    InvalidIdempotencyKey => BAD_REQUEST, "INVALID_IDEMPOTENCY_KEY", "The request could not be processed.";
    BadRequest => BAD_REQUEST, "BAD_REQUEST", "The request could not be processed.";
    Unauthenticated => UNAUTHORIZED, "UNAUTHENTICATED", "Authentication is required: send a valid bearer token.";
    InvalidCredentials => UNAUTHORIZED, "INVALID_CREDENTIALS", "The request could not be processed.";
    InvalidSignature => UNAUTHORIZED, "INVALID_SIGNATURE", "The request could not be processed.";
    Forbidden => FORBIDDEN, "FORBIDDEN", "You are not allowed to do this.";
    RegistrationClosed => FORBIDDEN, "REGISTRATION_CLOSED", "Self sign-up is closed.";
    StoreNotAllowed => FORBIDDEN, "STORE_NOT_ALLOWED", "You may only act as your own store.";
    SuspendedByAdmin => FORBIDDEN, "SUSPENDED_BY_ADMIN", "An administrator suspended this staff member; only an administrator can reactivate them.";
    RefundLimitExceeded => FORBIDDEN, "REFUND_LIMIT_EXCEEDED", "This refund is above your refund limit; ask a manager.";
    RefundNotSameDay => FORBIDDEN, "REFUND_NOT_SAME_DAY", "You may only refund payments made today; ask a manager.";
    NotFound => NOT_FOUND, "NOT_FOUND", "Nothing exists at this address.";
    IdentityNotLinked => NOT_FOUND, "IDENTITY_NOT_LINKED", "This external identity is not linked to a member.";
    CardNotFound => NOT_FOUND, "CARD_NOT_FOUND", "The request could not be processed.";
    MemberNotFound => NOT_FOUND, "MEMBER_NOT_FOUND", "The request could not be processed.";
    MerchantNotFound => NOT_FOUND, "MERCHANT_NOT_FOUND", "The request could not be processed.";
    TxNotFound => NOT_FOUND, "TX_NOT_FOUND", "The request could not be processed.";
    SettlementNotFound => NOT_FOUND, "SETTLEMENT_NOT_FOUND", "The request could not be processed.";
    WebhookNotFound => NOT_FOUND, "WEBHOOK_NOT_FOUND", "You have no webhook endpoint with this id.";
    EventNotFound => NOT_FOUND, "EVENT_NOT_FOUND", "You have no event with this id.";
    StoreNotFound => NOT_FOUND, "STORE_NOT_FOUND", "The merchant has no open store with this code.";
    StaffNotFound => NOT_FOUND, "STAFF_NOT_FOUND", "The merchant has no staff member with this id.";
    KeyNotFound => NOT_FOUND, "KEY_NOT_FOUND", "The merchant has no POS key with this id.";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "This method is not allowed on this resource.";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "The request body is too large.";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", "Send the body as JSON with `Content-Type: application/json`.";
    IdempotencyKeyReused => CONFLICT, "IDEMPOTENCY_KEY_REUSED", "The request could not be processed.";
    IdempotencyInProgress => CONFLICT, "IDEMPOTENCY_IN_PROGRESS", "The request could not be processed.";
    DuplicatePhone => CONFLICT, "DUPLICATE_PHONE", "A member with this phone number already exists.";
    DuplicateEmail => CONFLICT, "DUPLICATE_EMAIL", "A member with this email address already exists.";
    DuplicateExternalIdentity => CONFLICT, "DUPLICATE_EXTERNAL_IDENTITY", "This external identity already belongs to a member.";
    DuplicateMerchantCode => CONFLICT, "DUPLICATE_MERCHANT_CODE", "A merchant with this code already exists.";
    DuplicateUsername => CONFLICT, "DUPLICATE_USERNAME", "The merchant already has a staff member with this username.";
    DuplicateStoreCode => CONFLICT, "DUPLICATE_STORE_CODE", "The merchant already has a store with this code.";
    DuplicateExternalOrder => CONFLICT, "DUPLICATE_EXTERNAL_ORDER", "The request could not be processed.";
    InsufficientBalance => CONFLICT, "INSUFFICIENT_BALANCE", "The request could not be processed.";
    QrExpiredOrInvalid => CONFLICT, "QR_EXPIRED_OR_INVALID", "The request could not be processed.";
    CardNotActive => CONFLICT, "CARD_NOT_ACTIVE", "The request could not be processed.";
    CardExpired => CONFLICT, "CARD_EXPIRED", "The request could not be processed.";
    CardClosed => CONFLICT, "CARD_CLOSED", "The request could not be processed.";
    CardHasBalance => CONFLICT, "CARD_HAS_BALANCE", "A card can only be closed once its balance is zero.";
    MemberNotActive => CONFLICT, "MEMBER_NOT_ACTIVE", "The request could not be processed.";
    MerchantNotActive => CONFLICT, "MERCHANT_NOT_ACTIVE", "The request could not be processed.";
    RefundExceedsRemaining => CONFLICT, "REFUND_EXCEEDS_REMAINING", "The request could not be processed.";
    NotRefundable => CONFLICT, "NOT_REFUNDABLE", "The request could not be processed.";
    CannotRemoveLastOwner => CONFLICT, "CANNOT_REMOVE_LAST_OWNER", "The request could not be processed.";
    AlreadyBound => CONFLICT, "ALREADY_BOUND", "The member is already bound to this card.";
    SettlementAlreadyExists => CONFLICT, "SETTLEMENT_ALREADY_EXISTS", "A settlement already covers part of this period.";
    InvalidStatusTransition => CONFLICT, "INVALID_STATUS_TRANSITION", "The request could not be processed.";
    LastSignInMethod => CONFLICT, "LAST_SIGN_IN_METHOD", "This is your only way to sign in: set a password or a phone number first.";
    ValidationFailed => UNPROCESSABLE_ENTITY, "VALIDATION_FAILED", "The request could not be processed.";
    InvalidAmount => UNPROCESSABLE_ENTITY, "INVALID_AMOUNT", "The request could not be processed.";
    PasswordTooShort => UNPROCESSABLE_ENTITY, "PASSWORD_TOO_SHORT", "The request could not be processed.";
    CorporateCardCannotPay => UNPROCESSABLE_ENTITY, "CORPORATE_CARD_CANNOT_PAY", "The request could not be processed.";
    CardTypeNotShareable => UNPROCESSABLE_ENTITY, "CARD_TYPE_NOT_SHAREABLE", "The request could not be processed.";
    CardTypeNotRechargeable => UNPROCESSABLE_ENTITY, "CARD_TYPE_NOT_RECHARGEABLE", "The request could not be processed.";
    InvalidBindingPassword => UNPROCESSABLE_ENTITY, "INVALID_BINDING_PASSWORD", "The request could not be processed.";
    InvalidLevelTable => UNPROCESSABLE_ENTITY, "INVALID_LEVEL_TABLE", "The request could not be processed.";
    WebhookUrlNotAllowed => UNPROCESSABLE_ENTITY, "WEBHOOK_URL_NOT_ALLOWED", "Webhooks are sent only to public https:// addresses.";
    PeriodNotClosed => UNPROCESSABLE_ENTITY, "PERIOD_NOT_CLOSED", "The request could not be processed.";
    InvalidCursor => UNPROCESSABLE_ENTITY, "INVALID_CURSOR", "The cursor is not one this list gave out: start again from the first page.";
    OffsetTooLarge => UNPROCESSABLE_ENTITY, "OFFSET_TOO_LARGE", "The offset is too deep: page by `cursor` instead.";
    InvalidCode => UNPROCESSABLE_ENTITY, "INVALID_CODE", "The code is wrong or no longer valid.";
    CodeExpired => UNPROCESSABLE_ENTITY, "CODE_EXPIRED", "The code has expired: ask for a new one.";
    CodeLocked => UNPROCESSABLE_ENTITY, "CODE_LOCKED", "Too many wrong tries for this code: ask for a new one.";
    InvalidLinkToken => UNPROCESSABLE_ENTITY, "INVALID_LINK_TOKEN", "The link token is unknown, used or expired.";
    WechatCodeInvalid => UNPROCESSABLE_ENTITY, "WECHAT_CODE_INVALID", "WeChat did not accept this login code.";
    WechatLoginRefused => UNPROCESSABLE_ENTITY, "WECHAT_LOGIN_REFUSED", "WeChat refused this sign-in.";
    RateLimited => TOO_MANY_REQUESTS, "RATE_LIMITED", "Too many requests: wait before trying again.";
    Internal => INTERNAL_SERVER_ERROR, "INTERNAL", "Something went wrong on our side; it has been logged.";
    Unavailable => SERVICE_UNAVAILABLE, "UNAVAILABLE", "A service MPS depends on is unavailable; try again shortly.";
}

impl ErrorCode {
    /// Looks a wire code up, e.g. one raised by a SQL function.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// The code that stands for a bare HTTP status produced outside our handlers.
    pub fn for_status(status: u16) -> ErrorCode {
        match status {
            status::UNAUTHORIZED => ErrorCode::Unauthenticated,
            status::FORBIDDEN => ErrorCode::Forbidden,
            status::NOT_FOUND => ErrorCode::NotFound,
            status::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
            status::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
            status::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            status::UNPROCESSABLE_ENTITY => ErrorCode::ValidationFailed,
            status::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
            status::REQUEST_TIMEOUT | status::SERVICE_UNAVAILABLE | status::GATEWAY_TIMEOUT => ErrorCode::Unavailable,
            400..=499 => ErrorCode::BadRequest,
            _ => ErrorCode::Internal,
        }
    }
}

/// A request input the API refuses, found while reading it into a wire type (an amount, a
/// decimal, a page): its code, a message a person can act on, and structured details. The server
/// answers it as it answers any client error.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    /// The stable code, e.g. `INVALID_AMOUNT`.
    pub code: ErrorCode,
    /// What is wrong, for a person.
    pub message: String,
    /// Structured details, e.g. `{"fields": {"amount": "..."}}`.
    pub details: Option<Value>,
}

impl InputError {
    /// An error with `code` and `message` and no details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        InputError { code, message: message.into(), details: None }
    }

    /// The same error with structured details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// A 422 `VALIDATION_FAILED` naming one field and what is wrong with it.
    pub fn validation(field: &str, problem: impl Into<String>) -> Self {
        let problem = problem.into();
        InputError::new(ErrorCode::ValidationFailed, format!("`{field}`: {problem}"))
            .with_details(serde_json::json!({ "fields": { field: problem } }))
    }
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for InputError {}

/// `{"error": {...}}` as sent to clients.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
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
