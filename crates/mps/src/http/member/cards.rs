//! A member's cards, their transactions and points.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::domain::{BindingRole, CardStatus, TransactionView, TxType};
use mps_api::error::ErrorCode;
use mps_api::member::{CardsSummary, LedgerEntry, MemberCardResponse, MemberCardsResponse};
use mps_api::money::Money;
use mps_api::pagination::{Page, PageParams};

use crate::auth::permissions::{MemberReadTransactions, ReadCards};
use crate::auth::{AuthUser, Authorized};
use crate::card_cache::{self, Lookup};
use crate::db::transactions::{self, CARD_HISTORY_ROWS, TxFilter, TxOwner};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::filters::parse_date_bound;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_member_cards))
        .routes(routes!(get_member_card))
        .routes(routes!(list_member_transactions))
        .routes(routes!(points_ledger))
}

/// Your cards — owned and actively bound — with the discount a payment would get now.
#[utoipa::path(get, path = "/member/cards", tag = "member", security(("bearer" = [])),
    responses((status = 200, body = MemberCardsResponse)))]
async fn list_member_cards(
    State(state): State<AppState>,
    CardListReader { member, lookup }: CardListReader,
) -> ApiResult<AppJson<MemberCardsResponse>> {
    let items = card_cache::member_cards(&state, member.id, lookup).await?;
    let summary = CardsSummary {
        total_cards: items.len(),
        active_cards: items.iter().filter(|c| c.status == CardStatus::Active).count(),
        total_balance: Money::from_decimal(items.iter().map(|c| c.balance.amount()).sum::<Decimal>()),
        total_points: items.iter().map(|c| c.points).sum(),
    };
    Ok(AppJson(MemberCardsResponse { items, summary }))
}

/// A member allowed to read their cards, authenticated in the same Redis round trip that looks
/// up their cached card list.
struct CardListReader {
    member: Authorized<ReadCards>,
    lookup: Lookup,
}

impl FromRequestParts<AppState> for CardListReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let check = |claim| card_cache::lookup_with_session(state, claim);
        let (user, lookup) = AuthUser::authenticate_with(parts, state, check).await?;
        Ok(CardListReader { member: Authorized::grant(user)?, lookup })
    }
}

/// One of your cards with its latest movements; its bindings too when you own it.
#[utoipa::path(get, path = "/member/cards/{card_id}", tag = "member", security(("bearer" = [])),
    params(("card_id" = Uuid, Path)),
    responses((status = 200, body = MemberCardResponse)))]
async fn get_member_card(
    State(state): State<AppState>,
    member: Authorized<ReadCards>,
    AppPath(card_id): AppPath<Uuid>,
) -> ApiResult<AppJson<MemberCardResponse>> {
    let card = crate::db::member_cards::card_for_member(&state.db, member.id, card_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::CardNotFound, "You hold no card with this id."))?;
    let bindings = if card.role == Some(BindingRole::Owner) {
        Some(crate::db::bindings::live_bindings(&state.db, card_id).await?)
    } else {
        None
    };
    let mut history = transactions::card_history(&state.db, card_id, CARD_HISTORY_ROWS).await?;
    history.transactions = history.transactions.into_iter().map(TransactionView::for_member).collect();
    Ok(AppJson(MemberCardResponse { card, bindings, history }))
}

/// Filters of `GET /member/transactions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberTxQuery {
    /// Only this card's transactions.
    pub card_id: Option<Uuid>,
    /// `payment`, `refund` or `recharge`.
    pub tx_type: Option<TxType>,
    /// Inclusive lower bound: RFC 3339, or YYYY-MM-DD (midnight in the business time zone).
    pub start_date: Option<String>,
    /// Exclusive upper bound, same forms.
    pub end_date: Option<String>,
}

/// Transactions of your cards, newest first.
#[utoipa::path(get, path = "/member/transactions", tag = "member", security(("bearer" = [])),
    params(MemberTxQuery, PageParams),
    responses((status = 200, body = Page<TransactionView>)))]
async fn list_member_transactions(
    State(state): State<AppState>,
    member: Authorized<MemberReadTransactions>,
    AppQuery(query): AppQuery<MemberTxQuery>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<TransactionView>>> {
    let paging = page.paging("member_transactions", &state.config)?;
    let zone = state.config.business_timezone;
    let filter = TxFilter {
        store_id: None,
        card_id: query.card_id,
        tx_type: query.tx_type,
        start: parse_date_bound("start_date", query.start_date.as_deref(), zone)?,
        end: parse_date_bound("end_date", query.end_date.as_deref(), zone)?,
    };
    let (items, total) =
        transactions::list_transactions(&state.db, TxOwner::Member(member.id), filter, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, TransactionView::page_key)))
}

/// The points ledger of one of your cards, newest first.
#[utoipa::path(get, path = "/member/points/{card_id}", tag = "member", security(("bearer" = [])),
    params(("card_id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<LedgerEntry>)))]
async fn points_ledger(
    State(state): State<AppState>,
    member: Authorized<ReadCards>,
    AppPath(card_id): AppPath<Uuid>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<LedgerEntry>>> {
    let paging = page.paging("points_ledger", &state.config)?;
    if crate::db::member_cards::card_for_member(&state.db, member.id, card_id).await?.is_none() {
        return Err(ApiError::new(ErrorCode::CardNotFound, "You hold no card with this id."));
    }
    let (items, total) = transactions::points_ledger(&state.db, card_id, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, |e| (e.created_at, e.id.to_string()))))
}
