//! Card state: freeze, unfreeze, any status move of SPEC §2, and the binding password.

use axum::Extension;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::admin::{ActionRequest, AdminCardView, BindingPasswordRequest, CardStatusRequest, CardStatusResponse};
use mps_api::domain::CardStatus;

use crate::auth::Authorized;
use crate::auth::password::{check_new_password, hash_password};
use crate::auth::permissions::ManageCards;
use crate::db::admin_cards::{self, StatusMove};
use crate::error::ApiResult;
use crate::http::admin::cards::load_admin_card;
use crate::http::admin::credits::resolve_card_id;
use crate::http::extract::{AppJson, AppPath, OptionalJson};
use crate::http::middleware::RequestId;
use crate::http::respond::rpc;
use crate::http::validate;
use crate::http::validate::ActionReason as _;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(freeze_card))
        .routes(routes!(unfreeze_card))
        .routes(routes!(set_card_status))
        .routes(routes!(set_binding_password))
}

/// Runs one status move and answers with the card after it.
async fn move_status(
    state: &AppState,
    admin: &Authorized<ManageCards>,
    id_or_no: &str,
    status_move: StatusMove<'_>,
    request_id: &str,
) -> ApiResult<AppJson<CardStatusResponse>> {
    let card_id = resolve_card_id(state, id_or_no).await?;
    let changed = rpc(
        state,
        "set_card_status",
        admin_cards::set_card_status(&state.db, admin.id, card_id, status_move, request_id).await,
    )?;
    crate::card_cache::invalidate(state, &changed.affected_members).await;
    let card = load_admin_card(state, changed.card_id).await?;
    Ok(AppJson(CardStatusResponse { card, previous_status: changed.previous_status }))
}

/// Freeze an active card (active → inactive); its live QR token dies.
#[utoipa::path(post, path = "/admin/cards/{id}/freeze", tag = "admin", security(("bearer" = [])),
    request_body = Option<ActionRequest>,
    params(("id" = String, Path, description = "Card id or card_no")),
    responses((status = 200, body = CardStatusResponse),
              (status = 409, description = "INVALID_STATUS_TRANSITION", body = mps_api::error::ErrorEnvelope)))]
async fn freeze_card(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageCards>,
    AppPath(id_or_no): AppPath<String>,
    OptionalJson(request): OptionalJson<ActionRequest>,
) -> ApiResult<AppJson<CardStatusResponse>> {
    let reason = request.reason()?;
    let status_move =
        StatusMove { to: CardStatus::Inactive, only_from: Some(CardStatus::Active), action: "CARD_FREEZE", reason };
    move_status(&state, &admin, &id_or_no, status_move, &request_id).await
}

/// Unfreeze a frozen card (inactive → active).
#[utoipa::path(post, path = "/admin/cards/{id}/unfreeze", tag = "admin", security(("bearer" = [])),
    request_body = Option<ActionRequest>,
    params(("id" = String, Path, description = "Card id or card_no")),
    responses((status = 200, body = CardStatusResponse),
              (status = 409, description = "INVALID_STATUS_TRANSITION", body = mps_api::error::ErrorEnvelope)))]
async fn unfreeze_card(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageCards>,
    AppPath(id_or_no): AppPath<String>,
    OptionalJson(request): OptionalJson<ActionRequest>,
) -> ApiResult<AppJson<CardStatusResponse>> {
    let reason = request.reason()?;
    let status_move =
        StatusMove { to: CardStatus::Active, only_from: Some(CardStatus::Inactive), action: "CARD_UNFREEZE", reason };
    move_status(&state, &admin, &id_or_no, status_move, &request_id).await
}

/// Move a card's status: active ⇄ inactive, active|inactive → lost, lost → active, any → closed
/// (only with a zero balance); closed is terminal.
#[utoipa::path(post, path = "/admin/cards/{id}/status", tag = "admin", security(("bearer" = [])),
    request_body = CardStatusRequest,
    params(("id" = String, Path, description = "Card id or card_no")),
    responses((status = 200, body = CardStatusResponse),
              (status = 409, description = "INVALID_STATUS_TRANSITION or CARD_HAS_BALANCE",
               body = mps_api::error::ErrorEnvelope)))]
async fn set_card_status(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageCards>,
    AppPath(id_or_no): AppPath<String>,
    AppJson(request): AppJson<CardStatusRequest>,
) -> ApiResult<AppJson<CardStatusResponse>> {
    let reason = validate::optional_text("reason", request.reason.as_deref(), 500)?;
    let status_move = StatusMove { to: request.status, only_from: None, action: "CARD_STATUS_CHANGE", reason };
    move_status(&state, &admin, &id_or_no, status_move, &request_id).await
}

/// Set or remove a corporate card's binding password (stored as an argon2 hash, never shown).
#[utoipa::path(post, path = "/admin/cards/{id}/binding-password", tag = "admin", security(("bearer" = [])),
    request_body = BindingPasswordRequest,
    params(("id" = String, Path, description = "Card id or card_no")),
    responses((status = 200, body = AdminCardView)))]
async fn set_binding_password(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageCards>,
    AppPath(id_or_no): AppPath<String>,
    AppJson(request): AppJson<BindingPasswordRequest>,
) -> ApiResult<AppJson<AdminCardView>> {
    let hash = match request.binding_password {
        Some(password) => {
            check_new_password("binding_password", &password)?;
            Some(hash_password(password).await?)
        }
        None => None,
    };
    let card_id = resolve_card_id(&state, &id_or_no).await?;
    let changed = rpc(
        &state,
        "set_binding_password",
        admin_cards::set_binding_password(&state.db, admin.id, card_id, hash.as_deref(), &request_id).await,
    )?;
    crate::card_cache::invalidate(&state, &changed.affected_members).await;
    Ok(AppJson(load_admin_card(&state, changed.card_id).await?))
}
