//! Who is asking and under which ids: the BaRS transport headers, decoded once per request.

use std::net::SocketAddr;
use std::sync::LazyLock;

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

/// How many values of each identity header are kept decoded. A sender repeats the same few
/// on every request; a receiver behind the proxy sees one set per sending system and user.
const DECODED_KEPT: usize = 512;

/// Identity headers already decoded, by their text. Each sender sends the same values with
/// every request (its organisation, its software, the practitioner), and decoding them anew
/// (Base64, a JSON tree, then the fields) was 5-7% of a read's CPU in the receiver and in the
/// proxy, profiled. A value that does not decode is kept as such, so it is not retried either.
/// Bounded per header by [`DECODED_KEPT`] values (the least used are forgotten) of at most
/// [`DECODED_KEPT_BYTES`] each, so headers sent before anyone is authenticated cannot grow it.
struct Decoded<T: Clone>(quick_cache::sync::Cache<String, Option<T>>);

/// The longest header text kept decoded; identity headers are a few hundred bytes.
const DECODED_KEPT_BYTES: usize = 2048;

impl<T: Clone> Decoded<T> {
    fn new() -> Self {
        Decoded(quick_cache::sync::Cache::new(DECODED_KEPT))
    }

    /// The header `name` decoded by `decode`; `None` when absent or undecodable.
    fn header(
        &self,
        headers: &HeaderMap,
        name: &str,
        decode: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        header_str(headers, name).and_then(|h| self.decoded(h, decode))
    }

    /// A header carrying (Base64) JSON, read into `T` by `from_json`.
    fn json_header(
        &self,
        headers: &HeaderMap,
        name: &str,
        from_json: fn(&serde_json::Value) -> T,
    ) -> Option<T> {
        self.header(headers, name, |h| {
            decode_lenient_json(h).ok().map(|v| from_json(&v))
        })
    }

    fn decoded(&self, header: &str, decode: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        if header.len() > DECODED_KEPT_BYTES {
            return decode(header);
        }
        if let Some(known) = self.0.get(header) {
            return known;
        }
        let value = decode(header);
        self.0.insert(header.to_string(), value.clone());
        value
    }
}

static TARGETS: LazyLock<Decoded<TargetIdentifier>> = LazyLock::new(Decoded::new);
static ORGANISATIONS: LazyLock<Decoded<EndUserOrganisation>> = LazyLock::new(Decoded::new);
static SOFTWARE: LazyLock<Decoded<RequestingSoftware>> = LazyLock::new(Decoded::new);
static PRACTITIONERS: LazyLock<Decoded<RequestingPractitioner>> = LazyLock::new(Decoded::new);

impl RequestContext {
    /// Decodes the access-control headers leniently: a malformed one is treated as absent, and
    /// the authorisation policy decides whether absence matters.
    pub fn from_headers(
        headers: &HeaderMap,
        request_id: String,
        correlation_id: String,
        trust_application_header: bool,
    ) -> Self {
        let target = TARGETS.header(headers, TARGET_IDENTIFIER, |h| {
            TargetIdentifier::decode_lenient(h).ok()
        });
        let organisation = ORGANISATIONS.json_header(
            headers,
            END_USER_ORGANISATION,
            EndUserOrganisation::from_json,
        );
        let software =
            SOFTWARE.json_header(headers, REQUESTING_SOFTWARE, RequestingSoftware::from_json);
        let practitioner = PRACTITIONERS.json_header(
            headers,
            REQUESTING_PRACTITIONER,
            RequestingPractitioner::from_json,
        );
        RequestContext {
            request_id,
            correlation_id,
            target,
            organisation,
            software,
            practitioner,
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

#[cfg(test)]
mod decoded_tests {
    use std::cell::Cell;

    use super::{DECODED_KEPT, DECODED_KEPT_BYTES, Decoded};

    /// A header seen before is answered without decoding it again, failures included.
    #[test]
    fn a_header_is_decoded_once() {
        let memo = Decoded::<String>::new();
        let decodes = Cell::new(0);
        let decode = |h: &str| {
            decodes.set(decodes.get() + 1);
            (h != "bad").then(|| h.to_uppercase())
        };
        for _ in 0..3 {
            assert_eq!(memo.decoded("abc", decode), Some("ABC".to_string()));
            assert_eq!(memo.decoded("bad", decode), None);
        }
        assert_eq!(decodes.get(), 2);
    }

    /// Whatever senders send, the memo keeps at most its bound of values, none of them long.
    #[test]
    fn the_memo_is_bounded() {
        let memo = Decoded::<usize>::new();
        for i in 0..DECODED_KEPT * 10 {
            memo.decoded(&format!("header-{i}"), |h| Some(h.len()));
        }
        assert!(memo.0.len() <= DECODED_KEPT, "{} kept", memo.0.len());
        let long = "x".repeat(DECODED_KEPT_BYTES + 1);
        let decodes = Cell::new(0);
        for _ in 0..2 {
            memo.decoded(&long, |h| {
                decodes.set(decodes.get() + 1);
                Some(h.len())
            });
        }
        assert_eq!(
            decodes.get(),
            2,
            "a long header is decoded each time, not kept"
        );
    }
}
