//! `GET /admin/audit`: the audit log, filtered and paginated, newest first.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use mps_api::admin::AuditEventView;
use mps_api::pagination::{Page, PageParams};

use crate::auth::Authorized;
use crate::auth::permissions::ReadAudit;
use crate::db::audit::{self, AuditFilter};
use crate::error::ApiResult;
use crate::http::extract::{AppJson, AppQuery};
use crate::http::filters::parse_date_bound;
use crate::http::validate;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

/// Filters of `GET /admin/audit`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Who acted (a member, merchant or admin id).
    pub actor_id: Option<Uuid>,
    /// An upper-case verb such as `CARD_FREEZE` (matched without regard to case).
    pub action: Option<String>,
    /// What was acted on: `card`, `member`, `merchant`, `transaction`, `settlement`, `levels`, …
    pub object_type: Option<String>,
    /// The object's id (with `object_type`).
    pub object_id: Option<String>,
    /// Inclusive lower bound: RFC 3339, or YYYY-MM-DD (midnight in the business time zone).
    pub start_date: Option<String>,
    /// Exclusive upper bound, same forms.
    pub end_date: Option<String>,
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("bearer" = [])),
    params(AuditQuery, PageParams),
    responses((status = 200, body = Page<AuditEventView>)))]
async fn list_audit_events(
    State(state): State<AppState>,
    _admin: Authorized<ReadAudit>,
    AppQuery(query): AppQuery<AuditQuery>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<AuditEventView>>> {
    let paging = page.paging("audit_events", &state.config)?;
    let zone = state.config.business_timezone;
    let action = validate::optional_text("action", query.action.as_deref(), 64)?.map(str::to_ascii_uppercase);
    let filter = AuditFilter {
        actor_id: query.actor_id,
        action: action.as_deref(),
        object_type: validate::optional_text("object_type", query.object_type.as_deref(), 64)?,
        object_id: validate::optional_text("object_id", query.object_id.as_deref(), 128)?,
        start: parse_date_bound("start_date", query.start_date.as_deref(), zone)?,
        end: parse_date_bound("end_date", query.end_date.as_deref(), zone)?,
    };
    let (items, total) = audit::list_audit_events(&state.read_db, filter, &paging).await?;
    Ok(AppJson(Page::from_rows(items, &paging, total, |e: &AuditEventView| (e.occurred_at, e.id.to_string()))))
}
