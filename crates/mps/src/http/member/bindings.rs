//! `/member/bindings`: join a corporate card with its binding password, or leave a shared card.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::domain::CardView;
use mps_api::error::ErrorCode;
use mps_api::member::{BindRequest, BindingChange};

use crate::auth::Authorized;
use crate::auth::password::{MAX_PASSWORD_LEN, verify_password};
use crate::auth::permissions::{BindCard, UnbindCard};
use crate::db::bindings::{self, Binding, BindingActor};
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{AppJson, AppPath};
use crate::http::middleware::RequestId;
use crate::http::respond::moved;
use crate::http::validate;
use crate::limits::Window;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(bind_card)).routes(routes!(leave_card))
}

/// Binding attempts a member may make per minute, against password guessing.
const BINDING_ATTEMPTS: Window = Window { limit: 5, length: Duration::from_secs(60) };

/// Join a corporate card with its binding password (5 attempts per minute).
#[utoipa::path(post, path = "/member/bindings", tag = "member", security(("bearer" = [])),
    request_body = BindRequest,
    responses((status = 201, body = CardView),
              (status = 409, description = "ALREADY_BOUND, CARD_NOT_ACTIVE, CARD_EXPIRED or CARD_CLOSED",
               body = mps_api::error::ErrorEnvelope),
              (status = 422, description = "CARD_TYPE_NOT_SHAREABLE, INVALID_BINDING_PASSWORD or VALIDATION_FAILED",
               body = mps_api::error::ErrorEnvelope)))]
async fn bind_card(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    member: Authorized<BindCard>,
    AppJson(request): AppJson<BindRequest>,
) -> ApiResult<(StatusCode, AppJson<CardView>)> {
    let target = CardRef::from_request(&request)?;
    if request.binding_password.is_empty() || request.binding_password.chars().count() > MAX_PASSWORD_LEN {
        return Err(ApiError::validation("binding_password", "must be 1 to 128 characters"));
    }
    let limit_name = format!("bind:{}", member.id);
    let message = "Too many binding attempts: wait a minute.";
    state.limits.hit(&state.cache, &limit_name, BINDING_ATTEMPTS, message).await?;
    let card_id = target.resolve(&state).await?;
    let hash = bindings::binding_password_hash(&state.db, card_id).await?;
    let password_ok = verify_password(request.binding_password, hash).await?;
    let actor = BindingActor { id: member.id, role: "member" };
    let binding = Binding { card_id, member_id: member.id };
    let bound = bindings::bind_card(&state.db, actor, binding, request.role.into(), password_ok, &request_id).await;
    moved(&state, "bind_card", bound).await?;
    let card = crate::db::member_cards::card_for_member(&state.db, member.id, card_id)
        .await?
        .ok_or_else(|| ApiError::internal("new binding not visible to its member"))?;
    Ok((StatusCode::CREATED, AppJson(card)))
}

/// The card a binding request names: exactly one of `card_id` and `card_no`.
enum CardRef<'a> {
    Id(Uuid),
    No(&'a str),
}

impl<'a> CardRef<'a> {
    fn from_request(request: &'a BindRequest) -> ApiResult<CardRef<'a>> {
        let card_no = validate::optional_text("card_no", request.card_no.as_deref(), 40)?;
        match (request.card_id, card_no) {
            (Some(id), None) => Ok(CardRef::Id(id)),
            (None, Some(no)) => Ok(CardRef::No(no)),
            _ => Err(ApiError::validation("card_no", "give exactly one of card_no and card_id")),
        }
    }

    async fn resolve(self, state: &AppState) -> ApiResult<Uuid> {
        match self {
            CardRef::Id(id) => Ok(id),
            CardRef::No(no) => bindings::card_id_by_no(&state.db, no)
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::CardNotFound, "No card has this number.")),
        }
    }
}

/// Leave a card you are bound to; an owner may leave only while another owner remains.
#[utoipa::path(delete, path = "/member/bindings/{card_id}", tag = "member", security(("bearer" = [])),
    params(("card_id" = Uuid, Path)),
    responses((status = 200, body = BindingChange),
              (status = 409, description = "CANNOT_REMOVE_LAST_OWNER", body = mps_api::error::ErrorEnvelope)))]
async fn leave_card(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    member: Authorized<UnbindCard>,
    AppPath(card_id): AppPath<Uuid>,
) -> ApiResult<AppJson<BindingChange>> {
    let actor = BindingActor { id: member.id, role: "member" };
    let binding = Binding { card_id, member_id: member.id };
    let unbound = bindings::unbind_card(&state.db, actor, binding, &request_id).await;
    Ok(AppJson(moved(&state, "unbind_card", unbound).await?))
}
