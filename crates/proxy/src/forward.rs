//! Forwarding to receivers and the Registry, and answering for a receiver that does not
//! answer properly (BaRS 3.3 row 9).

use std::time::Duration;

use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_http::ApiError;
use bars_http::client::{ClientError, ClientResponse, HttpClient};
use bars_http::context::{AUTHENTICATED_APPLICATION, AUTHENTICATED_ORGANISATION};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};

/// Headers that describe one hop and must not be passed on.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "host",
];

/// Never forwarded: the sender's credentials stay at the proxy (BaRS 1.2), and identity headers
/// only the proxy may set are stripped so a sender cannot forge them.
const WITHHELD: [&str; 3] = [
    "authorization",
    AUTHENTICATED_APPLICATION,
    AUTHENTICATED_ORGANISATION,
];

/// Who the proxy vouches for on a forwarded request.
#[derive(Debug, Clone)]
pub struct Vouched {
    pub client_id: String,
    pub ods_code: String,
}

/// Builds the outbound request: same method, path and query under `base`, the sender's headers
/// minus hop-by-hop and withheld ones, plus the proxy's identity headers.
pub fn outbound(
    method: &Method,
    base: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Bytes,
    who: &Vouched,
) -> Result<Request<Bytes>, ApiError> {
    let url = format!("{}{}", base.trim_end_matches('/'), path_and_query);
    let mut request = Request::builder()
        .method(method.clone())
        .uri(&url)
        .body(body)
        .map_err(|_| {
            ApiError::bars(
                BarsCode::ServerError,
                IssueType::Exception,
                "the proxy could not build the forwarded request",
            )
        })?;
    let out = request.headers_mut();
    for (name, value) in headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || WITHHELD.contains(&n) || n == "content-length" {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    for (name, value) in [
        (AUTHENTICATED_APPLICATION, &who.client_id),
        (AUTHENTICATED_ORGANISATION, &who.ods_code),
    ] {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.insert(n, v);
        }
    }
    Ok(request)
}

/// True when a connection failed in the TLS handshake (certificates), not in reaching the host.
fn is_tls_failure(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    ["certificate", "handshake", "tls", "alert"]
        .iter()
        .any(|w| d.contains(w))
}

/// Sends `request` to a receiver and turns what comes back (or does not) into the answer the
/// sender gets.
pub async fn to_receiver(
    client: &HttpClient,
    request: Request<Bytes>,
    timeout: Duration,
) -> Result<ClientResponse, ApiError> {
    match client.send_with_timeout(request, timeout).await {
        Ok(response) => map_receiver_response(response),
        Err(ClientError::Timeout(_)) => Err(ApiError::bars(
            BarsCode::RecTimeout,
            IssueType::Timeout,
            "The connection to the Receiver timed out.",
        )),
        // Under TLS 1.3 a refused client certificate shows only when the response is read, so
        // both kinds of failure are examined.
        Err(ClientError::Connect(detail) | ClientError::Other(detail))
            if is_tls_failure(&detail) =>
        {
            Err(ApiError::bars(
                BarsCode::RecForbidden,
                IssueType::Forbidden,
                "TLS-MA failure: the receiver and the proxy could not authenticate each other.",
            ))
        }
        Err(ClientError::Connect(detail)) | Err(ClientError::Other(detail)) => {
            tracing::warn!(error = %detail, "receiver unreachable");
            Err(ApiError::bars(
                BarsCode::RecServiceUnavailable,
                IssueType::Transient,
                "The receiver could not be reached; try again later.",
            ))
        }
    }
}

/// BaRS 3.3 row 9: the proxy answers for a receiver that failed without a usable
/// OperationOutcome; anything else passes through unchanged.
pub fn map_receiver_response(response: ClientResponse) -> Result<ClientResponse, ApiError> {
    // Only a 500's body decides anything; parsing every body (a slot search's is tens of
    // kilobytes) was a large part of the proxy's work on the way back.
    let outcome = || {
        response
            .json()
            .and_then(|v| bars_fhir::outcome::summarise(&v))
    };
    match response.status.as_u16() {
        503 => Err(ApiError::bars(
            BarsCode::RecServiceUnavailable,
            IssueType::Transient,
            "The response from the receiver was a 503, with no detail. Try again later.",
        )),
        504 => Err(ApiError::bars(
            BarsCode::RecTimeout,
            IssueType::Timeout,
            "The connection to the Receiver timed out.",
        )),
        403 => Err(ApiError::bars(
            BarsCode::RecForbidden,
            IssueType::Forbidden,
            "TLS-MA failure.",
        )),
        500 => match outcome().and_then(|o| o.issue_code) {
            None => Err(ApiError::bars(
                BarsCode::RecServerError,
                IssueType::Exception,
                "unhandled exception.",
            )),
            Some(code) if code == "no-store" => Err(ApiError::bars(
                BarsCode::RecServerError,
                IssueType::NoStore,
                "internal data storage issue.",
            )),
            Some(_) => Ok(response),
        },
        _ => Ok(response),
    }
}

/// Sends a `/DocumentReference` request to the Registry; its answers pass through.
pub async fn to_registry(
    client: &HttpClient,
    request: Request<Bytes>,
    timeout: Duration,
) -> Result<ClientResponse, ApiError> {
    match client.send_with_timeout(request, timeout).await {
        Ok(response) => Ok(response),
        Err(ClientError::Timeout(_)) => Err(ApiError::bars(
            BarsCode::ProxyServiceUnavailable,
            IssueType::Timeout,
            "The Registry did not answer in time.",
        )),
        Err(_) => Err(ApiError::bars(
            BarsCode::ProxyServiceUnavailable,
            IssueType::Transient,
            "The Registry could not be reached; try again later.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn response(status: u16, body: &str) -> ClientResponse {
        ClientResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn row_nine_mapping() {
        let oo = |code: &str| {
            format!(
                r#"{{"resourceType":"OperationOutcome","issue":[{{"severity":"error","code":"{code}"}}]}}"#
            )
        };
        let e = map_receiver_response(response(503, "")).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code(), e.issue),
            (503, "REC_SERVICE_UNAVAILABLE", IssueType::Transient)
        );
        let e = map_receiver_response(response(500, "boom")).unwrap_err();
        assert_eq!(
            (e.code(), e.issue),
            ("REC_SERVER_ERROR", IssueType::Exception)
        );
        let e = map_receiver_response(response(500, &oo("no-store"))).unwrap_err();
        assert_eq!(
            (e.code(), e.issue),
            ("REC_SERVER_ERROR", IssueType::NoStore)
        );
        assert!(
            map_receiver_response(response(500, &oo("transient"))).is_ok(),
            "a 500 with its own outcome passes through"
        );
        let e = map_receiver_response(response(504, "")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code()), (408, "REC_TIMEOUT"));
        let e = map_receiver_response(response(403, &oo("forbidden"))).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code(), e.issue),
            (403, "REC_FORBIDDEN", IssueType::Forbidden)
        );
        for status in [200, 201, 400, 404, 409, 412, 422, 425] {
            assert_eq!(
                map_receiver_response(response(status, &oo("x")))
                    .unwrap()
                    .status
                    .as_u16(),
                status
            );
        }
    }

    #[test]
    fn credentials_and_forged_identity_are_not_forwarded() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer secret"));
        headers.insert(
            AUTHENTICATED_APPLICATION,
            HeaderValue::from_static("forged"),
        );
        headers.insert("x-request-id", HeaderValue::from_static("r"));
        headers.insert("connection", HeaderValue::from_static("close"));
        let who = Vouched {
            client_id: "real-app".into(),
            ods_code: "A1".into(),
        };
        let r = outbound(
            &Method::GET,
            "https://rx/base/",
            "/Slot?x=1",
            &headers,
            Bytes::new(),
            &who,
        )
        .unwrap();
        assert_eq!(r.uri(), "https://rx/base/Slot?x=1");
        assert!(r.headers().get("authorization").is_none());
        assert!(r.headers().get("connection").is_none());
        assert_eq!(r.headers()[AUTHENTICATED_APPLICATION], "real-app");
        assert_eq!(r.headers()[AUTHENTICATED_ORGANISATION], "A1");
        assert_eq!(r.headers()["x-request-id"], "r");
    }
}
