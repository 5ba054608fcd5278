//! Admin operations that move money or points: credit a card, adjust points, revoke every QR.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::admin::{AdjustPointsRequest, AdjustPointsResponse, CreditRequest, RevokeAllResponse};
use mps_api::error::ErrorCode;
use mps_api::member::RechargeResponse;

use crate::auth::Authorized;
use crate::auth::permissions::{AdjustPoints, CreditCards, SystemMaintenance};
use crate::db::money_ops::{self, ADMIN_RECHARGE, CreditArgs, IdempotencyScope, PointsAdjustment};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{AppJson, AppPath};
use crate::http::idempotency::{IdempotencyKey, fingerprint};
use crate::http::middleware::RequestId;
use crate::http::{respond, validate};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(credit_card)).routes(routes!(adjust_points)).routes(routes!(revoke_all_qr))
}

/// Resolves a path's `{id or card_no}` to the card's id.
pub async fn resolve_card_id(state: &AppState, id_or_no: &str) -> ApiResult<Uuid> {
    if let Ok(id) = Uuid::parse_str(id_or_no) {
        return Ok(id);
    }
    crate::db::bindings::card_id_by_no(&state.db, id_or_no.trim())
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::CardNotFound, "No card has this id or number."))
}

/// Credit a standard card directly (payment method `manual`).
#[utoipa::path(post, path = "/admin/cards/{id}/recharge", tag = "admin", security(("bearer" = [])),
    request_body = CreditRequest,
    params(("id" = String, Path, description = "Card id or card_no"),
           ("Idempotency-Key" = String, Header, description = "Reuse it when retrying this request")),
    responses((status = 201, body = RechargeResponse)))]
async fn credit_card(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<CreditCards>,
    IdempotencyKey(key): IdempotencyKey,
    AppPath(id_or_no): AppPath<String>,
    AppJson(request): AppJson<CreditRequest>,
) -> ApiResult<Response> {
    let amount = request.amount.to_money("amount", state.config.max_amount)?;
    let reason = validate::optional_text("reason", request.reason.as_deref(), 500)?;
    let card_id = resolve_card_id(&state, &id_or_no).await?;
    let request = serde_json::json!({ "card_id": card_id, "amount": amount, "reason": reason });
    let print = fingerprint(ADMIN_RECHARGE.name, &request);
    let scope = IdempotencyScope { actor_id: admin.id, key: &key, fingerprint: &print, request_id: &request_id };
    let args = CreditArgs { card_id, amount, reason };
    let outcome = money_ops::admin_recharge(&state.db, scope, args).await;
    respond::money(&state, &ADMIN_RECHARGE, outcome, |_| ()).await
}

/// Add or remove points on a standard card; the level follows the new total.
#[utoipa::path(post, path = "/admin/points/adjust", tag = "admin", security(("bearer" = [])),
    request_body = AdjustPointsRequest,
    responses((status = 200, body = AdjustPointsResponse),
              (status = 409, description = "CARD_CLOSED", body = mps_api::error::ErrorEnvelope)))]
async fn adjust_points(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<AdjustPoints>,
    AppJson(request): AppJson<AdjustPointsRequest>,
) -> ApiResult<AppJson<AdjustPointsResponse>> {
    if request.delta_points == 0 || request.delta_points.unsigned_abs() > 100_000_000 {
        return Err(ApiError::validation("delta_points", "must be non-zero and at most 100000000 in size"));
    }
    let reason = validate::text("reason", &request.reason, 500)?;
    let adjustment =
        PointsAdjustment { admin_id: admin.id, card_id: request.card_id, delta: request.delta_points, reason };
    let adjusted = money_ops::adjust_points(&state.db, adjustment, &request_id).await;
    Ok(AppJson(respond::moved::<AdjustPointsResponse>(&state, "adjust_points", adjusted).await?))
}

/// Revoke every live QR token at once (e.g. after a suspected leak).
#[utoipa::path(post, path = "/admin/qr/revoke-all", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = RevokeAllResponse)))]
async fn revoke_all_qr(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<SystemMaintenance>,
) -> ApiResult<AppJson<RevokeAllResponse>> {
    let revoked = respond::rpc(
        &state,
        "revoke_all_qr_tokens",
        money_ops::revoke_all_qr_tokens(&state.db, admin.id, &request_id).await,
    )?;
    Ok(AppJson(revoked))
}
