//! The Registry's REST API: `/DocumentReference` as NRL serves it behind the BaRS proxy.
//!
//! Each handler checks in the same order — who is asking, is the request well formed, is the
//! pointer valid, may this caller touch this pointer — so the first problem a caller meets does
//! not depend on which verb they used.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::middleware;
use axum::response::Response;
use axum::routing::{MethodRouter, any, get};
use bars_fhir::IssueType;
use bars_http::ApiError;
use bars_http::fhir_json::fhir_json;
use bars_http::guard::{Guard, guard};
use bars_http::observe::{Observer, observe};
use bars_http::transport::{TransportRules, transport};
use http::{StatusCode, header};
use serde_json::Value;

use crate::access;
use crate::errors::{self, SpineCode, spine, spine_with_status};
use crate::openapi::{ALLOW_COLLECTION, ALLOW_POINTER};
use crate::request::{context, fhir_object, if_match, path_id, query};
use crate::responses;
use crate::rules;
use crate::search::PointerSearch;
use crate::state::RegistryState;
use crate::store::{NewPointer, StoredPointer, WriteError};

/// Times a write is tried when other requests keep changing the pointer between our read and our
/// guarded write (only without `If-Match`; with it, the caller asked to be told instead). Every
/// round lets at least one contender through, so this many concurrent writers all succeed.
const WRITE_ATTEMPTS: usize = 5;

fn allow(
    router: MethodRouter<RegistryState>,
    methods: &'static str,
) -> MethodRouter<RegistryState> {
    router.fallback(move || async move {
        spine_with_status(
            StatusCode::METHOD_NOT_ALLOWED,
            SpineCode::BadRequest,
            IssueType::NotSupported,
            format!("this path accepts only {methods}"),
        )
        .with_header(header::ALLOW, methods)
    })
}

pub fn router(state: RegistryState, rules: TransportRules) -> Router {
    Router::new()
        .route(
            "/DocumentReference",
            allow(get(search).post(create), ALLOW_COLLECTION),
        )
        .route("/DocumentReference/", any(missing_id))
        .route(
            "/DocumentReference/{id}",
            allow(get(read).put(update).delete(delete), ALLOW_POINTER),
        )
        .merge(crate::admin::health(&state))
        .merge(bars_http::openapi::route(crate::openapi::document()))
        .fallback(unknown_path)
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(
            Arc::new(Guard {
                deadline: None,
                panic_error: failed,
            }),
            guard,
        ))
        .layer(middleware::from_fn_with_state(Arc::new(rules), transport))
        .layer(middleware::from_fn_with_state(
            Arc::new(Observer::new("registry", "api", state.http.clone())),
            observe,
        ))
}

fn failed() -> ApiError {
    spine(
        SpineCode::InternalServerError,
        IssueType::Exception,
        "the registry hit an unexpected error",
    )
}

async fn unknown_path() -> ApiError {
    spine(
        SpineCode::ResourceNotFound,
        IssueType::NotFound,
        "the registry serves only /DocumentReference",
    )
}

async fn missing_id() -> ApiError {
    spine(
        SpineCode::InvalidResourceId,
        IssueType::Required,
        "the pointer id is missing from the path",
    )
}

fn id_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = path.map_err(|_| {
        spine(
            SpineCode::InvalidResourceId,
            IssueType::Value,
            "the id in the path could not be read",
        )
    })?;
    path_id(&id)?;
    Ok(id)
}

async fn search(
    State(state): State<RegistryState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    access::caller(&context(&parts))?;
    let search = PointerSearch::parse(&query(&parts)?)?;
    let page = state
        .store
        .search(search.page(state.config.page_size))
        .await
        .map_err(errors::store)?;
    let bundle = responses::search_bundle(&state.config, &search, page);
    Ok(fhir_json(StatusCode::OK, &bundle))
}

async fn create(
    State(state): State<RegistryState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let caller = access::caller(&context(&parts))?;
    let resource = fhir_object(&parts.headers, body, state.config.body_limit).await?;
    let checked = rules::check_as(&resource, pointer_rules(&parts.headers))
        .map_err(|issues| errors::validation(&issues))?;
    access::ensure_custodian(&caller, &checked.keys.custodian, "create")?;
    if let Some(old) = &checked.replaces {
        access::ensure_own_id(&caller, old, "supersede")
            .map_err(|e| e.at("DocumentReference.relatesTo.target"))?;
    }
    // A client-supplied id is ignored: NRL ids are `<custodian ODS>-<uuid>`.
    let id = format!("{}-{}", checked.keys.custodian, uuid::Uuid::new_v4());
    let stored = state
        .store
        .create(
            NewPointer {
                id: id.clone(),
                keys: checked.keys,
                body: resource,
            },
            checked.replaces.clone(),
        )
        .await
        .map_err(|e| errors::write(e, &id))?;
    tracing::info!(id = %stored.id, custodian = %stored.keys.custodian, superseded = ?checked.replaces, "pointer created");
    Ok(responses::created(
        &state.config,
        &stored,
        checked.replaces.as_deref(),
    ))
}

/// The rules a write is held to, by the version its `Accept` names (an `Accept` the transport
/// let through; one it cannot read is held to the older rules).
fn pointer_rules(headers: &http::HeaderMap) -> rules::PointerRules {
    let version = bars_http::fhir_json::check_accept(headers, 1)
        .ok()
        .flatten();
    rules::PointerRules::for_accept(version.as_deref())
}

/// The pointer as the custodian may see it: 404 if absent, 403 if someone else's.
async fn own_pointer(
    state: &RegistryState,
    caller: &str,
    id: &str,
    action: &str,
) -> Result<StoredPointer, ApiError> {
    let stored = state
        .store
        .get(id)
        .await
        .map_err(errors::store)?
        .ok_or_else(|| errors::not_found(id))?;
    access::ensure_custodian(caller, &stored.keys.custodian, action)?;
    Ok(stored)
}

async fn read(
    State(state): State<RegistryState>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let caller = access::caller(&context(&parts))?;
    let id = id_of(path)?;
    access::ensure_own_id(&caller, &id, "read")?;
    let stored = own_pointer(&state, &caller, &id, "read").await?;
    Ok(responses::pointer(&stored))
}

/// The id in a PUT body must be present and equal the id in the URL.
fn check_body_id(resource: &Value, id: &str) -> Result<(), ApiError> {
    match resource.get("id") {
        None | Some(Value::Null) => Err(spine(
            SpineCode::InvalidResourceId,
            IssueType::Required,
            "the DocumentReference must carry its id on update",
        )
        .at("DocumentReference.id")),
        Some(Value::String(body_id)) if body_id == id => Ok(()),
        Some(_) => Err(spine(
            SpineCode::InvalidResourceId,
            IssueType::Value,
            "the id in the body does not match the id in the URL",
        )
        .at("DocumentReference.id")),
    }
}

async fn update(
    State(state): State<RegistryState>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let caller = access::caller(&context(&parts))?;
    let id = id_of(path)?;
    access::ensure_own_id(&caller, &id, "update")?;
    let wanted = if_match(&parts.headers)?;
    let resource = fhir_object(&parts.headers, body, state.config.body_limit).await?;
    check_body_id(&resource, &id)?;
    let checked = rules::check_as(&resource, pointer_rules(&parts.headers))
        .map_err(|issues| errors::validation(&issues))?;
    for _ in 0..WRITE_ATTEMPTS {
        let current = own_pointer(&state, &caller, &id, "update").await?;
        let changes = rules::immutable_changes(&current.keys, &checked.keys);
        if !changes.is_empty() {
            return Err(errors::validation(&changes));
        }
        if let Some(wanted) = wanted
            && wanted != current.version
        {
            return Err(errors::precondition_failed(wanted, current.version));
        }
        let pointer = NewPointer {
            id: id.clone(),
            keys: checked.keys.clone(),
            body: resource.clone(),
        };
        match state.store.update(pointer, current.version).await {
            Ok(stored) => {
                tracing::info!(id = %stored.id, version = stored.version, "pointer updated");
                return Ok(responses::updated(&stored));
            }
            Err(WriteError::VersionMismatch { current: now }) => {
                if let Some(wanted) = wanted {
                    return Err(errors::precondition_failed(wanted, now));
                }
            }
            Err(e) => return Err(errors::write(e, &id)),
        }
    }
    Err(errors::contended())
}

async fn delete(
    State(state): State<RegistryState>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let caller = access::caller(&context(&parts))?;
    let id = id_of(path)?;
    access::ensure_own_id(&caller, &id, "delete")?;
    let wanted = if_match(&parts.headers)?;
    for _ in 0..WRITE_ATTEMPTS {
        let current = own_pointer(&state, &caller, &id, "delete").await?;
        if let Some(wanted) = wanted
            && wanted != current.version
        {
            return Err(errors::precondition_failed(wanted, current.version));
        }
        match state.store.delete(&id, current.version).await {
            Ok(()) => {
                tracing::info!(id = %id, "pointer deleted");
                return Ok(responses::deleted());
            }
            Err(WriteError::VersionMismatch { current: now }) => {
                if let Some(wanted) = wanted {
                    return Err(errors::precondition_failed(wanted, now));
                }
            }
            Err(e) => return Err(errors::write(e, &id)),
        }
    }
    Err(errors::contended())
}
