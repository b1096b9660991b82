//! Transport rules every BaRS endpoint shares: the request ids (required, UUID, echoed on every
//! response including errors), the `Accept` version check and the OWASP response headers.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::context::{PeerInfo, RequestContext, X_CORRELATION_ID, X_REQUEST_ID, header_str};
use crate::error::ApiError;
use crate::fhir_json::check_accept;
use crate::observe::Sender;

/// How one role applies the transport rules.
#[derive(Debug, Clone)]
pub struct TransportRules {
    /// Paths (exact) that need no request ids: health checks and documents for operators.
    pub exempt_paths: Vec<String>,
    /// The code for a missing or malformed id (`REC_BAD_REQUEST` for receivers).
    pub bad_request: BarsCode,
    /// The code for an unacceptable `Accept` (`REC_NOT_ACCEPTABLE`).
    pub not_acceptable: BarsCode,
    /// The BaRS major version served; `None` skips the `Accept` check.
    pub accept_major: Option<u32>,
    /// Whether `X-Request-ID` and `X-Correlation-ID` must be present (they are always echoed).
    pub require_request_ids: bool,
    /// Whether `X-Request-ID` and `X-Correlation-ID` must be UUIDs.
    pub ids_must_be_uuids: bool,
    /// When the proxy's authenticated-application header is believed.
    pub trust_application_header: Trust,
    /// Refuse (403 `REC_FORBIDDEN`) requests on connections without a verified client
    /// certificate: BaRS receivers accept only the proxy, over mutual TLS.
    pub require_client_certificate: bool,
}

/// When a header set by the proxy may be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Never,
    /// Only on connections whose client presented a certificate the listener verified.
    VerifiedClient,
    /// Always: for a private development network without TLS.
    Always,
}

impl TransportRules {
    pub fn receiver() -> Self {
        TransportRules {
            exempt_paths: vec!["/_ping".into(), "/_status".into(), "/openapi.json".into()],
            bad_request: BarsCode::RecBadRequest,
            not_acceptable: BarsCode::RecNotAcceptable,
            accept_major: Some(1),
            require_request_ids: true,
            ids_must_be_uuids: true,
            trust_application_header: Trust::VerifiedClient,
            require_client_certificate: false,
        }
    }
}

/// The OWASP REST-security response headers, plus `Cache-Control: no-store` because every
/// response may carry patient data and must not be kept by intermediaries.
pub fn apply_security_headers(headers: &mut HeaderMap) {
    let fixed: [(HeaderName, &'static str); 6] = [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// The request ids as sent, kept to be echoed on the response once the request itself has
/// gone to the handler (copying its whole header map for two values was an allocation of every
/// header on every request).
pub struct SentIds([Option<HeaderValue>; 2]);

/// The id headers echoed, each with the spelling it is echoed under.
const ECHOED: [(&str, &str); 2] = [
    (X_REQUEST_ID, "X-Request-ID"),
    (X_CORRELATION_ID, "X-Correlation-ID"),
];

impl SentIds {
    pub fn of(request: &HeaderMap) -> SentIds {
        SentIds(ECHOED.map(|(name, _)| request.get(name).cloned()))
    }

    /// Copies them onto a response, whatever it is.
    pub fn echo(self, response: &mut HeaderMap) {
        for ((_, canonical), value) in ECHOED.into_iter().zip(self.0) {
            if let Some(v) = value
                && let Ok(name) = HeaderName::from_bytes(canonical.as_bytes())
            {
                response.insert(name, v);
            }
        }
    }
}

fn check_id(
    headers: &HeaderMap,
    name: &str,
    label: &str,
    rules: &TransportRules,
) -> Result<String, ApiError> {
    let Some(raw) = headers.get(name) else {
        return Err(ApiError::bars(
            rules.bad_request,
            IssueType::Required,
            format!("the {label} header is required"),
        ));
    };
    let value = raw.to_str().map(str::trim).unwrap_or("");
    if value.is_empty() {
        return Err(ApiError::bars(
            rules.bad_request,
            IssueType::Required,
            format!("the {label} header is required"),
        ));
    }
    if rules.ids_must_be_uuids && uuid::Uuid::try_parse(value).is_err() {
        return Err(ApiError::bars(
            rules.bad_request,
            IssueType::Value,
            format!("the {label} header must be a UUID"),
        ));
    }
    Ok(value.to_string())
}

/// Middleware: checks the transport headers, puts a [`RequestContext`] in the request's
/// extensions, and decorates every response.
pub async fn transport(
    State(rules): State<Arc<TransportRules>>,
    mut request: Request,
    next: Next,
) -> Response {
    let ids = SentIds::of(request.headers());
    let mut response = if rules.exempt_paths.iter().any(|p| p == request.uri().path()) {
        next.run(request).await
    } else {
        let verified = request
            .extensions()
            .get::<PeerInfo>()
            .is_some_and(|p| p.client_certificate.is_some());
        match admit(&rules, request.headers(), verified) {
            Ok(context) => {
                let sender = Sender {
                    organisation: context
                        .sender_ods()
                        .map(str::to_string)
                        .or_else(|| context.authenticated_organisation.clone()),
                    application: context.application.clone(),
                };
                request.extensions_mut().insert(context);
                let mut response = next.run(request).await;
                // An inner layer that authenticated the sender itself knows better.
                if response.extensions().get::<Sender>().is_none() {
                    response.extensions_mut().insert(sender);
                }
                response
            }
            Err(refusal) => refusal.into_response(),
        }
    };
    ids.echo(response.headers_mut());
    apply_security_headers(response.headers_mut());
    response
}

fn admit(
    rules: &TransportRules,
    headers: &HeaderMap,
    verified_client: bool,
) -> Result<RequestContext, ApiError> {
    if rules.require_client_certificate && !verified_client {
        return Err(ApiError::bars(
            BarsCode::RecForbidden,
            IssueType::Forbidden,
            "TLS-MA failure: this receiver accepts only clients presenting a certificate from its trusted CA",
        ));
    }
    let (request_id, correlation_id) = if rules.require_request_ids {
        (
            check_id(headers, X_REQUEST_ID, "X-Request-ID", rules)?,
            check_id(headers, X_CORRELATION_ID, "X-Correlation-ID", rules)?,
        )
    } else {
        let (r, c) = ids_of(headers);
        (r, c)
    };
    let accept_version = match rules.accept_major {
        Some(major) => check_accept(headers, major)
            .map_err(|refusal| refusal.to_error(rules.not_acceptable))?,
        None => None,
    };
    let mut context = RequestContext::from_headers(
        headers,
        request_id,
        correlation_id,
        match rules.trust_application_header {
            Trust::Never => false,
            Trust::VerifiedClient => verified_client,
            Trust::Always => true,
        },
    );
    context.accept_version = accept_version;
    Ok(context)
}

/// The request ids as a log field pair, for lines written outside a handler.
pub fn ids_of(headers: &HeaderMap) -> (String, String) {
    (
        header_str(headers, X_REQUEST_ID).unwrap_or("-").to_string(),
        header_str(headers, X_CORRELATION_ID)
            .unwrap_or("-")
            .to_string(),
    )
}
