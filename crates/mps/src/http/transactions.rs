//! `GET /transactions/{tx_no}`: one transaction, for those allowed to see it.

use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::error::ErrorCode;
use mps_api::member::TransactionResponse;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{AppJson, AppPath};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_transaction))
}

/// A transaction, visible to the members of its card, its merchant (a caller restricted to a
/// store: that store's) and admins (404 to others).
#[utoipa::path(get, path = "/transactions/{tx_no}", tag = "transactions", security(("bearer" = [])),
    params(("tx_no" = String, Path, description = "PAY…, REF… or RCG…")),
    responses((status = 200, body = TransactionResponse)))]
async fn get_transaction(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(tx_no): AppPath<String>,
) -> ApiResult<AppJson<TransactionResponse>> {
    let transaction = crate::db::transactions::visible_transaction(&state.db, &user, &tx_no)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::TxNotFound, "No transaction you can see has this number."))?;
    Ok(AppJson(TransactionResponse { transaction }))
}
