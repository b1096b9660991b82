//! The sender SDK: what a booking system needs to talk to BaRS through the proxy — tokens from
//! signed client assertions, the BaRS headers, retries with the same ids, read-before-write —
//! and the Appointment Management Foundation's workflows on top.

pub mod assertion;
pub mod error;
pub mod identity;
pub mod key;
pub mod record;
pub mod token;
pub mod transport;
pub mod version;
pub mod workflows;

pub use assertion::{AssertionError, JWT_BEARER_ASSERTION_TYPE, sign_client_assertion};
pub use error::BarsError;
pub use identity::SenderIdentity;
pub use key::{key_algorithm, resolve_algorithm};
pub use record::{Exchange, Recorder};
pub use token::{Credentials, TokenError, TokenFile, TokenSource};
pub use transport::{Call, Reply, RetryPolicy};
pub use version::BarsVersion;
pub use workflows::{
    BarsClient, BookingDetails, Demographics, Found, Listed, PatientQuery, Service, Slot, Versioned,
};
