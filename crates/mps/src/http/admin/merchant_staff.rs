//! `/admin/merchants/{id_or_code}/staff` and `/keys`: what an admin sees of a merchant's staff
//! and POS keys (never a secret or hash), and the interventions: suspend or reactivate a staff
//! member, revoke a key.

use axum::Extension;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::admin::ActionRequest;
use mps_api::domain::MerchantView;
use mps_api::error::{ErrorCode, ErrorEnvelope};
use mps_api::merchant::{KeyView, StaffStatus, StaffView};
use mps_api::pagination::{Page, PageParams};

use crate::auth::Authorized;
use crate::auth::permissions::ManageMerchants;
use crate::auth::session;
use crate::db::account_admin::{self, AccountKey, MERCHANTS};
use crate::db::audit::Actor;
use crate::db::pos_keys;
use crate::db::staff::{self, StaffAudit, StaffChange};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::http::middleware::RequestId;
use crate::http::validate::ActionReason as _;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_merchant_staff))
        .routes(routes!(list_merchant_keys))
        .routes(routes!(suspend_merchant_staff))
        .routes(routes!(activate_merchant_staff))
        .routes(routes!(revoke_merchant_key))
}

/// The merchant a path names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MerchantOnlyPath {
    /// The merchant's id (UUID) or code (regardless of case).
    pub id_or_code: String,
}

/// A staff member of the merchant a path names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MerchantStaffPath {
    /// The merchant's id (UUID) or code (regardless of case).
    pub id_or_code: String,
    /// The staff member's id.
    pub staff_id: Uuid,
}

/// A POS key of the merchant a path names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MerchantKeyPath {
    /// The merchant's id (UUID) or code (regardless of case).
    pub id_or_code: String,
    /// The key's id.
    pub key_id: Uuid,
}

async fn merchant_id(state: &AppState, id_or_code: &str) -> ApiResult<Uuid> {
    let merchant: MerchantView = account_admin::find(&state.db, &MERCHANTS, AccountKey::parse(id_or_code)).await?;
    Ok(merchant.id)
}

/// A merchant's staff, by username.
#[utoipa::path(get, path = "/admin/merchants/{id_or_code}/staff", tag = "admin", security(("bearer" = [])),
    params(MerchantOnlyPath, PageParams),
    responses((status = 200, body = Page<StaffView>),
              (status = 404, description = "MERCHANT_NOT_FOUND", body = ErrorEnvelope)))]
async fn list_merchant_staff(
    State(state): State<AppState>,
    _admin: Authorized<ManageMerchants>,
    AppPath(path): AppPath<MerchantOnlyPath>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<StaffView>>> {
    let paging = page.paging("admin_merchant_staff", &state.config)?;
    let merchant_id = merchant_id(&state, &path.id_or_code).await?;
    let (items, total) = staff::list_staff(&state.db, merchant_id, None, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, StaffView::page_key)))
}

/// A merchant's POS keys, latest first; never their secrets.
#[utoipa::path(get, path = "/admin/merchants/{id_or_code}/keys", tag = "admin", security(("bearer" = [])),
    params(MerchantOnlyPath, PageParams),
    responses((status = 200, body = Page<KeyView>),
              (status = 404, description = "MERCHANT_NOT_FOUND", body = ErrorEnvelope)))]
async fn list_merchant_keys(
    State(state): State<AppState>,
    _admin: Authorized<ManageMerchants>,
    AppPath(path): AppPath<MerchantOnlyPath>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<KeyView>>> {
    let paging = page.paging("admin_merchant_keys", &state.config)?;
    let merchant_id = merchant_id(&state, &path.id_or_code).await?;
    let (items, total) = pos_keys::list_keys(&state.db, merchant_id, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, KeyView::page_key)))
}

/// Suspend a merchant's staff member: every session they have ends at once, and only an admin can
/// reactivate them (the merchant's activation answers 403 `SUSPENDED_BY_ADMIN`).
#[utoipa::path(post, path = "/admin/merchants/{id_or_code}/staff/{staff_id}/suspend", tag = "admin",
    security(("bearer" = [])), params(MerchantStaffPath), request_body = Option<ActionRequest>,
    responses((status = 200, body = StaffView),
              (status = 404, description = "MERCHANT_NOT_FOUND or STAFF_NOT_FOUND", body = ErrorEnvelope)))]
async fn suspend_merchant_staff(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageMerchants>,
    AppPath(path): AppPath<MerchantStaffPath>,
    OptionalJson(request): OptionalJson<ActionRequest>,
) -> ApiResult<AppJson<StaffView>> {
    set_staff_status(&state, &admin, &path, StaffStatus::Suspended, request.reason()?, &request_id).await
}

/// Reactivate a merchant's suspended staff member, whoever suspended them: they can log in again
/// (the sessions ended by the suspension stay ended). An admin's suspension is lifted only here.
#[utoipa::path(post, path = "/admin/merchants/{id_or_code}/staff/{staff_id}/activate", tag = "admin",
    security(("bearer" = [])), params(MerchantStaffPath), request_body = Option<ActionRequest>,
    responses((status = 200, body = StaffView),
              (status = 404, description = "MERCHANT_NOT_FOUND or STAFF_NOT_FOUND", body = ErrorEnvelope)))]
async fn activate_merchant_staff(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageMerchants>,
    AppPath(path): AppPath<MerchantStaffPath>,
    OptionalJson(request): OptionalJson<ActionRequest>,
) -> ApiResult<AppJson<StaffView>> {
    set_staff_status(&state, &admin, &path, StaffStatus::Active, request.reason()?, &request_id).await
}

/// An admin's suspension (`STAFF_SUSPEND`) or reactivation (`STAFF_ACTIVATE`) of a staff member.
async fn set_staff_status(
    state: &AppState,
    admin: &Authorized<ManageMerchants>,
    path: &MerchantStaffPath,
    status: StaffStatus,
    reason: Option<&str>,
    request_id: &str,
) -> ApiResult<AppJson<StaffView>> {
    let merchant_id = merchant_id(state, &path.id_or_code).await?;
    let audit = StaffAudit {
        action: if status == StaffStatus::Suspended { "STAFF_SUSPEND" } else { "STAFF_ACTIVATE" },
        actor: (&admin.user).into(),
        by_staff: None,
        reason,
        request_id,
    };
    let change = StaffChange { status: Some(status), ..StaffChange::default() };
    let (member, revoked) =
        staff::change_staff(&state.db, merchant_id, path.staff_id, change, None, audit, |_| Ok(())).await?;
    session::publish_revocations(state, &revoked).await;
    Ok(AppJson(member))
}

/// Revoke a merchant's POS key: it stops working at once, on every instance.
#[utoipa::path(post, path = "/admin/merchants/{id_or_code}/keys/{key_id}/revoke", tag = "admin",
    security(("bearer" = [])), params(MerchantKeyPath),
    responses((status = 200, body = KeyView),
              (status = 404, description = "MERCHANT_NOT_FOUND or KEY_NOT_FOUND", body = ErrorEnvelope)))]
async fn revoke_merchant_key(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageMerchants>,
    AppPath(path): AppPath<MerchantKeyPath>,
) -> ApiResult<AppJson<KeyView>> {
    let merchant_id = merchant_id(&state, &path.id_or_code).await?;
    let actor: Actor<'_> = (&admin.user).into();
    let key = pos_keys::revoke(&state.db, merchant_id, path.key_id, (actor, None), &request_id).await?;
    Ok(AppJson(key.ok_or_else(|| ApiError::new(ErrorCode::KeyNotFound, "This merchant has no POS key with this id."))?))
}
