//! `/admin/settlements`: every merchant's settlements, and their status moves.

use axum::Extension;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::admin::SettlementStatusRequest;
use mps_api::merchant::{SettlementStatus, SettlementView};
use mps_api::pagination::{Page, PageParams};

use crate::auth::Authorized;
use crate::auth::permissions::ManageSettlements;
use crate::db::settlements::{self, SettlementFilter};
use crate::error::ApiResult;
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::middleware::RequestId;
use crate::http::respond::rpc;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_all_settlements)).routes(routes!(update_settlement_status))
}

/// Filters of `GET /admin/settlements`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminSettlementQuery {
    pub merchant_id: Option<Uuid>,
    pub status: Option<SettlementStatus>,
}

/// Settlements of every merchant, latest period first.
#[utoipa::path(get, path = "/admin/settlements", tag = "admin", security(("bearer" = [])),
    params(AdminSettlementQuery, PageParams),
    responses((status = 200, body = Page<SettlementView>)))]
async fn list_all_settlements(
    State(state): State<AppState>,
    _admin: Authorized<ManageSettlements>,
    AppQuery(query): AppQuery<AdminSettlementQuery>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<SettlementView>>> {
    let paging = page.paging("admin_settlements", &state.config)?;
    let filter = SettlementFilter { merchant_id: query.merchant_id, status: query.status };
    let (items, total) = settlements::list_settlements(&state.read_db, filter, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, SettlementView::page_key)))
}

/// Move a settlement along its state machine; any other move is 409 `INVALID_STATUS_TRANSITION`.
#[utoipa::path(patch, path = "/admin/settlements/{id}", tag = "admin", security(("bearer" = [])),
    request_body = SettlementStatusRequest,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SettlementView),
              (status = 409, description = "INVALID_STATUS_TRANSITION", body = mps_api::error::ErrorEnvelope)))]
async fn update_settlement_status(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageSettlements>,
    AppPath(settlement_id): AppPath<Uuid>,
    AppJson(request): AppJson<SettlementStatusRequest>,
) -> ApiResult<AppJson<SettlementView>> {
    let updated = rpc(
        &state,
        "update_settlement_status",
        settlements::update_settlement_status(&state.db, admin.id, settlement_id, request.status, &request_id).await,
    )?;
    Ok(AppJson(updated))
}
