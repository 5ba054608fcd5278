//! The HTTP layer: every route of the API, the middleware stack and the OpenAPI document.
//!
//! Each area module exposes `router()`; [`build_app`] merges them, so the server and the tests
//! share one wiring and the OpenAPI document is built from the very routes that are served.

pub mod admin;
pub mod auth;
pub mod console;
pub mod docs;
pub mod extract;
pub mod filters;
pub mod idempotency;
pub mod levels;
pub mod member;
pub mod merchant;
pub mod middleware;
pub mod ops;
pub mod pagination;
pub mod periods;
pub mod respond;
pub mod signup;
pub mod transactions;
pub mod validate;
pub mod webhook_endpoints;
pub mod webhooks;
pub mod wechat;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use docs::SecurityAddon;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "MPS — Member Payment System", description = "Stored-value membership cards: QR payments, refunds, recharges and settlements. Amounts are decimal strings with two places; errors use one envelope with a stable code."),
    servers((url = "/", description = "The server that serves this document")),
    components(schemas(mps_api::error::ErrorEnvelope, mps_api::error::ErrorBody)),
    modifiers(&SecurityAddon),
    tags(
        (name = "auth", description = "Log in, log out, who am I, change password"),
        (name = "member", description = "A member's cards, QR codes, recharges, transactions and points"),
        (name = "merchant", description = "Charge, refund, top up, validate QR codes, read the books"),
        (name = "transactions", description = "One transaction by number"),
        (name = "webhooks", description = "Signed notifications from the payment channel"),
        (name = "levels", description = "The membership level table"),
        (name = "admin", description = "Back office: accounts, cards, points, levels, settlements, audit"),
        (name = "ops", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

/// All routes with their OpenAPI description, before middleware.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::router())
        .merge(signup::router())
        .merge(wechat::router())
        .merge(member::router())
        .merge(merchant::router())
        .merge(transactions::router())
        .merge(webhooks::router())
        .merge(admin::router())
        .merge(levels::router())
        .merge(ops::router())
}

/// The OpenAPI document of every served route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut openapi = api_router().into_openapi();
    docs::finish(&mut openapi);
    openapi
}

/// The complete application: routes, docs, the web console, fallback and middleware, bound to its state.
pub fn build_app(state: AppState) -> Router {
    let (router, mut openapi) = api_router().split_for_parts();
    docs::finish(&mut openapi);
    let router = router
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .merge(console::router())
        .fallback(middleware::not_found);
    middleware::apply(router, &state).with_state(state)
}
