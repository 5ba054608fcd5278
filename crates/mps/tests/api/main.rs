//! The integration suite: one binary, every test against real PostgreSQL and Redis, each test
//! with its own freshly migrated database and its own Redis key prefix.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::as_conversions,
    reason = "test code: a failed step panics with its message; which of these a suite uses changes with its tests"
)]

use test_support as helpers;

mod fakes;

mod admin_cards;
mod admin_members;
mod admin_merchants;
mod aggregates;
mod audit_log;
mod auth;
mod authz_matrix;
mod bindings;
mod card_status;
mod concurrency;
mod config;
mod console;
mod contract;
mod envelope;
mod events;
mod failover;
mod hostile_input;
mod idempotency;
mod jwt;
mod ledger_chain;
mod levels;
mod liability;
mod limits;
mod lock_order;
mod login_race;
mod migrations;
mod openapi_snapshot;
mod ops;
mod paging;
mod payments;
use test_support::programme as programme_support;
mod rate_limits;
mod reads;
mod recharges;
mod redis_cluster;
mod redis_outage;
mod refunds;
mod reports;
mod retention;
mod revocation;
mod settlements;
mod signup;
mod sql_functions;
mod staff;
mod statements;
mod store_scope;
mod webhooks_out;
mod wechat;
