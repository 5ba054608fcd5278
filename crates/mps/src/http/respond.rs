//! Turning database outcomes into responses, counting each SQL function call by outcome.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db::money_ops::Idempotent;
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
pub fn idempotent<T: Serialize>(
    state: &AppState,
    function: &str,
    outcome: ApiResult<Idempotent<T>>,
    status: StatusCode,
) -> ApiResult<Response> {
    let outcome = outcome.and_then(|o| o.result.map(|body| (body, o.replayed)));
    count_rpc(state, function, &outcome);
    let (body, replayed) = outcome?;
    let mut response = (status, AppJson(body)).into_response();
    if replayed {
        response.headers_mut().insert(IDEMPOTENT_REPLAYED.clone(), HeaderValue::from_static("true"));
    }
    Ok(response)
}
