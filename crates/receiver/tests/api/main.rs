//! Receiver integration tests: a real server on a random port, a real SQLite file, real HTTP.

mod helpers;

mod admin;
mod audit;
mod capability;
mod concurrency;
mod errors;
mod idempotency;
mod journey;
mod messaging;
mod mtls;
mod restart;
