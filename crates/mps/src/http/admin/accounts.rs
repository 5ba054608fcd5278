//! What the member and merchant endpoints share: the bodies of suspend, activate and password
//! reset, the search text check, and the handlers' common steps.

use axum::http::StatusCode;
use serde::Serialize;
use sqlx::postgres::PgRow;

use mps_api::admin::{ActionRequest, PasswordResetRequest};

use crate::auth::password::{check_new_password, hash_password};
use crate::auth::session;
use crate::db::account_admin::{self, AccountKey, AccountTable, StatusChange};
use crate::db::audit::Actor;
use crate::error::ApiResult;
use crate::http::extract::AppJson;
use crate::http::validate;
use crate::http::validate::ActionReason as _;
use crate::state::AppState;

/// The validated free-text search `q`: trimmed, blank meaning none.
pub fn search_text(q: Option<&str>) -> ApiResult<Option<&str>> {
    validate::optional_text("q", q, 100)
}

/// Suspends or activates the account `key` names, then publishes the revocations.
pub async fn change_status<V>(
    state: &AppState,
    table: &AccountTable,
    key: &str,
    change: StatusChange,
    request: &ActionRequest,
    actor: Actor<'_>,
    request_id: &str,
) -> ApiResult<AppJson<V>>
where
    V: for<'r> sqlx::FromRow<'r, PgRow> + Serialize + Send + Unpin,
{
    let reason = request.reason()?;
    let (view, revoked) =
        account_admin::set_status(&state.db, table, AccountKey::parse(key), change, reason, actor, request_id).await?;
    session::publish_revocations(state, &revoked).await;
    Ok(AppJson(view))
}

/// Sets the password of the account `key` names, then publishes the revocations.
pub async fn reset_password(
    state: &AppState,
    table: &AccountTable,
    key: &str,
    request: PasswordResetRequest,
    actor: Actor<'_>,
    request_id: &str,
) -> ApiResult<StatusCode> {
    check_new_password("password", &request.password)?;
    let hash = hash_password(request.password).await?;
    let revoked =
        account_admin::reset_password(&state.db, table, AccountKey::parse(key), &hash, actor, request_id).await?;
    session::publish_revocations(state, &revoked).await;
    Ok(StatusCode::NO_CONTENT)
}
