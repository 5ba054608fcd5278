//! The terminal client against a real server: each test starts the API on a free port with its
//! own database and Redis prefix, then drives the built `mps-cli` binary as a user would.

use test_support as helpers;

mod harness;

mod failures;
mod shop_day;
