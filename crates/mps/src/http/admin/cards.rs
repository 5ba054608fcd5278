//! `/admin/cards`: issue corporate and voucher cards, search cards, look one up.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::admin::{AdminCardDetail, AdminCardView, CreateCardRequest, CreateCardResponse};
use mps_api::domain::{CardStatus, CardType};
use mps_api::error::ErrorCode;
use mps_api::money::DecimalInput;
use mps_api::pagination::{Page, PageParams};

use crate::auth::Authorized;
use crate::auth::password::{check_new_password, hash_password};
use crate::auth::permissions::ManageCards;
use crate::db::admin_cards::{self, CardSearch, NewCard};
use crate::db::transactions::{self, CARD_HISTORY_ROWS};
use crate::error::{ApiError, ApiResult};
use crate::http::admin::accounts::search_text;
use crate::http::admin::credits::resolve_card_id;
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::middleware::RequestId;
use crate::http::respond::rpc;
use crate::http::validate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_card, list_cards)).routes(routes!(get_card))
}

/// A card as admins see it, by id; 404 `CARD_NOT_FOUND` when it does not exist.
pub async fn load_admin_card(state: &AppState, card_id: Uuid) -> ApiResult<AdminCardView> {
    admin_cards::admin_card(&state.db, card_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::CardNotFound, "No card has this id or number."))
}

/// Issue a corporate card (optional fixed discount and binding password) or a voucher (initial
/// balance, optional expiry) to its owner.
#[utoipa::path(post, path = "/admin/cards", tag = "admin", security(("bearer" = [])),
    request_body = CreateCardRequest,
    responses((status = 201, body = CreateCardResponse),
              (status = 404, description = "MEMBER_NOT_FOUND", body = mps_api::error::ErrorEnvelope)))]
async fn create_card(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    admin: Authorized<ManageCards>,
    AppJson(request): AppJson<CreateCardRequest>,
) -> ApiResult<(StatusCode, AppJson<CreateCardResponse>)> {
    let new = validate_new_card(&state, &request).await?;
    let created = rpc(&state, "create_card", admin_cards::create_card(&state.db, admin.id, new, &request_id).await)?;
    crate::card_cache::invalidate(&state, &created.affected_members).await;
    let card = load_admin_card(&state, created.card_id).await?;
    Ok((StatusCode::CREATED, AppJson(CreateCardResponse { card, initial_transaction: created.initial_transaction })))
}

fn not_for(field: &str, card_type: &str) -> ApiError {
    ApiError::validation(field, format!("is not allowed on a {card_type} card"))
}

/// Checks which fields the card type takes, and each field's value; hashes the password.
async fn validate_new_card<'a>(state: &AppState, request: &'a CreateCardRequest) -> ApiResult<NewCard<'a>> {
    let name = validate::optional_text("name", request.name.as_deref(), 100)?;
    if request.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::validation("expires_at", "must be in the future"));
    }
    let mut new = NewCard {
        card_type: request.card_type,
        owner_member_id: request.owner_member_id,
        name,
        fixed_discount: None,
        binding_password_hash: None,
        initial_balance: None,
        expires_at: request.expires_at,
    };
    match request.card_type {
        CardType::Standard => {
            return Err(ApiError::validation("card_type", "must be corporate or voucher"));
        }
        CardType::Corporate => {
            if request.initial_balance.is_some() {
                return Err(not_for("initial_balance", "corporate"));
            }
            new.fixed_discount = request.fixed_discount.as_ref().map(parse_fixed_discount).transpose()?;
            if let Some(password) = &request.binding_password {
                check_new_password("binding_password", password)?;
                new.binding_password_hash = Some(hash_password(password.clone()).await?);
            }
        }
        CardType::Voucher => {
            if request.fixed_discount.is_some() {
                return Err(not_for("fixed_discount", "voucher"));
            }
            if request.binding_password.is_some() {
                return Err(not_for("binding_password", "voucher"));
            }
            let balance = request
                .initial_balance
                .as_ref()
                .ok_or_else(|| ApiError::validation("initial_balance", "is required for a voucher"))?;
            new.initial_balance = Some(balance.to_money("initial_balance", state.config.max_amount)?);
        }
    }
    Ok(new)
}

/// A fixed discount: a multiplier in [0.01, 1.00] with at most two decimals.
fn parse_fixed_discount(input: &DecimalInput) -> ApiResult<Decimal> {
    let value = input.parse("fixed_discount")?;
    if value < Decimal::new(1, 2) || value > Decimal::ONE || value.normalize().scale() > 2 {
        return Err(ApiError::validation("fixed_discount", "must lie in [0.01, 1.00] with at most 2 decimals"));
    }
    Ok(value)
}

/// Filters of `GET /admin/cards`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CardListQuery {
    /// Part of the card number, or of an owner's name or phone.
    pub q: Option<String>,
    pub card_type: Option<CardType>,
    /// The status as shown (`expired` once past `expires_at`).
    pub status: Option<CardStatus>,
}

/// Search cards, newest first.
#[utoipa::path(get, path = "/admin/cards", tag = "admin", security(("bearer" = [])),
    params(CardListQuery, PageParams),
    responses((status = 200, body = Page<AdminCardView>)))]
async fn list_cards(
    State(state): State<AppState>,
    _admin: Authorized<ManageCards>,
    AppQuery(query): AppQuery<CardListQuery>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<AdminCardView>>> {
    let paging = page.paging("admin_cards", &state.config)?;
    let q = search_text(query.q.as_deref())?;
    let search = CardSearch { q, card_type: query.card_type, status: query.status };
    let (items, total) = admin_cards::search_cards(&state.db, search, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, |c: &AdminCardView| (c.card.created_at, c.card.id.to_string()))))
}

/// One card, by id or card number.
#[utoipa::path(get, path = "/admin/cards/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Card id or card_no")),
    responses((status = 200, body = AdminCardDetail)))]
async fn get_card(
    State(state): State<AppState>,
    _admin: Authorized<ManageCards>,
    AppPath(id_or_no): AppPath<String>,
) -> ApiResult<AppJson<AdminCardDetail>> {
    let card_id = resolve_card_id(&state, &id_or_no).await?;
    let card = load_admin_card(&state, card_id).await?;
    let history = transactions::card_history(&state.db, card_id, CARD_HISTORY_ROWS).await?;
    Ok(AppJson(AdminCardDetail { card, history }))
}
