//! Who is asking and under which ids: the BaRS transport headers, decoded once per request.

use std::net::SocketAddr;

use bars_fhir::headers::{
    EndUserOrganisation, RequestingPractitioner, RequestingSoftware, TargetIdentifier,
    decode_lenient_json,
};
use http::HeaderMap;
use rustls_pki_types::CertificateDer;

pub const X_REQUEST_ID: &str = "x-request-id";
pub const X_CORRELATION_ID: &str = "x-correlation-id";
pub const TARGET_IDENTIFIER: &str = "nhsd-target-identifier";
pub const END_USER_ORGANISATION: &str = "nhsd-end-user-organisation";
pub const REQUESTING_SOFTWARE: &str = "nhsd-requesting-software";
pub const REQUESTING_PRACTITIONER: &str = "nhsd-requesting-practitioner";
/// Set by the proxy on forwarded calls: the authenticated sending application. Receivers trust
/// it only on connections authenticated by the proxy's client certificate.
pub const AUTHENTICATED_APPLICATION: &str = "nhsd-authenticated-application";
/// Set by the proxy with [`AUTHENTICATED_APPLICATION`]: the ODS code the authenticated
/// application is registered for. Trusted under the same rule.
pub const AUTHENTICATED_ORGANISATION: &str = "nhsd-authenticated-organisation";

/// The connection a request arrived on, kept as a request extension by the server loop and read
/// by the transport rules (which believe identity headers only on a verified connection).
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    /// The client's verified certificate (leaf), on a TLS connection that presented one.
    pub client_certificate: Option<CertificateDer<'static>>,
    pub tls: bool,
}

/// The decoded transport context of one request, kept as a request extension.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: String,
    pub correlation_id: String,
    pub target: Option<TargetIdentifier>,
    pub organisation: Option<EndUserOrganisation>,
    pub software: Option<RequestingSoftware>,
    pub practitioner: Option<RequestingPractitioner>,
    /// The sending application as authenticated by the proxy, when the connection is trusted.
    pub application: Option<String>,
    /// The ODS code of that application's organisation, under the same trust.
    pub authenticated_organisation: Option<String>,
    /// The BaRS version the sender asked for in `Accept`.
    pub accept_version: Option<String>,
}

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl RequestContext {
    /// Decodes the access-control headers leniently: a malformed one is treated as absent, and
    /// the authorisation policy decides whether absence matters.
    pub fn from_headers(
        headers: &HeaderMap,
        request_id: String,
        correlation_id: String,
        trust_application_header: bool,
    ) -> Self {
        let decode = |name| header_str(headers, name).and_then(|h| decode_lenient_json(h).ok());
        RequestContext {
            request_id,
            correlation_id,
            target: header_str(headers, TARGET_IDENTIFIER)
                .and_then(|h| TargetIdentifier::decode_lenient(h).ok()),
            organisation: decode(END_USER_ORGANISATION).map(|v| EndUserOrganisation::from_json(&v)),
            software: decode(REQUESTING_SOFTWARE).map(|v| RequestingSoftware::from_json(&v)),
            practitioner: decode(REQUESTING_PRACTITIONER)
                .map(|v| RequestingPractitioner::from_json(&v)),
            application: if trust_application_header {
                header_str(headers, AUTHENTICATED_APPLICATION).map(str::to_string)
            } else {
                None
            },
            authenticated_organisation: if trust_application_header {
                header_str(headers, AUTHENTICATED_ORGANISATION).map(str::to_string)
            } else {
                None
            },
            accept_version: None,
        }
    }

    pub fn sender_ods(&self) -> Option<&str> {
        self.organisation
            .as_ref()
            .and_then(|o| o.ods_code.as_deref())
    }

    pub fn sender_software(&self) -> Option<&str> {
        self.software
            .as_ref()
            .and_then(|s| s.id.as_deref().or(s.name.as_deref()))
    }

    /// The identity idempotency records are scoped to: the authenticated application if known,
    /// else the sending organisation, else nobody in particular.
    pub fn sender_key(&self) -> String {
        self.application
            .clone()
            .or_else(|| self.sender_ods().map(|s| format!("ods:{s}")))
            .unwrap_or_default()
    }
}
