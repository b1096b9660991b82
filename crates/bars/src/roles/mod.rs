//! The long-running roles.

pub mod receiver;
