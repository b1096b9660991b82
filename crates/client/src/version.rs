//! Which BaRS Core version a sender speaks. A receiver answers each request by the rules of the
//! version its `Accept` names (delta §4), so the sender must both name it and follow that
//! version's workflow: 1.1.6 replaces whole resources and rebooks book-first with `replaces`;
//! 1.5.0 lets a PUT change only `status`/`reasonCode`, moves a booking by PATCHing its slot and
//! rebooks cancel-first.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub enum BarsVersion {
    /// BaRS Core 1.1.6 (API 1.1.0), what live senders still speak.
    V1_1_6,
    /// BaRS Core 1.5.0 (API 1.5.0, IG 1.12.0), what suppliers build to now.
    #[default]
    V1_5_0,
}

impl BarsVersion {
    pub const ALL: [BarsVersion; 2] = [BarsVersion::V1_1_6, BarsVersion::V1_5_0];

    /// The Core version's name, as users give it.
    pub fn as_str(self) -> &'static str {
        match self {
            BarsVersion::V1_1_6 => "1.1.6",
            BarsVersion::V1_5_0 => "1.5.0",
        }
    }

    /// The `version=` of `Accept` and `Content-Type`. Core 1.1.6 goes with API 1.1.0 (the OAS
    /// example senders of that version send); from 1.4.0 the Core and API numbers are equal.
    pub fn media_version(self) -> &'static str {
        match self {
            BarsVersion::V1_1_6 => "1.1.0",
            BarsVersion::V1_5_0 => "1.5.0",
        }
    }

    /// Whether edits are confined to their kind: a PUT to `status`/`reasonCode`, a PATCH to the
    /// slot (1.5.0); under 1.1.6 a PUT replaces the appointment.
    pub fn restricts_edits(self) -> bool {
        self == BarsVersion::V1_5_0
    }

    /// Whether demographics (name, birth date, postcode) may find appointments without an NHS
    /// number: new in 1.5.0 (delta §2.3).
    pub fn searches_by_demographics(self) -> bool {
        self == BarsVersion::V1_5_0
    }
}

impl fmt::Display for BarsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BarsVersion {
    type Err = String;

    /// `1.1.6` or `1.5.0`; the API numbers (`1.1.0`) and bare minors (`1.1`, `1.5`) too.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.trim().split('.');
        let minor = match (parts.next(), parts.next()) {
            (Some("1"), Some(minor)) => minor,
            _ => "",
        };
        match minor {
            "1" => Ok(BarsVersion::V1_1_6),
            "5" => Ok(BarsVersion::V1_5_0),
            _ => Err(format!(
                "BaRS Core version {s:?} is not one this sender speaks: give 1.1.6 or 1.5.0"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_others_are_refused() {
        for v in BarsVersion::ALL {
            assert_eq!(v.as_str().parse::<BarsVersion>(), Ok(v));
            assert_eq!(v.media_version().parse::<BarsVersion>(), Ok(v));
        }
        assert_eq!("1.5".parse::<BarsVersion>(), Ok(BarsVersion::V1_5_0));
        for bad in ["", "2.0.0", "1.3.0", "1", "v1.5.0"] {
            assert!(bad.parse::<BarsVersion>().is_err(), "{bad}");
        }
        assert_eq!(BarsVersion::default(), BarsVersion::V1_5_0);
    }
}
