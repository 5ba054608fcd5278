//! The integration suite: one binary, every test against real PostgreSQL and Redis, each test
//! with its own freshly migrated database and its own Redis key prefix.

mod helpers;

mod admin_members;
mod admin_merchants;
mod auth;
mod authz_matrix;
mod config;
mod envelope;
mod jwt;
mod migrations;
mod ops;
mod rate_limits;
mod revocation;
