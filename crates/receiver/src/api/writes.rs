//! The write handlers. Every write runs under the request-id rules (`guarded_write`):
//! admitted once, handed to the booking service (REST) or to messaging, answered from what
//! was written, a refusal remembered for retries and audited.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::outcome::{Coding, informational};
use bars_http::ApiError;
use bars_http::fhir_json::{
    BodyKind, body_kind, fhir_json, fhir_response, parse_json_object, parse_json_object_or_array,
    read_body,
};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use super::headers::{Return, parse_if_match, prefer, with_version_headers};
use super::request::{addressed, check_id};
use crate::booking_error::BookingError;
use crate::errors::Refusal;
use crate::messaging;
use crate::requests;
use crate::service::Audited;
use crate::service::writes::{Caller, Edit, PatchDocument, Written};
use crate::state::AppState;

/// The appointment writes, as they arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Patch,
    /// DELETE is a logical cancel: the appointment is kept, marked cancelled, its slot freed.
    Cancel,
    /// `POST /$process-message` (BaRS section 6): a booking, update or cancellation carried
    /// in a message Bundle, which names its appointment inside, if at all. Admitted under the
    /// request ids like every other write; success is 200 with a message Bundle, every failure
    /// an OperationOutcome as on the REST API (see [`messaging::process::process`]).
    Message,
}

impl Action {
    /// How the audit log names it.
    fn audited_as(self) -> &'static str {
        match self {
            Action::Create => "book",
            Action::Update => "update",
            Action::Patch => "patch",
            Action::Cancel => "cancel",
            Action::Message => "process-message",
        }
    }
}

/// The route of a write on the collection (a create, a message): no id in the path.
pub fn on_collection(method: MethodFilter, action: Action) -> MethodRouter<AppState> {
    on(
        method,
        move |State(state): State<AppState>, request: Request| async move {
            guarded_write(&state, action, None, request).await
        },
    )
}

/// The route of a write on one appointment (update, patch, cancel), named in the path.
pub fn on_instance(method: MethodFilter, action: Action) -> MethodRouter<AppState> {
    on(
        method,
        move |State(state): State<AppState>, Path(id): Path<String>, request: Request| async move {
            guarded_write(&state, action, Some(id), request).await
        },
    )
}

/// Runs a write under the request-id rules: admitted once, refusals remembered for retries,
/// refused attempts audited.
async fn guarded_write(
    state: &AppState,
    action: Action,
    id: Option<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let (ctx, scope) = match addressed(&parts) {
        Ok(addressed) => addressed,
        Err(e) => return e.into_response(),
    };
    if let Some(id) = &id
        && let Err(e) = check_id(id)
    {
        return e.into_response();
    }
    let admission =
        match requests::admit(state.store.as_ref(), &state.inflight, &state.metrics, &ctx).await {
            Ok(a) => a,
            Err(answer) => return answer,
        };
    let caller = Caller {
        ctx: &ctx,
        scope: &scope,
        admission: &admission,
        use_case_checked: None,
        version: state
            .config
            .version_for(ctx.accept_version.as_deref(), scope.service()),
    };
    match perform(state, &caller, action, id.as_deref(), &parts.headers, body).await {
        Ok(response) => response,
        Err(Refusal::Booking(BookingError::Duplicate)) => {
            requests::answer_duplicate(state.store.as_ref(), &state.metrics, admission.key()).await
        }
        Err(refusal) => {
            let error = ApiError::from(refusal);
            requests::remember_refusal(state.store.as_ref(), &admission, &error).await;
            state
                .bookings
                .audit(
                    &ctx,
                    Audited {
                        action: action.audited_as(),
                        id: id.as_deref(),
                        version: None,
                        patient: None,
                        outcome: error.status.as_u16(),
                    },
                )
                .await;
            error.into_response()
        }
    }
}

/// The write itself, once admitted. `id` is there for every action but create and message.
async fn perform(
    state: &AppState,
    caller: &Caller<'_>,
    action: Action,
    id: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let id = id.unwrap_or_default();
    let if_match = match action {
        Action::Update | Action::Patch | Action::Cancel => parse_if_match(headers)?,
        Action::Create | Action::Message => None,
    };
    let (status, written) = match action {
        Action::Create => {
            let resource = fhir_body(state, headers, body).await?;
            (
                StatusCode::CREATED,
                state.bookings.create(caller, resource).await?,
            )
        }
        Action::Update => {
            let resource = fhir_body(state, headers, body).await?;
            let edit = Edit::Replace(resource);
            (
                StatusCode::OK,
                state.bookings.edit(caller, id, &edit, if_match).await?,
            )
        }
        Action::Patch => {
            let bytes = read_body(body, state.config.body_limit, BarsCode::RecBadRequest).await?;
            let document = patch_document(
                body_kind(headers),
                parse_json_object_or_array(&bytes, BarsCode::RecBadRequest)?,
            )?;
            let edit = Edit::Patch(document);
            (
                StatusCode::OK,
                state.bookings.edit(caller, id, &edit, if_match).await?,
            )
        }
        Action::Cancel => {
            let written = state
                .bookings
                .edit(caller, id, &Edit::Cancel, if_match)
                .await?;
            return Ok(cancelled(&written));
        }
        Action::Message => {
            let bundle = fhir_body(state, headers, body).await?;
            let response = messaging::process::process(state, caller, bundle).await?;
            return Ok(fhir_response(StatusCode::OK, response));
        }
    };
    Ok(written_response(state, headers, status, written))
}

/// A cancellation is answered with an OperationOutcome saying so (NRL's success code).
fn cancelled(written: &Written) -> Response {
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
    with_version_headers(
        fhir_json(StatusCode::OK, &outcome),
        written.version,
        written.last_updated,
    )
}

/// The answer to a create or an update, as `Prefer` asks: the stored text as it was written,
/// nothing, or an OperationOutcome; `Location` names the version either way.
fn written_response(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    w: Written,
) -> Response {
    let mut response = match prefer(headers) {
        Return::Minimal => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = status;
            r
        }
        Return::OperationOutcome => fhir_json(
            status,
            &informational(
                None,
                &format!("Appointment/{} is at version {}", w.id, w.version),
            ),
        ),
        Return::Representation => fhir_response(status, Box::<str>::from(w.body).into_string()),
    };
    if let Ok(v) = HeaderValue::from_str(&state.bookings.location(&w.id, w.version)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    with_version_headers(response, w.version, w.last_updated)
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
