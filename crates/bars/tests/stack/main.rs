//! Tests across roles: senders, the proxy, receivers and the registry, over real sockets and TLS.

// Test code: a panic is the test failing (clippy.toml lets #[test] functions unwrap; this lets
// their helpers too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod kit;

mod audit;
mod cardinality;
mod catalogue;
mod config;
mod conformance;
mod crash;
mod demo;
mod event_crash;
mod headers;
mod invariants;
mod layering;
mod local_time;
mod messaging;
mod openapi;
mod operations;
mod operator_surfaces;
mod pointers;
mod privacy;
mod processes;
mod proxy;
mod readme;
mod relay;
mod scope;
mod sdk;
mod sender_versions;
mod shared_database;
mod state_machine;
mod wiring;
mod workbench;
