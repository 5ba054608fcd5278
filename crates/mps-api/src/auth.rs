//! Sign-in, sign-up and sessions: their requests and responses.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{CardView, MemberView};
use crate::roles::{Role, StaffRole};

/// What a code is for; a code serves only its own purpose.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum CodePurpose {
    /// `register`.
    Register,
    /// `login`.
    Login,
    /// `reset`.
    Reset,
}

impl CodePurpose {
    /// The purpose as sent and stored: `register`, `login`, `reset`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

// No `Debug`: it holds a secret that must never reach a log.
/// Signs in a member, a merchant (or one of its staff) or an admin.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Who is signing in: decides how `identifier` is read.
    pub role: Role,
    /// Member: phone or member_no (phone only with `otp`); merchant: code; admin: email.
    pub identifier: String,
    /// The password; exactly one of `password` and `otp` is given.
    pub password: Option<String>,
    /// Members only: a code sent to the phone by `POST /auth/otp` with purpose `login`.
    pub otp: Option<String>,
    /// Members only: the token of a WeChat sign-in answered `IDENTITY_NOT_LINKED`; a successful
    /// login links that identity to the member.
    pub link_token: Option<String>,
    /// Merchants only, kept for older clients: a free-text cashier name, carried in the token and
    /// tagged on transactions. With `username` it is refused: the staff member's name is used.
    pub operator: Option<String>,
    /// Merchants only: log in as this staff member of the merchant `identifier` names.
    pub username: Option<String>,
}

/// The user a token speaks for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserSummary {
    /// The user's id (UUID).
    pub id: Uuid,
    /// The user's role.
    pub role: Role,
    /// The user's display name.
    pub name: String,
    /// The permissions the user holds.
    pub permissions: Vec<String>,
    /// Merchants: the merchant's code (absent for other roles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_code: Option<String>,
    /// Merchants: the operator name tagged on transactions: the staff member's name, the POS key's
    /// name, or the free-text name given at login; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// Merchants: the staff member logged in (absent for the merchant's own credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<Uuid>,
    /// Merchants: `owner`, `manager` or `cashier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_role: Option<StaffRole>,
    /// Merchants: the one store this caller acts as, when restricted to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<Uuid>,
}

// No `Debug`: it holds a secret that must never reach a log.
/// A signed-in session.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working (RFC 3339, UTC).
    pub expires_at: DateTime<Utc>,
    /// The user the token speaks for.
    pub user: UserSummary,
}

/// The session a token belongs to.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// The session's id (UUID).
    pub id: Uuid,
    /// When the session ends (RFC 3339, UTC).
    pub expires_at: DateTime<Utc>,
}

/// Who the caller is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    /// The user the token speaks for.
    pub user: UserSummary,
    /// The permissions the caller holds.
    pub permissions: Vec<String>,
    /// The caller's session.
    pub session: SessionInfo,
}

// No `Debug`: it holds a secret that must never reach a log.
/// Changes the caller's password.
#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub old_password: String,
    /// At least 8 characters.
    pub new_password: String,
}

/// Asks for a one-time code by SMS.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OtpRequest {
    /// An optional `+` and 5 to 20 digits.
    pub phone: String,
    /// What the code will be for; a code serves only its own purpose.
    pub purpose: CodePurpose,
}

/// A code was sent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OtpResponse {
    /// How long the code works, in seconds.
    pub expires_in_seconds: u32,
    /// How long before this phone may get another code, in seconds.
    pub resend_after_seconds: u32,
}

// No `Debug`: it holds secrets that must never reach a log.
/// Signs up a new member.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// The member's phone: an optional `+` and 5 to 20 digits.
    pub phone: String,
    /// The code sent by `POST /auth/otp` with purpose `register`.
    pub code: String,
    /// The member's name.
    pub name: String,
    /// At least 8 characters; without one the member signs in by phone code (or WeChat).
    pub password: Option<String>,
    /// The member's email, if any.
    pub email: Option<String>,
    /// The token of a WeChat sign-in answered `IDENTITY_NOT_LINKED`: links that identity.
    pub link_token: Option<String>,
}

/// A new member signed in: the login shape plus the member and its card.
// No `Debug`: it holds the token.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RegisterResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the token stops working (RFC 3339, UTC).
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The user the token speaks for.
    pub user: UserSummary,
    /// The new member.
    pub member: MemberView,
    /// The member's new standard card.
    pub card: CardView,
}

// No `Debug`: it holds secrets that must never reach a log.
/// Resets a member's password with a code sent to their phone.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PasswordResetRequest {
    /// The member's phone.
    pub phone: String,
    /// The code sent by `POST /auth/otp` with purpose `reset`.
    pub code: String,
    /// At least 8 characters.
    pub new_password: String,
}

// No `Debug`: the code is a credential while it lives.
/// Signs a member in with WeChat from the mini-program.
#[derive(Deserialize, ToSchema)]
pub struct WechatSignInRequest {
    /// The code `wx.login()` gave the mini-program.
    pub code: String,
    /// The name of the member, should this sign-in create one.
    pub name: Option<String>,
}
