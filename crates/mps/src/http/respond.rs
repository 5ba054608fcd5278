//! Turning database outcomes into responses, counting each SQL function call by outcome.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db::money_ops::{Idempotent, Moved, Operation};
use crate::error::ApiResult;
use crate::http::extract::AppJson;
use crate::http::middleware::IDEMPOTENT_REPLAYED;
use crate::state::AppState;

/// Counts one call of SQL function `function` in `mps_api_rpc_calls_total`.
pub fn count_rpc<T>(state: &AppState, function: &str, result: &ApiResult<T>) {
    let status = match result {
        Ok(_) => "ok",
        Err(e) => e.code.as_str(),
    };
    state.metrics.record_rpc(function, status);
}

/// Counts a plain function call and passes its result on.
pub fn rpc<T>(state: &AppState, function: &str, result: ApiResult<T>) -> ApiResult<T> {
    count_rpc(state, function, &result);
    result
}

/// The response of an idempotent operation: the (possibly replayed) outcome, with
/// `Idempotent-Replayed: true` on replays.
fn idempotent<T: Serialize>(
    state: &AppState,
    function: &str,
    outcome: ApiResult<Idempotent<T>>,
    status: StatusCode,
) -> ApiResult<Response> {
    let outcome = outcome.and_then(|o| o.result.map(|moved| (moved.result, o.replayed)));
    count_rpc(state, function, &outcome);
    let (body, replayed) = outcome?;
    let mut response = (status, AppJson(body)).into_response();
    if replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED.clone(), HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The response of an idempotent money operation, described by `op`: on a first execution that
/// succeeded, `on_success` sees the result (metrics) and the card lists the operation made stale
/// are dropped; the call is counted under `op.name`; replays carry `Idempotent-Replayed: true`.
pub async fn money<T: Serialize>(
    state: &AppState,
    op: &Operation,
    outcome: ApiResult<Idempotent<T>>,
    on_success: impl FnOnce(&T),
) -> ApiResult<Response> {
    if let Ok(Idempotent { result: Ok(moved), replayed: false }) = &outcome {
        on_success(&moved.result);
        if op.invalidates_cards {
            crate::card_cache::invalidate(state, &moved.affected_members).await;
        }
    }
    idempotent(state, op.name, outcome, StatusCode::CREATED)
}

/// A plain money function's result: counted under `function`; the card lists it made stale are
/// dropped.
pub async fn moved<T>(state: &AppState, function: &str, result: ApiResult<Moved<T>>) -> ApiResult<T> {
    let moved = rpc(state, function, result)?;
    crate::card_cache::invalidate(state, &moved.affected_members).await;
    Ok(moved.result)
}
