//! `/admin`: accounts, cards, points, levels, settlements, statistics, the audit log and the
//! programme's webhook endpoints.

pub mod accounts;
pub mod audit;
pub mod card_bindings;
pub mod card_status;
pub mod cards;
pub mod credits;
pub mod levels;
pub mod liability;
pub mod members;
pub mod merchant_staff;
pub mod merchants;
pub mod settlements;
pub mod statistics;
pub mod webhooks;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(members::router())
        .merge(merchants::router())
        .merge(merchant_staff::router())
        .merge(credits::router())
        .merge(cards::router())
        .merge(card_status::router())
        .merge(card_bindings::router())
        .merge(levels::router())
        .merge(audit::router())
        .merge(settlements::router())
        .merge(statistics::router())
        .merge(liability::router())
        .merge(webhooks::router())
}
