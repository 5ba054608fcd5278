//! Payment QR tokens: issue (a new one kills the old) and revoke.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::member::{IssueQrRequest, QrResponse, RevokeQrResponse};

use crate::auth::Authorized;
use crate::auth::permissions::GenerateQr;
use crate::db::money_ops::{self, IssuedToken, MemberCard, NewQrToken};
use crate::error::ApiResult;
use crate::http::extract::{AppJson, AppPath};
use crate::http::middleware::RequestId;
use crate::http::respond::rpc;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue_qr)).routes(routes!(revoke_qr))
}

/// A fresh token: 32 random bytes, base64url without padding.
pub fn new_qr_plain() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of a token: its SHA-256.
pub fn qr_hash(plain: &str) -> Vec<u8> {
    Sha256::digest(plain.trim().as_bytes()).to_vec()
}

/// Show a payment QR for one of your standard or voucher cards; the card's previous token dies.
#[utoipa::path(post, path = "/member/qr", tag = "member", security(("bearer" = [])),
    request_body = IssueQrRequest,
    responses((status = 201, body = QrResponse),
              (status = 409, description = "MEMBER_NOT_ACTIVE, CARD_NOT_ACTIVE, CARD_EXPIRED or CARD_CLOSED",
               body = mps_api::error::ErrorEnvelope)))]
async fn issue_qr(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    member: Authorized<GenerateQr>,
    AppJson(request): AppJson<IssueQrRequest>,
) -> ApiResult<(StatusCode, AppJson<QrResponse>)> {
    let config = &state.config;
    let ttl = request
        .ttl_seconds
        .unwrap_or(i64::from(config.qr_ttl_default))
        .clamp(i64::from(config.qr_ttl_min), i64::from(config.qr_ttl_max));
    let qr_plain = new_qr_plain();
    let issued: IssuedToken = rpc(
        &state,
        "issue_qr_token",
        money_ops::issue_qr_token(
            &state.db,
            MemberCard { member_id: member.id, card_id: request.card_id },
            NewQrToken { token_hash: &qr_hash(&qr_plain), ttl_seconds: i32::try_from(ttl).unwrap_or(i32::MAX) },
            &request_id,
        )
        .await,
    )?;
    let response =
        QrResponse { qr_plain, expires_at: issued.expires_at, ttl_seconds: issued.ttl_seconds, card: issued.card };
    Ok((StatusCode::CREATED, AppJson(response)))
}

/// Revoke your card's live QR token at once.
#[utoipa::path(delete, path = "/member/qr/{card_id}", tag = "member", security(("bearer" = [])),
    params(("card_id" = Uuid, Path)),
    responses((status = 200, body = RevokeQrResponse)))]
async fn revoke_qr(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    member: Authorized<GenerateQr>,
    AppPath(card_id): AppPath<Uuid>,
) -> ApiResult<AppJson<RevokeQrResponse>> {
    let card = MemberCard { member_id: member.id, card_id };
    let revoked = rpc(&state, "revoke_qr_token", money_ops::revoke_qr_token(&state.db, card, &request_id).await)?;
    Ok(AppJson(revoked))
}
