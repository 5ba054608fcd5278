//! `GET /merchant/daily-summary`: a merchant's local day, with one bucket per local hour.

use axum::extract::State;
use chrono::{Timelike as _, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::merchant::{DailySummaryResponse, DaySummary, HourSummary};

use crate::auth::Authorized;
use crate::auth::permissions::ReadSummary;
use crate::db::reports::DailyFigures;
use crate::db::stores;
use crate::error::ApiResult;
use crate::http::extract::{AppJson, AppQuery};
use crate::http::periods::{self, day_period, local_date};
use crate::http::respond::rpc;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(daily_summary))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailySummaryQuery {
    /// The local day, YYYY-MM-DD (default: today in the business time zone).
    pub date: Option<String>,
    /// One store's day, by code (default: the whole merchant; a store-restricted caller: its store).
    pub store: Option<String>,
}

/// Your day: payments, refunds and net, and payments per local hour.
#[utoipa::path(get, path = "/merchant/daily-summary", tag = "merchant", security(("bearer" = [])),
    params(DailySummaryQuery),
    responses((status = 200, body = DailySummaryResponse)))]
async fn daily_summary(
    State(state): State<AppState>,
    merchant: Authorized<ReadSummary>,
    AppQuery(query): AppQuery<DailySummaryQuery>,
) -> ApiResult<AppJson<DailySummaryResponse>> {
    let zone = state.config.business_timezone;
    let date = match query.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        Some(text) => periods::parse_date("date", text)?,
        None => local_date(Utc::now(), zone),
    };
    let period = day_period(date, zone)?;
    let store = super::stores::report_store(&state, &merchant, query.store.as_deref()).await?;
    let figures: DailyFigures = rpc(
        &state,
        "store_daily_summary",
        stores::store_daily_summary(&state.read_db, merchant.id, store, period).await,
    )?;
    let hourly = figures
        .hourly
        .into_iter()
        .map(|b| HourSummary {
            hour: b.start.with_timezone(&zone).hour(),
            start: b.start,
            count: b.count,
            amount: b.amount,
        })
        .collect();
    let summary = DaySummary {
        payment_count: figures.payment_count,
        refund_count: figures.refund_count,
        payment_amount: figures.payment_amount,
        refund_amount: figures.refund_amount,
        net_amount: figures.net_amount,
    };
    Ok(AppJson(DailySummaryResponse { date, summary, hourly }))
}
