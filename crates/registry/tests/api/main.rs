//! Registry integration tests: a real server on a random port, a real SQLite file, real HTTP.

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
