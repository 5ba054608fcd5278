//! `/merchant/staff`: a merchant's staff accounts. Owners manage everyone; managers manage
//! cashiers only, and a store-restricted manager only the cashiers of their store. Suspending a
//! staff member, changing their role or store, or resetting their password ends their sessions at
//! once, on every instance.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::admin::ActionRequest;
use mps_api::error::{ErrorCode, ErrorEnvelope};
use mps_api::merchant::{CreateStaffRequest, StaffPasswordRequest, StaffStatus, StaffView, UpdateStaffRequest};
use mps_api::pagination::{Page, PageParams};
use mps_api::roles::StaffRole;

use crate::auth::password::{check_new_password, hash_password};
use crate::auth::permissions::{ManageManagers, ManageStaff, Permission as _};
use crate::auth::{AuthUser, Authorized, session};
use crate::db::audit::{self, Actor};
use crate::db::staff::{self, NewStaff, StaffAudit, StaffChange};
use crate::db::stores;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::http::middleware::RequestId;
use crate::http::validate;
use crate::http::validate::ActionReason as _;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_staff, list_staff))
        .routes(routes!(get_staff, update_staff))
        .routes(routes!(suspend_staff))
        .routes(routes!(activate_staff))
        .routes(routes!(reset_staff_password))
}

/// `{staff_id}` of the staff routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct StaffPath {
    /// The staff member's id.
    pub staff_id: Uuid,
}

/// Managers may only touch cashiers, and only make cashiers: 403 `FORBIDDEN` otherwise.
fn may_manage(caller: &AuthUser, role: StaffRole) -> ApiResult<()> {
    if role != StaffRole::Cashier && !caller.holds(ManageManagers::NAME) {
        return Err(ApiError::new(ErrorCode::Forbidden, "Managers manage cashiers only; ask an owner."));
    }
    Ok(())
}

/// A caller restricted to a store (a store manager) manages only staff restricted to that same
/// store: 403 `STORE_NOT_ALLOWED` for anyone else (another store's, or unrestricted staff).
fn may_manage_store(caller: &AuthUser, store_id: Option<Uuid>) -> ApiResult<()> {
    match caller.store_id {
        Some(own) if store_id != Some(own) => Err(ApiError::new(
            ErrorCode::StoreNotAllowed,
            "You manage the staff of your own store only; ask an owner or an unrestricted manager.",
        )),
        _ => Ok(()),
    }
}

/// Both rules, for an existing staff member.
fn may_manage_member(caller: &AuthUser, member: &StaffView) -> ApiResult<()> {
    may_manage(caller, member.role)?;
    may_manage_store(caller, member.store_id)
}

/// The audit fields of a change made by the merchant's own side.
fn merchant_audit<'a>(
    caller: &AuthUser,
    action: &'a str,
    reason: Option<&'a str>,
    request_id: &'a str,
) -> StaffAudit<'a> {
    StaffAudit {
        action,
        actor: Actor { id: Some(caller.id), role: "merchant" },
        by_staff: caller.staff_id,
        reason,
        request_id,
    }
}

/// The id of a store named by code, for a staff member's restriction.
async fn store_id(state: &AppState, merchant_id: Uuid, code: &str) -> ApiResult<Uuid> {
    let code = validate::text("store", code, 20)?;
    let store = stores::find_store(&state.db, merchant_id, code).await?;
    store.map(|s| s.id).ok_or_else(|| ApiError::new(ErrorCode::StoreNotFound, "You have no store with this code."))
}

fn username(value: &str) -> ApiResult<&str> {
    let value = value.trim();
    let valid =
        (1..=40).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !valid {
        return Err(ApiError::validation("username", "must be 1 to 40 letters, digits, `.`, `_` or `-`"));
    }
    Ok(value)
}

/// Add a staff member (owners: any role; managers: cashiers; a store-restricted manager: cashiers
/// of their store, which `store` defaults to).
#[utoipa::path(post, path = "/merchant/staff", tag = "merchant", security(("bearer" = [])),
    request_body = CreateStaffRequest,
    responses((status = 201, body = StaffView),
              (status = 409, description = "DUPLICATE_USERNAME", body = ErrorEnvelope)))]
async fn create_staff(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    caller: Authorized<ManageStaff>,
    AppJson(request): AppJson<CreateStaffRequest>,
) -> ApiResult<(StatusCode, AppJson<StaffView>)> {
    may_manage(&caller, request.role)?;
    let username = username(&request.username)?;
    let name = validate::text("name", &request.name, 64)?;
    check_new_password("password", &request.password)?;
    let store_id = match request.store.as_deref() {
        Some(code) => Some(store_id(&state, caller.id, code).await?),
        // A store manager's staff belong to the store.
        None => caller.store_id,
    };
    may_manage_store(&caller, store_id)?;
    let password_hash = hash_password(request.password).await?;
    let new = NewStaff { username, name, role: request.role, store_id, password_hash: &password_hash };
    let mut tx = state.db.begin().await?;
    let member = staff::create_staff(&mut tx, caller.id, new).await?;
    let context = serde_json::json!({ "username": member.username, "role": member.role, "store_id": member.store_id,
                                      "by_staff_id": caller.staff_id });
    let actor = Actor { id: Some(caller.id), role: "merchant" };
    audit::record(&mut tx, actor, "CREATE_STAFF", ("staff", &member.id.to_string()), context, &request_id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(member)))
}

/// Your staff, by username (a store-restricted manager: their store's).
#[utoipa::path(get, path = "/merchant/staff", tag = "merchant", security(("bearer" = [])),
    params(PageParams), responses((status = 200, body = Page<StaffView>)))]
async fn list_staff(
    State(state): State<AppState>,
    caller: Authorized<ManageStaff>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<StaffView>>> {
    let paging = page.paging("merchant_staff", &state.config)?;
    let (items, total) = staff::list_staff(&state.db, caller.id, caller.store_id, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, StaffView::page_key)))
}

/// One of your staff.
#[utoipa::path(get, path = "/merchant/staff/{staff_id}", tag = "merchant", security(("bearer" = [])),
    params(StaffPath),
    responses((status = 200, body = StaffView),
              (status = 404, description = "STAFF_NOT_FOUND", body = ErrorEnvelope)))]
async fn get_staff(
    State(state): State<AppState>,
    caller: Authorized<ManageStaff>,
    AppPath(path): AppPath<StaffPath>,
) -> ApiResult<AppJson<StaffView>> {
    let mut conn = state.db.acquire().await?;
    let member = staff::find_staff(&mut conn, caller.id, path.staff_id, false)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::StaffNotFound, "You have no staff member with this id."))?;
    may_manage_store(&caller, member.store_id)?;
    Ok(AppJson(member))
}

/// Edit a staff member; a new role or store ends their sessions.
#[utoipa::path(patch, path = "/merchant/staff/{staff_id}", tag = "merchant", security(("bearer" = [])),
    params(StaffPath), request_body = UpdateStaffRequest,
    responses((status = 200, body = StaffView),
              (status = 404, description = "STAFF_NOT_FOUND", body = ErrorEnvelope)))]
async fn update_staff(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    caller: Authorized<ManageStaff>,
    AppPath(path): AppPath<StaffPath>,
    AppJson(request): AppJson<UpdateStaffRequest>,
) -> ApiResult<AppJson<StaffView>> {
    if let Some(role) = request.role {
        may_manage(&caller, role)?;
    }
    let name = request.name.as_deref().map(|n| validate::text("name", n, 64)).transpose()?;
    let store_id = match request.store.as_ref() {
        Some(Some(code)) => Some(Some(store_id(&state, caller.id, code).await?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(store_id) = store_id {
        may_manage_store(&caller, store_id)?;
    }
    let change = StaffChange { name, role: request.role, store_id, status: None };
    let audit = merchant_audit(&caller, "UPDATE_STAFF", None, &request_id);
    let allowed = |member: &StaffView| may_manage_member(&caller, member);
    let (member, revoked) =
        staff::change_staff(&state.db, caller.id, path.staff_id, change, None, audit, allowed).await?;
    session::publish_revocations(&state, &revoked).await;
    Ok(AppJson(member))
}

/// Suspend a staff member: they cannot log in, and every session they have ends at once.
#[utoipa::path(post, path = "/merchant/staff/{staff_id}/suspend", tag = "merchant", security(("bearer" = [])),
    params(StaffPath), request_body = Option<ActionRequest>,
    responses((status = 200, body = StaffView),
              (status = 404, description = "STAFF_NOT_FOUND", body = ErrorEnvelope)))]
async fn suspend_staff(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    caller: Authorized<ManageStaff>,
    AppPath(path): AppPath<StaffPath>,
    OptionalJson(request): OptionalJson<ActionRequest>,
) -> ApiResult<AppJson<StaffView>> {
    set_status(&state, &caller, path.staff_id, StaffStatus::Suspended, request.reason()?, &request_id).await
}

/// Activate a staff member the merchant suspended; one an admin suspended stays suspended until an
/// admin reactivates them.
#[utoipa::path(post, path = "/merchant/staff/{staff_id}/activate", tag = "merchant", security(("bearer" = [])),
    params(StaffPath), request_body = Option<ActionRequest>,
    responses((status = 200, body = StaffView),
              (status = 403, description = "Wrong role or missing permission; SUSPENDED_BY_ADMIN: only an admin lifts an admin's suspension", body = ErrorEnvelope),
              (status = 404, description = "STAFF_NOT_FOUND", body = ErrorEnvelope)))]
async fn activate_staff(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    caller: Authorized<ManageStaff>,
    AppPath(path): AppPath<StaffPath>,
    OptionalJson(request): OptionalJson<ActionRequest>,
) -> ApiResult<AppJson<StaffView>> {
    set_status(&state, &caller, path.staff_id, StaffStatus::Active, request.reason()?, &request_id).await
}

async fn set_status(
    state: &AppState,
    caller: &AuthUser,
    staff_id: Uuid,
    status: StaffStatus,
    reason: Option<&str>,
    request_id: &str,
) -> ApiResult<AppJson<StaffView>> {
    let action = if status == StaffStatus::Suspended { "STAFF_SUSPEND" } else { "STAFF_ACTIVATE" };
    let change = StaffChange { status: Some(status), ..StaffChange::default() };
    let audit = merchant_audit(caller, action, reason, request_id);
    let allowed = |member: &StaffView| may_manage_member(caller, member);
    let (member, revoked) = staff::change_staff(&state.db, caller.id, staff_id, change, None, audit, allowed).await?;
    session::publish_revocations(state, &revoked).await;
    Ok(AppJson(member))
}

/// Set a staff member's password; their sessions end.
#[utoipa::path(post, path = "/merchant/staff/{staff_id}/password", tag = "merchant", security(("bearer" = [])),
    params(StaffPath), request_body = StaffPasswordRequest,
    responses((status = 200, body = StaffView),
              (status = 404, description = "STAFF_NOT_FOUND", body = ErrorEnvelope)))]
async fn reset_staff_password(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    caller: Authorized<ManageStaff>,
    AppPath(path): AppPath<StaffPath>,
    AppJson(request): AppJson<StaffPasswordRequest>,
) -> ApiResult<AppJson<StaffView>> {
    check_new_password("password", &request.password)?;
    let hash = hash_password(request.password).await?;
    let audit = merchant_audit(&caller, "STAFF_PASSWORD_RESET", None, &request_id);
    let allowed = |member: &StaffView| may_manage_member(&caller, member);
    let change = StaffChange::default();
    let (member, revoked) =
        staff::change_staff(&state.db, caller.id, path.staff_id, change, Some(&hash), audit, allowed).await?;
    session::publish_revocations(&state, &revoked).await;
    Ok(AppJson(member))
}
