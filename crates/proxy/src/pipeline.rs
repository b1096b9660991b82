//! Every routed request, checked in the order of BaRS section 3.3 and sent on.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::headers::{HeaderDecodeError, TargetIdentifier};
use bars_http::ApiError;
use bars_http::client::ClientResponse;
use bars_http::context::{TARGET_IDENTIFIER, X_CORRELATION_ID, X_REQUEST_ID, header_str};
use bars_http::fhir_json::{fhir_json, read_body};
use bars_http::observe::Sender;
use http::{HeaderMap, StatusCode, header};

use crate::catalogue::Resolution;
use crate::forward::{self, Vouched};
use crate::metrics::UpstreamTarget;
use crate::routes::{Destination, allows, route_for};
use crate::state::ProxyState;

/// The oldest BaRS version `/DocumentReference` accepts (3.3 row 5).
const REGISTRY_MIN_VERSION: [u64; 3] = [1, 1, 0];

pub async fn pipeline(State(state): State<Arc<ProxyState>>, request: Request) -> Response {
    let mut sender = Sender::default();
    let mut response = match route(&state, request, &mut sender).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    // For the request log: the application the token names, once it was authenticated.
    if sender.application.is_some() {
        response.extensions_mut().insert(sender);
    }
    response
}

async fn route(
    state: &ProxyState,
    request: Request,
    sender: &mut Sender,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let route = route_for(&path).ok_or_else(|| {
        ApiError::bars(
            BarsCode::NotFound,
            IssueType::NotFound,
            "Endpoint on the API does not exist.",
        )
    })?;
    if !allows(&route, &parts.method) {
        return Err(ApiError::method_not_allowed(
            BarsCode::SendMethodNotAllowed,
            route.allow,
        ));
    }
    let headers = &parts.headers;

    // Row 1: the proxy's own CapabilityStatement, for /metadata without a target.
    if path == "/metadata" && header_str(headers, TARGET_IDENTIFIER).is_none() {
        return Ok(fhir_json(StatusCode::OK, &state.capability));
    }
    // Row 2: the sender's access token.
    let principal = crate::auth::bearer::authenticate(headers, &state.auth)?;
    sender.application = Some(principal.client_id.clone());
    sender.organisation = Some(principal.ods_code.clone());
    // Row 0 (per application, so after authentication): rate limiting.
    let per_minute = state
        .auth
        .applications
        .get(&principal.client_id)
        .and_then(|a| a.rate_limit_per_minute)
        .or(state.config.default_rate_limit_per_minute);
    if let Some(limit) = per_minute
        && let Err(wait) = state.limiter.check(&principal.client_id, limit)
    {
        state.metrics.rate_limited();
        return Err(ApiError::bars(
            BarsCode::SendTooManyRequests,
            IssueType::Throttled,
            format!("Too many requests have been made by this application: at most {limit} a minute. Try again later."),
        )
        .with_header(header::RETRY_AFTER, &wait.as_secs().max(1).to_string()));
    }
    // Row 3: the BaRS version asked for (the highest given; 1.0.0 when none is).
    let version = accept_version(headers);
    // Row 4: the request ids.
    let ids_missing = header_str(headers, X_REQUEST_ID).is_none()
        || header_str(headers, X_CORRELATION_ID).is_none();
    // The Endpoint Catalogue's table (delta 6.7): a missing header is the sender's error.
    if ids_missing && route.destination == Destination::Proxy {
        return Err(ApiError::bars(
            BarsCode::SendBadRequest,
            IssueType::Required,
            "X-Request-Id and X-Correlation-Id are required on Endpoint Catalogue requests.",
        ));
    }
    if ids_missing {
        return Err(ApiError::bars(
            BarsCode::BadRequest,
            IssueType::Invalid,
            "The X-Request-Id or the X-Correlation-Id was not included Or the NHSD-Target-Identifier was not included (depending on the endpoint being called).",
        ));
    }
    let who = Vouched {
        client_id: principal.client_id.clone(),
        ods_code: principal.ods_code.clone(),
    };
    let (base, target) = match route.destination {
        // The Endpoint Catalogue, answered here.
        Destination::Proxy => {
            return crate::epc::api::handle(
                state,
                &parts,
                Body::new(body),
                route.pattern,
                &principal.client_id,
                &principal.ods_code,
            )
            .await;
        }
        Destination::Registry => {
            // Row 5: the Registry needs BaRS 1.1.0 or later.
            if version < REGISTRY_MIN_VERSION {
                return Err(ApiError::bars(
                    BarsCode::SendNotAcceptable,
                    IssueType::Processing,
                    "Senders message had an incorrect content type defined for a response: /DocumentReference needs Accept: application/fhir+json; version=1.1.0 or later.",
                ));
            }
            (state.config.registry_url.clone(), UpstreamTarget::Registry)
        }
        // Rows 6 and 7: the target identifier; row 8: the catalogue.
        Destination::Receiver => match state.catalogue.resolve(&target_of(headers)?) {
            Resolution::One(endpoint) => {
                (endpoint.url, UpstreamTarget::Service(endpoint.value.into()))
            }
            Resolution::NotFound => {
                return Err(ApiError::bars(
                    BarsCode::ProxyNotFound,
                    IssueType::NotFound,
                    "The target endpoint does not exist in the Endpoint Catalogue.",
                ));
            }
            // Delta D24: the published example is 404 NOT_FOUND multiple-matches.
            Resolution::Many => {
                return Err(ApiError::bars(
                    BarsCode::NotFound,
                    IssueType::MultipleMatches,
                    "The target identifier matches more than one active endpoint in the Endpoint Catalogue.",
                ));
            }
        },
    };
    let body = read_body(
        Body::new(body),
        state.config.body_limit,
        BarsCode::SendBadRequest,
    )
    .await?;
    let outbound = forward::outbound(&parts.method, &base, &path_and_query, headers, body, &who)?;
    let timeout = state.config.receiver_timeout;
    let started = Instant::now();
    let answer = match route.destination {
        Destination::Registry => forward::to_registry(&state.registry, outbound, timeout).await,
        // Row 9: the receiver's answer, or the proxy's answer for it.
        _ => forward::to_receiver(&state.receivers, outbound, timeout).await,
    };
    state.metrics.upstream(&target, started.elapsed(), &answer);
    relay(answer?)
}

/// Rows 6 and 7 of 3.3.
fn target_of(headers: &HeaderMap) -> Result<TargetIdentifier, ApiError> {
    let Some(raw) = header_str(headers, TARGET_IDENTIFIER) else {
        return Err(ApiError::bars(
            BarsCode::SendBadRequest,
            IssueType::Required,
            "The NHSD-Target-Identifier header is required on this endpoint.",
        ));
    };
    TargetIdentifier::decode(raw).map_err(|e| match e {
        HeaderDecodeError::Schema => ApiError::bars(
            BarsCode::ProxyBadRequest,
            IssueType::Structure,
            "Invalid schema for NHSD-Target-Identifier header",
        ),
        _ => ApiError::bars(
            BarsCode::ProxyBadRequest,
            IssueType::Invalid,
            "The base64 decoding of the NHSD-Target-Identifier header failed.",
        ),
    })
}

/// The highest `version=` offered in `Accept`, as numbers; `1.0.0` when none is (as the
/// central proxy reads it).
pub fn accept_version(headers: &HeaderMap) -> [u64; 3] {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .filter_map(|p| p.trim().strip_prefix("version="))
        .map(|v| {
            let mut parts = v
                .trim_matches('"')
                .split(['.', '-'])
                .map(bars_http::fhir_json::version_component);
            [
                parts.next().unwrap_or(0),
                parts.next().unwrap_or(0),
                parts.next().unwrap_or(0),
            ]
        })
        .max()
        .unwrap_or([1, 0, 0])
}

/// The forwarded answer as the sender's response (hop-by-hop headers dropped).
fn relay(upstream: ClientResponse) -> Result<Response, ApiError> {
    let mut response = Response::new(Body::from(upstream.body));
    *response.status_mut() = upstream.status;
    for (name, value) in &upstream.headers {
        if matches!(
            name.as_str(),
            "connection"
                | "keep-alive"
                | "transfer-encoding"
                | "content-length"
                | "upgrade"
                | "trailer"
                | "te"
        ) {
            continue;
        }
        response.headers_mut().append(name.clone(), value.clone());
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    #[test]
    fn accept_versions() {
        let mut h = HeaderMap::new();
        assert_eq!(accept_version(&h), [1, 0, 0]);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/fhir+json; version=1.1.0"),
        );
        assert_eq!(accept_version(&h), [1, 1, 0]);
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "application/fhir+json;version=1.0.0, application/fhir+json;version=1.2.0",
            ),
        );
        assert_eq!(accept_version(&h), [1, 2, 0]);
        // A component too large for u64 is a later version than any, not 1.0.0.
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/fhir+json; version=1.99999999999999999999.0"),
        );
        assert_eq!(accept_version(&h), [1, u64::MAX, 0]);
    }

    #[test]
    fn target_rows() {
        let mut h = HeaderMap::new();
        assert_eq!(target_of(&h).unwrap_err().issue, IssueType::Required);
        h.insert(TARGET_IDENTIFIER, HeaderValue::from_static("%%%"));
        let e = target_of(&h).unwrap_err();
        assert_eq!(
            (e.code(), e.issue),
            ("PROXY_BAD_REQUEST", IssueType::Invalid)
        );
        h.insert(
            TARGET_IDENTIFIER,
            HeaderValue::from_str(&bars_fhir::headers::encode_base64_json(
                &json!({"value": "x"}),
            ))
            .unwrap(),
        );
        let e = target_of(&h).unwrap_err();
        assert_eq!(
            (e.code(), e.issue),
            ("PROXY_BAD_REQUEST", IssueType::Structure)
        );
        h.insert(
            TARGET_IDENTIFIER,
            HeaderValue::from_str(&TargetIdentifier::dos("1").encode()).unwrap(),
        );
        assert_eq!(target_of(&h).unwrap(), TargetIdentifier::dos("1"));
    }
}
