//! `PUT /admin/levels`: replace the membership level table.

use axum::Extension;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::admin::{LevelTableResponse, ReplaceLevelsRequest};

use crate::auth::Authorized;
use crate::auth::permissions::ManageLevels;
use crate::db::levels::{self, ProposedLevel};
use crate::error::ApiResult;
use crate::http::extract::AppJson;
use crate::http::levels::invalidate_level_table;
use crate::http::middleware::RequestId;
use crate::http::respond::rpc;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(replace_levels))
}

/// Replace the level table. Cards keep their level until their points next change; an invalid
/// table (not starting at 0, gaps, overlaps, an open range before the last, a discount outside
/// (0, 1]) is 422 `INVALID_LEVEL_TABLE`.
#[utoipa::path(put, path = "/admin/levels", tag = "admin", security(("bearer" = [])),
    request_body = ReplaceLevelsRequest,
    responses((status = 200, body = LevelTableResponse),
              (status = 422, description = "INVALID_LEVEL_TABLE", body = mps_api::error::ErrorEnvelope)))]
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
