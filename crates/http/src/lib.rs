//! The HTTP edge shared by every BaRS role: the server loop, transport headers, FHIR JSON
//! bodies and the single error renderer. Only this crate and the role crates know HTTP.

pub mod admin;
pub mod client;
pub mod context;
pub mod error;
pub mod fhir_json;
pub mod guard;
pub mod health;
pub mod media;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod server;
pub mod transport;

pub use context::RequestContext;
pub use error::ApiError;
