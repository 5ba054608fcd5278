//! `/admin/members`: create members (with their standard card), search, read and edit them,
//! suspend and activate them, reset their passwords.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::admin::{
    ActionRequest, CreateMemberRequest, CreateMemberResponse, ExternalIdentity, PasswordResetRequest,
    UpdateMemberRequest,
};
use mps_api::domain::{MemberStatus, MemberView};
use mps_api::error::ErrorEnvelope;
use mps_api::pagination::{Page, PageParams};

use crate::auth::Authorized;
use crate::auth::password::{check_new_password, hash_password};
use crate::auth::permissions::{CreateMember, ReadMembers, SuspendMember, UpdateMember};
use crate::db::account_admin::{self, AccountKey, AccountSearch, MEMBERS, StatusChange};
use crate::db::members::{self, NewMember};
use crate::error::{ApiError, ApiResult};
use crate::http::admin::accounts;
use crate::http::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::http::middleware::RequestId;
use crate::http::validate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_member, list_members))
        .routes(routes!(get_member, update_member))
        .routes(routes!(suspend_member))
        .routes(routes!(activate_member))
        .routes(routes!(reset_member_password))
}

/// Create a member and, in the same transaction, its standard card.
#[utoipa::path(post, path = "/admin/members", tag = "admin", security(("bearer" = [])),
    request_body = CreateMemberRequest,
    responses((status = 201, body = CreateMemberResponse),
              (status = 409, description = "DUPLICATE_PHONE, DUPLICATE_EMAIL or DUPLICATE_EXTERNAL_IDENTITY",
               body = mps_api::error::ErrorEnvelope)))]
async fn create_member(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<CreateMember>,
    AppJson(request): AppJson<CreateMemberRequest>,
) -> ApiResult<(StatusCode, AppJson<CreateMemberResponse>)> {
    let name = validate::text("name", &request.name, 100)?;
    let phone = request.phone.as_deref().map(|p| validate::phone("phone", p)).transpose()?;
    let email = request.email.as_deref().map(|e| validate::email("email", e)).transpose()?;
    let external_identity = match &request.external_identity {
        Some(identity) => Some(validate_identity(identity)?),
        None => None,
    };
    let password_hash = match request.password {
        Some(password) => {
            check_new_password("password", &password)?;
            Some(hash_password(password).await?)
        }
        None => None,
    };
    let new = NewMember { name, phone, email, password_hash, external_identity };
    let (member, card) = members::create_member(&state.db, new, (&admin.user).into(), &request_id).await?;
    Ok((StatusCode::CREATED, AppJson(CreateMemberResponse { member, card })))
}

fn validate_identity(identity: &ExternalIdentity) -> ApiResult<(&str, &str)> {
    let provider = identity.provider.trim();
    if provider.is_empty()
        || provider.len() > 32
        || !provider.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ApiError::validation(
            "external_identity.provider",
            "must be 1 to 32 lower-case letters, digits or _",
        ));
    }
    let external_id = validate::text("external_identity.external_id", &identity.external_id, 128)?;
    Ok((provider, external_id))
}

/// The member a path names.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// The member's id (UUID) or member_no (`M00000001`).
    pub id_or_no: String,
}

/// Filters of the member list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberSearch {
    /// Text found anywhere in the name, phone, email or member_no, regardless of case.
    pub q: Option<String>,
    /// Only members with this status.
    pub status: Option<MemberStatus>,
}

/// Search members, newest first.
#[utoipa::path(get, path = "/admin/members", tag = "admin", security(("bearer" = [])),
    params(MemberSearch, PageParams),
    responses((status = 200, body = Page<MemberView>)))]
async fn list_members(
    State(state): State<AppState>,
    _admin: Authorized<ReadMembers>,
    AppQuery(search): AppQuery<MemberSearch>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<MemberView>>> {
    let paging = page.paging("admin_members", &state.config)?;
    let search = AccountSearch {
        q: accounts::search_text(search.q.as_deref())?,
        status: search.status.map(MemberStatus::as_str),
    };
    let (items, total) = account_admin::list(&state.read_db, &MEMBERS, search, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, |m: &MemberView| (m.created_at, m.id.to_string()))))
}

/// One member, by id or member_no.
#[utoipa::path(get, path = "/admin/members/{id_or_no}", tag = "admin", security(("bearer" = [])),
    params(MemberPath),
    responses((status = 200, body = MemberView),
              (status = 404, description = "MEMBER_NOT_FOUND", body = ErrorEnvelope)))]
async fn get_member(
    State(state): State<AppState>,
    _admin: Authorized<ReadMembers>,
    AppPath(path): AppPath<MemberPath>,
) -> ApiResult<AppJson<MemberView>> {
    Ok(AppJson(account_admin::find(&state.db, &MEMBERS, AccountKey::parse(&path.id_or_no)).await?))
}

/// The checks of [`UpdateMemberRequest`] (a wire type of `mps_api`), kept beside its handler.
trait MemberChanges {
    /// The validated columns to set.
    fn changes(&self) -> ApiResult<Vec<(&'static str, Option<&str>)>>;
}

impl MemberChanges for UpdateMemberRequest {
    fn changes(&self) -> ApiResult<Vec<(&'static str, Option<&str>)>> {
        let mut changes = Vec::new();
        if let Some(name) = &self.name {
            let name = name.as_deref().ok_or_else(|| ApiError::validation("name", "cannot be null"))?;
            changes.push(("name", Some(validate::text("name", name, 100)?)));
        }
        if let Some(phone) = &self.phone {
            changes.push(("phone", phone.as_deref().map(|p| validate::phone("phone", p)).transpose()?));
        }
        if let Some(email) = &self.email {
            changes.push(("email", email.as_deref().map(|e| validate::email("email", e)).transpose()?));
        }
        if changes.is_empty() {
            return Err(ApiError::validation("body", "send at least one of name, phone, email"));
        }
        Ok(changes)
    }
}

/// Edit a member's name, phone or email.
#[utoipa::path(patch, path = "/admin/members/{id_or_no}", tag = "admin", security(("bearer" = [])),
    params(MemberPath), request_body = UpdateMemberRequest,
    responses((status = 200, body = MemberView),
              (status = 404, description = "MEMBER_NOT_FOUND", body = ErrorEnvelope),
              (status = 409, description = "DUPLICATE_PHONE or DUPLICATE_EMAIL", body = ErrorEnvelope)))]
async fn update_member(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<UpdateMember>,
    AppPath(path): AppPath<MemberPath>,
    AppJson(request): AppJson<UpdateMemberRequest>,
) -> ApiResult<AppJson<MemberView>> {
    let changes = request.changes()?;
    let key = AccountKey::parse(&path.id_or_no);
    let member = account_admin::update(&state.db, &MEMBERS, key, &changes, (&admin.user).into(), &request_id).await?;
    Ok(AppJson(member))
}

/// Suspend a member: it cannot log in, and every session it has ends at once.
///
/// Suspending a suspended member succeeds again (and is audited again).
#[utoipa::path(post, path = "/admin/members/{id_or_no}/suspend", tag = "admin", security(("bearer" = [])),
    params(MemberPath), request_body = Option<ActionRequest>,
    responses((status = 200, body = MemberView),
              (status = 404, description = "MEMBER_NOT_FOUND", body = ErrorEnvelope),
              (status = 409, description = "INVALID_STATUS_TRANSITION: the member is deleted", body = ErrorEnvelope)))]
async fn suspend_member(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<SuspendMember>,
    AppPath(path): AppPath<MemberPath>,
    OptionalJson(request): OptionalJson<ActionRequest>,
) -> ApiResult<AppJson<MemberView>> {
    let actor = (&admin.user).into();
    accounts::change_status(&state, &MEMBERS, &path.id_or_no, StatusChange::Suspend, &request, actor, &request_id).await
}

/// Activate a member (from suspended or inactive).
#[utoipa::path(post, path = "/admin/members/{id_or_no}/activate", tag = "admin", security(("bearer" = [])),
    params(MemberPath), request_body = Option<ActionRequest>,
    responses((status = 200, body = MemberView),
              (status = 404, description = "MEMBER_NOT_FOUND", body = ErrorEnvelope),
              (status = 409, description = "INVALID_STATUS_TRANSITION: the member is deleted", body = ErrorEnvelope)))]
async fn activate_member(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<SuspendMember>,
    AppPath(path): AppPath<MemberPath>,
    OptionalJson(request): OptionalJson<ActionRequest>,
) -> ApiResult<AppJson<MemberView>> {
    let actor = (&admin.user).into();
    accounts::change_status(&state, &MEMBERS, &path.id_or_no, StatusChange::Activate, &request, actor, &request_id)
        .await
}

/// Set a member's password; every session it has ends.
#[utoipa::path(post, path = "/admin/members/{id_or_no}/password", tag = "admin", security(("bearer" = [])),
    params(MemberPath), request_body = PasswordResetRequest,
    responses((status = 204, description = "Password set; the member's sessions are revoked"),
              (status = 404, description = "MEMBER_NOT_FOUND", body = ErrorEnvelope),
              (status = 422, description = "PASSWORD_TOO_SHORT", body = ErrorEnvelope)))]
async fn reset_member_password(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<UpdateMember>,
    AppPath(path): AppPath<MemberPath>,
    AppJson(request): AppJson<PasswordResetRequest>,
) -> ApiResult<StatusCode> {
    accounts::reset_password(&state, &MEMBERS, &path.id_or_no, request, (&admin.user).into(), &request_id).await
}
