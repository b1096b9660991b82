//! One-shot commands for staff and operators.

pub mod admin_client;
pub mod audit;
pub mod bench;
pub mod conformance;
pub mod conformance_output;
pub mod conformance_sender;
pub mod outbox;
pub mod pki;
pub mod provider;
pub mod sender;
pub mod slots;
pub mod uk_time;
pub mod workbench;
