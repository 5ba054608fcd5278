//! `/auth`: login for the three roles (members also by phone code), logout, the caller's
//! identity, password change. Sign-up, codes and WeChat sign-in live in `http::signup` and
//! `http::wechat`, and open their sessions through [`open_session`] and [`login_response`].

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::auth::{
    ChangePasswordRequest, CodePurpose, LoginRequest, LoginResponse, MeResponse, SessionInfo, UserSummary,
};
use mps_api::error::ErrorCode;
use mps_api::roles::{Role, StaffRole};

use crate::auth::codes;
use crate::auth::password::{check_new_password, hash_password, verify_password};
use crate::auth::session;
use crate::auth::token::{AUDIENCE, Claims, ISSUER};
use crate::auth::{AuthUser, ClientIp};
use crate::db::audit::{self, Actor};
use crate::db::credentials::{self, LoginAccount};
use crate::db::identities;
use crate::db::phone_codes::{self, CodeRefusal};
use crate::db::sessions::{self, Revoke, SessionRow};
use crate::db::staff;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::AppJson;
use crate::http::middleware::RequestId;
use crate::http::validate;
use crate::limits::Window;
use crate::state::{AppState, PausePoint};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

const LOGIN_WINDOW: Duration = Duration::from_secs(60);

/// The checks of [`LoginRequest`] (a wire type of `mps_api`), kept beside its handler.
trait ValidLogin {
    fn validate(&self) -> ApiResult<()>;
}

impl ValidLogin for LoginRequest {
    fn validate(&self) -> ApiResult<()> {
        let identifier = self.identifier.trim();
        if identifier.is_empty() || identifier.chars().count() > 254 {
            return Err(ApiError::validation("identifier", "must be 1 to 254 characters"));
        }
        match (&self.password, &self.otp) {
            (Some(password), None) => {
                if password.is_empty() || password.chars().count() > crate::auth::password::MAX_PASSWORD_LEN {
                    return Err(ApiError::validation("password", "must be 1 to 128 characters"));
                }
            }
            (None, Some(otp)) => {
                if self.role != Role::Member {
                    return Err(ApiError::validation("otp", "is only for member logins"));
                }
                validate::phone("identifier", identifier)?;
                if !codes::is_code(otp.trim()) {
                    return Err(ApiError::validation("otp", "must be the 6 digits sent to the phone"));
                }
            }
            _ => return Err(ApiError::validation("password", "give exactly one of password and otp")),
        }
        if self.link_token.is_some() && self.role != Role::Member {
            return Err(ApiError::validation("link_token", "is only for member logins"));
        }
        if self.link_token.as_ref().is_some_and(|t| t.trim().is_empty() || t.len() > 128) {
            return Err(ApiError::validation("link_token", "must be the token of an IDENTITY_NOT_LINKED answer"));
        }
        if self.username.is_some() && self.role != Role::Merchant {
            return Err(ApiError::validation("username", "is only for merchant logins"));
        }
        if let Some(username) = &self.username {
            let valid = (1..=40).contains(&username.trim().len())
                && username.trim().bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid {
                return Err(ApiError::validation("username", "must be 1 to 40 letters, digits, `.`, `_` or `-`"));
            }
            if self.operator.is_some() {
                return Err(ApiError::validation("operator", "is not used with username: the staff member's name is"));
            }
        }
        match (&self.operator, self.role) {
            (Some(_), Role::Member | Role::Admin) => {
                Err(ApiError::validation("operator", "is only for merchant logins"))
            }
            (Some(op), Role::Merchant)
                if op.trim().is_empty() || op.chars().count() > 64 || op.chars().any(char::is_control) =>
            {
                Err(ApiError::validation("operator", "must be 1 to 64 printable characters"))
            }
            _ => Ok(()),
        }
    }
}

/// Log in as a member (phone or member_no), a merchant (code, optional operator) or an admin (email).
///
/// Members may log in with a code sent to their phone (`otp` instead of `password`); a wrong,
/// expired or locked code is refused as at sign-up (`INVALID_CODE`, `CODE_EXPIRED`,
/// `CODE_LOCKED`), whether or not the phone belongs to a member. A `link_token` links a WeChat
/// identity to the member on success. Every other failure — unknown account, wrong password, suspended or inactive account — is the same
/// 401 `INVALID_CREDENTIALS`. Logins are limited per client IP, and failed logins per account
/// (per identifier when it names none).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse),
              (status = 401, description = "INVALID_CREDENTIALS: unknown account, wrong password or inactive account",
               body = mps_api::error::ErrorEnvelope),
              (status = 409, description = "DUPLICATE_EXTERNAL_IDENTITY: the linked identity belongs to another member",
               body = mps_api::error::ErrorEnvelope),
              (status = 422, description = "VALIDATION_FAILED, INVALID_CODE, CODE_EXPIRED, CODE_LOCKED or INVALID_LINK_TOKEN",
               body = mps_api::error::ErrorEnvelope)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Extension(RequestId(request_id)): Extension<RequestId>,
    AppJson(request): AppJson<LoginRequest>,
) -> ApiResult<AppJson<LoginResponse>> {
    request.validate()?;
    let config = &state.config;
    let ip_window = Window { limit: config.login_ip_rate_limit, length: LOGIN_WINDOW };
    state
        .limits
        .hit(&state.cache, &format!("login-ip:{ip}"), ip_window, "Too many logins from this address; wait a minute.")
        .await?;
    let identifier = request.identifier.trim().to_lowercase();
    let role = request.role;
    let account = match request.username.as_deref() {
        Some(username) => credentials::find_staff_for_login(&state.db, &identifier, username).await?,
        None => credentials::find_for_login(&state.db, role, &identifier).await?,
    };
    // A staff login's failures count against the identifier and username together when unknown.
    let identifier = match request.username.as_deref() {
        Some(username) => format!("{identifier}/{}", username.trim().to_lowercase()),
        None => identifier,
    };
    // Every attempt counts as a failure until it succeeds, so a burst sent at once cannot get
    // more guesses than the limit allows. The budget is the account's: a member's phone and
    // member_no draw on one count.
    let failures_key = failed_login_key(role, account.as_ref(), &identifier);
    let failures = Window { limit: config.login_rate_limit, length: LOGIN_WINDOW };
    let message = "Too many failed logins for this account; wait a minute.";
    state.limits.hit(&state.cache, &failures_key, failures, message).await?;
    let verified = match (request.password, request.otp) {
        (Some(password), _) => authenticate(&state, role, account, &identifier, password, &request_id).await,
        (None, Some(otp)) => authenticate_by_code(&state, account, &identifier, otp.trim(), &request_id).await,
        (None, None) => Err(ApiError::validation("password", "give exactly one of password and otp")),
    };
    let outcome = match verified {
        Ok(account) => {
            state.pause_at(PausePoint::LoginVerified).await;
            let login = Login { role, identifier: &identifier, operator: request.operator, ip };
            start_session(&state, login, account, request.link_token.as_deref(), &request_id).await
        }
        Err(e) => Err(e),
    };
    if !matches!(&outcome, Err(e) if e.code == ErrorCode::InvalidCredentials) {
        state.limits.forgive(&state.cache, &failures_key).await;
    }
    let response = outcome?;
    count_login(&state, role, "success");
    Ok(AppJson(response))
}

/// The failed-login count a login draws on: its account's, or the identifier's when it names none.
fn failed_login_key(role: Role, account: Option<&LoginAccount>, identifier: &str) -> String {
    match account {
        Some(account) => format!("login-fail:{}:{}", role.as_str(), account.staff_id.unwrap_or(account.id)),
        None => format!("login-fail:{}:unknown:{identifier}", role.as_str()),
    }
}

/// The account a login names, if the password is right and the account may log in; otherwise
/// the uniform `INVALID_CREDENTIALS`, audited and counted.
async fn authenticate(
    state: &AppState,
    role: Role,
    account: Option<LoginAccount>,
    identifier: &str,
    password: String,
    request_id: &str,
) -> ApiResult<LoginAccount> {
    let hash = account.as_ref().and_then(|a| a.password_hash.clone());
    let password_ok = verify_password(password, hash).await?;
    match account {
        Some(account) if password_ok && account.active => Ok(account),
        account => {
            let reason = match &account {
                None => "unknown_account",
                Some(_) if !password_ok => "wrong_password",
                Some(_) => "account_not_active",
            };
            Err(refuse_login(state, role, account.as_ref(), identifier, reason, request_id).await)
        }
    }
}

/// The member a phone-code login names, if the code is good and the member may log in. The code
/// is checked (and used up, or its wrong try counted) in a transaction of its own that commits
/// either way; a refused code answers the same whether or not the phone belongs to a member.
async fn authenticate_by_code(
    state: &AppState,
    account: Option<LoginAccount>,
    phone: &str,
    code: &str,
    request_id: &str,
) -> ApiResult<LoginAccount> {
    let checked = check_code(state, phone, CodePurpose::Login, code).await?;
    match (checked, account) {
        (Ok(()), Some(account)) if account.active => Ok(account),
        (Ok(()), account) => {
            let reason = if account.is_some() { "account_not_active" } else { "unknown_account" };
            Err(refuse_login(state, Role::Member, account.as_ref(), phone, reason, request_id).await)
        }
        (Err(refusal), account) => {
            let reason = format!("code_{}", refusal.as_str());
            record_failed_login(state, Role::Member, account.as_ref(), phone, &reason, request_id).await;
            Err(refusal.error())
        }
    }
}

/// Checks a phone code in a transaction of its own, committed whatever the outcome.
pub(crate) async fn check_code(
    state: &AppState,
    phone: &str,
    purpose: CodePurpose,
    code: &str,
) -> ApiResult<Result<(), CodeRefusal>> {
    let hash = codes::hash_code(state.config.jwt_secret.expose(), phone, purpose.as_str(), code)?;
    let mut tx = state.db.begin().await?;
    let outcome = phone_codes::verify_phone_code(&mut tx, phone, purpose, &hash, state.config.otp.max_attempts).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// The uniform refusal of a login, audited and counted.
async fn refuse_login(
    state: &AppState,
    role: Role,
    account: Option<&LoginAccount>,
    identifier: &str,
    reason: &str,
    request_id: &str,
) -> ApiError {
    record_failed_login(state, role, account, identifier, reason, request_id).await;
    ApiError::new(ErrorCode::InvalidCredentials, "The identifier or password is wrong.")
}

pub(crate) fn count_login(state: &AppState, role: Role, status: &str) {
    state.metrics.auth_attempts_total.with_label_values(&[role.as_str(), status]).inc();
    if role == Role::Member {
        state.metrics.member_logins_total.with_label_values(&[status]).inc();
    }
}

/// Audits a failed login in its own transaction, so the row commits although the login fails.
async fn record_failed_login(
    state: &AppState,
    role: Role,
    account: Option<&LoginAccount>,
    identifier: &str,
    reason: &str,
    request_id: &str,
) {
    count_login(state, role, "failure");
    let actor = match account {
        Some(a) => Actor { id: Some(a.id), role: role.as_str() },
        None => Actor { id: None, role: "anonymous" },
    };
    let context = serde_json::json!({ "role": role.as_str(), "identifier": identifier, "reason": reason });
    let object_id = account.map(|a| a.id.to_string()).unwrap_or_default();
    let written = async {
        let mut conn = state.db.acquire().await?;
        audit::record(&mut conn, actor, "LOGIN_FAILED", (role.as_str(), &object_id), context, request_id).await
    };
    if let Err(e) = written.await {
        tracing::error!(error = %e, "failed login could not be audited");
    }
}

/// A login under way: who, under which identifier, from where.
struct Login<'a> {
    role: Role,
    identifier: &'a str,
    operator: Option<String>,
    ip: std::net::IpAddr,
}

/// Creates the session of a verified login, only if the account is, under a lock held until
/// the session commits, still active with the password hash that was verified: a suspension or
/// password reset that committed while argon2 ran refuses the login (it revoked the account's
/// sessions before this one existed), and one that comes later waits for this session and
/// revokes it. A link token links its identity to the member in the same transaction.
async fn start_session(
    state: &AppState,
    login: Login<'_>,
    account: LoginAccount,
    link_token: Option<&str>,
    request_id: &str,
) -> ApiResult<LoginResponse> {
    let Login { role, identifier, operator, ip } = login;
    // A staff member's transactions show their name: `operator` is derived from the staff record.
    let operator = match account.staff_id {
        Some(_) => Some(account.name.clone()),
        None => operator.map(|o| o.trim().to_owned()),
    };
    let mut tx = state.db.begin().await?;
    let current = match account.staff_id {
        Some(staff_id) => credentials::lock_staff_for_session(&mut tx, staff_id).await?,
        None => credentials::lock_for_session(&mut tx, role, account.id).await?,
    };
    let unchanged = current.is_some_and(|current| current.active && current.password_hash == account.password_hash);
    if !unchanged {
        drop(tx);
        let reason = "changed_during_login";
        return Err(refuse_login(state, role, Some(&account), identifier, reason, request_id).await);
    }
    let linked = match link_token {
        Some(token) => {
            let identity = identities::consume_identity_link_token(&mut tx, &codes::hash_token(token.trim()))
                .await?
                .ok_or_else(invalid_link_token)?;
            identities::link_identity(&mut tx, account.id, &identity).await?;
            Some(identity.provider)
        }
        None => None,
    };
    let session = open_session(&mut tx, state, role, account.id, operator.as_deref(), account.staff_id, ip).await?;
    let context = serde_json::json!({ "session_id": session.id, "operator": operator, "linked_identity": linked,
                                      "staff_id": account.staff_id });
    audit::record(
        &mut tx,
        Actor { id: Some(account.id), role: role.as_str() },
        "LOGIN_SUCCESS",
        (role.as_str(), &account.id.to_string()),
        context,
        request_id,
    )
    .await?;
    tx.commit().await?;
    login_response(state, role, &account, operator, &session)
}

/// The 422 of a link token that is unknown, used or expired.
pub(crate) fn invalid_link_token() -> ApiError {
    ApiError::new(ErrorCode::InvalidLinkToken, "The link token is unknown, used or expired; sign in with WeChat again.")
}

/// A session row just created, not yet committed.
pub(crate) struct NewSession {
    pub id: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Creates a session inside the caller's transaction; the caller audits and commits, then
/// answers with [`login_response`].
pub(crate) async fn open_session(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    role: Role,
    subject: Uuid,
    operator: Option<&str>,
    staff_id: Option<Uuid>,
    ip: std::net::IpAddr,
) -> ApiResult<NewSession> {
    let issued_at = Utc::now();
    let expires_at = issued_at + chrono::Duration::hours(state.config.jwt_expire_hours);
    let row = SessionRow { role, subject_id: subject, operator, staff_id, expires_at, client_ip: ip };
    let id = sessions::create_session(conn, row).await?;
    Ok(NewSession { id, issued_at, expires_at })
}

/// The token and user of a committed session.
pub(crate) fn login_response(
    state: &AppState,
    role: Role,
    account: &LoginAccount,
    operator: Option<String>,
    session: &NewSession,
) -> ApiResult<LoginResponse> {
    let staff_role = account.staff_role.or((role == Role::Merchant).then_some(StaffRole::Owner));
    let granted = match staff_role {
        Some(staff_role) => staff_role.permissions(),
        None => role.permissions(),
    };
    let permissions: Vec<String> = granted.iter().map(|p| (*p).to_owned()).collect();
    let claims = Claims {
        sub: account.id,
        role,
        name: account.name.clone(),
        permissions: permissions.clone(),
        session_id: session.id,
        jti: Uuid::new_v4(),
        iat: session.issued_at.timestamp(),
        exp: session.expires_at.timestamp(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        merchant_code: account.code.clone(),
        operator: operator.clone(),
        staff_id: account.staff_id,
        staff_role,
        store_id: account.store_id,
    };
    let token = state.jwt.issue(&claims).map_err(ApiError::internal)?;
    let user = UserSummary {
        id: account.id,
        role,
        name: account.name.clone(),
        permissions,
        merchant_code: account.code.clone(),
        operator,
        staff_id: account.staff_id,
        staff_role,
        store_id: account.store_id,
    };
    let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(session.expires_at);
    Ok(LoginResponse { token, expires_at, user })
}

/// End this session, on every instance at once.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "The session is revoked")))]
async fn logout(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    user: AuthUser,
) -> ApiResult<StatusCode> {
    refuse_keys(&user)?;
    let mut tx = state.db.begin().await?;
    let revoked = sessions::revoke_sessions(&mut tx, Revoke::Session(user.session_id), "logout").await?;
    let context = serde_json::json!({ "session_id": user.session_id });
    audit::record(&mut tx, (&user).into(), "LOGOUT", (user.role.as_str(), &user.id.to_string()), context, &request_id)
        .await?;
    tx.commit().await?;
    session::publish_revocations(&state, &revoked).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token speaks for, its permissions and when the session ends.
#[utoipa::path(get, path = "/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = MeResponse)))]
async fn me(user: AuthUser) -> AppJson<MeResponse> {
    AppJson(MeResponse {
        permissions: user.permissions.clone(),
        session: SessionInfo { id: user.session_id, expires_at: user.expires_at },
        user: UserSummary {
            id: user.id,
            role: user.role,
            name: user.name,
            permissions: user.permissions,
            merchant_code: user.merchant_code,
            operator: user.operator,
            staff_id: user.staff_id,
            staff_role: user.staff_role,
            store_id: user.store_id,
        },
    })
}

/// Change your own password; your other sessions end at once, this one stays. Wrong current
/// passwords are limited like failed logins (`LOGIN_RATE_LIMIT` a minute per account), then 429.
#[utoipa::path(post, path = "/auth/password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Password changed; other sessions revoked")))]
async fn change_password(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    user: AuthUser,
    AppJson(request): AppJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    refuse_keys(&user)?;
    check_new_password("new_password", &request.new_password)?;
    // A stolen session must not become a way to guess the password: wrong current passwords are
    // limited like failed logins, counted before the check and forgiven when it passes.
    let failures_key = format!("password-fail:{}:{}", user.role.as_str(), user.staff_id.unwrap_or(user.id));
    let failures = Window { limit: state.config.login_rate_limit, length: LOGIN_WINDOW };
    let message = "Too many wrong current passwords for this account; wait a minute.";
    state.limits.hit(&state.cache, &failures_key, failures, message).await?;
    let current = match user.staff_id {
        Some(staff_id) => staff::password_hash(&state.db, staff_id).await?,
        None => credentials::password_hash(&state.db, user.role, user.id).await?,
    };
    if !verify_password(request.old_password, current).await? {
        return Err(ApiError::new(ErrorCode::InvalidCredentials, "`old_password` is not your current password."));
    }
    state.limits.forgive(&state.cache, &failures_key).await;
    let hash = hash_password(request.new_password).await?;
    let mut tx = state.db.begin().await?;
    let revoked = match user.staff_id {
        Some(staff_id) => {
            staff::set_password_hash(&mut tx, staff_id, &hash).await?;
            let others = Revoke::StaffExcept(staff_id, user.session_id);
            sessions::revoke_sessions(&mut tx, others, "password_changed").await?
        }
        None => {
            credentials::set_password_hash(&mut tx, user.role, user.id, &hash).await?;
            let others = Revoke::AllOfExcept(user.id, user.session_id);
            sessions::revoke_sessions(&mut tx, others, "password_changed").await?
        }
    };
    let context = serde_json::json!({ "sessions_revoked": revoked.len() });
    audit::record(
        &mut tx,
        (&user).into(),
        "PASSWORD_CHANGED",
        (user.role.as_str(), &user.id.to_string()),
        context,
        &request_id,
    )
    .await?;
    tx.commit().await?;
    session::publish_revocations(&state, &revoked).await;
    Ok(StatusCode::NO_CONTENT)
}

/// A POS key has no session: it cannot log out or change a password (revoke or rotate it).
fn refuse_keys(user: &AuthUser) -> ApiResult<()> {
    match user.key_id {
        Some(_) => {
            Err(ApiError::new(ErrorCode::Forbidden, "A POS key has no session; revoke or rotate the key instead."))
        }
        None => Ok(()),
    }
}
