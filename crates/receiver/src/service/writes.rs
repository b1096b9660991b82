//! Appointment writes: create and edit (replace, patch, cancel), each a read, a pure decision
//! and one atomic commit of an [`AppointmentChange`] carrying its audit entry, its request
//! record and its pointer job.

use bars_booking::{
    CoreVersion, Current, EditKind, EditRequest, Plan, Requested, Scope, check_freshness,
    decide_create, decide_update,
};
use bars_fhir::resource::{last_updated, stamp};
use bars_fhir::{Instant, Issue, IssueType, NhsNumber, patch, validate};
use bars_http::RequestContext;
use bars_store::{AppointmentChange, AppointmentRecord, CommitError, StoreError};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Audited, Bookings, audit_entry, elements, new_appointment_id};
use crate::access;
use crate::booking_error::BookingError;
use crate::mapping;
use crate::requests::Admission;

/// BaRS use-case categories (`Appointment.serviceCategory`).
pub const USE_CASE_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/usecases-categories-bars";

/// How many times a write without `If-Match` re-reads and retries after losing a race on the
/// appointment's version.
const VERSION_RETRIES: usize = 3;

/// A change to a stored appointment.
#[derive(Debug, Clone)]
pub enum Edit {
    /// PUT: the complete new resource.
    Replace(Value),
    /// PATCH in one of its three forms.
    Patch(PatchDocument),
    /// DELETE: a logical cancel.
    Cancel,
}

impl Edit {
    /// The kind of edit whose rules apply (a message update or cancellation is a PUT).
    pub fn kind(&self) -> EditKind {
        match self {
            Edit::Replace(_) => EditKind::Update,
            Edit::Patch(_) => EditKind::Reschedule,
            Edit::Cancel => EditKind::Cancel,
        }
    }
}

#[derive(Debug, Clone)]
pub enum PatchDocument {
    JsonPatch(Value),
    FhirPathPatch(Value),
    Partial(Value),
}

/// An appointment as written, ready to answer with: `body` is the text that was stored, handed
/// on as it is (JSON by construction) to whichever answer carries it.
#[derive(Debug, Clone)]
pub struct Written {
    pub id: String,
    pub version: u64,
    pub last_updated: Instant,
    pub body: Box<RawValue>,
    pub event: bars_booking::Event,
}

/// Who writes: the request, the service it is addressed to, its admission under its request
/// ids, and what its front door has already checked.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub ctx: &'a RequestContext,
    pub scope: &'a Scope,
    pub admission: &'a Admission,
    /// The service the booking's use case was already checked against (a message's step 5,
    /// which section 6.3 puts before its workflow check). The write does not check it again
    /// when its plan lands at that service, which it always does within that service's scope.
    pub use_case_checked: Option<&'a str>,
    /// The BaRS Core version whose rules decide the request (see
    /// [`crate::config::ReceiverConfig::version_for`]).
    pub version: CoreVersion,
}

/// What is new about the version a write commits.
struct NewVersion<'a> {
    id: &'a str,
    version: u64,
    /// The version the decision was made on (`None` for a new appointment).
    expected: Option<u64>,
    created: Instant,
    now: Instant,
}

impl Bookings {
    /// Books (or creates a placeholder for) a new appointment, at a service `scope` admits.
    pub async fn create(
        &self,
        caller: &Caller<'_>,
        resource: Value,
    ) -> Result<Written, BookingError> {
        let written = async {
            let Caller { ctx, scope, .. } = *caller;
            access::check_owner(&self.config, ctx, scope.service())?;
            check_valid(&resource, false)?;
            let requested = mapping::requested(&resource)?;
            let slots = self.slot_views(ctx, scope, &requested.slots).await?;
            let replaced = self.current_of(ctx, scope, &requested.replaces).await?;
            let now = Instant::now();
            let plan = decide_create(
                scope,
                caller.version,
                &requested,
                &slots,
                &replaced,
                now,
                self.config.rules,
            )?;
            self.check_plan(caller, &resource, &plan)?;
            let id = new_appointment_id();
            let version = NewVersion {
                id: &id,
                version: 1,
                expected: None,
                created: now,
                now,
            };
            let (change, written) = self.change(caller, &version, resource, &requested, &plan)?;
            self.commit(change).await?;
            Ok(written)
        };
        self.counted(written.await)
    }

    /// Applies an edit to a stored appointment, honouring `If-Match` and the sender's
    /// `meta.lastUpdated`.
    pub async fn edit(
        &self,
        caller: &Caller<'_>,
        id: &str,
        edit: &Edit,
        if_match: Option<u64>,
    ) -> Result<Written, BookingError> {
        let written = async {
            let Caller { ctx, scope, .. } = *caller;
            access::check_owner(&self.config, ctx, scope.service())?;
            // The body must be about the appointment in the URL, whether or not it exists.
            match edit {
                Edit::Replace(resource) => check_body_id(resource, id)?,
                Edit::Patch(PatchDocument::Partial(p)) if p.get("id").is_some() => {
                    check_body_id(p, id)?
                }
                _ => {}
            }
            let mut attempt = 0;
            loop {
                attempt += 1;
                let current = self
                    .appointment(ctx, scope, id)
                    .await?
                    .ok_or_else(|| BookingError::NotFound { id: id.to_string() })?;
                let restricted = caller.version.restricts_edits();
                let (mut resource, sender_seen, from_patch, stored) =
                    edited_resource(&current, edit, restricted)?;
                let state = current_state(&current);
                check_freshness(&state, if_match, sender_seen)?;
                check_valid(&resource, from_patch)?;
                let changed = stored
                    .as_ref()
                    .map(|stored| elements::changed(stored, &resource))
                    .unwrap_or_default();
                let mut requested = mapping::requested(&resource)?;
                let slots = self.slot_views(ctx, scope, &requested.slots).await?;
                let replaced = self.current_of(ctx, scope, &requested.replaces).await?;
                let now = Instant::now().after(current.last_updated);
                let plan = decide_update(
                    scope,
                    &EditRequest::new(caller.version, edit.kind(), &changed),
                    &state,
                    &requested,
                    &slots,
                    &replaced,
                    now,
                    self.config.rules,
                )?;
                self.check_plan(caller, &resource, &plan)?;
                if let Some((start, end)) = plan.times {
                    mapping::set_times(&mut resource, start, end);
                    requested.start = Some(start);
                    requested.end = Some(end);
                }
                let version = NewVersion {
                    id,
                    version: current.version + 1,
                    expected: Some(current.version),
                    created: current.created,
                    now,
                };
                let (change, written) =
                    self.change(caller, &version, resource, &requested, &plan)?;
                match self.commit(change).await {
                    Ok(()) => return Ok(written),
                    Err(CommitError::VersionConflict) if if_match.is_some() => {
                        let current = self
                            .store
                            .get_appointment(id)
                            .await
                            .ok()
                            .flatten()
                            .map_or(current.version + 1, |c| c.version);
                        return Err(
                            bars_booking::DomainError::PreconditionFailed { current }.into()
                        );
                    }
                    Err(CommitError::VersionConflict) if attempt < VERSION_RETRIES => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        self.counted(written.await)
    }

    /// Counts what a write came to, for the metrics.
    fn counted(&self, outcome: Result<Written, BookingError>) -> Result<Written, BookingError> {
        self.metrics
            .write_outcome(outcome.as_ref().map(|w| w.event));
        outcome
    }

    /// What a plan must still pass once it names the service it lands at: that service's
    /// access policy and its use cases.
    fn check_plan(
        &self,
        caller: &Caller<'_>,
        resource: &Value,
        plan: &Plan,
    ) -> Result<(), BookingError> {
        let service = plan.service_id.as_deref();
        access::check_owner(&self.config, caller.ctx, service)?;
        if caller.use_case_checked != service {
            self.check_use_case(resource.get("serviceCategory"), service)?;
        }
        Ok(())
    }

    /// Commits a change and, if it left a pointer job, wakes the worker to deliver it now.
    async fn commit(&self, change: AppointmentChange) -> Result<(), CommitError> {
        let wakes = change.pointer.is_some();
        self.store.commit_appointment(change).await?;
        if wakes {
            self.pointer_jobs.notify_one();
        }
        Ok(())
    }

    /// A BaRS Application booking names its use case in `serviceCategory`; the service must
    /// support it (422 `not-supported` otherwise). Generic Foundation bookings name none.
    /// Also step 5 of `$process-message` (section 6.3), against the message's destination.
    pub fn check_use_case(
        &self,
        service_category: Option<&Value>,
        service_id: Option<&str>,
    ) -> Result<(), BookingError> {
        let codes = service_category
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("coding").and_then(Value::as_array))
            .flatten()
            .filter(|c| c.get("system").and_then(Value::as_str) == Some(USE_CASE_SYSTEM))
            .filter_map(|c| c.get("code").and_then(Value::as_str));
        let Some(service) =
            service_id.and_then(|id| self.config.services.iter().find(|s| s.id == id))
        else {
            return Ok(());
        };
        for code in codes {
            if !service.use_cases.iter().any(|u| u == code) {
                return Err(BookingError::UseCaseNotSupported {
                    service: service.id.clone(),
                    use_case: code.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The slots `scope` admits among `ids`, after their services' access policies; another
    /// service's slot is left out, exactly like an unknown one.
    async fn slot_views(
        &self,
        ctx: &RequestContext,
        scope: &Scope,
        ids: &[String],
    ) -> Result<Vec<bars_booking::SlotView>, BookingError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let slots = self.store.get_slots(ids).await?;
        let slots: Vec<_> = slots
            .into_iter()
            .filter(|s| scope.admits(Some(&s.service_id)))
            .collect();
        for slot in &slots {
            access::check_owner(&self.config, ctx, Some(&slot.service_id))?;
        }
        Ok(slots
            .into_iter()
            .map(|s| bars_booking::SlotView {
                id: s.id,
                service_id: s.service_id,
                status: s.status,
                start: s.start,
                end: s.end,
            })
            .collect())
    }

    /// The appointments `scope` admits among `ids` (those a rebooking replaces), after their
    /// services' access policies.
    async fn current_of(
        &self,
        ctx: &RequestContext,
        scope: &Scope,
        ids: &[String],
    ) -> Result<Vec<Current>, BookingError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let found = self.store.get_appointments(ids).await?;
        let mut admitted = Vec::with_capacity(found.len());
        for record in found
            .iter()
            .filter(|r| scope.admits(r.service_id.as_deref()))
        {
            access::check_owner(&self.config, ctx, record.service_id.as_deref())?;
            admitted.push(current_state(record));
        }
        Ok(admitted)
    }

    /// The change that commits `version` of `resource` as the plan decided, and the answer
    /// it makes once committed. The server's `id`, `meta.versionId`, `meta.lastUpdated` and
    /// `created` are set here, and the resource is written to text once: the store keeps that
    /// text and the answer hands it on.
    fn change(
        &self,
        caller: &Caller<'_>,
        version: &NewVersion<'_>,
        mut resource: Value,
        requested: &Requested,
        plan: &Plan,
    ) -> Result<(AppointmentChange, Written), BookingError> {
        let NewVersion {
            id,
            version,
            expected,
            created,
            now,
        } = *version;
        stamp(&mut resource, id, version, now);
        mapping::set_created(&mut resource, created);
        mapping::normalise_times(&mut resource, requested.start, requested.end);
        let body = serde_json::value::to_raw_value(&resource).map_err(|e| {
            BookingError::Store(StoreError::Internal(format!(
                "an appointment could not be written as JSON: {e}"
            )))
        })?;
        let location = self.location(id, version);
        let patient = requested.patient.as_ref().map(|p| p.as_str().to_string());
        let audit = audit_entry(
            caller.ctx,
            Audited {
                action: action_of(plan.event),
                id: Some(id),
                version: Some(version),
                patient: patient.clone(),
                outcome: if expected.is_none() { 201 } else { 200 },
            },
        );
        let change = AppointmentChange {
            id: id.to_string(),
            version,
            expected_version: expected,
            status: requested.status,
            service_id: plan.service_id.clone(),
            patient,
            start: requested.start,
            end: requested.end,
            created,
            last_updated: now,
            body: body.get().to_string(),
            claim: plan.claim.clone(),
            release: plan.release.clone(),
            pointer: plan.pointer,
            idempotency: Some(caller.admission.success(Some(location))),
            audit,
        };
        let written = Written {
            id: id.to_string(),
            version,
            last_updated: now,
            body,
            event: plan.event,
        };
        Ok((change, written))
    }
}

/// What an edit produces from the stored appointment.
type Edited = (Value, Option<Instant>, bool, Option<Value>);

/// The resource an edit produces from the stored one, the sender's `meta.lastUpdated` if it
/// stated one, whether it came from a patch (whose invalid results are 422, not 400), and,
/// when the edit's version `restricted` what it may change, the stored resource to compare
/// with. Under 1.1.6 a replacement does not read the stored body, but a stored body that is
/// not JSON is refused all the same (checked by a scan, nothing built); under 1.5.0 what a
/// replacement leaves out is kept from the stored body.
fn edited_resource(
    current: &AppointmentRecord,
    edit: &Edit,
    restricted: bool,
) -> Result<Edited, BookingError> {
    let corrupt = |_| BookingError::corrupt("a stored appointment");
    let parsed = || serde_json::from_str::<Value>(&current.body).map_err(corrupt);
    let kept = |stored: Value| restricted.then_some(stored);
    match edit {
        Edit::Replace(resource) if restricted => {
            let stored = parsed()?;
            let merged = elements::over_stored(&stored, resource);
            Ok((merged, sender_last_updated(resource)?, false, Some(stored)))
        }
        Edit::Replace(resource) => {
            serde_json::from_str::<&RawValue>(&current.body).map_err(corrupt)?;
            Ok((
                resource.clone(),
                sender_last_updated(resource)?,
                false,
                None,
            ))
        }
        Edit::Patch(document) => {
            let stored = parsed()?;
            let (patched, seen) = match document {
                PatchDocument::JsonPatch(p) => (patch::json_patch(&stored, p), None),
                PatchDocument::FhirPathPatch(p) => (patch::fhirpath_patch(&stored, p), None),
                PatchDocument::Partial(p) => {
                    (patch::partial_resource(&stored, p), sender_last_updated(p)?)
                }
            };
            Ok((
                patched.map_err(BookingError::Patch)?,
                seen,
                true,
                kept(stored),
            ))
        }
        Edit::Cancel => {
            let stored = parsed()?;
            let mut cancelled = stored.clone();
            cancelled["status"] = Value::String("cancelled".into());
            Ok((cancelled, None, false, kept(stored)))
        }
    }
}

/// The audit action for a domain event.
pub fn action_of(event: bars_booking::Event) -> &'static str {
    match event {
        bars_booking::Event::Booked => "book",
        bars_booking::Event::Placeholder => "placeholder",
        bars_booking::Event::Updated => "update",
        bars_booking::Event::Rescheduled => "reschedule",
        bars_booking::Event::Cancelled => "cancel",
    }
}

/// The domain's view of a stored appointment.
pub fn current_state(record: &AppointmentRecord) -> Current {
    Current {
        id: record.id.clone(),
        version: record.version,
        status: record.status,
        held_slots: record.held_slots.clone(),
        start: record.start,
        end: record.end,
        patient: record
            .patient
            .as_deref()
            .and_then(|p| NhsNumber::parse(p).ok()),
        service_id: record.service_id.clone(),
        last_updated: record.last_updated,
    }
}

/// Validates an Appointment; every finding is reported at once. `patched`: the resource is
/// the result of a patch (see [`BookingError::Invalid`]).
pub fn check_valid(resource: &Value, patched: bool) -> Result<(), BookingError> {
    if resource.get("resourceType").and_then(Value::as_str) != Some("Appointment") {
        return Err(BookingError::Invalid {
            findings: vec![Issue::error(
                IssueType::Structure,
                "the body must be an Appointment resource",
            )],
            patched,
        });
    }
    let findings = validate::appointment(resource);
    if findings.iter().any(|i| i.is_error()) {
        return Err(BookingError::Invalid { findings, patched });
    }
    Ok(())
}

fn check_body_id(resource: &Value, path_id: &str) -> Result<(), BookingError> {
    let diagnostics = match resource.get("id").and_then(Value::as_str) {
        Some(id) if id == path_id => return Ok(()),
        Some(_) => "the id in the body does not match the id in the URL",
        None => "the body must carry the id of the appointment being updated",
    };
    Err(BookingError::invalid(
        Issue::error(IssueType::Invalid, diagnostics).at("Appointment.id"),
    ))
}

fn sender_last_updated(resource: &Value) -> Result<Option<Instant>, BookingError> {
    match last_updated(resource) {
        None => Ok(None),
        Some(Ok(i)) => Ok(Some(i)),
        Some(Err(e)) => Err(BookingError::invalid(
            Issue::error(
                IssueType::Value,
                format!("meta.lastUpdated is not a valid instant: {e}"),
            )
            .at("Appointment.meta.lastUpdated"),
        )),
    }
}
