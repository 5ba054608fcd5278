//! `/admin/merchants`: create merchants.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::Authorized;
use crate::auth::password::{check_new_password, hash_password};
use crate::auth::permissions::ManageMerchants;
use crate::db::merchants;
use crate::domain::MerchantView;
use crate::error::ApiResult;
use crate::http::extract::AppJson;
use crate::http::middleware::RequestId;
use crate::http::validate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_merchant))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateMerchantRequest {
    /// 3 to 20 letters and digits, unique regardless of case.
    pub code: String,
    pub name: String,
    pub contact: Option<String>,
    /// At least 8 characters.
    pub password: String,
}

/// Create a merchant.
#[utoipa::path(post, path = "/admin/merchants", tag = "admin", security(("bearer" = [])),
    request_body = CreateMerchantRequest,
    responses((status = 201, body = MerchantView),
              (status = 409, description = "DUPLICATE_MERCHANT_CODE", body = crate::error::ErrorEnvelope)))]
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
