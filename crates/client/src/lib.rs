//! The sender SDK: what a booking system needs to talk to BaRS through the proxy.

pub mod assertion;
pub mod token;

pub use assertion::{AssertionError, JWT_BEARER_ASSERTION_TYPE, sign_client_assertion};
pub use token::{Credentials, TokenError, TokenSource};
