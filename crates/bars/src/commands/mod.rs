//! One-shot commands for staff and operators.

pub mod admin_client;
pub mod audit;
pub mod pki;
pub mod slots;
