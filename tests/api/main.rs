//! The integration suite: one binary, every test against real PostgreSQL and Redis, each test
//! with its own freshly migrated database and its own Redis key prefix.

mod helpers;

mod auth;
mod concurrency;
mod config;
mod envelope;
mod idempotency;
mod limits;
mod migrations;
mod ops;
mod payments;
mod reads;
mod recharges;
mod redis_outage;
mod refunds;
