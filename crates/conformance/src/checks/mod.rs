//! Every check, in the order they run (cleanup last). Ids are stable: reports and saved runs
//! refer to them, so a check is never renumbered, only added.

pub mod access;
pub mod booking;
pub mod capabilities;
pub mod errors;
pub mod hostile;
pub mod lifecycle;
pub mod messaging;
pub mod pointer;
pub mod rebook;
pub mod slots;
pub mod transport;
pub mod update;

use crate::body;
use crate::check::{Area, CheckDef, Level, Need};

const CREATE: Need = Need::Interaction("Appointment", "create");
const READ: Need = Need::Interaction("Appointment", "read");
const UPDATE: Need = Need::Interaction("Appointment", "update");
const PATCH: Need = Need::Interaction("Appointment", "patch");
const SEARCH: Need = Need::Interaction("Appointment", "search-type");
const DELETE: Need = Need::Interaction("Appointment", "delete");
const HISTORY: Need = Need::Interaction("Appointment", "history-instance");
const VREAD: Need = Need::Interaction("Appointment", "vread");
const MESSAGING: Need = Need::Operation("process-message");
const SLOTS: Need = Need::Interaction("Slot", "search-type");

macro_rules! check {
    ($id:literal, $area:ident, $level:ident, $title:literal, $req:literal, $src:literal, [$($need:expr),*], $f:path) => {
        CheckDef {
            id: $id,
            area: Area::$area,
            title: $title,
            requirement: $req,
            source: $src,
            level: Level::$level,
            needs: &[$($need),*],
            body: body!($f),
        }
    };
}

pub fn all() -> Vec<CheckDef> {
    vec![
        check!(
            "REC-CAP-001",
            Capabilities,
            Shall,
            "GET /metadata answers a FHIR 4.0.1 server CapabilityStatement",
            "digest 2.1",
            "API: GET /metadata",
            [],
            capabilities::statement
        ),
        check!(
            "REC-CAP-002",
            Capabilities,
            Should,
            "The Slot search declares the includes senders must send",
            "digest 2.1, 2.3",
            "API: GET /metadata; IG: GET--Slots.page.md",
            [SLOTS],
            capabilities::slot_includes
        ),
        check!(
            "REC-SLOT-001",
            Slots,
            Shall,
            "A slot search answers only free Slots inside the window",
            "digest 2.3",
            "API: GET /Slot",
            [SLOTS],
            slots::search_matches
        ),
        check!(
            "REC-SLOT-002",
            Slots,
            Shall,
            "The search includes each Slot's Schedule and the HealthcareService",
            "digest 2.3",
            "API: GET /Slot (_include)",
            [SLOTS],
            slots::includes
        ),
        check!(
            "REC-SLOT-003",
            Slots,
            Should,
            "total counts the matching Slots only",
            "digest 2.3 [DECISION]",
            "API: GET /Slot (Bundle.total)",
            [SLOTS],
            slots::total
        ),
        check!(
            "REC-SLOT-004",
            Slots,
            Should,
            "_count pages the search and next leads to further Slots",
            "digest 2.3",
            "API: GET /Slot (Bundle.link next)",
            [SLOTS],
            slots::paging
        ),
        check!(
            "REC-BOOK-001",
            Booking,
            Shall,
            "A booking is answered 201 with the Appointment and an ETag",
            "digest 2.6",
            "API: POST /Appointment; IG: Initial-Booking.page.md",
            [SLOTS, CREATE, READ],
            booking::created
        ),
        check!(
            "REC-BOOK-002",
            Booking,
            Shall,
            "A booked slot is no longer free; booking it again is 409 conflict",
            "digest 2.6, 4.4 writes, 5.2",
            "API: POST /Appointment",
            [SLOTS, CREATE],
            booking::slot_taken
        ),
        check!(
            "REC-BOOK-003",
            Booking,
            Shall,
            "Senders racing for the same slots book each slot exactly once",
            "digest 5.2",
            "IG: Preventing double booking",
            [SLOTS, CREATE],
            booking::race
        ),
        check!(
            "REC-VIEW-001",
            View,
            Shall,
            "A booking reads back with its id, status and ETag",
            "digest 2.5",
            "API: GET /Appointment/{id}",
            [SLOTS, CREATE, READ],
            booking::view
        ),
        check!(
            "REC-VIEW-002",
            View,
            Shall,
            "A search by the patient's NHS number finds the booking",
            "digest 2.4",
            "API: GET /Appointment?patient:identifier",
            [SLOTS, CREATE, SEARCH],
            booking::search
        ),
        check!(
            "REC-VIEW-003",
            View,
            Shall,
            "Another patient's search does not list the booking",
            "digest 2.4, 4.5 (no patient data to others)",
            "API: GET /Appointment?patient:identifier",
            [SLOTS, CREATE, SEARCH],
            booking::other_patient
        ),
        check!(
            "REC-UPD-001",
            Update,
            Shall,
            "PUT of the whole Appointment updates it",
            "digest 2.7",
            "API: PUT /Appointment/{id}",
            [SLOTS, CREATE, READ, UPDATE],
            update::put
        ),
        check!(
            "REC-UPD-002",
            Update,
            Shall,
            "PATCH with a JSON Patch updates it",
            "digest 2.8",
            "API: PATCH /Appointment/{id} (application/json-patch+json)",
            [SLOTS, CREATE, READ, PATCH],
            update::json_patch
        ),
        check!(
            "REC-UPD-003",
            Update,
            Shall,
            "PATCH with a FHIRPath Patch updates it",
            "digest 2.8",
            "API: PATCH /Appointment/{id} (Parameters)",
            [SLOTS, CREATE, READ, PATCH],
            update::fhirpath_patch
        ),
        check!(
            "REC-UPD-004",
            Update,
            Shall,
            "PATCH with a partial Appointment updates it",
            "digest 2.8",
            "API: PATCH /Appointment/{id} (examples1.2.0 PATCH-body.json)",
            [SLOTS, CREATE, READ, PATCH],
            update::partial_patch
        ),
        check!(
            "REC-UPD-005",
            Update,
            Shall,
            "Rescheduling moves the booking: the new slot taken, the old one free",
            "digest 2.8, 5.6",
            "API: PATCH /Appointment/{id} (reschedule)",
            [SLOTS, CREATE, READ, PATCH],
            update::reschedule_moves
        ),
        check!(
            "REC-RBW-001",
            ReadBeforeWrite,
            Shall,
            "A write with a stale If-Match is refused 412 and changes nothing",
            "digest 1.8, 4.4 writes, 5.8",
            "API: PUT /Appointment/{id} (If-Match)",
            [SLOTS, CREATE, READ, UPDATE, Need::VersionedUpdate],
            update::stale_if_match
        ),
        check!(
            "REC-RBW-002",
            ReadBeforeWrite,
            Shall,
            "A write with an older meta.lastUpdated is refused 409 conflict",
            "digest 1.8, 4.4 writes, 5.8",
            "IG: Read-before-write",
            [SLOTS, CREATE, READ, UPDATE],
            update::older_last_updated
        ),
        check!(
            "REC-IDEM-001",
            Idempotency,
            Shall,
            "A replayed booking (same ids) is 409 duplicate and books nothing more",
            "digest 3.4 step 4, 4.4 common, 5.10",
            "IG: Transactional-integrity",
            [SLOTS, CREATE],
            lifecycle::replay
        ),
        check!(
            "REC-IDEM-002",
            Idempotency,
            Shall,
            "Copies of one booking sent at once book once; the others are 409 duplicate or 425",
            "digest 3.4 step 4, 4.4 common, 5.10",
            "IG: Transactional-integrity (retry while in flight)",
            [SLOTS, CREATE],
            lifecycle::concurrent_replay
        ),
        check!(
            "REC-IDEM-003",
            Idempotency,
            Shall,
            "A copy arriving while the original is in flight is 425 REC_TOO_EARLY; the original books once",
            "digest 3.4 step 4, 4.4 common, 5.10",
            "IG: Transactional-integrity (retry while in flight)",
            [SLOTS, CREATE, READ, Need::Direct],
            lifecycle::in_flight
        ),
        check!(
            "REC-CAN-001",
            Cancel,
            Shall,
            "Cancelling answers 200 and frees the slot",
            "digest 2.7, 5.5",
            "API: PUT /Appointment/{id} (status cancelled)",
            [SLOTS, CREATE, READ, UPDATE],
            lifecycle::frees_slot
        ),
        check!(
            "REC-CAN-002",
            Cancel,
            Shall,
            "An appointment no longer current cannot be updated (409)",
            "digest 4.4 writes, 5.3",
            "API: PUT /Appointment/{id}",
            [SLOTS, CREATE, READ, UPDATE],
            lifecycle::not_current
        ),
        check!(
            "REC-REBOOK-001",
            Rebook,
            Shall,
            "Rebook booking first: the new booking carries replaces, then the old one cancels",
            "digest 5.7",
            "IG: Rebook (Core requirements: two open bookings)",
            [SLOTS, CREATE, READ, UPDATE],
            rebook::book_first
        ),
        check!(
            "REC-REBOOK-002",
            Rebook,
            Shall,
            "Rebook cancelling first: the old one cancels, then the replacement books",
            "digest 5.7",
            "IG: Rebook (sequence diagram)",
            [SLOTS, CREATE, READ, UPDATE],
            rebook::cancel_first
        ),
        check!(
            "REC-DEL-001",
            Cancel,
            Should,
            "DELETE cancels logically and frees the slot",
            "digest 2.9 [DECISION]",
            "API: DELETE /Appointment/{id}",
            [SLOTS, CREATE, READ, DELETE],
            rebook::delete
        ),
        check!(
            "REC-HIST-001",
            View,
            Should,
            "An updated appointment has a history of distinct, readable versions",
            "digest 5.8",
            "API: GET /Appointment/{id}/_history (FHIR history, vread)",
            [SLOTS, CREATE, READ, UPDATE, HISTORY, VREAD],
            rebook::history
        ),
        check!(
            "REC-MSG-001",
            Messaging,
            Shall,
            "A booking-request message books: 200, a message Bundle with response ok and the Appointment, the slot taken",
            "digest 2.10, 6.3, 6.4",
            "API: POST /$process-message (examples/process_message)",
            [SLOTS, READ, MESSAGING],
            messaging::books
        ),
        check!(
            "REC-MSG-002",
            Messaging,
            Shall,
            "A booking-request message for a taken slot is 409 conflict",
            "digest 6.3 step 6",
            "IG: Bundle-Processing.page.md",
            [SLOTS, MESSAGING],
            messaging::slot_taken
        ),
        check!(
            "REC-MSG-005",
            Messaging,
            Shall,
            "A cancellation message cancels the booking and frees the slot",
            "digest 6.1, 6.3 step 6",
            "IG: Bundle-Processing.page.md; MessageDefinition booking-request-cancelled",
            [SLOTS, READ, MESSAGING],
            messaging::cancels
        ),
        check!(
            "REC-MSG-003",
            Messaging,
            Shall,
            "A message without Bundle.meta.versionId is 400 invariant",
            "digest 6.3 step 2",
            "IG: Bundle-Processing.page.md",
            [SLOTS, MESSAGING],
            messaging::no_version
        ),
        check!(
            "REC-MSG-004",
            Messaging,
            Shall,
            "A booking-response sent to a receiver is 400 invariant",
            "digest 6.1, 6.3 step 6",
            "IG: Bundle-Processing.page.md",
            [SLOTS, MESSAGING],
            messaging::booking_response
        ),
        check!(
            "REC-MSG-006",
            Messaging,
            Shall,
            "An update message (reason update, Appointment booked) updates the booking",
            "digest 6.3 step 6",
            "IG: Bundle-Processing.page.md; MessageDefinition booking-request",
            [SLOTS, READ, MESSAGING],
            messaging::updates
        ),
        check!(
            "REC-MSG-007",
            Messaging,
            Shall,
            "A cancellation message for an unknown appointment is refused 404 (400 invariant under 1.5)",
            "digest 6.3 step 6; delta D15",
            "IG: Bundle-Processing.page.md",
            [SLOTS, MESSAGING],
            messaging::cancel_unknown
        ),
        check!(
            "REC-MSG-008",
            Messaging,
            Shall,
            "A cancellation message for an appointment no longer booked is 409 conflict",
            "digest 6.3 step 6, 5.3",
            "IG: Bundle-Processing.page.md",
            [SLOTS, READ, MESSAGING],
            messaging::cancel_twice
        ),
        check!(
            "REC-MSG-009",
            Messaging,
            Shall,
            "An update message whose Appointment is neither booked nor cancelled is 400 invariant",
            "digest 6.3 step 6",
            "IG: Bundle-Processing.page.md",
            [SLOTS, READ, MESSAGING],
            messaging::update_other_status
        ),
        check!(
            "REC-MSG-010",
            Messaging,
            Shall,
            "A message of an unsupported Bundle.meta.versionId is 422 not-supported",
            "digest 6.3 step 2",
            "IG: Bundle-Processing.page.md",
            [SLOTS, MESSAGING],
            messaging::unsupported_version
        ),
        check!(
            "REC-MSG-011",
            Messaging,
            Should,
            "A message for another receiving organisation is 422 not-supported",
            "digest 6.3 step 3 [DECISION]",
            "IG: Bundle-Processing.page.md",
            [SLOTS, MESSAGING],
            messaging::other_receiver
        ),
        check!(
            "REC-PTR-001",
            Registry,
            Shall,
            "Booking writes a Registry pointer; cancelling removes it",
            "digest 2.11, 5.14",
            "IG: Registry (NRL) pointer; API: /DocumentReference",
            [SLOTS, CREATE, READ, UPDATE, Need::Proxy],
            pointer::lifecycle
        ),
        check!(
            "REC-PTR-002",
            Registry,
            Shall,
            "Rescheduling moves the Registry pointer's period",
            "digest 2.7 side effects, 5.14",
            "IG: Registry (NRL) pointer; API: /DocumentReference",
            [SLOTS, CREATE, READ, PATCH, Need::Proxy],
            pointer::follows_reschedule
        ),
        check!(
            "REC-TRN-001",
            Transport,
            Shall,
            "Successful answers echo X-Request-ID and X-Correlation-ID",
            "digest 2 (common), 3.5",
            "IG: HTTP-Response-Headers.page.md",
            [],
            transport::ids_on_success
        ),
        check!(
            "REC-TRN-002",
            Transport,
            Shall,
            "Refusals echo the ids and carry a BaRS OperationOutcome",
            "digest 3.5, 4.1, 4.2",
            "IG: Error-Handling",
            [],
            transport::ids_on_error
        ),
        check!(
            "REC-TRN-003",
            Transport,
            Should,
            "Booking answers carry Cache-Control: no-store",
            "digest 3.5 (OWASP headers)",
            "IG: HTTP-Response-Headers.page.md",
            [SLOTS],
            transport::no_store
        ),
        check!(
            "ERR-COM-001",
            Errors,
            Shall,
            "X-Request-ID missing: 400 REC_BAD_REQUEST",
            "digest 4.4 common",
            "IG: Bundle-Processing.page.md",
            [Need::Direct],
            errors::request_id_missing
        ),
        check!(
            "ERR-COM-002",
            Errors,
            Shall,
            "X-Request-ID not a UUID: 400 REC_BAD_REQUEST value",
            "digest 4.4 common",
            "IG: GET--Slots.page.md Common Failures",
            [],
            errors::request_id_not_uuid
        ),
        check!(
            "ERR-COM-003",
            Errors,
            Shall,
            "X-Correlation-ID missing: 400 REC_BAD_REQUEST",
            "digest 4.4 common",
            "IG: Bundle-Processing.page.md",
            [Need::Direct],
            errors::correlation_id_missing
        ),
        check!(
            "ERR-COM-004",
            Errors,
            Shall,
            "Accept of another major version: 406 REC_NOT_ACCEPTABLE",
            "digest 3.4 step 5, 4.4 common",
            "IG: Versioning",
            [SLOTS],
            errors::accept_major
        ),
        check!(
            "ERR-COM-005",
            Errors,
            Shall,
            "A verb the path does not support: 405 REC_METHOD_NOT_ALLOWED with Allow",
            "digest 2.3, 4.4 common",
            "API: /Slot",
            [SLOTS, Need::Direct],
            errors::verb_not_allowed
        ),
        check!(
            "ERR-AUTH-001",
            Errors,
            Shall,
            "An organisation the receiver does not admit: 401 REC_UNAUTHORIZED",
            "digest 1.3, 3.4 step 3, 4.4 common",
            "IG: Security-and-Authorisation/Authorisation.page.md",
            [SLOTS],
            access::refused_organisation
        ),
        check!(
            "ERR-TLS-001",
            Errors,
            Shall,
            "A connection without the client certificate (TLS-MA): 403 REC_FORBIDDEN or no handshake",
            "digest 1.2, 3.4 step 1, 4.4 common",
            "IG: Security-and-Authorisation/Receiver.page.md",
            [Need::Direct],
            access::no_client_certificate
        ),
        check!(
            "ERR-SLOT-001",
            Errors,
            Shall,
            "Slot search without the service: 400 required",
            "digest 4.4 GET /Slot",
            "IG: GET--Slots.page.md",
            [SLOTS],
            errors::slot_service_missing
        ),
        check!(
            "ERR-SLOT-002",
            Errors,
            Shall,
            "Slot search without the minimum includes: 400 required",
            "digest 4.4 GET /Slot",
            "IG: GET--Slots.page.md",
            [SLOTS],
            errors::slot_include_missing
        ),
        check!(
            "ERR-SLOT-003",
            Errors,
            Shall,
            "Slot search without a start range: 400 required",
            "digest 4.4 GET /Slot",
            "IG: GET--Slots.page.md",
            [SLOTS],
            errors::slot_start_missing
        ),
        check!(
            "ERR-SLOT-004",
            Errors,
            Shall,
            "Slot search with an invalid start: 400 value",
            "digest 4.4 GET /Slot",
            "IG: GET--Slots.page.md",
            [SLOTS],
            errors::slot_start_invalid
        ),
        check!(
            "ERR-SLOT-005",
            Errors,
            Shall,
            "Slot search over too wide a window: 422 too-costly",
            "digest 4.4 GET /Slot",
            "IG: GET--Slots.page.md",
            [SLOTS],
            errors::slot_window_too_wide
        ),
        check!(
            "ERR-SLOT-006",
            Errors,
            Shall,
            "Slot search without status: 400 required",
            "digest 4.4 GET /Slot",
            "IG: GET--Slots.page.md",
            [SLOTS],
            errors::slot_status_missing
        ),
        check!(
            "ERR-SLOT-007",
            Errors,
            Shall,
            "Slot search with a status other than free/busy: 400 value",
            "digest 4.4 GET /Slot",
            "IG: GET--Slots.page.md",
            [SLOTS],
            errors::slot_status_invalid
        ),
        check!(
            "ERR-APPT-001",
            Errors,
            Shall,
            "Appointment id not a UUID: 400 value",
            "digest 4.4 GET /Appointment",
            "IG: GET--Appointment.page.md",
            [READ],
            errors::appointment_id_not_uuid
        ),
        check!(
            "ERR-APPT-002",
            Errors,
            Shall,
            "Unknown appointment: 404 REC_NOT_FOUND",
            "digest 4.4 GET /Appointment",
            "IG: GET--Appointment.page.md",
            [READ],
            errors::appointment_not_found
        ),
        check!(
            "ERR-APPT-003",
            Errors,
            Shall,
            "Appointment search without patient:identifier: 400 required",
            "digest 4.4 GET /Appointment",
            "IG: GET--Appointment.page.md",
            [SEARCH],
            errors::patient_identifier_missing
        ),
        check!(
            "ERR-APPT-004",
            Errors,
            Shall,
            "patient:identifier not system|value: 400 value",
            "digest 4.4 GET /Appointment",
            "IG: GET--Appointment.page.md",
            [SEARCH],
            errors::patient_identifier_not_token
        ),
        check!(
            "ERR-WRITE-001",
            Errors,
            Shall,
            "A body that is not JSON: 400 structure",
            "digest 4.4 writes",
            "API: POST /Appointment",
            [CREATE],
            errors::body_not_json
        ),
        check!(
            "ERR-WRITE-002",
            Errors,
            Shall,
            "A booking without status: 400 required",
            "digest 4.4 writes",
            "API: POST /Appointment",
            [CREATE],
            errors::status_missing
        ),
        check!(
            "ERR-WRITE-003",
            Errors,
            Shall,
            "A booking of an unknown Slot: 404 REC_NOT_FOUND",
            "digest 4.4 writes",
            "API: POST /Appointment",
            [CREATE],
            errors::slot_unknown
        ),
        check!(
            "ERR-WRITE-004",
            Errors,
            Shall,
            "A booking that ends before it starts: 400 invariant",
            "digest 4.4 writes",
            "API: POST /Appointment",
            [CREATE],
            errors::start_after_end
        ),
        check!(
            "ERR-WRITE-005",
            Errors,
            Shall,
            "A PUT whose body id is not the path id: 400",
            "digest 4.4 writes",
            "API: PUT /Appointment/{id}",
            [UPDATE],
            errors::put_id_mismatch
        ),
        check!(
            "REC-HOST-001",
            Hostile,
            Shall,
            "Hostile bodies on every write are refused 4xx with an OperationOutcome, never 5xx",
            "digest 4.4 writes, 4.5",
            "IG: Error-Handling",
            [],
            hostile::never_5xx
        ),
        check!(
            "REC-CLEAN-001",
            Cleanup,
            Shall,
            "Every appointment the kit booked ends cancelled",
            "digest 2.7, 5.5",
            "API: PUT /Appointment/{id} (status cancelled)",
            [UPDATE, READ],
            lifecycle::cleanup
        ),
    ]
}
