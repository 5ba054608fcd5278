//! `/auth`: login for the three roles, logout, the caller's identity, password change.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::auth::password::{check_new_password, hash_password, verify_password};
use crate::auth::session::{self, Revoke};
use crate::auth::token::{AUDIENCE, Claims, ISSUER};
use crate::auth::{AuthUser, ClientIp, Role};
use crate::db::audit::{self, Actor};
use crate::db::credentials::{self, LoginAccount};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::http::extract::AppJson;
use crate::http::middleware::RequestId;
use crate::limits::Window;
use crate::state::{AppState, PausePoint};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

// No `Debug`: it holds a secret that must never reach a log.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub role: Role,
    /// Member: phone or member_no; merchant: code; admin: email.
    pub identifier: String,
    pub password: String,
    /// Merchants only: the cashier, carried in the token and tagged on transactions.
    pub operator: Option<String>,
}

/// The user a token speaks for.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserSummary {
    pub id: Uuid,
    pub role: Role,
    pub name: String,
    pub permissions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

// No `Debug`: it holds a secret that must never reach a log.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: UserSummary,
}

const LOGIN_WINDOW: Duration = Duration::from_secs(60);

impl LoginRequest {
    fn validate(&self) -> ApiResult<()> {
        let identifier = self.identifier.trim();
        if identifier.is_empty() || identifier.chars().count() > 254 {
            return Err(ApiError::validation("identifier", "must be 1 to 254 characters"));
        }
        if self.password.is_empty() || self.password.chars().count() > crate::auth::password::MAX_PASSWORD_LEN {
            return Err(ApiError::validation("password", "must be 1 to 128 characters"));
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
/// Every failure — unknown account, wrong password, suspended or inactive account — is the same
/// 401 `INVALID_CREDENTIALS`. Logins are limited per client IP, and failed logins per account
/// (per identifier when it names none).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse),
              (status = 401, description = "INVALID_CREDENTIALS: unknown account, wrong password or inactive account",
               body = crate::error::ErrorEnvelope)))]
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
    let account = credentials::find_for_login(&state.db, role, &identifier).await?;
    // Every attempt counts as a failure until it succeeds, so a burst sent at once cannot get
    // more guesses than the limit allows. The budget is the account's: a member's phone and
    // member_no draw on one count.
    let failures_key = failed_login_key(role, account.as_ref(), &identifier);
    let failures = Window { limit: config.login_rate_limit, length: LOGIN_WINDOW };
    let message = "Too many failed logins for this account; wait a minute.";
    state.limits.hit(&state.cache, &failures_key, failures, message).await?;
    let outcome = match authenticate(&state, role, account, &identifier, request.password, &request_id).await {
        Ok(account) => {
            state.pause_at(PausePoint::LoginVerified).await;
            start_session(&state, role, account, &identifier, request.operator, ip, &request_id).await
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
        Some(account) => format!("login-fail:{}:{}", role.as_str(), account.id),
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

fn count_login(state: &AppState, role: Role, status: &str) {
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

/// Creates the session of a verified login, only if the account is, under a lock held until
/// the session commits, still active with the password hash that was verified: a suspension or
/// password reset that committed while argon2 ran refuses the login (it revoked the account's
/// sessions before this one existed), and one that comes later waits for this session and
/// revokes it.
async fn start_session(
    state: &AppState,
    role: Role,
    account: LoginAccount,
    identifier: &str,
    operator: Option<String>,
    ip: std::net::IpAddr,
    request_id: &str,
) -> ApiResult<LoginResponse> {
    let now = Utc::now();
    let expires_at = now + chrono::Duration::hours(state.config.jwt_expire_hours);
    let operator = operator.map(|o| o.trim().to_owned());
    let mut tx = state.db.begin().await?;
    let unchanged = credentials::lock_for_session(&mut tx, role, account.id)
        .await?
        .is_some_and(|current| current.active && current.password_hash == account.password_hash);
    if !unchanged {
        drop(tx);
        let reason = "changed_during_login";
        return Err(refuse_login(state, role, Some(&account), identifier, reason, request_id).await);
    }
    let session_id = session::create_session(&mut tx, role, account.id, operator.as_deref(), expires_at, ip).await?;
    let context = serde_json::json!({ "session_id": session_id, "operator": operator });
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

    let permissions: Vec<String> = role.permissions().iter().map(|p| (*p).to_owned()).collect();
    let claims = Claims {
        sub: account.id,
        role,
        name: account.name.clone(),
        permissions: permissions.clone(),
        session_id,
        jti: Uuid::new_v4(),
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        merchant_code: account.code.clone(),
        operator: operator.clone(),
    };
    let token = state.jwt.issue(&claims).map_err(ApiError::internal)?;
    let user =
        UserSummary { id: account.id, role, name: account.name, permissions, merchant_code: account.code, operator };
    Ok(LoginResponse { token, expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or(expires_at), user })
}

/// End this session, on every instance at once.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "The session is revoked")))]
async fn logout(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    user: AuthUser,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin().await?;
    let revoked = session::revoke_sessions(&mut tx, Revoke::Session(user.session_id), "logout").await?;
    let context = serde_json::json!({ "session_id": user.session_id });
    audit::record(&mut tx, (&user).into(), "LOGOUT", (user.role.as_str(), &user.id.to_string()), context, &request_id)
        .await?;
    tx.commit().await?;
    session::publish_revocations(&state, &revoked).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeResponse {
    pub user: UserSummary,
    pub permissions: Vec<String>,
    pub session: SessionInfo,
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
        },
    })
}

// No `Debug`: it holds a secret that must never reach a log.
#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub old_password: String,
    /// At least 8 characters.
    pub new_password: String,
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
    check_new_password("new_password", &request.new_password)?;
    // A stolen session must not become a way to guess the password: wrong current passwords are
    // limited like failed logins, counted before the check and forgiven when it passes.
    let failures_key = format!("password-fail:{}:{}", user.role.as_str(), user.id);
    let failures = Window { limit: state.config.login_rate_limit, length: LOGIN_WINDOW };
    let message = "Too many wrong current passwords for this account; wait a minute.";
    state.limits.hit(&state.cache, &failures_key, failures, message).await?;
    let current = credentials::password_hash(&state.db, user.role, user.id).await?;
    if !verify_password(request.old_password, current).await? {
        return Err(ApiError::new(ErrorCode::InvalidCredentials, "`old_password` is not your current password."));
    }
    state.limits.forgive(&state.cache, &failures_key).await;
    let hash = hash_password(request.new_password).await?;
    let mut tx = state.db.begin().await?;
    credentials::set_password_hash(&mut tx, user.role, user.id, &hash).await?;
    let revoked =
        session::revoke_sessions(&mut tx, Revoke::AllOfExcept(user.id, user.session_id), "password_changed").await?;
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
