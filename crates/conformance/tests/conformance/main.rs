//! The kit proved both ways: our own receiver passes every SHALL check (SQLite and PostgreSQL,
//! directly and through the proxy), and deliberately faulty receivers fail the checks that
//! match their faults, every check failing at least once.

// Test code: a panic is the test failing (clippy.toml lets #[test] functions unwrap; this lets
// their helpers too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod docs;
mod faulty;
mod own;
mod reports;
mod sender;
mod support;
