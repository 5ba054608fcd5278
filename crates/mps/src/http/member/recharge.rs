//! A member's recharge order, credited when the payment channel confirms it.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::member::{RechargeRequest, RechargeResponse};

use crate::auth::Authorized;
use crate::auth::permissions::MemberRecharge;
use crate::db::money_ops::{self, IdempotencyScope, MEMBER_RECHARGE, RechargeOrderArgs};
use crate::error::ApiResult;
use crate::http::extract::AppJson;
use crate::http::idempotency::{IdempotencyKey, fingerprint};
use crate::http::middleware::RequestId;
use crate::http::respond;
use crate::http::validate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_recharge_order))
}

/// Create a recharge order for your standard card (status `processing` until the channel confirms).
#[utoipa::path(post, path = "/member/recharge", tag = "member", security(("bearer" = [])),
    request_body = RechargeRequest,
    params(("Idempotency-Key" = String, Header, description = "Reuse it when retrying this request")),
    responses((status = 201, body = RechargeResponse)))]
async fn create_recharge_order(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    member: Authorized<MemberRecharge>,
    IdempotencyKey(key): IdempotencyKey,
    AppJson(request): AppJson<RechargeRequest>,
) -> ApiResult<Response> {
    let amount = request.amount.to_money("amount", state.config.max_amount)?;
    let external_order_id = validate::optional_text("external_order_id", request.external_order_id.as_deref(), 128)?;
    let print = fingerprint(
        MEMBER_RECHARGE.name,
        &serde_json::json!({ "card_id": request.card_id, "amount": amount, "payment_method": request.payment_method,
                             "external_order_id": external_order_id }),
    );
    let scope = IdempotencyScope { actor_id: member.id, key: &key, fingerprint: &print, request_id: &request_id };
    let args = RechargeOrderArgs {
        card_id: request.card_id,
        amount,
        payment_method: request.payment_method.as_str(),
        external_order_id,
    };
    let outcome = money_ops::member_recharge(&state.db, scope, args).await;
    respond::money(&state, &MEMBER_RECHARGE, outcome, |_| ()).await
}
