//! Registry integration tests: a real server on a random port, real HTTP, and a real database:
//! each test written with `on_both!` runs on SQLite and on PostgreSQL (when
//! `BARS_TEST_POSTGRES_URL` names a server).

// Test code: a panic is the test failing (clippy.toml lets #[test] functions unwrap; this lets
// their helpers too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod access;
mod concurrency;
mod crud;
mod restart;
mod robustness;
mod search;
mod storage;
mod supersede;
mod validation;
mod versions;
