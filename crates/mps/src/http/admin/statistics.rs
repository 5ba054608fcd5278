//! `GET /admin/statistics`: the back office's figures, cached for at most 30 s.

use std::time::Duration;

use axum::extract::State;
use chrono::Utc;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::admin::StatisticsResponse;

use crate::auth::Authorized;
use crate::auth::permissions::ReadStatistics;
use crate::db::reports::{self, Statistics};
use crate::error::ApiResult;
use crate::http::extract::AppJson;
use crate::http::periods::{day_period, local_date};
use crate::http::respond::rpc;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(statistics))
}

const CACHE_KEY: &str = "admin-statistics";
const CACHE_TTL: Duration = Duration::from_secs(30);

/// Members, cards and merchants by status; today's payments, refunds and recharges kept apart;
/// QR codes issued and members created today.
#[utoipa::path(get, path = "/admin/statistics", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = StatisticsResponse)))]
async fn statistics(
    State(state): State<AppState>,
    _admin: Authorized<ReadStatistics>,
) -> ApiResult<AppJson<StatisticsResponse>> {
    let zone = state.config.business_timezone;
    let now = Utc::now();
    let date = local_date(now, zone);
    if let Some(cached) = state.cache.get_json::<StatisticsResponse>(CACHE_KEY).await
        && cached.date == date
    {
        return Ok(AppJson(cached));
    }
    let (start, end) = day_period(date, zone)?;
    let Statistics { members, cards, merchants, today } =
        rpc(&state, "admin_statistics", reports::admin_statistics(&state.read_db, start, end).await)?;
    let response = StatisticsResponse { members, cards, merchants, today, date, generated_at: now };
    state.cache.set_json(CACHE_KEY, &response, CACHE_TTL).await;
    Ok(AppJson(response))
}
