//! Charge by QR, refund, counter top-up and QR validation.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::member::RechargeResponse;
use mps_api::merchant::{
    ChargeRequest, ChargeResponse, RefundRequest, RefundResponse, TopupRequest, ValidateQrRequest, ValidatedQr,
};

use crate::auth::Authorized;
use crate::auth::permissions::{Charge, MerchantRecharge, Refund, ValidateQr};
use crate::db::money_ops::{
    self, CHARGE, ChargeArgs, IdempotencyScope, MERCHANT_RECHARGE, REFUND, RefundArgs, TopupArgs,
};
use crate::error::ApiResult;
use crate::http::extract::AppJson;
use crate::http::idempotency::{IdempotencyKey, fingerprint};
use crate::http::member::qr::qr_hash;
use crate::http::middleware::RequestId;
use crate::http::{respond, validate};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(charge))
        .routes(routes!(refund))
        .routes(routes!(topup))
        .routes(routes!(validate_qr))
}

fn qr_text(qr_plain: &str) -> ApiResult<&str> {
    validate::text("qr_plain", qr_plain, 256)
}

/// Charge a member's card by the token of its QR code (level or corporate discount applied,
/// points earned). Replays of the same `Idempotency-Key` answer the original result.
#[utoipa::path(post, path = "/merchant/charge", tag = "merchant", security(("bearer" = [])),
    request_body = ChargeRequest,
    params(("Idempotency-Key" = String, Header, description = "One key per charge; reuse it on every retry")),
    responses((status = 201, body = ChargeResponse)))]
async fn charge(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<Charge>,
    IdempotencyKey(key): IdempotencyKey,
    AppJson(request): AppJson<ChargeRequest>,
) -> ApiResult<Response> {
    let amount = request.amount.to_money("amount", state.config.max_amount)?;
    let token_hash = qr_hash(qr_text(&request.qr_plain)?);
    let external_order_id = validate::optional_text("external_order_id", request.external_order_id.as_deref(), 128)?;
    super::validate_tag(request.tag.as_ref())?;
    let tag = request.tag.as_ref().filter(|t| !t.is_null());
    let store_id = super::stores::acting_store(&state, &merchant, request.store.as_deref()).await?;
    let print = fingerprint(
        CHARGE.name,
        &serde_json::json!({ "token_sha256": hex::encode(&token_hash), "amount": amount,
                             "external_order_id": external_order_id, "tag": tag, "store_id": store_id }),
    );
    let scope = IdempotencyScope { actor_id: merchant.id, key: &key, fingerprint: &print, request_id: &request_id };
    let operator = merchant.operator.as_deref();
    let staff_id = merchant.staff_id;
    let pos_key_id = merchant.key_id;
    let args = ChargeArgs {
        operator,
        token_hash: &token_hash,
        amount,
        external_order_id,
        tag,
        store_id,
        staff_id,
        pos_key_id,
    };
    let outcome = money_ops::charge(&state.db, scope, args).await;
    let observe = |charged: &ChargeResponse| state.metrics.observe_payment(charged.transaction.final_amount);
    respond::money(&state, &CHARGE, outcome, observe).await
}

/// Refund all or part of one of your payments; points are reversed in proportion. The refund
/// records its payment's store. Cashiers and POS keys refund at most the merchant's
/// `cashier_refund_limit` at once (403 `REFUND_LIMIT_EXCEEDED`) and only payments of the same
/// local day (403 `REFUND_NOT_SAME_DAY`); a caller restricted to a store sees only its payments.
#[utoipa::path(post, path = "/merchant/refund", tag = "merchant", security(("bearer" = [])),
    request_body = RefundRequest,
    params(("Idempotency-Key" = String, Header, description = "One key per refund; reuse it on every retry")),
    responses((status = 201, body = RefundResponse),
              (status = 403, description = "FORBIDDEN, REFUND_LIMIT_EXCEEDED or REFUND_NOT_SAME_DAY",
               body = mps_api::error::ErrorEnvelope)))]
async fn refund(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<Refund>,
    IdempotencyKey(key): IdempotencyKey,
    AppJson(request): AppJson<RefundRequest>,
) -> ApiResult<Response> {
    let amount = request.amount.to_money("amount", state.config.max_amount)?;
    let original_tx_no = validate::text("original_tx_no", &request.original_tx_no, 40)?.to_ascii_uppercase();
    let reason = validate::optional_text("reason", request.reason.as_deref(), 500)?;
    super::validate_tag(request.tag.as_ref())?;
    let tag = request.tag.as_ref().filter(|t| !t.is_null());
    let print = fingerprint(
        REFUND.name,
        &serde_json::json!({ "original_tx_no": original_tx_no, "amount": amount, "reason": reason, "tag": tag }),
    );
    super::stores::check_refund_allowed(&state, &merchant, &original_tx_no, amount).await?;
    let scope = IdempotencyScope { actor_id: merchant.id, key: &key, fingerprint: &print, request_id: &request_id };
    let operator = merchant.operator.as_deref();
    let staff_id = merchant.staff_id;
    let pos_key_id = merchant.key_id;
    let args = RefundArgs { operator, original_tx_no: &original_tx_no, amount, reason, tag, staff_id, pos_key_id };
    let outcome = money_ops::refund(&state.db, scope, args).await;
    respond::money(&state, &REFUND, outcome, |_| ()).await
}

/// Top up a standard card at the counter (cash), credited at once. The top-up records its store
/// (`store`, as for a charge) and the staff member making it.
#[utoipa::path(post, path = "/merchant/recharge", tag = "merchant", security(("bearer" = [])),
    request_body = TopupRequest,
    params(("Idempotency-Key" = String, Header, description = "Reuse it when retrying this request")),
    responses((status = 201, body = RechargeResponse),
              (status = 403, description = "STORE_NOT_ALLOWED: a store-restricted caller named another store",
               body = mps_api::error::ErrorEnvelope),
              (status = 404, description = "STORE_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn topup(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<MerchantRecharge>,
    IdempotencyKey(key): IdempotencyKey,
    AppJson(request): AppJson<TopupRequest>,
) -> ApiResult<Response> {
    let amount = request.amount.to_money("amount", state.config.max_amount)?;
    let card_no = validate::text("card_no", &request.card_no, 40)?.to_ascii_uppercase();
    let store_id = super::stores::acting_store(&state, &merchant, request.store.as_deref()).await?;
    let print = fingerprint(
        MERCHANT_RECHARGE.name,
        &serde_json::json!({ "card_no": card_no, "amount": amount, "store_id": store_id }),
    );
    let scope = IdempotencyScope { actor_id: merchant.id, key: &key, fingerprint: &print, request_id: &request_id };
    let operator = merchant.operator.as_deref();
    let args = TopupArgs {
        operator,
        card_no: &card_no,
        amount,
        store_id,
        staff_id: merchant.staff_id,
        pos_key_id: merchant.key_id,
    };
    let outcome = money_ops::merchant_recharge(&state.db, scope, args).await;
    respond::money(&state, &MERCHANT_RECHARGE, outcome, |_| ()).await
}

/// Check a QR token without charging it.
#[utoipa::path(post, path = "/merchant/qr/validate", tag = "merchant", security(("bearer" = [])),
    request_body = ValidateQrRequest,
    responses((status = 200, body = ValidatedQr),
              (status = 409, description = "QR_EXPIRED_OR_INVALID or MERCHANT_NOT_ACTIVE", body = mps_api::error::ErrorEnvelope)))]
async fn validate_qr(
    State(state): State<AppState>,
    merchant: Authorized<ValidateQr>,
    AppJson(request): AppJson<ValidateQrRequest>,
) -> ApiResult<AppJson<ValidatedQr>> {
    let token_hash = qr_hash(qr_text(&request.qr_plain)?);
    let validated = respond::rpc(
        &state,
        "validate_qr_token",
        money_ops::validate_qr_token(&state.db, merchant.id, &token_hash).await,
    )?;
    Ok(AppJson(validated))
}
