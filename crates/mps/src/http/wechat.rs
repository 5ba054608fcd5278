//! `POST /auth/wechat`: sign in from the WeChat mini-program with a `wx.login` code.
//!
//! The code is exchanged for the user's openid; a linked identity signs its member in. An
//! unknown one becomes a new member with a standard card when `WECHAT_AUTO_REGISTER` is on;
//! otherwise the answer is 404 `IDENTITY_NOT_LINKED` with a short-lived link token that
//! `POST /auth/register` or a login accepts to link the identity to the member it creates or
//! signs in.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::auth::{LoginResponse, RegisterResponse, WechatSignInRequest};
use mps_api::error::{ErrorCode, ErrorEnvelope};
use mps_api::roles::Role;

use crate::auth::{ClientIp, codes};
use crate::db::audit::{self, Actor};
use crate::db::credentials::LoginAccount;
use crate::db::identities::{self, ProvenIdentity};
use crate::db::members::NewMember;
use crate::error::{ApiError, ApiResult};
use crate::http::auth as login;
use crate::http::extract::AppJson;
use crate::http::middleware::RequestId;
use crate::http::signup;
use crate::http::validate;
use crate::limits::Window;
use crate::state::{AppState, PausePoint};

/// The provider name of WeChat identities.
pub const WECHAT: &str = "wechat";

/// The name of a member WeChat creates without one.
const DEFAULT_NAME: &str = "WeChat user";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(wechat_sign_in))
}

/// The checks of [`WechatSignInRequest`] (a wire type of `mps_api`), kept beside its handler.
trait ValidWechatSignIn {
    fn validate(&self) -> ApiResult<(&str, Option<&str>)>;
}

impl ValidWechatSignIn for WechatSignInRequest {
    fn validate(&self) -> ApiResult<(&str, Option<&str>)> {
        let code = self.code.trim();
        if code.is_empty() || code.len() > 128 || !code.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::validation("code", "must be the code of wx.login (1 to 128 visible characters)"));
        }
        let name = validate::optional_text("name", self.name.as_deref(), 100)?;
        Ok((code, name))
    }
}

/// Sign in with WeChat: 200 with a session for a linked identity; 201 with a new member, its
/// card and a session when `WECHAT_AUTO_REGISTER` is on; otherwise 404 `IDENTITY_NOT_LINKED`
/// whose `details` carry `link_token` and `expires_at`. WeChat's refusals: 422
/// `WECHAT_CODE_INVALID` (wrong or used code), 422 `WECHAT_LOGIN_REFUSED` (high-risk user), 429
/// `RATE_LIMITED`; a platform that fails or does not answer in `WECHAT_TIMEOUT_SECONDS`: 503.
#[utoipa::path(post, path = "/auth/wechat", tag = "auth", request_body = WechatSignInRequest,
    responses((status = 200, body = LoginResponse, description = "A linked identity signed in"),
              (status = 201, body = RegisterResponse, description = "A new member was created and signed in"),
              (status = 401, description = "INVALID_CREDENTIALS: the linked member may not sign in", body = ErrorEnvelope),
              (status = 404, description = "IDENTITY_NOT_LINKED, with `details.link_token` and `details.expires_at`",
               body = ErrorEnvelope),
              (status = 422, description = "VALIDATION_FAILED, WECHAT_CODE_INVALID or WECHAT_LOGIN_REFUSED",
               body = ErrorEnvelope),
              (status = 429, description = "RATE_LIMITED", body = ErrorEnvelope),
              (status = 503, description = "UNAVAILABLE: WeChat failed, timed out or is not configured",
               body = ErrorEnvelope)))]
async fn wechat_sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Extension(RequestId(request_id)): Extension<RequestId>,
    AppJson(request): AppJson<WechatSignInRequest>,
) -> ApiResult<Response> {
    let (code, name) = request.validate()?;
    let window = Window { limit: state.config.login_ip_rate_limit, length: std::time::Duration::from_secs(60) };
    let message = "Too many sign-ins from this address; wait a minute.";
    state.limits.hit(&state.cache, &format!("login-ip:{ip}"), window, message).await?;
    let wechat = state.wechat.code_to_session(code).await?;
    let identity = ProvenIdentity { provider: WECHAT.into(), external_id: wechat.openid, union_id: wechat.unionid };
    match sign_in(&state, &identity, name, ip, &request_id).await {
        // Two first sign-ins of one user raced and the other created the member: sign in as it.
        Err(e) if e.code == ErrorCode::DuplicateExternalIdentity => {
            sign_in(&state, &identity, name, ip, &request_id).await
        }
        outcome => outcome,
    }
}

async fn sign_in(
    state: &AppState,
    identity: &ProvenIdentity,
    name: Option<&str>,
    ip: std::net::IpAddr,
    request_id: &str,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    if let Some(owner) = identities::lock_identity_owner(&mut tx, &identity.provider, &identity.external_id).await? {
        if !owner.active {
            drop(tx);
            login::count_login(state, Role::Member, "failure");
            return Err(ApiError::new(ErrorCode::InvalidCredentials, "This account may not sign in."));
        }
        identities::touch_identity(&mut tx, &identity.provider, &identity.external_id).await?;
        let session = login::open_session(&mut tx, state, Role::Member, owner.member_id, None, None, ip).await?;
        let context = serde_json::json!({ "session_id": session.id, "via": identity.provider });
        let actor = Actor { id: Some(owner.member_id), role: "member" };
        let object = ("member", owner.member_id.to_string());
        audit::record(&mut tx, actor, "LOGIN_SUCCESS", (object.0, &object.1), context, request_id).await?;
        tx.commit().await?;
        login::count_login(state, Role::Member, "success");
        let account = LoginAccount {
            id: owner.member_id,
            name: owner.name,
            password_hash: None,
            active: true,
            code: None,
            ..Default::default()
        };
        let response = login::login_response(state, Role::Member, &account, None, &session)?;
        return Ok((StatusCode::OK, AppJson(response)).into_response());
    }
    if state.config.wechat.auto_register {
        state.pause_at(PausePoint::WechatIdentityUnknown).await;
        let new = NewMember {
            name: name.unwrap_or(DEFAULT_NAME),
            phone: None,
            email: None,
            password_hash: None,
            external_identity: None,
        };
        let registered = signup::register_member(&mut tx, state, new, Some(identity), ip, request_id).await?;
        tx.commit().await?;
        return Ok((StatusCode::CREATED, AppJson(registered.respond(state)?)).into_response());
    }
    drop(tx);
    Err(not_linked(state, identity).await?)
}

/// The 404 of an unknown identity, with a new link token for it.
async fn not_linked(state: &AppState, identity: &ProvenIdentity) -> ApiResult<ApiError> {
    let token = codes::generate_token();
    let expires_at = Utc::now() + chrono::Duration::seconds(i64::from(state.config.wechat.link_ttl_seconds));
    identities::create_link_token(&state.db, &codes::hash_token(&token), identity, expires_at).await?;
    let details = serde_json::json!({ "link_token": token, "expires_at": expires_at, "provider": identity.provider });
    Ok(ApiError::new(
        ErrorCode::IdentityNotLinked,
        "This WeChat account is not linked to a member: sign up or log in with the link token to link it.",
    )
    .with_details(details))
}
