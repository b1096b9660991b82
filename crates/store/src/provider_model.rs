//! The records of the provider's side: appointment events and their deliveries to the
//! service's own systems, the day list, and slots kept in step with an external scheduler.

use bars_booking::AppointmentStatus;
use bars_fhir::Instant;

use crate::model::{AppointmentRecord, JobState};

/// One appointment change as the provider's systems hear of it. Written by
/// [`crate::Store::commit_appointment`] in the change's own transaction, so there is an event
/// for every version and none for a change that did not happen. `seq` orders events in the
/// order their changes committed (see the backends' `events` modules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub seq: i64,
    pub appointment_id: String,
    pub version: u64,
    pub service_id: Option<String>,
    /// What was done, as the change's audit entry says (`book`, `cancel`, `arrived`, ...).
    pub action: String,
    pub status: AppointmentStatus,
    /// The organisation that made the change (the sender's ODS code, or the provider's own).
    pub actor_ods: Option<String>,
    pub at: Instant,
}

/// Events after a sequence number, oldest first; one service's only when `service` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    pub service: Option<String>,
    pub after: i64,
    pub limit: usize,
}

/// A system of the provider's that is sent the events of one service as webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: String,
    pub service_id: String,
    pub url: String,
    /// The signing secret, `whsec_<base64>` (Standard Webhooks).
    pub secret: String,
}

/// One event on its way to one subscriber. A subscriber's deliveries of one appointment are
/// handed out one at a time, oldest first, so they arrive in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub subscriber_id: String,
    pub event: EventRecord,
    pub state: JobState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt: Instant,
}

/// A service's appointments starting in `[from, to)`, ordered by start then id, resuming after
/// a cursor; only the statuses given, or all when none are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayQuery {
    pub service_id: String,
    pub from: Instant,
    pub to: Instant,
    pub statuses: Vec<AppointmentStatus>,
    pub after: Option<DayCursor>,
    pub limit: usize,
}

/// Where a page of the day list ended: resume strictly after this (start, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCursor {
    pub start_nanos: i64,
    pub id: String,
}

/// One line of the day list: the appointment and the organisation that booked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRow {
    pub record: AppointmentRecord,
    pub booked_by: Option<String>,
}

/// At most `limit + 1` rows: the one beyond the page tells the caller another page follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPage {
    pub rows: Vec<DayRow>,
}

/// One slot as the provider's own scheduling system sends it, keyed by that system's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotSync {
    /// Create the slot, or move it to these times (it must not be booked).
    Upsert {
        external_id: String,
        schedule_id: String,
        start: Instant,
        end: Instant,
    },
    /// Take the slot out of availability (it must not be booked).
    Withdraw { external_id: String },
}

impl SlotSync {
    pub fn external_id(&self) -> &str {
        match self {
            SlotSync::Upsert { external_id, .. } | SlotSync::Withdraw { external_id } => {
                external_id
            }
        }
    }
}

/// What a [`SlotSync`] did. Sending the same sync again changes nothing (`Unchanged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotSyncOutcome {
    Created {
        slot_id: String,
    },
    Moved {
        slot_id: String,
    },
    /// A withdrawn slot offered again.
    Reinstated {
        slot_id: String,
    },
    Withdrawn {
        slot_id: String,
    },
    Unchanged {
        slot_id: String,
    },
    /// Refused: an appointment holds the slot.
    Booked {
        slot_id: String,
        appointment_id: Option<String>,
    },
    /// Refused: no slot has this external id.
    Unknown,
    /// Refused: the schedule is not one of this service's.
    WrongSchedule,
}

/// A slot that carries an external id, as both backends read it before applying a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyncedSlot {
    pub slot_id: String,
    pub schedule_id: String,
    pub status: bars_booking::SlotStatus,
    pub start: Instant,
    pub end: Instant,
    /// The appointment actively holding the slot, if any.
    pub holder: Option<String>,
}

/// What a backend must write for one [`SlotSync`]; the rules live here once, the SQL in each
/// backend. Every write a backend makes for it is still guarded by the slot's status, so a
/// booking that lands between the read and the write makes the write a no-op, answered
/// [`SlotSyncOutcome::Booked`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SyncStep {
    Insert,
    /// Set times and schedule; `reinstate` also makes a withdrawn slot free again.
    Update {
        slot_id: String,
        reinstate: bool,
    },
    Withdraw {
        slot_id: String,
    },
    Answer(SlotSyncOutcome),
}

/// Decides one sync item. `schedule_service` is the service of the schedule an upsert names
/// (`None` when there is no such schedule).
pub(crate) fn sync_step(
    service_id: &str,
    item: &SlotSync,
    found: Option<&SyncedSlot>,
    schedule_service: Option<&str>,
) -> SyncStep {
    use bars_booking::SlotStatus;
    if let Some(slot) = found
        && (slot.holder.is_some() || slot.status == SlotStatus::Busy)
    {
        return SyncStep::Answer(SlotSyncOutcome::Booked {
            slot_id: slot.slot_id.clone(),
            appointment_id: slot.holder.clone(),
        });
    }
    match item {
        SlotSync::Withdraw { .. } => match found {
            None => SyncStep::Answer(SlotSyncOutcome::Unknown),
            Some(slot) if slot.status == SlotStatus::Free => SyncStep::Withdraw {
                slot_id: slot.slot_id.clone(),
            },
            Some(slot) => SyncStep::Answer(SlotSyncOutcome::Unchanged {
                slot_id: slot.slot_id.clone(),
            }),
        },
        SlotSync::Upsert {
            schedule_id,
            start,
            end,
            ..
        } => {
            if schedule_service != Some(service_id) {
                return SyncStep::Answer(SlotSyncOutcome::WrongSchedule);
            }
            match found {
                None => SyncStep::Insert,
                Some(slot)
                    if slot.status == SlotStatus::Free
                        && slot.start == *start
                        && slot.end == *end
                        && slot.schedule_id == *schedule_id =>
                {
                    SyncStep::Answer(SlotSyncOutcome::Unchanged {
                        slot_id: slot.slot_id.clone(),
                    })
                }
                Some(slot) => SyncStep::Update {
                    slot_id: slot.slot_id.clone(),
                    reinstate: slot.status != SlotStatus::Free,
                },
            }
        }
    }
}
