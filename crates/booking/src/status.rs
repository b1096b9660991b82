//! Appointment and slot statuses, and which of them matter to booking.

use std::fmt;

/// FHIR R4 `AppointmentStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppointmentStatus {
    Proposed,
    Pending,
    Booked,
    Arrived,
    Fulfilled,
    Cancelled,
    Noshow,
    EnteredInError,
    CheckedIn,
    Waitlist,
}

impl AppointmentStatus {
    pub const ALL: [AppointmentStatus; 10] = [
        AppointmentStatus::Proposed,
        AppointmentStatus::Pending,
        AppointmentStatus::Booked,
        AppointmentStatus::Arrived,
        AppointmentStatus::Fulfilled,
        AppointmentStatus::Cancelled,
        AppointmentStatus::Noshow,
        AppointmentStatus::EnteredInError,
        AppointmentStatus::CheckedIn,
        AppointmentStatus::Waitlist,
    ];

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Proposed => "proposed",
            AppointmentStatus::Pending => "pending",
            AppointmentStatus::Booked => "booked",
            AppointmentStatus::Arrived => "arrived",
            AppointmentStatus::Fulfilled => "fulfilled",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::Noshow => "noshow",
            AppointmentStatus::EnteredInError => "entered-in-error",
            AppointmentStatus::CheckedIn => "checked-in",
            AppointmentStatus::Waitlist => "waitlist",
        }
    }

    /// Statuses in which an appointment occupies its slots. The store's unique index on active
    /// bookings per slot counts exactly these.
    pub fn holds_slot(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Booked | AppointmentStatus::Arrived | AppointmentStatus::CheckedIn
        )
    }

    /// Placeholders (waitlist, proposed, pending) wait for a slot and hold none.
    pub fn is_placeholder(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Waitlist | AppointmentStatus::Proposed | AppointmentStatus::Pending
        )
    }

    /// The two ways a sender ends a booking.
    pub fn is_cancellation(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Cancelled | AppointmentStatus::EnteredInError
        )
    }

    /// Receiver-side workflow that senders may never request (the patient arrived, was seen, ...).
    pub fn is_attendance(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Arrived
                | AppointmentStatus::CheckedIn
                | AppointmentStatus::Fulfilled
                | AppointmentStatus::Noshow
        )
    }

    /// No sender may change an appointment once it is in one of these.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Cancelled
                | AppointmentStatus::EnteredInError
                | AppointmentStatus::Fulfilled
                | AppointmentStatus::Noshow
        )
    }
}

impl fmt::Display for AppointmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// FHIR R4 `SlotStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotStatus {
    Busy,
    Free,
    BusyUnavailable,
    BusyTentative,
    EnteredInError,
}

impl SlotStatus {
    pub const ALL: [SlotStatus; 5] = [
        SlotStatus::Busy,
        SlotStatus::Free,
        SlotStatus::BusyUnavailable,
        SlotStatus::BusyTentative,
        SlotStatus::EnteredInError,
    ];

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SlotStatus::Busy => "busy",
            SlotStatus::Free => "free",
            SlotStatus::BusyUnavailable => "busy-unavailable",
            SlotStatus::BusyTentative => "busy-tentative",
            SlotStatus::EnteredInError => "entered-in-error",
        }
    }
}

impl fmt::Display for SlotStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in AppointmentStatus::ALL {
            assert_eq!(AppointmentStatus::parse(s.as_str()), Some(s));
        }
        for s in SlotStatus::ALL {
            assert_eq!(SlotStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(AppointmentStatus::parse("no-show"), None);
    }

    #[test]
    fn classes_do_not_overlap_where_it_matters() {
        for s in AppointmentStatus::ALL {
            assert!(!(s.holds_slot() && s.is_placeholder()), "{s}");
            assert!(!(s.holds_slot() && s.is_terminal()), "{s}");
        }
    }
}
