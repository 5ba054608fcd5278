//! The wire types of MPS: what the server answers and what its clients send, in one crate that
//! both depend on (a renamed field breaks the client's build, not its users).
//!
//! Exact money ([`money`]), the shared views and statuses ([`domain`]), roles and the permissions
//! they grant ([`roles`]), the error codes and envelope ([`error`]), cursor pages
//! ([`pagination`]), and the request and response types of each area of the API. Nothing here
//! talks to a database or a socket; with the `sqlx` feature (the server's) the types read straight
//! from PostgreSQL derive `sqlx::Type`/`sqlx::FromRow`.
//!
//! Every public item is documented. On a `ToSchema` type or field a doc comment *is* its OpenAPI
//! description, so writing or editing one changes the published document: refresh
//! `docs/openapi.json` with it.

#![deny(missing_docs)]

pub mod admin;
pub mod auth;
pub mod domain;
pub mod error;
pub mod member;
pub mod merchant;
pub mod money;
pub mod ops;
pub mod pagination;
pub mod roles;
pub mod webhooks;

/// For `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>` field of a
/// partial update: absent is `None`, `null` is `Some(None)`, a value is `Some(Some(value))`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}
