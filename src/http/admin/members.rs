//! `/admin/members`: create members (with their standard card).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Authorized;
use crate::auth::password::{check_new_password, hash_password};
use crate::auth::permissions::CreateMember;
use crate::db::members::{self, NewMember};
use crate::domain::{CardView, MemberView};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::AppJson;
use crate::http::middleware::RequestId;
use crate::http::validate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_member))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExternalIdentity {
    /// e.g. `wechat`: lower-case letters, digits and `_`.
    pub provider: String,
    pub external_id: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateMemberRequest {
    pub name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// At least 8 characters; without one the member cannot log in until an admin sets it.
    pub password: Option<String>,
    pub external_identity: Option<ExternalIdentity>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateMemberResponse {
    pub member: MemberView,
    /// The member's new standard card.
    pub card: CardView,
}

/// Create a member and, in the same transaction, its standard card.
#[utoipa::path(post, path = "/admin/members", tag = "admin", security(("bearer" = [])),
    request_body = CreateMemberRequest,
    responses((status = 201, body = CreateMemberResponse),
              (status = 409, description = "DUPLICATE_PHONE, DUPLICATE_EMAIL or DUPLICATE_EXTERNAL_IDENTITY",
               body = crate::error::ErrorEnvelope)))]
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
