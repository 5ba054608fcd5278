//! `/merchant/stores` and `/merchant/settings`: a merchant's stores, its cashier refund limit,
//! and the store rules every merchant route shares (which store a caller acts as; what a
//! restricted caller may refund).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::error::{ErrorCode, ErrorEnvelope};
use mps_api::merchant::{
    CreateStoreRequest, MerchantSettings, StoreStatus, StoreView, UpdateSettingsRequest, UpdateStoreRequest,
};
use mps_api::money::{AmountInput, Money};
use mps_api::pagination::{Page, PageParams};

use crate::auth::permissions::{ManageMerchantSettings, ManageStores, Permission as _, ReadSummary, RefundAny};
use crate::auth::{AuthUser, Authorized};
use crate::db::audit::{self, Actor};
use crate::db::stores::{self, NewStore, StoreChange};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::middleware::RequestId;
use crate::http::validate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_store, list_stores))
        .routes(routes!(update_store))
        .routes(routes!(get_settings, update_settings))
}

fn store_not_found() -> ApiError {
    ApiError::new(ErrorCode::StoreNotFound, "You have no open store with this code.")
}

/// The store a charge is made at: the one `code` names, else the caller's own (restricted staff,
/// POS keys), else the merchant's default. A restricted caller naming another store is 403
/// `STORE_NOT_ALLOWED`; an unknown or closed store 404 `STORE_NOT_FOUND`.
pub async fn acting_store(state: &AppState, caller: &AuthUser, code: Option<&str>) -> ApiResult<Uuid> {
    let code = validate::optional_text("store", code, 20)?;
    let store = stores::store_for_charge(&state.db, caller.id, code, caller.store_id)
        .await?
        .filter(|s| s.status == StoreStatus::Active)
        .ok_or_else(store_not_found)?;
    match caller.store_id {
        Some(own) if own != store.id => {
            Err(ApiError::new(ErrorCode::StoreNotAllowed, "You may only act as your own store."))
        }
        _ => Ok(store.id),
    }
}

/// The store a report is asked for (`?store=`), or the whole merchant; a caller restricted to a
/// store reads only its store.
pub async fn report_store(state: &AppState, caller: &AuthUser, code: Option<&str>) -> ApiResult<Option<Uuid>> {
    let code = validate::optional_text("store", code.filter(|c| !c.trim().is_empty()), 20)?;
    let store = match code {
        Some(code) => Some(stores::find_store(&state.db, caller.id, code).await?.ok_or_else(store_not_found)?.id),
        None => None,
    };
    match (caller.store_id, store) {
        (Some(own), Some(asked)) if own != asked => {
            Err(ApiError::new(ErrorCode::StoreNotAllowed, "You may only read your own store."))
        }
        (Some(own), _) => Ok(Some(own)),
        (None, asked) => Ok(asked),
    }
}

/// Refuses a refund the caller may not make: cashiers and POS keys (no `merchant:refund_any`)
/// within the refund limit and the same local day; store-restricted callers on their store only.
pub async fn check_refund_allowed(state: &AppState, caller: &AuthUser, tx_no: &str, amount: Money) -> ApiResult<()> {
    let limited = !caller.holds(RefundAny::NAME);
    if !limited && caller.store_id.is_none() {
        return Ok(());
    }
    let zone = state.config.business_timezone.name();
    stores::check_restricted_refund(&state.db, caller.id, tx_no, amount, (caller.store_id, limited), zone).await
}

fn store_code(field: &str, code: &str) -> ApiResult<String> {
    let code = code.trim();
    let valid = (1..=20).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b));
    if !valid {
        return Err(ApiError::validation(field, "must be 1 to 20 letters, digits, `_` or `-`"));
    }
    Ok(code.to_ascii_uppercase())
}

fn time_zone(value: Option<&str>) -> ApiResult<Option<&str>> {
    match value.map(str::trim) {
        Some(zone) if zone.parse::<chrono_tz::Tz>().is_err() => {
            Err(ApiError::validation("time_zone", "must be an IANA time zone such as Asia/Shanghai"))
        }
        zone => Ok(zone),
    }
}

/// The merchant the caller acts for, as the audit log records it (with the staff member acting).
fn merchant_actor(caller: &AuthUser) -> Actor<'static> {
    Actor { id: Some(caller.id), role: "merchant" }
}

/// Open a store (owners).
#[utoipa::path(post, path = "/merchant/stores", tag = "merchant", security(("bearer" = [])),
    request_body = CreateStoreRequest,
    responses((status = 201, body = StoreView),
              (status = 409, description = "DUPLICATE_STORE_CODE", body = ErrorEnvelope)))]
async fn create_store(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    owner: Authorized<ManageStores>,
    AppJson(request): AppJson<CreateStoreRequest>,
) -> ApiResult<(StatusCode, AppJson<StoreView>)> {
    let code = store_code("code", &request.code)?;
    let name = validate::text("name", &request.name, 100)?;
    let address = validate::optional_text("address", request.address.as_deref(), 300)?;
    let time_zone = time_zone(request.time_zone.as_deref())?;
    let mut tx = state.db.begin().await?;
    let store = stores::create_store(&mut tx, owner.id, NewStore { code: &code, name, address, time_zone }).await?;
    let context = serde_json::json!({ "code": store.code, "by_staff_id": owner.staff_id });
    audit::record(
        &mut tx,
        merchant_actor(&owner),
        "CREATE_STORE",
        ("store", &store.id.to_string()),
        context,
        &request_id,
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, AppJson(store)))
}

/// Your stores, the default first, then by code.
#[utoipa::path(get, path = "/merchant/stores", tag = "merchant", security(("bearer" = [])),
    params(PageParams), responses((status = 200, body = Page<StoreView>)))]
async fn list_stores(
    State(state): State<AppState>,
    caller: Authorized<ReadSummary>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<StoreView>>> {
    let paging = page.paging("merchant_stores", &state.config)?;
    let (items, total) = stores::list_stores(&state.db, caller.id, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, StoreView::page_key)))
}

/// Edit, close or reopen a store (owners).
#[utoipa::path(patch, path = "/merchant/stores/{store_id}", tag = "merchant", security(("bearer" = [])),
    params(("store_id" = Uuid, Path, description = "The store's id")), request_body = UpdateStoreRequest,
    responses((status = 200, body = StoreView),
              (status = 404, description = "STORE_NOT_FOUND", body = ErrorEnvelope)))]
async fn update_store(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    owner: Authorized<ManageStores>,
    AppPath(store_id): AppPath<Uuid>,
    AppJson(request): AppJson<UpdateStoreRequest>,
) -> ApiResult<AppJson<StoreView>> {
    let change = StoreChange {
        name: request.name.as_deref().map(|n| validate::text("name", n, 100)).transpose()?,
        address: match &request.address {
            Some(a) => Some(validate::optional_text("address", a.as_deref(), 300)?),
            None => None,
        },
        time_zone: match &request.time_zone {
            Some(z) => Some(time_zone(z.as_deref())?),
            None => None,
        },
        status: request.status,
    };
    let mut tx = state.db.begin().await?;
    let store = stores::update_store(&mut tx, owner.id, store_id, change).await?.ok_or_else(store_not_found)?;
    let context = serde_json::json!({ "code": store.code, "status": store.status, "by_staff_id": owner.staff_id });
    audit::record(
        &mut tx,
        merchant_actor(&owner),
        "UPDATE_STORE",
        ("store", &store.id.to_string()),
        context,
        &request_id,
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(store))
}

/// Your settings (owners).
#[utoipa::path(get, path = "/merchant/settings", tag = "merchant", security(("bearer" = [])),
    responses((status = 200, body = MerchantSettings)))]
async fn get_settings(
    State(state): State<AppState>,
    owner: Authorized<ManageMerchantSettings>,
) -> ApiResult<AppJson<MerchantSettings>> {
    Ok(AppJson(stores::merchant_settings(&state.db, owner.id).await?))
}

/// Set your cashier refund limit (owners).
#[utoipa::path(put, path = "/merchant/settings", tag = "merchant", security(("bearer" = [])),
    request_body = UpdateSettingsRequest,
    responses((status = 200, body = MerchantSettings)))]
async fn update_settings(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    owner: Authorized<ManageMerchantSettings>,
    AppJson(request): AppJson<UpdateSettingsRequest>,
) -> ApiResult<AppJson<MerchantSettings>> {
    let limit = refund_limit(&request.cashier_refund_limit, state.config.max_amount)?;
    let mut tx = state.db.begin().await?;
    let previous = stores::set_cashier_refund_limit(&mut tx, owner.id, limit).await?;
    let context = serde_json::json!({ "cashier_refund_limit": { "from": previous, "to": limit },
                                      "by_staff_id": owner.staff_id });
    let object = ("merchant", owner.id.to_string());
    audit::record(
        &mut tx,
        merchant_actor(&owner),
        "MERCHANT_SETTINGS_UPDATE",
        (object.0, &object.1),
        context,
        &request_id,
    )
    .await?;
    tx.commit().await?;
    Ok(AppJson(MerchantSettings { cashier_refund_limit: limit }))
}

/// A refund limit: an amount as any other, or zero.
fn refund_limit(input: &AmountInput, max: rust_decimal::Decimal) -> ApiResult<Money> {
    let text = serde_json::to_value(input).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    if !text.is_empty()
        && text.bytes().all(|b| b == b'0' || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1
        && !text.starts_with('.')
        && !text.ends_with('.')
    {
        return Ok(Money::ZERO);
    }
    Ok(input.to_money("cashier_refund_limit", max)?)
}
