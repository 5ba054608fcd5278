//! `/admin/cards/{id}/bindings`: list, add (anyone, any role), remove and re-role bindings; the
//! last owner is never removed or downgraded.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::admin::{AddBindingRequest, ChangeRoleRequest, RemoveBindingRequest};
use mps_api::domain::BindingView;
use mps_api::member::BindingChange;
use mps_api::pagination::{Page, PageParams};

use crate::auth::Authorized;
use crate::auth::permissions::ManageCards;
use crate::db::bindings::{self, Binding, BindingActor};
use crate::error::{ApiError, ApiResult};
use crate::http::admin::credits::resolve_card_id;
use crate::http::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::http::middleware::RequestId;
use crate::http::respond::moved;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_bindings, add_binding, remove_binding))
        .routes(routes!(change_binding_role))
}

fn admin_actor(admin: &Authorized<ManageCards>) -> BindingActor {
    BindingActor { id: admin.id, role: "admin" }
}

/// A card's live bindings, oldest first.
#[utoipa::path(get, path = "/admin/cards/{id}/bindings", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Card id or card_no"), PageParams),
    responses((status = 200, body = Page<BindingView>)))]
async fn list_bindings(
    State(state): State<AppState>,
    _admin: Authorized<ManageCards>,
    AppPath(id_or_no): AppPath<String>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<BindingView>>> {
    let paging = page.paging("card_bindings", &state.config)?;
    let card_id = resolve_card_id(&state, &id_or_no).await?;
    let (items, total) = bindings::card_bindings(&state.db, card_id, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, |b: &BindingView| (b.created_at, b.member_id.to_string()))))
}

/// Bind any member to a corporate card with any role (no binding password needed).
#[utoipa::path(post, path = "/admin/cards/{id}/bindings", tag = "admin", security(("bearer" = [])),
    request_body = AddBindingRequest,
    params(("id" = String, Path, description = "Card id or card_no")),
    responses((status = 201, body = BindingChange),
              (status = 409, description = "ALREADY_BOUND", body = mps_api::error::ErrorEnvelope)))]
async fn add_binding(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageCards>,
    AppPath(id_or_no): AppPath<String>,
    AppJson(request): AppJson<AddBindingRequest>,
) -> ApiResult<(StatusCode, AppJson<BindingChange>)> {
    let card_id = resolve_card_id(&state, &id_or_no).await?;
    let binding = Binding { card_id, member_id: request.member_id };
    let bound = bindings::bind_card(&state.db, admin_actor(&admin), binding, request.role, true, &request_id).await;
    Ok((StatusCode::CREATED, AppJson(moved(&state, "bind_card", bound).await?)))
}

/// Remove a member's binding; the last owner can never be removed.
#[utoipa::path(delete, path = "/admin/cards/{id}/bindings", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Card id or card_no"), RemoveBindingRequest),
    request_body = Option<RemoveBindingRequest>,
    responses((status = 200, body = BindingChange),
              (status = 409, description = "CANNOT_REMOVE_LAST_OWNER", body = mps_api::error::ErrorEnvelope)))]
async fn remove_binding(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageCards>,
    AppPath(id_or_no): AppPath<String>,
    AppQuery(query): AppQuery<RemoveBindingRequest>,
    OptionalJson(body): OptionalJson<RemoveBindingRequest>,
) -> ApiResult<AppJson<BindingChange>> {
    let member_id = match (query.member_id, body.member_id) {
        (Some(a), Some(b)) if a != b => return Err(ApiError::validation("member_id", "differs in query and body")),
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => return Err(ApiError::validation("member_id", "is required (query or body)")),
    };
    let card_id = resolve_card_id(&state, &id_or_no).await?;
    let unbound =
        bindings::unbind_card(&state.db, admin_actor(&admin), Binding { card_id, member_id }, &request_id).await;
    Ok(AppJson(moved(&state, "unbind_card", unbound).await?))
}

/// Change a binding's role; the last owner can never be downgraded.
#[utoipa::path(patch, path = "/admin/cards/{id}/bindings/{member_id}", tag = "admin", security(("bearer" = [])),
    request_body = ChangeRoleRequest,
    params(("id" = String, Path, description = "Card id or card_no"), ("member_id" = Uuid, Path)),
    responses((status = 200, body = BindingChange),
              (status = 409, description = "CANNOT_REMOVE_LAST_OWNER", body = mps_api::error::ErrorEnvelope)))]
async fn change_binding_role(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageCards>,
    AppPath((id_or_no, member_id)): AppPath<(String, Uuid)>,
    AppJson(request): AppJson<ChangeRoleRequest>,
) -> ApiResult<AppJson<BindingChange>> {
    let card_id = resolve_card_id(&state, &id_or_no).await?;
    let binding = Binding { card_id, member_id };
    let changed = bindings::change_binding_role(&state.db, admin.id, binding, request.role, &request_id).await;
    Ok(AppJson(moved(&state, "change_binding_role", changed).await?))
}
