//! The records the store keeps and returns. Resource bodies are FHIR JSON text, already
//! stamped with `id` and `meta`; indexed facts sit beside them in columns.

use bars_booking::{AppointmentStatus, PointerAction, SlotStatus};
use bars_fhir::Instant;

/// A stored FHIR resource that is not one of the booking tables (HealthcareService,
/// Organization, Location, Practitioner, PractitionerRole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResource {
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    pub last_updated: Instant,
    /// The JSON body with `id` and `meta` stamped.
    pub body: String,
}

/// A Schedule; `slot_template` holds the Slot elements its slots share (serviceCategory,
/// appointmentType, extensions, ...), so a million generated slots do not repeat them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    pub id: String,
    pub service_id: String,
    pub version: u64,
    pub last_updated: Instant,
    pub body: String,
    pub slot_template: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRecord {
    pub id: String,
    pub schedule_id: String,
    pub service_id: String,
    pub status: SlotStatus,
    pub start: Instant,
    pub end: Instant,
    pub version: u64,
    pub last_updated: Instant,
    /// Elements of this slot beyond the schedule's template (a JSON object), if any.
    pub extra: Option<String>,
}

/// A slot search: one service, some statuses, a window on `start` (both bounds inclusive),
/// ordered by start then id, resuming after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotQuery {
    pub service_id: String,
    pub statuses: Vec<SlotStatus>,
    pub start_from: Instant,
    pub start_to: Instant,
    pub after: Option<SlotCursor>,
    pub limit: usize,
}

/// Where a page of slots ended: resume strictly after this (start, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotCursor {
    pub start_nanos: i64,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotPage {
    pub slots: Vec<SlotRecord>,
    /// Matches in the whole window, not just this page.
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentRecord {
    pub id: String,
    pub version: u64,
    pub status: AppointmentStatus,
    pub service_id: Option<String>,
    /// The patient's NHS number.
    pub patient: Option<String>,
    pub start: Option<Instant>,
    pub end: Option<Instant>,
    pub created: Instant,
    pub last_updated: Instant,
    pub held_slots: Vec<String>,
    pub pointer_id: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentVersion {
    pub id: String,
    pub version: u64,
    pub last_updated: Instant,
    pub body: String,
}

/// One page of a patient's appointments, in the order they were booked (`created`, then id).
/// That key never changes once written: a sender paging while others book, reschedule or
/// cancel sees each appointment at most once, and every one that existed when it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentQuery {
    /// The patient's NHS number.
    pub patient: String,
    /// Only the appointments this service owns, when given (a request addressed to one
    /// service sees nothing of another's).
    pub service: Option<String>,
    pub after: Option<AppointmentCursor>,
    pub limit: usize,
}

/// A walk through the appointments of one service (or of all, `service: None`) in booking
/// order, after a cursor: what a search by demographics reads, since the receiver keeps no
/// demographic columns. `body_contains` keeps only appointments whose stored text contains
/// it (an exact text the caller knows the stored form of, such as `"birthDate":"1932-10-29"`),
/// so that the database, not the caller, passes over the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentScan {
    pub service: Option<String>,
    pub body_contains: Option<String>,
    pub after: Option<AppointmentCursor>,
    pub limit: usize,
}

/// Where a page of appointments ended: resume strictly after this (created, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentCursor {
    pub created_nanos: i64,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentPage {
    /// At most `limit + 1`: the one beyond the page tells the caller another page follows.
    pub appointments: Vec<AppointmentRecord>,
    /// The patient's appointments on all pages.
    pub total: u64,
}

/// One page of an appointment's versions, newest first. New versions only ever get higher
/// numbers, so resuming below a version sees every older one exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub id: String,
    /// Only versions below this one; `None` starts at the newest.
    pub before: Option<u64>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// At most `limit + 1`: the one beyond the page tells the caller another page follows.
    pub versions: Vec<AppointmentVersion>,
    /// Every version of the appointment; 0 when there is no such appointment.
    pub total: u64,
}

/// The row count a page query fetches: the page and one more, so the caller knows whether
/// another page follows. Saturates instead of overflowing for any `limit` a caller passes.
pub(crate) fn fetch_count(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)
}

/// One status's matches in a slot search's window, known without counting them when the page
/// already holds them all: a first page (no cursor) that came back short of [`fetch_count`].
/// A day's search nearly always is one, and its count was a second range scan of the same index
/// entries (8% of a search's CPU, profiled; the gain was smaller, as the page now reads the
/// index pages the count used to bring into the cache). A later page still counts: its rows
/// are only the window's tail.
pub(crate) fn counted_by_the_page(q: &SlotQuery, fetched: usize) -> Option<u64> {
    let short = i64::try_from(fetched).is_ok_and(|n| n < fetch_count(q.limit));
    (q.after.is_none() && short).then_some(fetched as u64)
}

/// Everything one appointment change writes, applied atomically: the new version, the slot
/// claims and releases, the pointer job, the idempotency record and the audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentChange {
    pub id: String,
    pub version: u64,
    /// `None` creates the appointment; `Some(v)` updates it only if it is still at version `v`.
    pub expected_version: Option<u64>,
    pub status: AppointmentStatus,
    pub service_id: Option<String>,
    pub patient: Option<String>,
    pub start: Option<Instant>,
    pub end: Option<Instant>,
    pub created: Instant,
    pub last_updated: Instant,
    pub body: String,
    pub claim: Vec<String>,
    pub release: Vec<String>,
    pub pointer: Option<PointerAction>,
    pub idempotency: Option<IdempotencyRecord>,
    pub audit: AuditEntry,
}

/// Who sent a write and under which ids: the key that makes retries safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub request_id: String,
    pub correlation_id: String,
    /// The authenticated sending application, or the sending organisation, or empty.
    pub sender: String,
}

/// What happened to a request, kept so that a retry gets the right answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The request took effect; a retry is answered 409 `duplicate`, pointing at `location`.
    Succeeded { location: Option<String> },
    /// The request was refused; a retry gets the same refusal.
    Failed { status: u16, body: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: IdempotencyKey,
    pub outcome: RequestOutcome,
    pub recorded: Instant,
}

/// One line of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEntry {
    pub at: Option<Instant>,
    pub request_id: String,
    pub correlation_id: String,
    pub sender_ods: Option<String>,
    pub sender_software: Option<String>,
    pub sender_app: Option<String>,
    /// What was done: `read`, `search`, `book`, `update`, `cancel`, ...
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub version: Option<u64>,
    /// The HTTP status of the response.
    pub outcome: u16,
    /// The NHS number concerned, when there is one: the audit log answers "who saw this
    /// patient's bookings", so it is the one place that keeps it.
    pub patient: Option<String>,
}

/// Filters for reading the audit log; all given filters must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    pub resource_id: Option<String>,
    pub patient: Option<String>,
    pub request_id: Option<String>,
    pub limit: usize,
}

impl AuditQuery {
    /// The filters this query sets, as `(column, value)`, in a fixed order. Each backend builds
    /// its `WHERE` from these alone: a catch-all `(? IS NULL OR column = ?)` hides every index
    /// from the planner, so a lookup by patient or appointment would read the whole log.
    pub fn filters(&self) -> Vec<(&'static str, &str)> {
        [
            ("resource_id", &self.resource_id),
            ("patient", &self.patient),
            ("request_id", &self.request_id),
        ]
        .into_iter()
        .filter_map(|(column, value)| value.as_deref().map(|v| (column, v)))
        .collect()
    }

    /// The most rows to return: 1,000 when the caller gave no bound.
    pub fn row_limit(&self) -> i64 {
        let limit = if self.limit == 0 { 1_000 } else { self.limit };
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub entry: AuditEntry,
}

/// A Registry pointer job from the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerJob {
    pub seq: i64,
    pub appointment_id: String,
    /// The appointment version whose content the pointer must reflect.
    pub appointment_version: u64,
    pub action: PointerAction,
    pub state: JobState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created: Instant,
    pub next_attempt: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Pending,
    Done,
    /// Refused by the Registry in a way retrying cannot fix; waits for an operator.
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        [JobState::Pending, JobState::Done, JobState::Failed]
            .into_iter()
            .find(|j| j.as_str() == s)
    }
}

/// What a finished job did to the appointment's pointer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PointerIdChange {
    Keep,
    Set(String),
    Clear,
}

/// The outbox at a glance, for operators and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboxStats {
    pub pending: u64,
    pub failed: u64,
    /// When the oldest job not yet delivered (pending or failed) was written.
    pub oldest_undelivered: Option<Instant>,
}

/// How busy one of the store's connection pools is, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub name: &'static str,
    pub size: u64,
    pub in_use: u64,
    /// Operations waiting for a connection (or, for a single writer, queued for it).
    pub waiting: u64,
}

impl PoolStatus {
    /// `(name, size, in_use, waiting)`, the form the metrics exposition takes.
    pub fn as_tuple(&self) -> (&'static str, u64, u64, u64) {
        (self.name, self.size, self.in_use, self.waiting)
    }
}
