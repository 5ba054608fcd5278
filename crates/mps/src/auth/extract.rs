//! Extractors that authenticate a request (401) and check its permission (403).

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use mps_api::error::ErrorCode;
use mps_api::roles::{Role, StaffRole};

use crate::auth::permissions::Permission;
use crate::auth::session::SessionClaim;
use crate::auth::token::Claims;
use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller: a verified token whose session is still live.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Uuid,
    pub role: Role,
    pub name: String,
    pub session_id: Uuid,
    pub permissions: Vec<String>,
    pub merchant_code: Option<String>,
    pub operator: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// The staff member acting for the merchant (none: the merchant's own credentials or a key).
    pub staff_id: Option<Uuid>,
    /// The merchant-side role: `owner` for the merchant's credentials.
    pub staff_role: Option<StaffRole>,
    /// The one store the caller may act as (a restricted staff member, a POS key).
    pub store_id: Option<Uuid>,
    /// The POS key a request is authenticated by.
    pub key_id: Option<Uuid>,
}

impl AuthUser {
    fn from_claims(claims: Claims) -> AuthUser {
        AuthUser {
            id: claims.sub,
            role: claims.role,
            name: claims.name,
            session_id: claims.session_id,
            permissions: claims.permissions,
            merchant_code: claims.merchant_code,
            operator: claims.operator,
            expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
            staff_id: claims.staff_id,
            staff_role: claims.staff_role.or((claims.role == Role::Merchant).then_some(StaffRole::Owner)),
            store_id: claims.store_id,
            key_id: None,
        }
    }
}

fn unauthenticated(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthenticated, message)
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Verified claims, cached in the request's extensions so the token is checked once.
pub fn verified_claims(parts: &mut Parts, state: &AppState) -> Option<Claims> {
    if let Some(claims) = parts.extensions.get::<Claims>() {
        return Some(claims.clone());
    }
    let claims = state.jwt.verify(bearer_token(parts)?)?;
    parts.extensions.insert(claims.clone());
    Some(claims)
}

impl AuthUser {
    /// Whether the caller holds a permission.
    pub fn holds(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// Authenticates a request whose session `check_session` decides on: it answers whether the
    /// session is live and may bring back more from the same round trip (see
    /// `card_cache::lookup_with_session`).
    pub async fn authenticate_with<T, F, Fut>(
        parts: &mut Parts,
        state: &AppState,
        check_session: F,
    ) -> Result<(AuthUser, T), ApiError>
    where
        F: FnOnce(SessionClaim) -> Fut,
        Fut: Future<Output = Result<(bool, T), ApiError>>,
    {
        if bearer_token(parts).is_none() {
            return Err(unauthenticated("Send `Authorization: Bearer <token>`; log in at POST /auth/login."));
        }
        let claims =
            verified_claims(parts, state).ok_or_else(|| unauthenticated("The token is invalid or has expired."))?;
        let (live, extra) = check_session(SessionClaim::from(&claims)).await?;
        if !live {
            return Err(unauthenticated("This session has ended; log in again."));
        }
        let user = AuthUser::from_claims(claims);
        let span = tracing::Span::current();
        span.record("user_id", tracing::field::display(user.id));
        span.record("role", user.role.as_str());
        parts.extensions.insert(user.clone());
        Ok((user, extra))
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        if let Some(secret) = bearer_token(parts).filter(|t| crate::auth::pos_keys::is_pos_key(t)) {
            let user = match crate::auth::pos_keys::authenticate(state, secret).await {
                Ok(user) => user,
                Err(refused) => {
                    // Requests with a key are counted per key prefix, which a caller chooses: a
                    // refused key also counts against its client address, so made-up keys cannot
                    // buy unlimited lookups.
                    let ip = client_ip(parts, &state.config);
                    state.limits.check_general(&format!("ip:{ip}"))?;
                    return Err(refused);
                }
            };
            parts.extensions.insert(user.clone());
            return Ok(user);
        }
        let check = |claim| async move { Ok((crate::auth::session::is_live(state, claim).await?, ())) };
        Ok(AuthUser::authenticate_with(parts, state, check).await?.0)
    }
}

/// An authenticated caller holding permission `P`; the route's declaration of what it needs.
#[derive(Debug, Clone)]
pub struct Authorized<P: Permission> {
    pub user: AuthUser,
    permission: PhantomData<P>,
}

impl<P: Permission> std::ops::Deref for Authorized<P> {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.user
    }
}

impl<P: Permission> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Authorized::grant(AuthUser::from_request_parts(parts, state).await?)
    }
}

impl<P: Permission> Authorized<P> {
    /// The caller, if they hold `P`; 403 `FORBIDDEN` otherwise.
    pub fn grant(user: AuthUser) -> Result<Authorized<P>, ApiError> {
        if !user.permissions.iter().any(|p| p == P::NAME) {
            return Err(ApiError::new(ErrorCode::Forbidden, format!("This needs the `{}` permission.", P::NAME)));
        }
        tracing::Span::current().record("operation", P::NAME);
        Ok(Authorized { user, permission: PhantomData })
    }
}

/// The client's address: the socket's, or — only when the socket is a trusted proxy — the
/// nearest untrusted address in `X-Forwarded-For`.
pub fn client_ip(parts: &Parts, config: &Config) -> IpAddr {
    // As axum's own `ConnectInfo` extractor does, fall back to a `MockConnectInfo` layer (how
    // in-process callers such as the tests give the router a peer address).
    let socket = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
        .or_else(|| parts.extensions.get::<MockConnectInfo<SocketAddr>>().map(|MockConnectInfo(addr)| *addr))
        .map(|addr| addr.ip().to_canonical())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let trusted = |ip: IpAddr| config.trusted_proxies.iter().any(|p| p.contains(ip));
    if !trusted(socket) {
        return socket;
    }
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect::<Vec<_>>();
    forwarded.into_iter().rev().find(|ip| !trusted(*ip)).unwrap_or(socket)
}

/// The client address as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, &state.config)))
    }
}
