//! `/member/identities`: the external identities (WeChat) a member signs in with.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::error::ErrorEnvelope;
use mps_api::member::IdentityList;

use crate::auth::Authorized;
use crate::auth::permissions::ManageIdentities;
use crate::db::identities;
use crate::error::ApiResult;
use crate::http::extract::{AppJson, AppPath};
use crate::http::middleware::RequestId;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_identities)).routes(routes!(unlink_identity))
}

/// Your linked external identities.
#[utoipa::path(get, path = "/member/identities", tag = "member", security(("bearer" = [])),
    responses((status = 200, body = IdentityList)))]
async fn list_identities(
    State(state): State<AppState>,
    member: Authorized<ManageIdentities>,
) -> ApiResult<AppJson<IdentityList>> {
    let items = identities::list_member_identities(&state.db, member.id).await?;
    Ok(AppJson(IdentityList { items }))
}

/// Unlink one of your identities; refused while it is your only way to sign in (no password,
/// no phone for sign-in codes, no other identity).
#[utoipa::path(delete, path = "/member/identities/{identity_id}", tag = "member", security(("bearer" = [])),
    params(("identity_id" = Uuid, Path)),
    responses((status = 204, description = "Unlinked"),
              (status = 404, description = "NOT_FOUND: no such identity of yours", body = ErrorEnvelope),
              (status = 409, description = "LAST_SIGN_IN_METHOD", body = ErrorEnvelope)))]
async fn unlink_identity(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    member: Authorized<ManageIdentities>,
    AppPath(identity_id): AppPath<Uuid>,
) -> ApiResult<StatusCode> {
    identities::unlink_member_identity(&state.db, member.id, identity_id, &request_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
