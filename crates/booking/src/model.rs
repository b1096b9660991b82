//! What the domain knows about appointments and slots: plain values, no JSON, no storage.

use bars_fhir::{Instant, NhsNumber};

use crate::status::{AppointmentStatus, SlotStatus};

/// The facts of an Appointment as a sender wrote it, extracted at the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub status: AppointmentStatus,
    /// Receiver slot ids, in the order the sender listed them.
    pub slots: Vec<String>,
    pub start: Option<Instant>,
    pub end: Option<Instant>,
    pub patient: Option<NhsNumber>,
    /// Appointment ids this one replaces (rebook provenance).
    pub replaces: Vec<String>,
}

/// A slot as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotView {
    pub id: String,
    pub service_id: String,
    pub status: SlotStatus,
    pub start: Instant,
    pub end: Instant,
}

/// An appointment as stored (its current version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub id: String,
    pub version: u64,
    pub status: AppointmentStatus,
    /// The slots the appointment holds (empty for placeholders and ended bookings).
    pub held_slots: Vec<String>,
    pub start: Option<Instant>,
    pub end: Option<Instant>,
    pub patient: Option<NhsNumber>,
    pub service_id: Option<String>,
    pub last_updated: Instant,
}

/// Settings that make the rules stricter or looser; the defaults are the strict BaRS reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The appointment's period must lie within its slots' combined period.
    pub appointment_within_slot: bool,
    /// A slot that has already started cannot be booked.
    pub refuse_started_slots: bool,
    /// Placeholders (waitlist, proposed, pending) may be created under Core 1.5.0 too, which
    /// removed them (decision D4: off unless configured).
    pub placeholders_under_1_5: bool,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            appointment_within_slot: true,
            refuse_started_slots: true,
            placeholders_under_1_5: false,
        }
    }
}
