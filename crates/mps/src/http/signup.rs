//! Self sign-up by phone: `POST /auth/otp` sends a code, `POST /auth/register` creates the
//! member with its standard card and a session, `POST /auth/password/reset` sets a new password.
//!
//! Sending a code never looks the phone up: a known and an unknown phone take the same path
//! and get the same answer, so the endpoint tells nobody whether a number is registered. Only
//! whoever holds the phone can use the code, and only then learns (from `DUPLICATE_PHONE` or
//! `MEMBER_NOT_FOUND`) whether an account exists.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::auth::{
    CodePurpose, LoginResponse, OtpRequest, OtpResponse, PasswordResetRequest, RegisterRequest, RegisterResponse,
};
use mps_api::domain::{CardView, MemberView};
use mps_api::error::{ErrorCode, ErrorEnvelope};
use mps_api::roles::Role;

use crate::auth::password::{check_new_password, hash_password};
use crate::auth::session;
use crate::auth::{ClientIp, codes};
use crate::db::audit::{self, Actor};
use crate::db::credentials::{self, LoginAccount};
use crate::db::identities;
use crate::db::members::{self, NewMember};
use crate::db::phone_codes;
use crate::db::sessions::{self, Revoke};
use crate::error::{ApiError, ApiResult};
use crate::http::auth as login;
use crate::http::extract::AppJson;
use crate::http::middleware::RequestId;
use crate::http::validate;
use crate::limits::Window;
use crate::sms::SmsMessage;
use crate::state::{AppState, PausePoint};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send_code)).routes(routes!(register)).routes(routes!(reset_password))
}

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// Limits the sign-up requests of one client IP (`LOGIN_IP_RATE_LIMIT` a minute, as logins).
async fn limit_ip(state: &AppState, action: &str, ip: std::net::IpAddr) -> ApiResult<()> {
    let window = Window { limit: state.config.login_ip_rate_limit, length: MINUTE };
    state
        .limits
        .hit(&state.cache, &format!("{action}-ip:{ip}"), window, "Too many attempts from this address; wait a minute.")
        .await
}

/// Send a 6-digit code to a phone, for sign-up, login or a password reset.
///
/// The answer is the same whether or not the phone belongs to a member. One code per phone per
/// `OTP_RESEND_SECONDS`, `OTP_DAILY_LIMIT` a day and `OTP_IP_RATE_LIMIT` an hour per client IP,
/// then 429 with `Retry-After`. A new code replaces the phone's previous one for that purpose.
#[utoipa::path(post, path = "/auth/otp", tag = "auth", request_body = OtpRequest,
    responses((status = 202, body = OtpResponse, description = "The code is on its way"),
              (status = 403, description = "REGISTRATION_CLOSED (purpose `register`)", body = ErrorEnvelope),
              (status = 422, description = "VALIDATION_FAILED", body = ErrorEnvelope),
              (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
              (status = 503, description = "UNAVAILABLE: the SMS provider failed or none is configured",
               body = ErrorEnvelope)))]
async fn send_code(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Extension(RequestId(request_id)): Extension<RequestId>,
    AppJson(request): AppJson<OtpRequest>,
) -> ApiResult<(StatusCode, AppJson<OtpResponse>)> {
    if request.purpose == CodePurpose::Register && !state.config.registration_open {
        return Err(registration_closed());
    }
    let phone = validate::phone("phone", &request.phone)?;
    let config = &state.config.otp;
    let window = Window { limit: config.ip_rate_limit, length: HOUR };
    let message = "Too many codes asked for from this address; wait and try again.";
    state.limits.hit(&state.cache, &format!("otp-ip:{ip}"), window, message).await?;
    let code = codes::generate_code();
    let hash = codes::hash_code(state.config.jwt_secret.expose(), phone, request.purpose.as_str(), &code)?;
    let mut tx = state.db.begin().await?;
    let issued = phone_codes::issue_phone_code(&mut tx, phone, request.purpose, &hash, config, ip).await?;
    if let Some(wait) = issued.retry_after_seconds {
        let mut error =
            ApiError::new(ErrorCode::RateLimited, "A code was sent to this phone recently; wait before asking again.");
        error.retry_after_secs = Some(u32::try_from(wait).unwrap_or(1).max(1));
        return Err(error);
    }
    let context = serde_json::json!({ "purpose": request.purpose.as_str() });
    audit::record(&mut tx, Actor { id: None, role: "anonymous" }, "OTP_SEND", ("phone", phone), context, &request_id)
        .await?;
    let sms = SmsMessage::verification_code(phone, request.purpose.as_str(), &code, config.ttl_seconds);
    // Sent before the commit: a code the provider refused is rolled back, so it neither counts
    // against the phone's limits nor replaces a code that did arrive.
    if let Err(e) = state.sms.send(&sms).await {
        tracing::warn!(error = %e, "verification code not sent");
        let mut error = ApiError::unavailable(&e);
        error.message = "The code could not be sent; try again shortly.".into();
        return Err(error);
    }
    tx.commit().await?;
    let response = OtpResponse { expires_in_seconds: config.ttl_seconds, resend_after_seconds: config.resend_seconds };
    Ok((StatusCode::ACCEPTED, AppJson(response)))
}

fn registration_closed() -> ApiError {
    ApiError::new(ErrorCode::RegistrationClosed, "Sign-up is closed; an admin can create your account.")
}

/// The checks of [`RegisterRequest`] (a wire type of `mps_api`), kept beside its handler.
trait ValidRegistration {
    fn validate(&self) -> ApiResult<(&str, &str, Option<&str>)>;
}

impl ValidRegistration for RegisterRequest {
    fn validate(&self) -> ApiResult<(&str, &str, Option<&str>)> {
        let phone = validate::phone("phone", &self.phone)?;
        if !codes::is_code(self.code.trim()) {
            return Err(ApiError::validation("code", "must be the 6 digits sent to the phone"));
        }
        let name = validate::text("name", &self.name, 100)?;
        let email = self.email.as_deref().map(|e| validate::email("email", e)).transpose()?;
        if let Some(password) = &self.password {
            check_new_password("password", password)?;
        }
        check_link_token(self.link_token.as_deref())?;
        Ok((phone, name, email))
    }
}

/// Checks the shape of an optional link token.
pub(crate) fn check_link_token(token: Option<&str>) -> ApiResult<()> {
    if token.is_some_and(|t| t.trim().is_empty() || t.len() > 128) {
        return Err(ApiError::validation("link_token", "must be the token of an IDENTITY_NOT_LINKED answer"));
    }
    Ok(())
}

/// Sign up with a phone code: creates the member, its standard card and a session in one
/// transaction (and links a WeChat identity when a link token comes along).
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = RegisterResponse),
              (status = 403, description = "REGISTRATION_CLOSED", body = ErrorEnvelope),
              (status = 409, description = "DUPLICATE_PHONE, DUPLICATE_EMAIL or DUPLICATE_EXTERNAL_IDENTITY",
               body = ErrorEnvelope),
              (status = 422, description = "VALIDATION_FAILED, PASSWORD_TOO_SHORT, INVALID_CODE, CODE_EXPIRED, \
               CODE_LOCKED or INVALID_LINK_TOKEN", body = ErrorEnvelope),
              (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)))]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Extension(RequestId(request_id)): Extension<RequestId>,
    AppJson(request): AppJson<RegisterRequest>,
) -> ApiResult<(StatusCode, AppJson<RegisterResponse>)> {
    if !state.config.registration_open {
        return Err(registration_closed());
    }
    let (phone, name, email) = request.validate()?;
    limit_ip(&state, "register", ip).await?;
    let password_hash = match request.password.clone() {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let code_hash = codes::hash_code(state.config.jwt_secret.expose(), phone, "register", request.code.trim())?;
    let mut tx = state.db.begin().await?;
    let max_attempts = state.config.otp.max_attempts;
    if let Err(refusal) =
        phone_codes::verify_phone_code(&mut tx, phone, CodePurpose::Register, &code_hash, max_attempts).await?
    {
        tx.commit().await?;
        return Err(refusal.error());
    }
    state.pause_at(PausePoint::RegistrationVerified).await;
    let linked = match request.link_token.as_deref() {
        Some(token) => Some(
            identities::consume_identity_link_token(&mut tx, &codes::hash_token(token.trim()))
                .await?
                .ok_or_else(login::invalid_link_token)?,
        ),
        None => None,
    };
    let new = NewMember { name, phone: Some(phone), email, password_hash, external_identity: None };
    let registered = register_member(&mut tx, &state, new, linked.as_ref(), ip, &request_id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(registered.respond(&state)?)))
}

/// A member created by sign-up, its session not yet committed.
pub(crate) struct Registered {
    account: LoginAccount,
    member: MemberView,
    card: CardView,
    session: login::NewSession,
}

impl Registered {
    /// The answer once the transaction has committed.
    pub(crate) fn respond(self, state: &AppState) -> ApiResult<RegisterResponse> {
        let LoginResponse { token, expires_at, user } =
            login::login_response(state, Role::Member, &self.account, None, &self.session)?;
        Ok(RegisterResponse { token, expires_at, user, member: self.member, card: self.card })
    }
}

/// Creates a member with its standard card, its linked identity and a session, audited as
/// `MEMBER_REGISTER` and `LOGIN_SUCCESS`, inside the caller's transaction.
pub(crate) async fn register_member(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    new: NewMember<'_>,
    identity: Option<&identities::ProvenIdentity>,
    ip: std::net::IpAddr,
    request_id: &str,
) -> ApiResult<Registered> {
    let (member, card) = members::insert_member(&mut *tx, &new).await?;
    if let Some(identity) = identity {
        identities::link_identity(&mut *tx, member.id, identity).await?;
    }
    let session = login::open_session(&mut *tx, state, Role::Member, member.id, None, None, ip).await?;
    // Two changes, two events: the member (with card and identity) and its first session.
    let context = serde_json::json!({
        "member_no": member.member_no,
        "card_no": card.card_no,
        "phone_verified": new.phone.is_some(),
        "linked_identity": identity.map(|i| i.provider.as_str()),
    });
    let actor = Actor { id: Some(member.id), role: "member" };
    let object = ("member", member.id.to_string());
    audit::record(&mut *tx, actor, "MEMBER_REGISTER", (object.0, &object.1), context, request_id).await?;
    let context = serde_json::json!({ "session_id": session.id, "via": "register" });
    audit::record(&mut *tx, actor, "LOGIN_SUCCESS", (object.0, &object.1), context, request_id).await?;
    login::count_login(state, Role::Member, "success");
    let account = LoginAccount {
        id: member.id,
        name: member.name.clone(),
        password_hash: None,
        active: true,
        code: None,
        ..Default::default()
    };
    Ok(Registered { account, member, card, session })
}

/// Set a new password with a code sent to the member's phone; every session of the member ends.
#[utoipa::path(post, path = "/auth/password/reset", tag = "auth", request_body = PasswordResetRequest,
    responses((status = 204, description = "Password set; every session of the member revoked"),
              (status = 404, description = "MEMBER_NOT_FOUND: the code was good but no member has this phone",
               body = ErrorEnvelope),
              (status = 422, description = "VALIDATION_FAILED, PASSWORD_TOO_SHORT, INVALID_CODE, CODE_EXPIRED or CODE_LOCKED",
               body = ErrorEnvelope),
              (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope)))]
async fn reset_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Extension(RequestId(request_id)): Extension<RequestId>,
    AppJson(request): AppJson<PasswordResetRequest>,
) -> ApiResult<StatusCode> {
    let phone = validate::phone("phone", &request.phone)?;
    if !codes::is_code(request.code.trim()) {
        return Err(ApiError::validation("code", "must be the 6 digits sent to the phone"));
    }
    check_new_password("new_password", &request.new_password)?;
    limit_ip(&state, "reset", ip).await?;
    let hash = hash_password(request.new_password).await?;
    let code_hash = codes::hash_code(state.config.jwt_secret.expose(), phone, "reset", request.code.trim())?;
    let mut tx = state.db.begin().await?;
    let max_attempts = state.config.otp.max_attempts;
    if let Err(refusal) =
        phone_codes::verify_phone_code(&mut tx, phone, CodePurpose::Reset, &code_hash, max_attempts).await?
    {
        tx.commit().await?;
        return Err(refusal.error());
    }
    let Some(member_id) = credentials::lock_member_by_phone(&mut tx, phone).await? else {
        // The code is used up all the same: it proved the phone, and that is all it was for.
        tx.commit().await?;
        return Err(ApiError::new(ErrorCode::MemberNotFound, "No member has this phone number."));
    };
    credentials::set_password_hash(&mut tx, Role::Member, member_id, &hash).await?;
    let revoked = sessions::revoke_sessions(&mut tx, Revoke::AllOf(member_id), "password_reset").await?;
    let context = serde_json::json!({ "via": "phone_code", "sessions_revoked": revoked.len() });
    let actor = Actor { id: Some(member_id), role: "member" };
    audit::record(&mut tx, actor, "PASSWORD_RESET", ("member", &member_id.to_string()), context, &request_id).await?;
    tx.commit().await?;
    session::publish_revocations(&state, &revoked).await;
    Ok(StatusCode::NO_CONTENT)
}
