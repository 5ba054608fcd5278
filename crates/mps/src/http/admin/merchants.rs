//! `/admin/merchants`: create merchants, search, read and edit them, suspend and activate them,
//! reset their passwords.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::admin::{ActionRequest, CreateMerchantRequest, PasswordResetRequest, UpdateMerchantRequest};
use mps_api::domain::{MerchantStatus, MerchantView};
use mps_api::error::ErrorEnvelope;
use mps_api::pagination::{Page, PageParams};

use crate::auth::Authorized;
use crate::auth::password::{check_new_password, hash_password};
use crate::auth::permissions::ManageMerchants;
use crate::db::account_admin::{self, AccountKey, AccountSearch, MERCHANTS, StatusChange};
use crate::db::merchants;
use crate::error::{ApiError, ApiResult};
use crate::http::admin::accounts;
use crate::http::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::http::middleware::RequestId;
use crate::http::validate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_merchant, list_merchants))
        .routes(routes!(get_merchant, update_merchant))
        .routes(routes!(suspend_merchant))
        .routes(routes!(activate_merchant))
        .routes(routes!(reset_merchant_password))
}

/// Create a merchant.
#[utoipa::path(post, path = "/admin/merchants", tag = "admin", security(("bearer" = [])),
    request_body = CreateMerchantRequest,
    responses((status = 201, body = MerchantView),
              (status = 409, description = "DUPLICATE_MERCHANT_CODE", body = mps_api::error::ErrorEnvelope)))]
async fn create_merchant(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageMerchants>,
    AppJson(request): AppJson<CreateMerchantRequest>,
) -> ApiResult<(StatusCode, AppJson<MerchantView>)> {
    let code = validate::merchant_code("code", &request.code)?;
    let name = validate::text("name", &request.name, 100)?;
    let contact = validate::optional_text("contact", request.contact.as_deref(), 200)?;
    check_new_password("password", &request.password)?;
    let hash = hash_password(request.password).await?;
    let merchant =
        merchants::create_merchant(&state.db, code, name, contact, &hash, (&admin.user).into(), &request_id).await?;
    Ok((StatusCode::CREATED, AppJson(merchant)))
}

/// The merchant a path names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MerchantPath {
    /// The merchant's id (UUID) or code (regardless of case).
    pub id_or_code: String,
}

/// Filters of the merchant list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MerchantSearch {
    /// Text found anywhere in the code, name or contact, regardless of case.
    pub q: Option<String>,
    /// Only merchants with this status.
    pub status: Option<MerchantStatus>,
}

/// Search merchants, newest first.
#[utoipa::path(get, path = "/admin/merchants", tag = "admin", security(("bearer" = [])),
    params(MerchantSearch, PageParams),
    responses((status = 200, body = Page<MerchantView>)))]
async fn list_merchants(
    State(state): State<AppState>,
    _admin: Authorized<ManageMerchants>,
    AppQuery(search): AppQuery<MerchantSearch>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<MerchantView>>> {
    let paging = page.paging("admin_merchants", &state.config)?;
    let q = accounts::search_text(search.q.as_deref())?;
    let search = AccountSearch { q, status: search.status.map(MerchantStatus::as_str) };
    let (items, total) = account_admin::list(&state.read_db, &MERCHANTS, search, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, |m: &MerchantView| (m.created_at, m.id.to_string()))))
}

/// One merchant, by id or code.
#[utoipa::path(get, path = "/admin/merchants/{id_or_code}", tag = "admin", security(("bearer" = [])),
    params(MerchantPath),
    responses((status = 200, body = MerchantView),
              (status = 404, description = "MERCHANT_NOT_FOUND", body = ErrorEnvelope)))]
async fn get_merchant(
    State(state): State<AppState>,
    _admin: Authorized<ManageMerchants>,
    AppPath(path): AppPath<MerchantPath>,
) -> ApiResult<AppJson<MerchantView>> {
    Ok(AppJson(account_admin::find(&state.db, &MERCHANTS, AccountKey::parse(&path.id_or_code)).await?))
}

/// The checks of [`UpdateMerchantRequest`] (a wire type of `mps_api`), kept beside its handler.
trait MerchantChanges {
    /// The validated columns to set.
    fn changes(&self) -> ApiResult<Vec<(&'static str, Option<&str>)>>;
}

impl MerchantChanges for UpdateMerchantRequest {
    fn changes(&self) -> ApiResult<Vec<(&'static str, Option<&str>)>> {
        let mut changes = Vec::new();
        if let Some(name) = &self.name {
            let name = name.as_deref().ok_or_else(|| ApiError::validation("name", "cannot be null"))?;
            changes.push(("name", Some(validate::text("name", name, 100)?)));
        }
        if let Some(contact) = &self.contact {
            changes.push(("contact", validate::optional_text("contact", contact.as_deref(), 200)?));
        }
        if changes.is_empty() {
            return Err(ApiError::validation("body", "send at least one of name, contact"));
        }
        Ok(changes)
    }
}

/// Edit a merchant's name or contact.
#[utoipa::path(patch, path = "/admin/merchants/{id_or_code}", tag = "admin", security(("bearer" = [])),
    params(MerchantPath), request_body = UpdateMerchantRequest,
    responses((status = 200, body = MerchantView),
              (status = 404, description = "MERCHANT_NOT_FOUND", body = ErrorEnvelope)))]
async fn update_merchant(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageMerchants>,
    AppPath(path): AppPath<MerchantPath>,
    AppJson(request): AppJson<UpdateMerchantRequest>,
) -> ApiResult<AppJson<MerchantView>> {
    let changes = request.changes()?;
    let key = AccountKey::parse(&path.id_or_code);
    let merchant =
        account_admin::update(&state.db, &MERCHANTS, key, &changes, (&admin.user).into(), &request_id).await?;
    Ok(AppJson(merchant))
}

/// Suspend a merchant: it cannot log in, and every session it has ends at once.
///
/// Suspending a suspended merchant succeeds again (and is audited again).
#[utoipa::path(post, path = "/admin/merchants/{id_or_code}/suspend", tag = "admin", security(("bearer" = [])),
    params(MerchantPath), request_body = Option<ActionRequest>,
    responses((status = 200, body = MerchantView),
              (status = 404, description = "MERCHANT_NOT_FOUND", body = ErrorEnvelope)))]
async fn suspend_merchant(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageMerchants>,
    AppPath(path): AppPath<MerchantPath>,
    OptionalJson(request): OptionalJson<ActionRequest>,
) -> ApiResult<AppJson<MerchantView>> {
    let actor = (&admin.user).into();
    let key = &path.id_or_code;
    accounts::change_status(&state, &MERCHANTS, key, StatusChange::Suspend, &request, actor, &request_id).await
}

/// Activate a suspended merchant.
#[utoipa::path(post, path = "/admin/merchants/{id_or_code}/activate", tag = "admin", security(("bearer" = [])),
    params(MerchantPath), request_body = Option<ActionRequest>,
    responses((status = 200, body = MerchantView),
              (status = 404, description = "MERCHANT_NOT_FOUND", body = ErrorEnvelope)))]
async fn activate_merchant(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageMerchants>,
    AppPath(path): AppPath<MerchantPath>,
    OptionalJson(request): OptionalJson<ActionRequest>,
) -> ApiResult<AppJson<MerchantView>> {
    let actor = (&admin.user).into();
    let key = &path.id_or_code;
    accounts::change_status(&state, &MERCHANTS, key, StatusChange::Activate, &request, actor, &request_id).await
}

/// Set a merchant's password; every session it has ends.
#[utoipa::path(post, path = "/admin/merchants/{id_or_code}/password", tag = "admin", security(("bearer" = [])),
    params(MerchantPath), request_body = PasswordResetRequest,
    responses((status = 204, description = "Password set; the merchant's sessions are revoked"),
              (status = 404, description = "MERCHANT_NOT_FOUND", body = ErrorEnvelope),
              (status = 422, description = "PASSWORD_TOO_SHORT", body = ErrorEnvelope)))]
async fn reset_merchant_password(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageMerchants>,
    AppPath(path): AppPath<MerchantPath>,
    AppJson(request): AppJson<PasswordResetRequest>,
) -> ApiResult<StatusCode> {
    accounts::reset_password(&state, &MERCHANTS, &path.id_or_code, request, (&admin.user).into(), &request_id).await
}
