//! `/merchant/keys`: POS API keys (owners). A key is scoped to one store and a subset of
//! `charge`, `refund`, `read`; its secret is shown once, at creation or rotation, and stored only
//! as a hash. Keys never manage staff, keys, stores, webhooks or settings.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::error::{ErrorCode, ErrorEnvelope};
use mps_api::merchant::{CreateKeyRequest, KeyView, KeyWithSecret, RotateKeyRequest};
use mps_api::pagination::{Page, PageParams};

use crate::auth::Authorized;
use crate::auth::permissions::ManageKeys;
use crate::auth::pos_keys::{self, generate_prefix, generate_secret};
use crate::db::audit::{self, Actor};
use crate::db::pos_keys::{self as keys_db, NewKey};
use crate::db::stores;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{AppJson, AppPath, AppQuery, OptionalJson};
use crate::http::middleware::RequestId;
use crate::http::validate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(get_key))
        .routes(routes!(revoke_key))
        .routes(routes!(rotate_key))
}

/// `{key_id}` of the key routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// The key's id.
    pub key_id: Uuid,
}

pub(crate) fn key_not_found() -> ApiError {
    ApiError::new(ErrorCode::KeyNotFound, "You have no POS key with this id.")
}

/// Create a POS key for one of your stores (owners); the answer holds its secret, shown once.
#[utoipa::path(post, path = "/merchant/keys", tag = "merchant", security(("bearer" = [])),
    request_body = CreateKeyRequest,
    responses((status = 201, body = KeyWithSecret),
              (status = 404, description = "STORE_NOT_FOUND", body = ErrorEnvelope)))]
async fn create_key(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    owner: Authorized<ManageKeys>,
    AppJson(request): AppJson<CreateKeyRequest>,
) -> ApiResult<(StatusCode, AppJson<KeyWithSecret>)> {
    let name = validate::text("name", &request.name, 64)?;
    let terminal_id = validate::optional_text("terminal_id", request.terminal_id.as_deref(), 64)?;
    if request.permissions.is_empty() {
        return Err(ApiError::validation("permissions", "give at least one of charge, refund, read"));
    }
    if request.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::validation("expires_at", "must be in the future"));
    }
    let mut scopes: Vec<String> = request.permissions.iter().map(|p| p.as_str().to_owned()).collect();
    scopes.sort();
    scopes.dedup();
    let code = validate::text("store", &request.store, 20)?;
    let store = stores::find_store(&state.db, owner.id, code)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::StoreNotFound, "You have no store with this code."))?;
    let fresh = generate_secret(&generate_prefix());
    let new = NewKey {
        store_id: store.id,
        prefix: &fresh.prefix,
        name,
        permissions: &scopes,
        terminal_id,
        secret_hash: &fresh.hash,
        expires_at: request.expires_at,
    };
    let mut tx = state.db.begin().await?;
    let key = keys_db::create_key(&mut tx, owner.id, new).await?;
    let context = serde_json::json!({ "prefix": key.prefix, "name": key.name, "store_code": key.store_code,
                                      "permissions": key.permissions, "terminal_id": key.terminal_id,
                                      "expires_at": key.expires_at, "by_staff_id": owner.staff_id });
    let actor = Actor { id: Some(owner.id), role: "merchant" };
    audit::record(&mut tx, actor, "CREATE_POS_KEY", ("pos_key", &key.id.to_string()), context, &request_id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(KeyWithSecret { key, secret: fresh.secret })))
}

/// Your POS keys, latest first; never their secrets.
#[utoipa::path(get, path = "/merchant/keys", tag = "merchant", security(("bearer" = [])),
    params(PageParams), responses((status = 200, body = Page<KeyView>)))]
async fn list_keys(
    State(state): State<AppState>,
    owner: Authorized<ManageKeys>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<KeyView>>> {
    let paging = page.paging("merchant_keys", &state.config)?;
    let (items, total) = keys_db::list_keys(&state.db, owner.id, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, KeyView::page_key)))
}

/// One of your POS keys; never its secret.
#[utoipa::path(get, path = "/merchant/keys/{key_id}", tag = "merchant", security(("bearer" = [])),
    params(KeyPath),
    responses((status = 200, body = KeyView), (status = 404, description = "KEY_NOT_FOUND", body = ErrorEnvelope)))]
async fn get_key(
    State(state): State<AppState>,
    owner: Authorized<ManageKeys>,
    AppPath(path): AppPath<KeyPath>,
) -> ApiResult<AppJson<KeyView>> {
    Ok(AppJson(keys_db::find_key(&state.db, owner.id, path.key_id).await?.ok_or_else(key_not_found)?))
}

/// Revoke a POS key: it stops working at once, on every instance.
#[utoipa::path(post, path = "/merchant/keys/{key_id}/revoke", tag = "merchant", security(("bearer" = [])),
    params(KeyPath),
    responses((status = 200, body = KeyView), (status = 404, description = "KEY_NOT_FOUND", body = ErrorEnvelope)))]
async fn revoke_key(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    owner: Authorized<ManageKeys>,
    AppPath(path): AppPath<KeyPath>,
) -> ApiResult<AppJson<KeyView>> {
    let actor = Actor { id: Some(owner.id), role: "merchant" };
    let key = keys_db::revoke(&state.db, owner.id, path.key_id, (actor, owner.staff_id), &request_id).await?;
    Ok(AppJson(key.ok_or_else(key_not_found)?))
}

const MAX_OVERLAP_SECONDS: i64 = 7 * 24 * 3600;

/// Give a POS key a new secret (shown once); the old one keeps working for `overlap_seconds`.
#[utoipa::path(post, path = "/merchant/keys/{key_id}/rotate", tag = "merchant", security(("bearer" = [])),
    params(KeyPath), request_body = Option<RotateKeyRequest>,
    responses((status = 200, body = KeyWithSecret),
              (status = 404, description = "KEY_NOT_FOUND: unknown or revoked", body = ErrorEnvelope)))]
async fn rotate_key(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    owner: Authorized<ManageKeys>,
    AppPath(path): AppPath<KeyPath>,
    OptionalJson(request): OptionalJson<RotateKeyRequest>,
) -> ApiResult<AppJson<KeyWithSecret>> {
    let overlap = request.overlap_seconds.unwrap_or(0);
    if !(0..=MAX_OVERLAP_SECONDS).contains(&overlap) {
        return Err(ApiError::validation("overlap_seconds", "must be 0 to 604800"));
    }
    let current = keys_db::find_key(&state.db, owner.id, path.key_id).await?.ok_or_else(key_not_found)?;
    let fresh = pos_keys::generate_secret(&current.prefix);
    let until = Utc::now() + chrono::Duration::seconds(overlap);
    let mut tx = state.db.begin().await?;
    let key =
        keys_db::rotate_key(&mut tx, owner.id, path.key_id, &fresh.hash, until).await?.ok_or_else(key_not_found)?;
    let context =
        serde_json::json!({ "prefix": key.prefix, "previous_valid_until": until, "by_staff_id": owner.staff_id });
    let actor = Actor { id: Some(owner.id), role: "merchant" };
    audit::record(&mut tx, actor, "POS_KEY_ROTATE", ("pos_key", &key.id.to_string()), context, &request_id).await?;
    tx.commit().await?;
    Ok(AppJson(KeyWithSecret { key, secret: fresh.secret }))
}
