//! `GET /admin/statistics`: the back office's figures, cached for at most 30 s.

use std::time::Duration;

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Authorized;
use crate::auth::permissions::ReadStatistics;
use crate::db::reports::{self, AccountCounts, CardCounts, Statistics, TodayFigures};
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

/// The figures (not flattened from [`Statistics`]: the cached copy is read back, and serde's
/// flatten cannot read numbers under `arbitrary_precision`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatisticsResponse {
    /// Members that are not deleted.
    pub members: AccountCounts,
    pub cards: CardCounts,
    pub merchants: AccountCounts,
    pub today: TodayFigures,
    /// "Today" in the business time zone.
    pub date: NaiveDate,
    /// When these figures were counted (they may be up to 30 s old).
    pub generated_at: DateTime<Utc>,
}

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
