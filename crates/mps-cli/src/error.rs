//! What can go wrong in a command, how it is told, and the exit code it gives.
//!
//! Exit codes: 0 success, 1 the API (or the local session) refused, 2 usage (clap's own),
//! 3 the server could not be reached.

use serde_json::Value;

use mps_api::error::ErrorCode;

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The API answered with its error envelope.
    Api(Box<ApiFailure>),
    /// The server could not be reached, even after the retries that were safe.
    Unreachable {
        url: String,
        cause: String,
        /// The key of a money-moving request whose outcome is unknown.
        idempotency_key: Option<String>,
    },
    /// Refused here, before or instead of asking the server (no session, unknown card, …).
    Local(String),
}

/// An error answered by the API.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
    pub request_id: Option<String>,
    pub retry_after: Option<String>,
    /// The body as received, printed as is with `--json`.
    pub body: Value,
}

/// `Result` of a command.
pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    /// A local refusal.
    pub fn local(message: impl Into<String>) -> CliError {
        CliError::Local(message.into())
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Api(_) | CliError::Local(_) => 1,
            CliError::Unreachable { .. } => 3,
        }
    }

    /// What to print on stderr.
    pub fn report(&self) -> String {
        match self {
            CliError::Api(failure) => failure.report(),
            CliError::Local(message) => format!("mps-cli: {message}"),
            CliError::Unreachable { url, cause, idempotency_key } => {
                let mut text = format!("mps-cli: cannot reach the MPS server at {url} ({cause}).");
                match idempotency_key {
                    Some(key) => text.push_str(&format!(
                        "\n  The outcome of this request is unknown. To find out without moving money twice, run the \
                         same command again with --idempotency-key {key}"
                    )),
                    None => text.push_str("\n  Is it running? Check the address (--api or API_BASE_URL)."),
                }
                text
            }
        }
    }
}

impl ApiFailure {
    fn report(&self) -> String {
        let mut text = format!("mps-cli: {} — {}", self.code, friendly(&self.code).unwrap_or(&self.message));
        if friendly(&self.code).is_some() && !self.message.is_empty() {
            text.push_str(&format!("\n  server: {}", self.message));
        }
        if let Some(fields) = self.details.as_ref().and_then(|d| d.get("fields")).and_then(Value::as_object) {
            for (field, problem) in fields {
                text.push_str(&format!("\n  {field}: {}", problem.as_str().unwrap_or(&problem.to_string())));
            }
        }
        if let Some(seconds) = &self.retry_after {
            text.push_str(&format!("\n  retry after {seconds} s"));
        }
        if let Some(id) = &self.request_id {
            text.push_str(&format!("\n  request id: {id}"));
        }
        text
    }
}

/// A sentence a person can act on for every error code of SPEC §3; `None` for codes this client
/// does not know, whose server message is shown instead.
pub fn friendly(code: &str) -> Option<&'static str> {
    use ErrorCode::*;
    Some(match ErrorCode::parse(code)? {
        IdempotencyKeyRequired => {
            "This request needs an Idempotency-Key; this client always sends one, so please report it."
        }
        InvalidIdempotencyKey => "The idempotency key must be 1 to 255 visible ASCII characters.",
        BadRequest => "The server could not understand the request.",
        Unauthenticated => "Your session is missing, expired or revoked: log in again with `mps-cli login`.",
        InvalidCredentials => "Wrong identifier or password.",
        InvalidSignature => "The payment channel's signature does not match.",
        Forbidden => "Your account is not allowed to do this.",
        RegistrationClosed => "This shop does not take sign-ups at the moment; ask staff to create your account.",
        StoreNotAllowed => "You may only act as your own store.",
        SuspendedByAdmin => "An administrator suspended this staff member: only an administrator can reactivate them.",
        RefundLimitExceeded => "This refund is above your refund limit: ask a manager.",
        RefundNotSameDay => "You may only refund payments made today: ask a manager.",
        IdentityNotLinked => "This WeChat account is not linked to a member yet.",
        NotFound => "Nothing exists there: check the number or id (or the server does not offer this yet).",
        CardNotFound => "No card you can see has this number or id.",
        MemberNotFound => "No member has this id or number.",
        MerchantNotFound => "No merchant has this id or code.",
        TxNotFound => "No transaction you can see has this number.",
        SettlementNotFound => "No settlement of yours has this id.",
        WebhookNotFound => "No webhook endpoint of yours has this id.",
        EventNotFound => "No event of yours has this id.",
        StoreNotFound => "No open store of yours has this code.",
        StaffNotFound => "No staff member of yours has this id.",
        KeyNotFound => "No POS key of yours has this id.",
        MethodNotAllowed => "The server does not accept this request here; client and server versions may differ.",
        PayloadTooLarge => "The request is too large for the server.",
        UnsupportedMediaType => "The server wants JSON; client and server versions may differ.",
        IdempotencyKeyReused => {
            "This idempotency key was already used for a different request; omit --idempotency-key to make a new one."
        }
        IdempotencyInProgress => "The same request is still being processed; try again in a moment.",
        DuplicatePhone => "Another member already has this phone number.",
        DuplicateEmail => "Another member already has this email address.",
        DuplicateExternalIdentity => "Another member already has this external identity.",
        DuplicateMerchantCode => "Another merchant already has this code.",
        DuplicateUsername => "Another staff member of this merchant already has this username.",
        DuplicateStoreCode => "Another store of this merchant already has this code.",
        DuplicateExternalOrder => "This order id was already charged; nothing was charged again.",
        InvalidCursor => {
            "This --cursor is not one the list gave out (or the server's secret changed): start from the first page."
        }
        OffsetTooLarge => "That page is too deep to reach by number: page with --cursor.",
        InsufficientBalance => "The card's balance does not cover this payment; nothing was charged.",
        QrExpiredOrInvalid => "This QR code is expired, used or revoked: ask the member for a new one.",
        CardNotActive => "The card is not active (frozen, lost or closed).",
        CardExpired => "The card has expired.",
        CardClosed => "The card is closed.",
        CardHasBalance => "The card still holds a balance, so it cannot be closed.",
        MemberNotActive => "The member's account is not active.",
        MerchantNotActive => "The merchant's account is not active.",
        RefundExceedsRemaining => "The refund exceeds what is left to refund on this payment.",
        NotRefundable => "Only your own completed payments can be refunded.",
        CannotRemoveLastOwner => "A card must keep at least one owner.",
        AlreadyBound => "This member is already bound to the card.",
        SettlementAlreadyExists => "Part of this period is already settled; every transaction is settled once.",
        InvalidStatusTransition => "The card or settlement cannot move to that status from its current one.",
        LastSignInMethod => "This is your only way to sign in: set a password or phone number first.",
        ValidationFailed => "Some values were refused.",
        InvalidAmount => "The amount is not acceptable: more than 0, at most 2 decimals, within the maximum.",
        PasswordTooShort => "The password is too short: at least 8 characters.",
        CorporateCardCannotPay => "Corporate cards cannot pay by QR; use a standard or voucher card.",
        CardTypeNotShareable => "Only corporate cards can be shared.",
        CardTypeNotRechargeable => "Only standard cards can be recharged.",
        InvalidBindingPassword => "Wrong binding password, or the card cannot be joined.",
        InvalidLevelTable => "The level table must cover 0 upwards without gaps or overlaps.",
        WebhookUrlNotAllowed => "Webhooks go only to public https:// addresses (no loopback or private networks).",
        PeriodNotClosed => "The period has not closed yet: it must end at least a minute ago.",
        InvalidCode => "The code is wrong or no longer valid: ask for a new one with `mps-cli otp`.",
        CodeExpired => "The code has expired: ask for a new one.",
        CodeLocked => "Too many wrong codes: ask for a new one.",
        InvalidLinkToken => "The link token is unknown, used or expired: sign in with WeChat again.",
        WechatCodeInvalid => "WeChat refused the sign-in code: it is wrong or already used.",
        WechatLoginRefused => "WeChat refused to sign this account in.",
        RateLimited => "Too many attempts: wait a moment and try again.",
        Internal => "The server failed; the problem has been logged there.",
        Unavailable => "A service the server depends on is down; try again shortly.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_of_the_api_has_a_sentence() {
        for code in ErrorCode::ALL {
            assert!(friendly(code.as_str()).is_some(), "{} has no sentence", code.as_str());
        }
    }

    #[test]
    fn unknown_codes_fall_back_to_the_server_message() {
        let failure = ApiFailure {
            status: 409,
            code: "SOMETHING_NEW".into(),
            message: "What the server said.".into(),
            details: None,
            request_id: Some("r-1".into()),
            retry_after: None,
            body: Value::Null,
        };
        let report = CliError::Api(Box::new(failure)).report();
        assert!(report.contains("SOMETHING_NEW — What the server said."), "{report}");
        assert!(report.contains("request id: r-1"), "{report}");
    }

    #[test]
    fn exit_codes_tell_refusals_from_unreachable_servers() {
        assert_eq!(CliError::local("no").exit_code(), 1);
        let unreachable = CliError::Unreachable { url: "u".into(), cause: "c".into(), idempotency_key: None };
        assert_eq!(unreachable.exit_code(), 3);
    }
}
