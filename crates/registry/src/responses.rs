//! Successful answers, shaped as NRL shapes them: writes answer with an informational
//! OperationOutcome coded from `NRLF-SuccessCode`, reads with the pointer and its ETag, searches
//! with a searchset Bundle whose continuation token is in `meta.tag` (as NRL puts it) and in a
//! `next` link (as FHIR clients look for it).

use axum::response::Response;
use bars_fhir::bundle::{SearchEntry, SearchMode, searchset};
use bars_fhir::outcome::{Coding, informational};
use bars_http::fhir_json::{fhir_json, fhir_response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use crate::config::RegistryConfig;
use crate::search::PointerSearch;
use crate::store::{PointerPage, StoredPointer};

/// The code system of NRL's success outcomes.
pub const SUCCESS_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/NRLF-SuccessCode";

/// The `meta.tag` display NRL gives the continuation token.
pub const NEXT_PAGE_TAG: &str = "next_page_token";

fn success(code: &str, display: &str) -> Coding {
    Coding::new(SUCCESS_SYSTEM, code, Some(display.to_string()))
}

fn with_etag(mut response: Response, version: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// 201 with `Location`; `superseded` names the pointer the new one replaced.
pub fn created(
    config: &RegistryConfig,
    stored: &StoredPointer,
    superseded: Option<&str>,
) -> Response {
    let diagnostics = match superseded {
        Some(old) => format!(
            "The document has been created and DocumentReference/{old} has been superseded (deleted)"
        ),
        None => "The document has been created".to_string(),
    };
    let outcome = informational(
        Some(&success("RESOURCE_CREATED", "Resource created")),
        &diagnostics,
    );
    let mut response = with_etag(fhir_json(StatusCode::CREATED, &outcome), stored.version);
    if let Ok(v) = HeaderValue::from_str(&config.pointer_url(&stored.id)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

pub fn updated(stored: &StoredPointer) -> Response {
    let outcome = informational(
        Some(&success("RESOURCE_UPDATED", "Resource updated")),
        "The DocumentReference has been updated",
    );
    with_etag(fhir_json(StatusCode::OK, &outcome), stored.version)
}

pub fn deleted() -> Response {
    let outcome = informational(
        Some(&success("RESOURCE_DELETED", "Resource deleted")),
        "The DocumentReference has been deleted",
    );
    fhir_json(StatusCode::OK, &outcome)
}

pub fn pointer(stored: &StoredPointer) -> Response {
    with_etag(
        fhir_response(StatusCode::OK, stored.body.to_string()),
        stored.version,
    )
}

/// One page of results. `total` counts every match, not just this page.
pub fn search_bundle(config: &RegistryConfig, search: &PointerSearch, page: PointerPage) -> Value {
    let next = page
        .next
        .map(|cursor| (cursor.encode(), search.link(&config.base_url, Some(cursor))));
    let entries = page
        .pointers
        .into_iter()
        .map(|p| SearchEntry {
            full_url: config.pointer_url(&p.id),
            resource: p.body,
            mode: SearchMode::Match,
        })
        .collect();
    let mut bundle = searchset(
        page.total,
        &search.link(&config.base_url, search.after),
        next.as_ref().map(|(_, link)| link.as_str()),
        entries,
    );
    if let Some((token, _)) = next
        && let Some(meta) = bundle.get_mut("meta").and_then(Value::as_object_mut)
    {
        meta.insert(
            "tag".into(),
            json!([{ "code": token, "display": NEXT_PAGE_TAG }]),
        );
    }
    bundle
}
