//! The BaRS Core versions whose rules this system applies, and how a request's `Accept`
//! `version=` picks one.
//!
//! Core 1.1.6 is the baseline the system was built to; every change that matters to
//! appointments arrived in Core 1.3.0/1.3.1 and is current in 1.5.0 (the delta, section 1).
//! A receiver serves one or both; each request is decided by the rules of the version it
//! negotiated, so one appointment can be booked under one version and changed under the other.

use std::fmt;

/// A BaRS Core version with a rule-set of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CoreVersion {
    /// Core 1.1.6 (API 1.1.0): updates by PUT or PATCH change anything, placeholders
    /// (waitlist, proposed, pending) may be created, a rebook may name what it `replaces`.
    V1_1_6,
    /// Core 1.5.0 (API 1.5.0, IG 1.12.0): PUT changes only `status` and `reasonCode`, PATCH
    /// only the slot (a reschedule), a new appointment is `booked`, rebook is cancel then book.
    V1_5_0,
}

impl CoreVersion {
    pub const ALL: [CoreVersion; 2] = [CoreVersion::V1_1_6, CoreVersion::V1_5_0];

    pub fn as_str(self) -> &'static str {
        match self {
            CoreVersion::V1_1_6 => "1.1.6",
            CoreVersion::V1_5_0 => "1.5.0",
        }
    }

    /// `1.1.6` or `1.5.0` exactly (configuration names versions this way).
    pub fn parse(text: &str) -> Option<CoreVersion> {
        Self::ALL.into_iter().find(|v| v.as_str() == text.trim())
    }

    fn minor(self) -> u64 {
        match self {
            CoreVersion::V1_1_6 => 1,
            CoreVersion::V1_5_0 => 5,
        }
    }

    /// The served version closest to what a sender asked for in `Accept` (`1.5.0`, `1.1.0`,
    /// `1.4.0-alpha`, `1.3`): the same major, the nearest minor; on a tie the newer, because
    /// the minors between (1.3, 1.4) already carry the newer rules. `None` when the text names
    /// no minor of major 1 (the caller then uses its default) or nothing is served.
    pub fn negotiate(requested: &str, served: &[CoreVersion]) -> Option<CoreVersion> {
        let core = requested.trim().split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let major: u64 = parts.next()?.trim().parse().ok()?;
        let minor: u64 = parts.next()?.trim().parse().ok()?;
        if major != 1 {
            return None;
        }
        served
            .iter()
            .copied()
            .min_by_key(|v| (v.minor().abs_diff(minor), std::cmp::Reverse(v.minor())))
    }

    /// Whether an edit may change only the elements its kind is for (1.5.0: PUT `status` and
    /// `reasonCode`, PATCH the slot); under 1.1.6 an edit replaces or patches anything.
    pub fn restricts_edits(self) -> bool {
        self == CoreVersion::V1_5_0
    }

    /// Whether a new appointment may be a placeholder (waitlist, proposed, pending): 1.1.6
    /// described them, 1.5.0 removed them (decision D4).
    pub fn allows_placeholders(self) -> bool {
        self == CoreVersion::V1_1_6
    }
}

impl fmt::Display for CoreVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::CoreVersion::{self, *};

    #[test]
    fn the_closest_minor_of_the_same_major_is_chosen() {
        let both = [V1_1_6, V1_5_0];
        for (asked, chosen) in [
            ("1.1.0", Some(V1_1_6)),
            ("1.0.0", Some(V1_1_6)),
            ("1.2.2-alpha", Some(V1_1_6)),
            ("1.3.0", Some(V1_5_0)),
            ("1.4.0", Some(V1_5_0)),
            ("1.5.0", Some(V1_5_0)),
            ("1.9.0", Some(V1_5_0)),
            ("1", None),
            ("2.5.0", None),
            ("banana", None),
        ] {
            assert_eq!(CoreVersion::negotiate(asked, &both), chosen, "{asked}");
        }
        assert_eq!(CoreVersion::negotiate("1.5.0", &[V1_1_6]), Some(V1_1_6));
        assert_eq!(CoreVersion::negotiate("1.1.0", &[V1_5_0]), Some(V1_5_0));
        assert_eq!(CoreVersion::negotiate("1.1.0", &[]), None);
    }

    #[test]
    fn names_round_trip() {
        for v in CoreVersion::ALL {
            assert_eq!(CoreVersion::parse(v.as_str()), Some(v));
        }
        assert_eq!(CoreVersion::parse("1.1.0"), None);
    }
}
