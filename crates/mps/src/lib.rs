//! MPS, the member payment system: the library behind the `mps` binary.

/// Passwords, tokens, sessions and permissions.
pub mod auth;
/// Redis-backed caches and limits with per-process fallbacks.
pub mod cache;
/// The cached card list of each member.
pub mod card_cache;
/// Typed configuration from the environment.
pub mod config;
/// PostgreSQL pool, migrations and wrappers of the SQL functions.
pub mod db;
/// The API error type and envelope.
pub mod error;
/// Routes, handlers, extractors and middleware.
pub mod http;
/// Rate limits, shared through Redis where they must be.
pub mod limits;
/// Prometheus metrics.
pub mod metrics;
/// Replaying what Redis missed while it was down (revocations, card-list invalidations).
pub mod recovery;
/// Start-up, serving and graceful shutdown.
pub mod server;
/// Sending phone verification codes.
pub mod sms;
/// Shared handler state.
pub mod state;
/// Logging set-up.
pub mod telemetry;
/// Merchant webhooks: the delivery worker, signatures, sealed secrets, SSRF rules.
pub mod webhooks;
/// WeChat mini-program sign-in: the code-to-session exchange.
pub mod wechat;

pub use http::build_app;
