//! `/merchant/settlements`: settle a closed period (realtime, one day, one month) and read your
//! settlements.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Months, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::error::ErrorCode;
use mps_api::merchant::{SettlementMode, SettlementRequest, SettlementStatus, SettlementView};
use mps_api::pagination::{Page, PageParams};

use crate::auth::Authorized;
use crate::auth::permissions::{GenerateSettlement, ReadSettlements};
use crate::db::settlements::{self, SettlementFilter, SettlementPeriod};
use crate::db::stores;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::middleware::RequestId;
use crate::http::periods::{self, Period, day_period, local_date, month_period};
use crate::http::respond::rpc;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(generate_settlement, list_settlements)).routes(routes!(get_settlement))
}

/// The checks of [`SettlementRequest`] (a wire type of `mps_api`), kept beside its handler.
trait SettlementFields {
    /// Refuses the fields the mode does not use, so a request cannot mean two periods.
    fn only(&self, used: &[&str]) -> ApiResult<()>;
}

impl SettlementFields for SettlementRequest {
    fn only(&self, used: &[&str]) -> ApiResult<()> {
        let given = [
            ("date", self.date.is_some()),
            ("month", self.month.is_some()),
            ("period_start", self.period_start.is_some()),
            ("period_end", self.period_end.is_some()),
        ];
        match given.iter().find(|(field, present)| *present && !used.contains(field)) {
            Some((field, _)) => Err(ApiError::validation(field, "is not used with this mode")),
            None => Ok(()),
        }
    }
}

/// The period a request names, with days and months in the business time zone.
fn requested_period(request: &SettlementRequest, zone: chrono_tz::Tz) -> ApiResult<Period> {
    let today = local_date(Utc::now(), zone);
    let out_of_range = |field| ApiError::validation(field, "is out of range");
    match request.mode {
        SettlementMode::Realtime => {
            request.only(&["period_start", "period_end"])?;
            explicit_period(request)
        }
        SettlementMode::TPlus1 => {
            request.only(&["date"])?;
            let date = match &request.date {
                Some(text) => periods::parse_date("date", text)?,
                None => today.pred_opt().ok_or_else(|| out_of_range("date"))?,
            };
            day_period(date, zone)
        }
        SettlementMode::Monthly => {
            request.only(&["month"])?;
            let month = match &request.month {
                Some(text) => periods::parse_month("month", text)?,
                None => today.checked_sub_months(Months::new(1)).ok_or_else(|| out_of_range("month"))?,
            };
            month_period(month, zone)
        }
    }
}

/// A realtime period: both ends required, start before end.
fn explicit_period(request: &SettlementRequest) -> ApiResult<Period> {
    let required = |field: &str, value: &Option<String>| match value {
        Some(text) => periods::parse_instant(field, text),
        None => Err(ApiError::validation(field, "is required with mode realtime")),
    };
    let period = (required("period_start", &request.period_start)?, required("period_end", &request.period_end)?);
    if period.0 >= period.1 {
        return Err(ApiError::validation("period_end", "must be after period_start"));
    }
    Ok(period)
}

/// Settle a period that ended at least `SETTLEMENT_MARGIN_SECONDS` ago: payments, refunds and
/// counter top-ups created in it, and the net. A period overlapping one of your settlements is
/// 409 `SETTLEMENT_ALREADY_EXISTS`.
#[utoipa::path(post, path = "/merchant/settlements", tag = "merchant", security(("bearer" = [])),
    request_body = SettlementRequest,
    responses((status = 201, body = SettlementView),
              (status = 409, description = "SETTLEMENT_ALREADY_EXISTS", body = mps_api::error::ErrorEnvelope),
              (status = 422, description = "PERIOD_NOT_CLOSED or VALIDATION_FAILED", body = mps_api::error::ErrorEnvelope)))]
async fn generate_settlement(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    merchant: Authorized<GenerateSettlement>,
    AppJson(request): AppJson<SettlementRequest>,
) -> ApiResult<(StatusCode, AppJson<SettlementView>)> {
    let (start, end) = requested_period(&request, state.config.business_timezone)?;
    let period = SettlementPeriod { mode: request.mode, start, end };
    let margin = state.config.settlement_margin_seconds;
    let settlement = rpc(
        &state,
        "generate_settlement",
        settlements::generate_settlement(&state.db, merchant.id, period, margin, &request_id).await,
    )?;
    Ok((StatusCode::CREATED, AppJson(settlement)))
}

/// Filters of `GET /merchant/settlements`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SettlementQuery {
    pub status: Option<SettlementStatus>,
    /// One store's share of each settlement, by code (counts and amounts of that store only).
    pub store: Option<String>,
}

/// Your settlements, latest period first.
#[utoipa::path(get, path = "/merchant/settlements", tag = "merchant", security(("bearer" = [])),
    params(SettlementQuery, PageParams),
    responses((status = 200, body = Page<SettlementView>)))]
async fn list_settlements(
    State(state): State<AppState>,
    merchant: Authorized<ReadSettlements>,
    AppQuery(query): AppQuery<SettlementQuery>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<SettlementView>>> {
    let paging = page.paging("merchant_settlements", &state.config)?;
    let filter = SettlementFilter { merchant_id: Some(merchant.id), status: query.status };
    let (items, total) = settlements::list_settlements(&state.read_db, filter, &paging).await?;
    let store = super::stores::report_store(&state, &merchant, query.store.as_deref()).await?;
    let mut shares = Vec::with_capacity(items.len());
    for settlement in items {
        shares.push(store_share(&state, settlement, store).await?);
    }
    Ok(AppJson(Page::from_rows(shares, &paging, total, SettlementView::page_key)))
}

/// One of your settlements, by id or settlement number (another merchant's is a 404).
#[utoipa::path(get, path = "/merchant/settlements/{id}", tag = "merchant", security(("bearer" = [])),
    params(("id" = String, Path, description = "Settlement id or settlement_no"), StoreQuery),
    responses((status = 200, body = SettlementView)))]
async fn get_settlement(
    State(state): State<AppState>,
    merchant: Authorized<ReadSettlements>,
    AppPath(id_or_no): AppPath<String>,
    AppQuery(query): AppQuery<StoreQuery>,
) -> ApiResult<AppJson<SettlementView>> {
    let settlement = settlements::find_settlement(&state.db, &id_or_no, Some(merchant.id))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::SettlementNotFound, "You have no settlement with this id."))?;
    let store = super::stores::report_store(&state, &merchant, query.store.as_deref()).await?;
    Ok(AppJson(store_share(&state, settlement, store).await?))
}

/// `?store=` of a settlement read.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StoreQuery {
    /// One store's share of the settlement, by code (counts and amounts of that store only).
    pub store: Option<String>,
}

/// A settlement as one store's share of it: the same period, counted for that store only.
/// Settlements are made per merchant (the merchant is paid); the stores' shares add up to it.
async fn store_share(state: &AppState, settlement: SettlementView, store: Option<Uuid>) -> ApiResult<SettlementView> {
    let Some(store_id) = store else { return Ok(settlement) };
    let period = (settlement.period_start, settlement.period_end);
    let totals = stores::store_period_totals(&state.db, settlement.merchant_id, Some(store_id), period).await?;
    let code = stores::find_store_by_id(&state.db, settlement.merchant_id, store_id).await?.map(|s| s.code);
    Ok(SettlementView {
        payment_count: totals.payment_count,
        payment_amount: totals.payment_amount,
        refund_count: totals.refund_count,
        refund_amount: totals.refund_amount,
        topup_count: totals.topup_count,
        topup_amount: totals.topup_amount,
        net_amount: totals.net_amount,
        store_code: code,
        ..settlement
    })
}
