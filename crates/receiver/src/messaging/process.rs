//! `$process-message` in the order of section 6.3. Step 1 (request ids, duplicates) has already
//! run in the API's guarded write path, exactly as for a REST write; each later step refuses
//! before the next one looks:
//!
//! 2. `Bundle.meta.versionId` ([`super::version`]);
//! 3. the message is for this receiver ([`addressed_to`]);
//! 4. the bundle against its MessageDefinition ([`super::structure`]);
//! 5. the use case is supported by the destination service;
//! 6. the workflow variables choose book, update or cancel ([`workflow`]);
//!
//! and then the booking service decides and commits (7: the data-conflict check on
//! `meta.lastUpdated`; 8: persist, audit, Registry pointer job), as it does for REST, within
//! the destination service: another service's slot or appointment is not found, exactly as on
//! REST.

use bars_booking::Scope;
use bars_fhir::headers::ODS_SYSTEM;
use bars_fhir::{IssueType, codes::BarsCode};
use bars_http::ApiError;
use serde_json::Value;

use super::bundle::{Message, Object, bad, code_in, codings, reference_of};
use super::definitions::Kind;
use super::structure::{self, Checked};
use super::{
    Destination, EVENT_SYSTEM, REASON_SYSTEM, is_dos_service_system, response, translate, version,
};
use crate::config::ReceiverConfig;
use crate::errors::Refusal;
use crate::service::writes::{Caller, Edit, Written};
use crate::state::AppState;

/// What a message asks for, decided by the workflow-variable table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `booking-request` + `new` + `booked` (≡ `POST /Appointment`).
    Book,
    /// `booking-request` + `update` + `booked` (≡ `PUT /Appointment/{id}`).
    Update,
    /// `booking-request` + `update`/`delete` + `cancelled`/`entered-in-error`
    /// (≡ `PUT /Appointment/{id}` with that status).
    Cancel,
}

/// Processes a message Bundle (already admitted under its request ids) and returns the
/// synchronous response Bundle of section 6.4.
///
/// Failures are returned as [`ApiError`]s and leave as OperationOutcomes, exactly like REST
/// refusals (and remembered for retries the same way) - never as message Bundles: BaRS answers
/// a synchronous `$process-message` failure with the common error model of section 4.
pub async fn process(
    state: &AppState,
    caller: &Caller<'_>,
    body: Value,
) -> Result<String, Refusal> {
    let message = Message::read(&body)?;
    version::check(message.bundle)?;
    let header = message.header()?;
    let destination = addressed_to(&state.config, caller.scope, &message, header)?;
    let scope = Scope::Service(destination.service.id.clone());
    let checked = structure::check(&message, header)?;
    let appointment = checked.appointment.resource.ok_or_else(|| {
        bad(
            IssueType::Required,
            "the focus Appointment has no content",
            "Appointment",
        )
    })?;
    state.bookings.check_use_case(
        appointment.get("serviceCategory"),
        Some(&destination.service.id),
    )?;
    let operation = workflow(header, appointment, &checked)?;

    let rest = translate::rest_appointment(&message, checked.appointment)?;
    let caller = Caller {
        scope: &scope,
        use_case_checked: Some(&destination.service.id),
        // A message names its service inside: a request without a version takes that
        // service's default.
        version: state.config.version_for(
            caller.ctx.accept_version.as_deref(),
            Some(&destination.service.id),
        ),
        ..*caller
    };
    let ctx = caller.ctx;
    let written: Written = match operation {
        Operation::Book => state.bookings.create(&caller, rest).await?,
        Operation::Update | Operation::Cancel => {
            let id = target_id(&rest)?;
            state
                .bookings
                .edit(&caller, &id, &Edit::Replace(rest), None)
                .await?
        }
    };
    // Kept for asynchronous replies and for tracing a message back to its sender; the audit
    // row itself was written with the change.
    let source = header
        .get("source")
        .and_then(|s| s.get("endpoint"))
        .and_then(Value::as_str)
        .unwrap_or("");
    tracing::info!(
        request_id = %ctx.request_id,
        source = %source,
        service = %destination.service.id,
        appointment = %written.id,
        version = written.version,
        operation = ?operation,
        "booking message processed"
    );
    Ok(response::build(
        &state.config,
        &message,
        header,
        &destination,
        checked.appointment,
        &written,
    )?)
}

/// 422 `not-supported`: the message is not for this receiver, or asks for something it does
/// not do.
fn not_supported(diagnostics: impl Into<String>, at: &str) -> ApiError {
    ApiError::bars(
        BarsCode::RecUnprocessableEntity,
        IssueType::NotSupported,
        diagnostics,
    )
    .at(at)
}

/// Step 3: the message is for this receiver. One `destination` must name, in `endpoint`, a
/// service hosted here (`https://fhir.nhs.uk/Id/dos-service-id|<id>`, or the `http://`
/// spelling of the official examples), and its `receiver` must resolve to an Organization
/// entry - which, when it states an ODS code, must be this receiver's. When the request is
/// also addressed to a service by `NHSD-Target-Identifier`, both must name the same one.
/// A missing destination is a malformed header (400 `required`); one that names someone else
/// is 422 `not-supported` (section 6.3's decision).
pub fn addressed_to<'c, 'm>(
    config: &'c ReceiverConfig,
    addressed: &Scope,
    message: &Message<'m>,
    header: &'m Object,
) -> Result<Destination<'c, 'm>, ApiError> {
    let destinations: &'m [Value] = header
        .get("destination")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| {
            bad(
                IssueType::Required,
                "MessageHeader.destination is required: it names the receiving service",
                "MessageHeader.destination",
            )
        })?;
    let endpoints: Vec<(usize, &'m Value, &'m str)> = destinations
        .iter()
        .enumerate()
        .filter_map(|(i, d)| Some((i, d, d.get("endpoint")?.as_str()?)))
        .collect();
    if endpoints.is_empty() {
        return Err(bad(
            IssueType::Required,
            "MessageHeader.destination.endpoint is required (https://fhir.nhs.uk/Id/dos-service-id|<service id>)",
            "MessageHeader.destination.endpoint",
        ));
    }
    let found = endpoints.iter().find_map(|(i, d, endpoint)| {
        let (system, id) = endpoint.split_once('|')?;
        if !is_dos_service_system(system) {
            return None;
        }
        let service = config.services.iter().find(|s| s.id == id)?;
        Some((*i, *d, service))
    });
    let Some((i, destination, service)) = found else {
        return Err(not_supported(
            format!(
                "{} hosts no service named by MessageHeader.destination.endpoint; address the message to https://fhir.nhs.uk/Id/dos-service-id|<a service of this receiver>",
                config.ods_code
            ),
            "MessageHeader.destination.endpoint",
        ));
    };
    let at = format!("MessageHeader.destination[{i}].receiver");
    let receiver_holder = destination.get("receiver");
    let Some(receiver) = reference_of(receiver_holder) else {
        return Err(bad(
            IssueType::Required,
            "MessageHeader.destination.receiver.reference is required",
            at,
        ));
    };
    let Some(organisation) = message
        .resolve(receiver)
        .filter(|e| e.is("Organization"))
        .and_then(|e| e.resource)
    else {
        return Err(not_supported(
            "MessageHeader.destination.receiver must reference the receiving Organization entry of the bundle",
            &at,
        ));
    };
    if let Some(ods) = ods_code(organisation)
        && !ods.eq_ignore_ascii_case(&config.ods_code)
    {
        return Err(not_supported(
            format!(
                "the receiving Organization is not {}; this message is for another receiver",
                config.ods_code
            ),
            &at,
        ));
    }
    if !addressed.admits(Some(&service.id)) {
        return Err(not_supported(
            "MessageHeader.destination names a different service from NHSD-Target-Identifier",
            "MessageHeader.destination.endpoint",
        ));
    }
    Ok(Destination { service, receiver })
}

/// The Organization's ODS code; the system is compared without case because the BaRS
/// examples write `.../id/ods-organization-code`.
fn ods_code(organisation: &Object) -> Option<&str> {
    organisation
        .get("identifier")?
        .as_array()?
        .iter()
        .find(|i| {
            i.get("system")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case(ODS_SYSTEM))
        })?
        .get("value")?
        .as_str()
}

/// Step 6: the workflow-variable table of section 6.3 (event, reason, Appointment.status).
/// Every combination it does not list is 400 `invariant`. When the header named its
/// definition, the operation must be the one that definition describes.
pub fn workflow(
    header: &Object,
    appointment: &Object,
    checked: &Checked<'_>,
) -> Result<Operation, ApiError> {
    let invariant = |text: &str, at: &str| bad(IssueType::Invariant, text.to_string(), at);
    let event = header.get("eventCoding").and_then(Value::as_object);
    match event.and_then(|e| code_in(e, EVENT_SYSTEM)) {
        Some("booking-request") => {}
        Some("booking-response") => {
            return Err(invariant(
                "a booking-response is a receiver's answer; $process-message accepts booking-request messages",
                "MessageHeader.eventCoding",
            ));
        }
        _ => {
            return Err(invariant(
                "this receiver processes booking-request messages (https://fhir.nhs.uk/CodeSystem/message-events-bars) only",
                "MessageHeader.eventCoding",
            ));
        }
    }
    let reason = codings(header.get("reason")).find_map(|c| code_in(c, REASON_SYSTEM));
    let Some(status) = appointment.get("status").and_then(Value::as_str) else {
        return Err(bad(
            IssueType::Required,
            "Appointment.status is required",
            "Appointment.status",
        ));
    };
    let cancelling = matches!(status, "cancelled" | "entered-in-error");
    let operation = match (reason, status) {
        (Some("new"), "booked") => Operation::Book,
        (Some("new"), _) => {
            return Err(invariant(
                "a booking-request with reason new must carry a booked Appointment",
                "Appointment.status",
            ));
        }
        (Some("update"), "booked") => Operation::Update,
        (Some("update" | "delete"), _) if cancelling => Operation::Cancel,
        (Some("update"), _) => {
            return Err(invariant(
                "a booking-request with reason update must carry a booked (update) or cancelled / entered-in-error (cancellation) Appointment",
                "Appointment.status",
            ));
        }
        (Some("delete"), _) => {
            return Err(invariant(
                "reason delete is accepted for cancellations only (Appointment.status cancelled or entered-in-error)",
                "Appointment.status",
            ));
        }
        _ => {
            return Err(invariant(
                "MessageHeader.reason must be new, update or delete (https://fhir.nhs.uk/CodeSystem/message-reason-bars)",
                "MessageHeader.reason",
            ));
        }
    };
    let consistent = matches!(
        (checked.kind, operation),
        (Kind::BookingRequestCancelled, Operation::Cancel)
            | (Kind::BookingRequest, Operation::Book | Operation::Update)
    );
    if checked.declared && !consistent {
        return Err(invariant(
            "MessageHeader.definition does not describe this message: bars-message-booking-request-cancelled is for cancellations, bars-message-booking-request for new bookings and updates",
            "MessageHeader.definition",
        ));
    }
    Ok(operation)
}

/// An update or cancellation names the appointment by the receiver's id, read beforehand
/// (section 9 item 16).
fn target_id(rest: &Value) -> Result<String, ApiError> {
    let id = rest
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            bad(
                IssueType::Required,
                "an update or cancellation must carry Appointment.id, the receiver's id for the appointment (read it first with GET /Appointment)",
                "Appointment.id",
            )
        })?;
    uuid::Uuid::try_parse(id).map_err(|_| {
        bad(
            IssueType::Value,
            "Appointment.id must be the receiver's id for the appointment (a UUID)",
            "Appointment.id",
        )
    })?;
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messaging::bundle::Entry;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().cloned().unwrap()
    }

    fn run(event: Value, reason: Value, status: &str) -> Result<Operation, ApiError> {
        let header = obj(json!({"eventCoding": event, "reason": {"coding": [reason]}}));
        let appointment = obj(json!({"resourceType": "Appointment", "status": status}));
        let checked = Checked {
            kind: Kind::BookingRequest,
            declared: false,
            appointment: Entry {
                index: 1,
                full_url: None,
                resource: None,
            },
        };
        workflow(&header, &appointment, &checked)
    }

    fn request() -> Value {
        json!({"system": EVENT_SYSTEM, "code": "booking-request"})
    }

    fn reason(code: &str) -> Value {
        json!({"system": REASON_SYSTEM, "code": code})
    }

    #[test]
    fn the_workflow_table() {
        use Operation::*;
        let ok = [
            ("new", "booked", Book),
            ("update", "booked", Update),
            ("update", "cancelled", Cancel),
            ("update", "entered-in-error", Cancel),
            ("delete", "cancelled", Cancel),
            ("delete", "entered-in-error", Cancel),
        ];
        for (r, s, op) in ok {
            assert_eq!(run(request(), reason(r), s).unwrap(), op, "{r} {s}");
        }
        let refused = [
            ("new", "cancelled"),
            ("new", "waitlist"),
            ("update", "proposed"),
            ("update", "fulfilled"),
            ("delete", "booked"),
            ("other", "booked"),
        ];
        for (r, s) in refused {
            let e = run(request(), reason(r), s).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.issue),
                (400, IssueType::Invariant),
                "{r} {s}"
            );
        }
        let response = json!({"system": EVENT_SYSTEM, "code": "booking-response"});
        let other = json!({"system": EVENT_SYSTEM, "code": "servicerequest-request"});
        let foreign = json!({"system": "https://example.org", "code": "booking-request"});
        for event in [response, other, foreign] {
            let e = run(event, reason("new"), "booked").unwrap_err();
            assert_eq!(e.issue, IssueType::Invariant);
        }
        let e = run(
            request(),
            json!({"system": "https://example.org", "code": "new"}),
            "booked",
        )
        .unwrap_err();
        assert_eq!(e.issue, IssueType::Invariant);
    }

    #[test]
    fn a_declared_definition_must_match_the_operation() {
        let header =
            obj(json!({"eventCoding": request(), "reason": {"coding": [reason("update")]}}));
        let appointment = obj(json!({"status": "cancelled"}));
        let mut checked = Checked {
            kind: Kind::BookingRequest,
            declared: true,
            appointment: Entry {
                index: 1,
                full_url: None,
                resource: None,
            },
        };
        assert_eq!(
            workflow(&header, &appointment, &checked).unwrap_err().issue,
            IssueType::Invariant
        );
        checked.kind = Kind::BookingRequestCancelled;
        assert_eq!(
            workflow(&header, &appointment, &checked).unwrap(),
            Operation::Cancel
        );
    }

    #[test]
    fn target_ids_must_be_receiver_uuids() {
        assert_eq!(
            target_id(&json!({})).unwrap_err().issue,
            IssueType::Required
        );
        assert_eq!(
            target_id(&json!({"id": "x"})).unwrap_err().issue,
            IssueType::Value
        );
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(target_id(&json!({ "id": id })).unwrap(), id);
    }
}
