//! `/member`: a member's cards, QR codes, recharges, transactions and points.

pub mod bindings;
pub mod cards;
pub mod qr;
pub mod recharge;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(cards::router()).merge(qr::router()).merge(recharge::router()).merge(bindings::router())
}
