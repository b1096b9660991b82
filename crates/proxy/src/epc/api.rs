//! The catalogue's HTTP edge: the EPC request headers (delta 6.2), the paths of 6.3 dispatched
//! to searches, reads and the write rules, and the answers OAS14 and D19 give (201 with
//! `Location` for a create, 200 or 201 for an upsert, the `200-Delete` OperationOutcome).
//! Reached from the proxy's pipeline after the bearer token, rate limit and request ids.

use axum::body::Body;
use axum::response::Response;
use bars_fhir::IssueType;
use bars_fhir::bundle::{SearchEntry, SearchMode, searchset};
use bars_fhir::codes::{BarsCode, HTTP_ERROR_CODES_SYSTEM};
use bars_fhir::headers::{EndUserOrganisation, decode_base64_json};
use bars_fhir::instant::Instant;
use bars_fhir::search::Query;
use bars_http::ApiError;
use bars_http::context::{END_USER_ORGANISATION, X_CORRELATION_ID, X_REQUEST_ID, header_str};
use bars_http::fhir_json::{fhir_json, parse_json_object, read_body};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::errors::{EpcError, store_error};
use super::record::{Caller, EndpointRecord, Kind};
use super::rules::{self, Answer, Write};
use super::search;
use crate::directory::DirectoryError;
use crate::state::ProxyState;

/// The catalogue's paths, as the proxy's route table writes them.
pub const SERVICES: &str = "/HealthcareService";
pub const SERVICE: &str = "/HealthcareService/{id}";
pub const ENDPOINTS: &str = "/Endpoint";
pub const TEMPLATES: &str = "/Endpoint/$template";
pub const ENDPOINT: &str = "/Endpoint/{id}";
pub const TEMPLATE: &str = "/Endpoint/{id}/$template";

fn bad(issue: IssueType, text: &str) -> ApiError {
    ApiError::bars(BarsCode::SendBadRequest, issue, text)
}

/// Delta 6.2: request ids as uuids, an `Accept` that takes FHIR JSON (no version needed, none
/// gated, D14), and `NHSD-End-User-Organisation` naming an ODS code. Returns that code.
fn check_headers(headers: &HeaderMap) -> Result<String, ApiError> {
    for name in [X_REQUEST_ID, X_CORRELATION_ID] {
        if header_str(headers, name).is_some_and(|v| uuid::Uuid::parse_str(v).is_err()) {
            return Err(bad(
                IssueType::Value,
                &format!("{name} must be a UUID on Endpoint Catalogue requests"),
            ));
        }
    }
    let accepts: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .collect();
    if accepts.is_empty() {
        return Err(bad(
            IssueType::Required,
            "The Accept header is required on Endpoint Catalogue requests (application/fhir+json).",
        ));
    }
    if !accepts.iter().any(|a| {
        [
            "application/fhir+json",
            "application/json",
            "application/*",
            "*/*",
        ]
        .iter()
        .any(|ok| a.eq_ignore_ascii_case(ok))
    }) {
        return Err(ApiError::bars(
            BarsCode::SendNotAcceptable,
            IssueType::Processing,
            "The Endpoint Catalogue answers application/fhir+json only.",
        ));
    }
    let Some(raw) = header_str(headers, END_USER_ORGANISATION) else {
        return Err(bad(
            IssueType::Required,
            "The NHSD-End-User-Organisation header is required on Endpoint Catalogue requests.",
        ));
    };
    let organisation = decode_base64_json(raw)
        .map(|v| EndUserOrganisation::from_json(&v))
        .map_err(|_| {
            bad(
                IssueType::Value,
                "NHSD-End-User-Organisation must be a Base64-encoded FHIR Organization",
            )
        })?;
    organisation.ods_code.ok_or_else(|| {
        bad(
            IssueType::Value,
            "NHSD-End-User-Organisation must carry an identifier with the ODS code system",
        )
    })
}

/// The path's id segment (`/Endpoint/{id}`, `/Endpoint/{id}/$template`).
fn id_of(path: &str) -> String {
    path.trim_start_matches('/')
        .split('/')
        .nth(1)
        .unwrap_or("")
        .to_string()
}

fn directory_error(e: DirectoryError) -> ApiError {
    match e {
        DirectoryError::Refused(e) => e.into_api(),
        DirectoryError::Store(e) => store_error(e),
        other => ApiError::bars(
            BarsCode::ProxyServerError,
            IssueType::Exception,
            other.to_string(),
        ),
    }
}

fn with_header(mut response: Response, name: header::HeaderName, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
    response
}

/// Answers one catalogue request from the application `client_id` of the organisation
/// `authenticated` (the proxy vouches for both; the header is the sender's word, so a write
/// under another organisation is refused). A configured catalogue admin acts as the IG's
/// "Admin": it changes and reads any record.
pub async fn handle(
    state: &ProxyState,
    parts: &Parts,
    body: Body,
    pattern: &'static str,
    client_id: &str,
    authenticated: &str,
) -> Result<Response, ApiError> {
    let end_user = check_headers(&parts.headers)?;
    let admin = state.config.catalogue_admins.iter().any(|a| a == client_id);
    let caller = if admin {
        Caller::Admin
    } else {
        Caller::Organisation(authenticated.to_string())
    };
    let path = parts.uri.path();
    let method = &parts.method;
    if *method != Method::GET && !admin && !end_user.eq_ignore_ascii_case(authenticated) {
        return Err(ApiError::bars(
            BarsCode::SendForbidden,
            IssueType::Forbidden,
            format!(
                "NHSD-End-User-Organisation names {end_user}, but the application is registered to {authenticated}: the catalogue is changed by its owners only."
            ),
        ));
    }
    let kind = match pattern {
        SERVICES | SERVICE => Kind::Service,
        TEMPLATES | TEMPLATE => Kind::Template,
        _ => Kind::Endpoint,
    };
    match (pattern, method.as_str()) {
        (SERVICES | ENDPOINTS | TEMPLATES, "GET") => search(state, parts, kind, &caller),
        (SERVICE | ENDPOINT, "GET") => read(state, kind, &id_of(path), &caller),
        (SERVICES | ENDPOINTS | TEMPLATES, "POST") => {
            let body = json_body(state, body).await?;
            write(state, kind, Write::Create(body), &caller).await
        }
        (SERVICE | ENDPOINT | TEMPLATE, "PUT") => {
            let body = json_body(state, body).await?;
            let if_match = header_str(&parts.headers, "if-match").map(str::to_string);
            let id = id_of(path);
            write(state, kind, Write::Put { id, body, if_match }, &caller).await
        }
        (SERVICE | ENDPOINT | TEMPLATE, "DELETE") => {
            write(state, kind, Write::Delete { id: id_of(path) }, &caller).await
        }
        _ => Err(ApiError::bars(
            BarsCode::SendMethodNotAllowed,
            IssueType::NotSupported,
            "this Endpoint Catalogue path does not accept that method",
        )),
    }
}

async fn json_body(state: &ProxyState, body: Body) -> Result<Value, ApiError> {
    let bytes = read_body(body, state.config.body_limit, BarsCode::SendBadRequest).await?;
    parse_json_object(&bytes, BarsCode::SendBadRequest)
}

fn full_url(base: &str, kind: Kind, id: &str) -> String {
    match kind {
        Kind::Service => format!("{base}/HealthcareService/{id}"),
        Kind::Endpoint => format!("{base}/Endpoint/{id}"),
        Kind::Template => format!("{base}/Endpoint/{id}/$template"),
    }
}

fn search(
    state: &ProxyState,
    parts: &Parts,
    kind: Kind,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let query =
        Query::parse(parts.uri.query()).map_err(|e| bad(IssueType::Value, &e.to_string()))?;
    let catalogue = state.catalogue.state();
    let base = &state.config.base_url;
    let endpoint_entry = |e: &EndpointRecord| SearchEntry {
        full_url: full_url(base, kind, &e.id),
        resource: e.resource_for(caller),
        mode: SearchMode::Match,
    };
    let entries: Vec<SearchEntry> = match kind {
        Kind::Service => search::services(&catalogue, &query)
            .map_err(EpcError::into_api)?
            .into_iter()
            .map(|s| SearchEntry {
                full_url: full_url(base, kind, &s.id),
                resource: s.resource(),
                mode: SearchMode::Match,
            })
            .collect(),
        Kind::Endpoint => search::endpoints(&catalogue, &query)
            .map_err(EpcError::into_api)?
            .into_iter()
            .map(endpoint_entry)
            .collect(),
        Kind::Template => search::templates(&catalogue, &query)
            .map_err(EpcError::into_api)?
            .into_iter()
            .map(endpoint_entry)
            .collect(),
    };
    let self_link = format!(
        "{base}{}",
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or_default()
    );
    let bundle = searchset(entries.len() as u64, &self_link, None, entries);
    Ok(with_header(
        fhir_json(StatusCode::OK, &bundle),
        header::VARY,
        "authorization",
    ))
}

fn read(state: &ProxyState, kind: Kind, id: &str, caller: &Caller) -> Result<Response, ApiError> {
    let catalogue = state.catalogue.state();
    let (resource, etag) = match kind {
        Kind::Service => catalogue
            .services
            .get(id)
            .map(|s| (s.resource(), s.meta.etag()))
            .ok_or(EpcError::NotFound("HealthcareService")),
        _ => catalogue
            .endpoints_of(kind)
            .get(id)
            .map(|e| (e.resource_for(caller), e.meta.etag()))
            .ok_or(EpcError::NotFound("Endpoint")),
    }
    .map_err(EpcError::into_api)?;
    let response = with_header(fhir_json(StatusCode::OK, &resource), header::ETAG, &etag);
    Ok(with_header(response, header::VARY, "authorization"))
}

/// The `200-Delete` OperationOutcome of OAS14.
fn deleted() -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "lastUpdated": Instant::now().to_string() },
        "issue": [{
            "severity": "information",
            "code": "informational",
            "details": { "coding": [{ "system": HTTP_ERROR_CODES_SYSTEM, "code": "OK", "display": "OK" }] },
            "diagnostics": "Resource deleted successfully."
        }]
    })
}

async fn write(
    state: &ProxyState,
    kind: Kind,
    write: Write,
    caller: &Caller,
) -> Result<Response, ApiError> {
    let answer = state
        .directory
        .change_catalogue(|catalogue| {
            rules::decide(catalogue, kind, write.clone(), caller, Instant::now())
                .map(|d| (d.changes, d.answer))
        })
        .await
        .map_err(directory_error)?;
    Ok(match answer {
        Answer::Created { id, resource, etag } => {
            let location = full_url(&state.config.base_url, kind, &id);
            let response = fhir_json(StatusCode::CREATED, &resource);
            with_header(
                with_header(response, header::LOCATION, &location),
                header::ETAG,
                &etag,
            )
        }
        Answer::Updated { resource, etag } => {
            with_header(fhir_json(StatusCode::OK, &resource), header::ETAG, &etag)
        }
        Answer::Deleted => fhir_json(StatusCode::OK, &deleted()),
    })
}
