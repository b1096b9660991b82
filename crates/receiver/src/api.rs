//! The sender-facing REST API: routes, and handlers that translate HTTP to the booking
//! service and back.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use bars_booking::Scope;
use bars_fhir::bundle::{SearchEntry, SearchMode, history, searchset};
use bars_fhir::codes::BarsCode;
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use bars_fhir::outcome::{Coding, informational};
use bars_fhir::search::{Query, Token, encode_component};
use bars_fhir::{Instant, IssueType, NhsNumber};
use bars_http::fhir_json::{
    BodyKind, body_kind, fhir_json, fhir_response, parse_json_object, parse_json_object_or_array,
    read_body,
};
use bars_http::guard::{Guard, guard};
use bars_http::observe::{Observer, observe};
use bars_http::transport::{TransportRules, transport};
use bars_http::{ApiError, RequestContext};
use bars_store::{AppointmentCursor, AppointmentQuery, HistoryPage, HistoryQuery};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use crate::audit;
use crate::errors;
use crate::messaging;
use crate::paging;
use crate::requests;
use crate::scope;
use crate::service::{Edit, PatchDocument, Written, not_found};
use crate::slots::{SlotSearch, search as slot_search};
use crate::state::AppState;

/// The methods each path accepts; 405 answers name them in `Allow`.
pub const ALLOW_METADATA: &str = "GET";
pub const ALLOW_SLOT: &str = "GET";
pub const ALLOW_APPOINTMENTS: &str = "GET, POST";
pub const ALLOW_APPOINTMENT: &str = "GET, PUT, PATCH, DELETE";
pub const ALLOW_HISTORY: &str = "GET";
pub const ALLOW_PROCESS_MESSAGE: &str = "POST";
pub const ALLOW_MESSAGE_DEFINITION: &str = "GET";

fn allow(router: MethodRouter<AppState>, methods: &'static str) -> MethodRouter<AppState> {
    router.fallback(move || async move {
        ApiError::method_not_allowed(BarsCode::RecMethodNotAllowed, methods)
    })
}

pub fn router(state: AppState, transport_rules: TransportRules) -> Router {
    let timeout = state.config.request_timeout;
    Router::new()
        .route("/metadata", allow(get(metadata), ALLOW_METADATA))
        .route("/Slot", allow(get(search_slots), ALLOW_SLOT))
        .route("/Slots", allow(get(search_slots), ALLOW_SLOT))
        .route(
            "/Appointment",
            allow(get(search_appointments).post(create), ALLOW_APPOINTMENTS),
        )
        .route("/Appointment/", any(missing_id))
        .route(
            "/Appointment/{id}",
            allow(
                get(read).put(update).patch(patch).delete(cancel),
                ALLOW_APPOINTMENT,
            ),
        )
        .route(
            "/Appointment/{id}/_history",
            allow(get(read_history), ALLOW_HISTORY),
        )
        .route(
            "/Appointment/{id}/_history/{vid}",
            allow(get(read_version), ALLOW_HISTORY),
        )
        .route(
            "/$process-message",
            allow(post(process_message), ALLOW_PROCESS_MESSAGE),
        )
        // `$` is a legal path character, but some clients percent-encode it.
        .route(
            "/%24process-message",
            allow(post(process_message), ALLOW_PROCESS_MESSAGE),
        )
        .route(
            "/MessageDefinition",
            allow(get(search_message_definitions), ALLOW_MESSAGE_DEFINITION),
        )
        .route("/ServiceRequest", any(referrals))
        .route("/ServiceRequest/{*rest}", any(referrals))
        .merge(crate::health::routes(&state))
        .merge(bars_http::openapi::route(crate::openapi::document()))
        .fallback(unknown_path)
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(
            std::sync::Arc::new(Guard::receiver(timeout)),
            guard,
        ))
        .layer(middleware::from_fn_with_state(
            std::sync::Arc::new(state.config.access.clone()),
            crate::access::enforce,
        ))
        .layer(middleware::from_fn_with_state(
            std::sync::Arc::new(transport_rules),
            transport,
        ))
        .layer(middleware::from_fn_with_state(
            std::sync::Arc::new(Observer::new("receiver", "api", state.metrics.http.clone())),
            observe,
        ))
}

async fn unknown_path() -> ApiError {
    ApiError::bars(
        BarsCode::RecNotFound,
        IssueType::NotFound,
        "this receiver serves no such path",
    )
}

/// Referrals share the BaRS API but are not part of the Appointment Management Foundation.
async fn referrals() -> ApiError {
    ApiError::bars(
        BarsCode::RecNotImplemented,
        IssueType::NotSupported,
        "referrals (ServiceRequest) are not implemented by this receiver",
    )
}

async fn missing_id() -> ApiError {
    ApiError::bars(
        BarsCode::RecBadRequest,
        IssueType::Required,
        "the appointment id is missing from the path",
    )
}

async fn metadata(State(state): State<AppState>) -> Response {
    fhir_json(StatusCode::OK, &state.capability)
}

fn query_of(request: &http::request::Parts) -> Result<Query, ApiError> {
    Query::parse(request.uri.query())
        .map_err(|e| ApiError::bars(BarsCode::RecBadRequest, IssueType::Value, e.to_string()))
}

fn context(parts: &http::request::Parts) -> RequestContext {
    parts
        .extensions
        .get::<RequestContext>()
        .cloned()
        .unwrap_or_default()
}

/// The request's context and the service it is addressed to.
fn addressed(parts: &http::request::Parts) -> Result<(RequestContext, Scope), ApiError> {
    let ctx = context(parts);
    let scope = scope::addressed(&parts.headers, &ctx)?;
    Ok((ctx, scope))
}

async fn search_slots(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let (ctx, scope) = addressed(&parts)?;
    let search = SlotSearch::parse(
        &query_of(&parts)?,
        &scope,
        state.config.max_search_window,
        state.config.max_page_size,
    )?;
    crate::access::check_owner(&state.config, &ctx, Some(&search.service_id))?;
    if search
        .includes
        .iter()
        .any(|i| i.starts_with("Schedule:actor:Practitioner"))
    {
        crate::access::check_practitioner_details(&state.config, &ctx, &search.service_id)?;
    }
    let bundle = slot_search(&state, &search).await?;
    Ok(fhir_json(StatusCode::OK, &bundle))
}

fn check_id(id: &str) -> Result<(), ApiError> {
    uuid::Uuid::try_parse(id).map(|_| ()).map_err(|_| {
        ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Value,
            "the appointment id must be a UUID",
        )
    })
}

/// `W/"3"`, `"3"` or `3`.
fn parse_if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    let inner = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    inner.parse::<u64>().map(Some).map_err(|_| {
        ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Value,
            "If-Match must be an ETag such as W/\"3\"",
        )
    })
}

/// `Last-Modified` wants an HTTP date (RFC 9110 IMF-fixdate, always GMT). Every `Instant` has
/// a four-digit year, so jiff's printer cannot refuse it; the header is left out if it did.
pub fn http_date(i: Instant) -> Option<String> {
    jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&i.to_timestamp())
        .ok()
}

fn with_version_headers(mut response: Response, version: u64, last_updated: Instant) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("W/\"{version}\"")) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = http_date(last_updated).and_then(|d| HeaderValue::from_str(&d).ok()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    response
}

async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (ctx, scope) = addressed(&request.into_parts().0)?;
    check_id(&id)?;
    let found = state.bookings.appointment(&ctx, &scope, &id).await?;
    let mut entry = audit::entry(&ctx, "read", "Appointment");
    entry.resource_id = Some(id.clone());
    let Some(record) = found else {
        entry.outcome = 404;
        state.audit.record(entry).await;
        return Err(not_found(&id));
    };
    entry.version = Some(record.version);
    entry.outcome = 200;
    entry.patient = record.patient.clone();
    state.audit.record(entry).await;
    Ok(with_version_headers(
        fhir_response(StatusCode::OK, record.body),
        record.version,
        record.last_updated,
    ))
}

async fn read_version(
    State(state): State<AppState>,
    Path((id, vid)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (ctx, scope) = addressed(&request.into_parts().0)?;
    check_id(&id)?;
    let version = paging::version_id(&vid)?;
    // Another service's appointment has no versions to this request.
    let found = match state.bookings.appointment(&ctx, &scope, &id).await? {
        Some(_) => state
            .store
            .get_appointment_version(&id, version)
            .await
            .map_err(errors::store)?,
        None => None,
    };
    let mut entry = audit::entry(&ctx, "vread", "Appointment");
    entry.resource_id = Some(id.clone());
    entry.version = Some(version);
    entry.outcome = if found.is_some() { 200 } else { 404 };
    state.audit.record(entry).await;
    let v = found.ok_or_else(|| {
        ApiError::bars(
            BarsCode::RecNotFound,
            IssueType::NotFound,
            format!("Appointment/{id} has no version {version}"),
        )
    })?;
    Ok(with_version_headers(
        fhir_response(StatusCode::OK, v.body),
        v.version,
        v.last_updated,
    ))
}

async fn read_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let (ctx, scope) = addressed(&parts)?;
    check_id(&id)?;
    let query = query_of(&parts)?;
    let count = paging::page_size(&query, paging::HISTORY_PAGE)?;
    let before = paging::history_cursor(&query)?;
    // Another service's appointment has no history to this request.
    let page = match state.bookings.appointment(&ctx, &scope, &id).await? {
        Some(_) => state
            .store
            .appointment_history(HistoryQuery {
                id: id.clone(),
                before,
                limit: count,
            })
            .await
            .map_err(errors::store)?,
        None => HistoryPage {
            versions: Vec::new(),
            total: 0,
        },
    };
    let mut entry = audit::entry(&ctx, "history", "Appointment");
    entry.resource_id = Some(id.clone());
    entry.outcome = if page.total == 0 { 404 } else { 200 };
    state.audit.record(entry).await;
    if page.total == 0 {
        return Err(not_found(&id));
    }
    let mut versions = page.versions;
    let next = (versions.len() > count).then(|| {
        versions.truncate(count);
        versions.last().map(|v| paging::history_token(v.version))
    });
    let base = &state.config.base_url;
    let link = |after: Option<&str>| {
        let mut url = format!("{base}/Appointment/{id}/_history?{}={count}", paging::COUNT);
        if let Some(token) = after {
            url.push_str(&format!("&{}={token}", paging::PAGE_AFTER));
        }
        url
    };
    let this = before.map(paging::history_token);
    let next = next.flatten().map(|t| link(Some(&t)));
    let entries = versions
        .into_iter()
        .map(|v| {
            (
                format!("{base}/Appointment/{id}/_history/{}", v.version),
                serde_json::from_str(&v.body).unwrap_or(Value::Null),
            )
        })
        .collect();
    Ok(fhir_json(
        StatusCode::OK,
        &history(page.total, &link(this.as_deref()), next.as_deref(), entries),
    ))
}

async fn search_appointments(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let (ctx, scope) = addressed(&parts)?;
    let service = state.bookings.searchable(&ctx, &scope)?;
    let query = query_of(&parts)?;
    let raw = query.first(&["patient:identifier"]).ok_or_else(|| {
        ApiError::bars(BarsCode::RecBadRequest, IssueType::Required, "the patient:identifier parameter is required (https://fhir.nhs.uk/Id/nhs-number|<number>)")
            .at("patient:identifier")
    })?;
    let token = Token::parse_qualified(raw).ok_or_else(|| {
        ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Value,
            "patient:identifier must be system|value",
        )
        .at("patient:identifier")
    })?;
    if token.system.as_deref() != Some(NHS_NUMBER_SYSTEM) {
        return Err(ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Value,
            format!("patient:identifier must use the system {NHS_NUMBER_SYSTEM}"),
        )
        .at("patient:identifier"));
    }
    let nhs = NhsNumber::parse(&token.code).map_err(|e| {
        ApiError::bars(BarsCode::RecBadRequest, IssueType::Value, e.to_string())
            .at("patient:identifier")
    })?;
    paging::refuse_offset(&query)?;
    let count = paging::page_size(&query, paging::APPOINTMENT_PAGE)?;
    let after = paging::appointment_cursor(&query)?;
    let page = state
        .store
        .appointments_for_patient(AppointmentQuery {
            patient: nhs.as_str().to_string(),
            service: service.map(str::to_string),
            after: after.clone(),
            limit: count,
        })
        .await
        .map_err(errors::store)?;
    let mut entry = audit::entry(&ctx, "search", "Appointment");
    entry.patient = Some(nhs.as_str().to_string());
    entry.outcome = 200;
    state.audit.record(entry).await;

    let mut records = page.appointments;
    let next = (records.len() > count).then(|| {
        records.truncate(count);
        records.last().map(|r| AppointmentCursor {
            created_nanos: r.created.unix_nanos(),
            id: r.id.clone(),
        })
    });
    let base = &state.config.base_url;
    let link = |after: Option<&AppointmentCursor>| {
        let mut url = format!(
            "{base}/Appointment?patient:identifier={}&{}={count}",
            encode_component(&format!("{NHS_NUMBER_SYSTEM}|{}", nhs.as_str())),
            paging::COUNT,
        );
        if let Some(c) = after {
            url.push_str(&format!(
                "&{}={}",
                paging::PAGE_AFTER,
                paging::appointment_token(c)
            ));
        }
        url
    };
    let next = next.flatten().map(|c| link(Some(&c)));
    let entries = records
        .into_iter()
        .map(|r| SearchEntry {
            full_url: format!("{base}/Appointment/{}", r.id),
            resource: serde_json::from_str(&r.body).unwrap_or(Value::Null),
            mode: SearchMode::Match,
        })
        .collect();
    Ok(fhir_json(
        StatusCode::OK,
        &searchset(page.total, &link(after.as_ref()), next.as_deref(), entries),
    ))
}

/// Reads a FHIR JSON body, refusing other content types.
async fn fhir_body(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    match body_kind(headers) {
        Some(BodyKind::FhirJson) => {}
        _ => {
            return Err(ApiError::bars(
                BarsCode::RecBadRequest,
                IssueType::Structure,
                "the body must be sent as application/fhir+json",
            ));
        }
    }
    let bytes = read_body(body, state.config.body_limit, BarsCode::RecBadRequest).await?;
    let value = parse_json_object(&bytes, BarsCode::RecBadRequest)?;
    if !value.is_object() {
        return Err(ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Structure,
            "the body must be a JSON object",
        ));
    }
    Ok(value)
}

/// `Prefer: return=minimal | representation | OperationOutcome` (FHIR); default representation.
fn written_response(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    w: &Written,
) -> Response {
    let prefer = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut response = if prefer.contains("return=minimal") {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = status;
        r
    } else if prefer.contains("return=operationoutcome") {
        fhir_json(
            status,
            &informational(
                None,
                &format!("Appointment/{} is at version {}", w.id, w.version),
            ),
        )
    } else {
        fhir_response(status, w.body.clone())
    };
    if let Ok(v) = HeaderValue::from_str(&state.bookings.location(&w.id, w.version)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    with_version_headers(response, w.version, w.last_updated)
}

/// The appointment writes, as they arrive.
enum Write {
    Create {
        headers: HeaderMap,
        body: Body,
    },
    Update {
        id: String,
        headers: HeaderMap,
        body: Body,
    },
    Patch {
        id: String,
        headers: HeaderMap,
        body: Body,
    },
    Cancel {
        id: String,
        headers: HeaderMap,
    },
    /// `POST /$process-message`: a booking, update or cancellation carried in a message Bundle.
    Message {
        headers: HeaderMap,
        body: Body,
    },
}

impl Write {
    fn action(&self) -> &'static str {
        match self {
            Write::Create { .. } => "book",
            Write::Update { .. } => "update",
            Write::Patch { .. } => "patch",
            Write::Cancel { .. } => "cancel",
            Write::Message { .. } => "process-message",
        }
    }

    fn id(&self) -> Option<&str> {
        match self {
            // A message names its appointment inside the body, if at all.
            Write::Create { .. } | Write::Message { .. } => None,
            Write::Update { id, .. } | Write::Patch { id, .. } | Write::Cancel { id, .. } => {
                Some(id)
            }
        }
    }
}

/// Runs a write under the request-id rules: admitted once, refusals remembered for retries,
/// refused attempts audited.
async fn guarded_write(
    state: &AppState,
    request: Request,
    make: impl FnOnce(http::request::Parts, Body) -> Write,
) -> Response {
    let (parts, body) = request.into_parts();
    let (ctx, scope) = match addressed(&parts) {
        Ok(addressed) => addressed,
        Err(e) => return e.into_response(),
    };
    let write = make(parts, body);
    if let Some(id) = write.id()
        && let Err(e) = check_id(id)
    {
        return e.into_response();
    }
    let admission =
        match requests::admit(state.store.as_ref(), &state.inflight, &state.metrics, &ctx).await {
            Ok(a) => a,
            Err(answer) => return answer,
        };
    let (action, id) = (write.action(), write.id().map(str::to_string));
    match perform(state, &ctx, &scope, &admission, write).await {
        Ok(response) => response,
        Err(error)
            if error.issue == IssueType::Duplicate && error.status == StatusCode::CONFLICT =>
        {
            requests::answer_duplicate(state.store.as_ref(), &state.metrics, admission.key()).await
        }
        Err(error) => {
            requests::remember_refusal(state.store.as_ref(), &admission, &error).await;
            let mut entry = audit::entry(&ctx, action, "Appointment");
            entry.resource_id = id;
            entry.outcome = error.status.as_u16();
            state.audit.record(entry).await;
            error.into_response()
        }
    }
}

async fn perform(
    state: &AppState,
    ctx: &RequestContext,
    scope: &Scope,
    admission: &requests::Admission,
    write: Write,
) -> Result<Response, ApiError> {
    match write {
        Write::Create { headers, body } => {
            let resource = fhir_body(state, &headers, body).await?;
            let written = state
                .bookings
                .create(ctx, scope, admission, resource)
                .await?;
            Ok(written_response(
                state,
                &headers,
                StatusCode::CREATED,
                &written,
            ))
        }
        Write::Update { id, headers, body } => {
            let if_match = parse_if_match(&headers)?;
            let resource = fhir_body(state, &headers, body).await?;
            let written = state
                .bookings
                .edit(
                    ctx,
                    scope,
                    admission,
                    &id,
                    &Edit::Replace(resource),
                    if_match,
                )
                .await?;
            Ok(written_response(state, &headers, StatusCode::OK, &written))
        }
        Write::Patch { id, headers, body } => {
            let if_match = parse_if_match(&headers)?;
            let bytes = read_body(body, state.config.body_limit, BarsCode::RecBadRequest).await?;
            let document = patch_document(
                body_kind(&headers),
                parse_json_object_or_array(&bytes, BarsCode::RecBadRequest)?,
            )?;
            let written = state
                .bookings
                .edit(ctx, scope, admission, &id, &Edit::Patch(document), if_match)
                .await?;
            Ok(written_response(state, &headers, StatusCode::OK, &written))
        }
        Write::Cancel { id, headers } => {
            let if_match = parse_if_match(&headers)?;
            let written = state
                .bookings
                .edit(ctx, scope, admission, &id, &Edit::Cancel, if_match)
                .await?;
            let coding = Coding::new(
                "https://fhir.nhs.uk/CodeSystem/NRLF-SuccessCode",
                "RESOURCE_UPDATED",
                Some("Resource updated".into()),
            );
            let outcome = informational(
                Some(&coding),
                &format!(
                    "Appointment/{} was cancelled (version {})",
                    written.id, written.version
                ),
            );
            Ok(with_version_headers(
                fhir_json(StatusCode::OK, &outcome),
                written.version,
                written.last_updated,
            ))
        }
        Write::Message { headers, body } => {
            let bundle = fhir_body(state, &headers, body).await?;
            let response = messaging::process(state, ctx, scope, admission, bundle).await?;
            Ok(fhir_json(StatusCode::OK, &response))
        }
    }
}

async fn create(State(state): State<AppState>, request: Request) -> Response {
    guarded_write(&state, request, |parts, body| Write::Create {
        headers: parts.headers,
        body,
    })
    .await
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    guarded_write(&state, request, |parts, body| Write::Update {
        id,
        headers: parts.headers,
        body,
    })
    .await
}

async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    guarded_write(&state, request, |parts, body| Write::Patch {
        id,
        headers: parts.headers,
        body,
    })
    .await
}

/// DELETE is a logical cancel: the appointment is kept, marked cancelled, its slot freed.
async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    guarded_write(&state, request, |parts, _| Write::Cancel {
        id,
        headers: parts.headers,
    })
    .await
}

/// `POST /$process-message` (BaRS section 6): admitted under the request ids like every other
/// write. Success is 200 with a message Bundle; every failure is an OperationOutcome, as on
/// the REST API (see [`messaging::process`]).
async fn process_message(State(state): State<AppState>, request: Request) -> Response {
    guarded_write(&state, request, |parts, body| Write::Message {
        headers: parts.headers,
        body,
    })
    .await
}

/// `GET /MessageDefinition?context=...` (BaRS section 2.2).
async fn search_message_definitions(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, _) = request.into_parts();
    let bundle = messaging::definitions::search(&state.config, &query_of(&parts)?)?;
    Ok(fhir_json(StatusCode::OK, &bundle))
}

/// Chooses the PATCH form from the content type and the body.
fn patch_document(kind: Option<BodyKind>, value: Value) -> Result<PatchDocument, ApiError> {
    let resource_type = value
        .get("resourceType")
        .and_then(Value::as_str)
        .map(str::to_string);
    match (kind, resource_type.as_deref()) {
        (Some(BodyKind::JsonPatch), _) if value.is_array() => Ok(PatchDocument::JsonPatch(value)),
        (Some(BodyKind::JsonPatch), _) => Err(ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Structure,
            "a JSON Patch body must be an array of operations",
        )),
        (Some(BodyKind::FhirJson), Some("Parameters")) => Ok(PatchDocument::FhirPathPatch(value)),
        (Some(BodyKind::FhirJson | BodyKind::MergePatch), Some("Appointment")) => {
            Ok(PatchDocument::Partial(value))
        }
        (Some(BodyKind::FhirJson | BodyKind::MergePatch), _) => Err(ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Structure,
            "a PATCH body must be a JSON Patch, a FHIRPath Patch Parameters resource, or a partial Appointment",
        )),
        (None, _) => Err(ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Structure,
            "PATCH accepts application/json-patch+json or application/fhir+json (FHIRPath Patch Parameters or a partial Appointment)",
        )),
    }
}
