//! A merchant's own transactions.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::domain::{TransactionView, TxType};
use mps_api::pagination::{Page, PageParams};

use crate::auth::Authorized;
use crate::auth::permissions::MerchantReadTransactions;
use crate::db::transactions::{self, TxFilter, TxOwner};
use crate::error::ApiResult;
use crate::http::extract::{AppJson, AppQuery};
use crate::http::filters::parse_date_bound;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_merchant_transactions))
}

/// Filters of `GET /merchant/transactions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MerchantTxQuery {
    pub tx_type: Option<TxType>,
    /// Inclusive lower bound: RFC 3339, or YYYY-MM-DD (midnight in the business time zone).
    pub start_date: Option<String>,
    /// Exclusive upper bound, same forms.
    pub end_date: Option<String>,
    /// One store's transactions, by code (default: the whole merchant; a store-restricted caller:
    /// its store, and another store is 403 `STORE_NOT_ALLOWED`).
    pub store: Option<String>,
}

/// Your transactions, newest first (a store-restricted caller: its store's).
#[utoipa::path(get, path = "/merchant/transactions", tag = "merchant", security(("bearer" = [])),
    params(MerchantTxQuery, PageParams),
    responses((status = 200, body = Page<TransactionView>),
              (status = 403, description = "STORE_NOT_ALLOWED: a store-restricted caller asked for another store",
               body = mps_api::error::ErrorEnvelope),
              (status = 404, description = "STORE_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn list_merchant_transactions(
    State(state): State<AppState>,
    merchant: Authorized<MerchantReadTransactions>,
    AppQuery(query): AppQuery<MerchantTxQuery>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<TransactionView>>> {
    let paging = page.paging("merchant_transactions", &state.config)?;
    let zone = state.config.business_timezone;
    let store_id = super::stores::report_store(&state, &merchant, query.store.as_deref()).await?;
    let filter = TxFilter {
        card_id: None,
        store_id,
        tx_type: query.tx_type,
        start: parse_date_bound("start_date", query.start_date.as_deref(), zone)?,
        end: parse_date_bound("end_date", query.end_date.as_deref(), zone)?,
    };
    let (items, total) =
        transactions::list_transactions(&state.read_db, TxOwner::Merchant(merchant.id), filter, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, TransactionView::page_key)))
}
