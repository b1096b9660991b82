//! The long-running roles.

pub mod proxy;
pub mod receiver;
pub mod registry;
