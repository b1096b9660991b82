//! The provider's staff running the day: recording arrivals, attendance and no-shows,
//! correcting mistakes and cancelling on the provider's side. Each is an appointment change
//! like a sender's: decided by the pure domain ([`bars_booking::provider`]), committed as one
//! [`AppointmentChange`] (a new version in `_history`, its audit row, its pointer job and its
//! event, all in one transaction) and guarded by the version it was decided on.

use bars_booking::Scope;
use bars_booking::provider::{StaffAction, decide_staff};
use bars_fhir::Instant;
use bars_fhir::resource::stamp;
use bars_store::{AppointmentChange, AuditEntry, CommitError, StoreError};
use serde_json::{Value, json};

use crate::booking_error::BookingError;
use crate::service::Bookings;
use crate::service::writes::current_state;

/// How many times a staff action re-reads and retries after a sender's change won the race.
const VERSION_RETRIES: usize = 3;

/// The FHIR code for a cancellation by the provider.
const CANCELLATION_REASON_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason";

/// What a member of staff asks for.
#[derive(Debug, Clone)]
pub struct StaffRequest {
    pub appointment_id: String,
    pub action: StaffAction,
    /// Why (required to cancel); recorded in `cancelationReason.text` of a cancellation.
    pub reason: Option<String>,
    /// Who did it, as the admin caller names themselves; kept in the audit row.
    pub staff: Option<String>,
    pub request_id: String,
}

/// The version a staff action wrote.
#[derive(Debug, Clone)]
pub struct StaffWritten {
    pub id: String,
    pub version: u64,
    pub body: String,
}

/// Records a staff action on an appointment of a service `scope` admits.
pub async fn record(
    bookings: &Bookings,
    scope: &Scope,
    request: &StaffRequest,
) -> Result<StaffWritten, BookingError> {
    let id = request.appointment_id.as_str();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let record = bookings
            .store
            .get_appointment(id)
            .await?
            .filter(|r| scope.admits(r.service_id.as_deref()))
            .ok_or_else(|| BookingError::NotFound { id: id.to_string() })?;
        let state = current_state(&record);
        let plan = decide_staff(scope, &state, request.action, request.reason.as_deref())?;
        let mut body: Value = serde_json::from_str(&record.body)
            .map_err(|_| BookingError::corrupt("a stored appointment"))?;
        body["status"] = Value::String(plan.status.as_str().to_string());
        if request.action == StaffAction::Cancel {
            body["cancelationReason"] = json!({
                "coding": [{ "system": CANCELLATION_REASON_SYSTEM, "code": "prov", "display": "Provider" }],
                "text": request.reason.as_deref().unwrap_or_default().trim(),
            });
        }
        let version = record.version + 1;
        let now = Instant::now().after(record.last_updated);
        stamp(&mut body, id, version, now);
        let text = serde_json::to_string(&body).map_err(|e| {
            BookingError::Store(StoreError::Internal(format!(
                "an appointment could not be written as JSON: {e}"
            )))
        })?;
        let change = AppointmentChange {
            id: id.to_string(),
            version,
            expected_version: Some(record.version),
            status: plan.status,
            service_id: record.service_id.clone(),
            patient: record.patient.clone(),
            start: record.start,
            end: record.end,
            created: record.created,
            last_updated: now,
            body: text.clone(),
            claim: vec![],
            release: plan.release.clone(),
            pointer: plan.pointer,
            idempotency: None,
            audit: AuditEntry {
                at: Some(now),
                request_id: request.request_id.clone(),
                correlation_id: request.request_id.clone(),
                sender_ods: Some(bookings.config.ods_code.clone()),
                sender_software: Some("bars-admin".into()),
                sender_app: request.staff.clone(),
                action: request.action.as_str().to_string(),
                resource_type: "Appointment".into(),
                resource_id: Some(id.to_string()),
                version: Some(version),
                outcome: 200,
                patient: record.patient.clone(),
            },
        };
        let wakes = change.pointer.is_some();
        match bookings.store.commit_appointment(change).await {
            Ok(()) => {
                if wakes {
                    bookings.pointer_jobs.notify_one();
                }
                return Ok(StaffWritten {
                    id: id.to_string(),
                    version,
                    body: text,
                });
            }
            Err(CommitError::VersionConflict) if attempt < VERSION_RETRIES => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
