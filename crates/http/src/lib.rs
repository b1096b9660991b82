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

#[cfg(test)]
mod tests {
    fn source(file: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Modules that share an item take it from a module below both, never from each other:
    /// the error renderer does not reach into the body helpers for the media type
    /// (`media`), and the transport rules do not reach into the server loop for the
    /// connection's details (`context::PeerInfo`).
    #[test]
    fn shared_items_sit_below_the_modules_that_share_them() {
        assert!(!source("error.rs").contains("crate::fhir_json"));
        assert!(!source("transport.rs").contains("crate::server"));
    }
}
