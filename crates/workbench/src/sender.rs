//! The sender the workbench acts as.

use bars_client::{Credentials, SenderIdentity};
use bars_http::client::HttpClient;

/// What the CLI resolves from its flags or a stack manifest: how to reach the proxy, and the
/// application's credentials and organisation.
pub struct Sender {
    pub http: HttpClient,
    pub proxy_url: String,
    pub credentials: Credentials,
    pub identity: SenderIdentity,
}
