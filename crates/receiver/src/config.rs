//! The receiver's configuration: a typed value built once at start-up and passed in.

use std::collections::BTreeMap;
use std::time::Duration;

use bars_booking::{CoreVersion, Rules};

/// A healthcare service this receiver hosts, identified by its DoS service id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedService {
    pub id: String,
    pub name: String,
    /// BaRS use-case categories (`usecases-categories-bars`) the service accepts; empty means
    /// generic Appointment Management Foundation bookings only.
    pub use_cases: Vec<String>,
}

/// Which senders may use this receiver, or one of its services; the checks are
/// [`crate::access`]'s. Empty allow-lists allow everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPolicy {
    /// ODS codes of organisations allowed to send.
    pub organisations: Vec<String>,
    /// Identifiers (or names) of sending software allowed.
    pub software: Vec<String>,
    /// Refuse requests that do not say which organisation sends them.
    pub require_organisation: bool,
    /// When not empty, only these organisations (ODS codes) may have practitioners' details
    /// included in slot searches (`_include=Schedule:actor:Practitioner[Role]`).
    pub practitioner_details_for: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// The receiving organisation's ODS code (custodian of its appointments).
    pub ods_code: String,
    pub organisation_name: String,
    /// The public base URL senders reach this receiver at; used in `Location` and `fullUrl`.
    pub base_url: String,
    pub services: Vec<HostedService>,
    pub rules: Rules,
    /// The widest slot-search window (BaRS: 14 days); wider gets 422 `too-costly`.
    pub max_search_window: Duration,
    /// Slots per search page.
    pub max_page_size: usize,
    pub body_limit: usize,
    /// Requests not processed within this get 408 `REC_TIMEOUT` (BaRS: 5 s).
    pub request_timeout: Duration,
    /// How long request ids are remembered for duplicate detection.
    pub idempotency_retention: Duration,
    pub access: AccessPolicy,
    /// A service's own policy, by DoS service id, applied on top of [`Self::access`] to whatever
    /// that service owns: its slots, its appointments, its practitioners' details.
    pub service_access: BTreeMap<String, AccessPolicy>,
    /// This instance's stable name among those sharing the database. The pointer worker leases
    /// jobs under it, so an instance restarted after a crash takes back at once the jobs it
    /// held; under a random name (`None`) they would wait for their leases to run out.
    pub instance: Option<String>,
    /// How the provider's own systems hear of appointment changes (webhooks, the feed).
    pub events: crate::provider::EventSettings,
    /// The BaRS Core versions served (both unless configured otherwise); each request is
    /// answered by the rules of the one its `Accept` `version=` selects ([`Self::version_for`]).
    pub versions: Vec<CoreVersion>,
    /// The version a request that names none is answered by, unless its service has its own.
    /// 1.1.6 unless configured: a sender that states no version is taken for an older one.
    pub default_version: CoreVersion,
    /// A service's own default version, by DoS service id.
    pub service_versions: BTreeMap<String, CoreVersion>,
    /// What a search by demographics must give when it has no NHS number (decision D1).
    pub demographics: DemographicsMinimum,
    /// How many of a service's appointments a search by demographics may read before it is
    /// refused as too costly (422 `too-costly`); a search by NHS number has no such bound.
    pub demographic_scan_limit: usize,
}

/// The least a search by demographics must name (decision D1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemographicsMinimum {
    /// Name, birth date and postcode (the default: "to ensure a unique match").
    #[default]
    NameBirthDatePostcode,
    /// Name and birth date (the sequence diagram's "and/or").
    NameBirthDate,
}

impl ReceiverConfig {
    pub fn new(ods_code: impl Into<String>, base_url: impl Into<String>) -> Self {
        let ods_code = ods_code.into();
        ReceiverConfig {
            organisation_name: format!("Receiver {ods_code}"),
            ods_code,
            base_url: base_url.into().trim_end_matches('/').to_string(),
            services: Vec::new(),
            rules: Rules::default(),
            max_search_window: Duration::from_secs(14 * 24 * 3600),
            max_page_size: crate::paging::SLOT_PAGE,
            body_limit: bars_http::fhir_json::DEFAULT_BODY_LIMIT,
            request_timeout: Duration::from_secs(5),
            idempotency_retention: Duration::from_secs(7 * 24 * 3600),
            access: AccessPolicy::default(),
            service_access: BTreeMap::new(),
            instance: None,
            events: crate::provider::EventSettings::default(),
            versions: CoreVersion::ALL.to_vec(),
            default_version: CoreVersion::V1_1_6,
            service_versions: BTreeMap::new(),
            demographics: DemographicsMinimum::default(),
            demographic_scan_limit: 10_000,
        }
    }

    /// The version a request is answered by: the served version closest to the one it asked
    /// for in `Accept` (same major, nearest minor), else the default of the service it is
    /// addressed to, else the receiver's. A default that is not served gives way to the
    /// closest served one, so the answer is always a version this receiver serves.
    pub fn version_for(&self, asked: Option<&str>, service: Option<&str>) -> CoreVersion {
        if let Some(v) = asked.and_then(|a| CoreVersion::negotiate(a, &self.versions)) {
            return v;
        }
        let default = service
            .and_then(|s| self.service_versions.get(s))
            .copied()
            .unwrap_or(self.default_version);
        if self.versions.contains(&default) {
            return default;
        }
        CoreVersion::negotiate(default.as_str(), &self.versions).unwrap_or(default)
    }

    pub fn with_service(mut self, id: impl Into<String>, name: impl Into<String>) -> Self {
        self.services.push(HostedService {
            id: id.into(),
            name: name.into(),
            use_cases: Vec::new(),
        });
        self
    }

    pub fn hosts(&self, service_id: &str) -> bool {
        self.services.iter().any(|s| s.id == service_id)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }
}
