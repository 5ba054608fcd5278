//! `/admin`: accounts, cards, points, levels, settlements, statistics and the audit log.

pub mod accounts;
pub mod members;
pub mod merchants;
pub mod money;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(members::router()).merge(merchants::router()).merge(money::router())
}
