//! `GET /merchant/daily-summary`: a merchant's local day, with one bucket per local hour.

use axum::extract::State;
use chrono::{DateTime, NaiveDate, Timelike as _, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Authorized;
use crate::auth::permissions::ReadSummary;
use crate::db::reports::DailyFigures;
use crate::db::stores;
use crate::error::ApiResult;
use crate::http::extract::{AppJson, AppQuery};
use crate::http::periods::{self, day_period, local_date};
use crate::http::respond::rpc;
use crate::money::{Money, SignedMoney};
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

#[derive(Debug, Serialize, ToSchema)]
pub struct DaySummary {
    /// Payments made (completed, or refunded since).
    pub payment_count: i64,
    /// Completed refunds, whichever day their payment was.
    pub refund_count: i64,
    pub payment_amount: Money,
    pub refund_amount: Money,
    /// payments − refunds (counter top-ups are not sales and are left out).
    pub net_amount: SignedMoney,
}

/// Payments in one local hour.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourSummary {
    /// The local clock hour, 0–23; on the day clocks go back one hour appears twice.
    pub hour: u32,
    /// The bucket's first instant (tells the two equal hours of that day apart).
    pub start: DateTime<Utc>,
    pub count: i64,
    pub amount: Money,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DailySummaryResponse {
    pub date: NaiveDate,
    pub summary: DaySummary,
    /// One bucket per local hour: 24, or 23/25 on clock-change days.
    pub hourly: Vec<HourSummary>,
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
