//! The central BaRS proxy.

pub mod auth;
