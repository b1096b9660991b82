//! Keeping the Registry's pointers true (BaRS 5.14): every appointment change writes a pointer
//! job in its own transaction (the outbox); the [`worker`] delivers the jobs.

pub mod content;
pub mod registry;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use bars_http::client::{BearerSource, HttpClient};

pub use content::{PointerSettings, UrlForm};

/// Where pointers go and how.
#[derive(Clone)]
pub struct RegistryTarget {
    /// The Registry's base URL: normally the proxy's, which forwards `/DocumentReference`.
    pub url: String,
    pub settings: PointerSettings,
    /// The receiver's OAuth credentials at the proxy.
    pub auth: Option<Arc<dyn BearerSource>>,
    /// TLS settings for reaching it (e.g. trusting the development CA).
    pub tls: Option<rustls::ClientConfig>,
    pub timeout: Duration,
    pub backoff: worker::Backoff,
}

impl RegistryTarget {
    pub fn new(url: impl Into<String>) -> Self {
        RegistryTarget {
            url: url.into(),
            settings: PointerSettings::default(),
            auth: None,
            tls: None,
            timeout: Duration::from_secs(10),
            backoff: worker::Backoff::default(),
        }
    }

    pub fn client(&self) -> HttpClient {
        HttpClient::new(self.tls.clone(), self.timeout)
    }
}
