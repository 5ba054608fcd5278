//! `PUT /admin/levels`: replace the membership level table.

use axum::Extension;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Authorized;
use crate::auth::permissions::ManageLevels;
use crate::db::levels::{self, Level, ProposedLevel};
use crate::error::ApiResult;
use crate::http::extract::AppJson;
use crate::http::levels::invalidate_level_table;
use crate::http::middleware::RequestId;
use crate::http::respond::rpc;
use crate::money::DecimalInput;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(replace_levels))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LevelInput {
    pub level: i32,
    pub name: String,
    pub min_points: i64,
    /// Leave out (or `null`) on the last level to make it open-ended.
    pub max_points: Option<i64>,
    /// Multiplier in (0, 1] with at most 3 decimals, e.g. `"0.950"`.
    pub discount: DecimalInput,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReplaceLevelsRequest {
    /// The whole new table: ranges from 0 upwards without gaps or overlaps.
    pub levels: Vec<LevelInput>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LevelTableResponse {
    pub levels: Vec<Level>,
}

/// Replace the level table. Cards keep their level until their points next change; an invalid
/// table (not starting at 0, gaps, overlaps, an open range before the last, a discount outside
/// (0, 1]) is 422 `INVALID_LEVEL_TABLE`.
#[utoipa::path(put, path = "/admin/levels", tag = "admin", security(("bearer" = [])),
    request_body = ReplaceLevelsRequest,
    responses((status = 200, body = LevelTableResponse),
              (status = 422, description = "INVALID_LEVEL_TABLE", body = crate::error::ErrorEnvelope)))]
async fn replace_levels(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageLevels>,
    AppJson(request): AppJson<ReplaceLevelsRequest>,
) -> ApiResult<AppJson<LevelTableResponse>> {
    let proposed = request
        .levels
        .iter()
        .map(|l| {
            let discount = l.discount.parse("discount")?;
            Ok(ProposedLevel {
                level: l.level,
                name: &l.name,
                min_points: l.min_points,
                max_points: l.max_points,
                discount,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let levels =
        rpc(&state, "replace_levels", levels::replace_levels(&state.db, admin.id, &proposed, &request_id).await)?;
    invalidate_level_table(&state).await;
    Ok(AppJson(LevelTableResponse { levels }))
}
