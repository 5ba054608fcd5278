//! The terminal client against a real server: each test starts the API on a free port with its
//! own database and Redis prefix, then drives the built `mps-cli` binary as a user would.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::as_conversions,
    reason = "test code: a failed step panics with its message; which of these a suite uses changes with its tests"
)]

use test_support as helpers;

mod harness;

mod failures;
mod shop_day;
mod signup;
mod staff;
