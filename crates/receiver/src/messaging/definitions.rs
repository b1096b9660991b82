//! The MessageDefinitions this receiver processes, generated from [`Kind::focus`] (the table of
//! section 6.2), and `GET /MessageDefinition?context=...` over them.
//!
//! The same focus table drives the structural check of incoming messages
//! ([`super::structure`]), so what a sender discovers is exactly what is enforced.

use bars_fhir::IssueType;
use bars_fhir::bundle::{SearchEntry, SearchMode, searchset};
use bars_fhir::codes::BarsCode;
use bars_fhir::headers::DOS_SERVICE_SYSTEM;
use bars_fhir::search::{Query, encode_component};
use bars_http::ApiError;
use serde_json::{Value, json};

use crate::catalog::CAPABILITIES_DATE;
use crate::config::{HostedService, ReceiverConfig};
use crate::service::writes::USE_CASE_SYSTEM;

use super::{EVENT_SYSTEM, MESSAGE_VERSION, is_dos_service_system};

/// The search parameter naming a use context (section 2.2).
pub const CONTEXT_PARAM: &str = "context";

/// The system the official MessageDefinition example uses for service ids; accepted in
/// `context` searches alongside the DoS identifier system.
const DOS_ID_CODE_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/dos-id";

/// One row of a MessageDefinition's focus table: a resource type the message carries and how
/// many times. `max: None` is `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Focus {
    pub code: &'static str,
    pub profile: &'static str,
    pub min: usize,
    pub max: Option<usize>,
}

const fn focus(code: &'static str, profile: &'static str, min: usize, max: Option<usize>) -> Focus {
    Focus {
        code,
        profile,
        min,
        max,
    }
}

const BUNDLE: Focus = focus(
    "Bundle",
    "https://fhir.nhs.uk/StructureDefinition/BARSBundleMessage",
    1,
    Some(1),
);
const HEADER: Focus = focus(
    "MessageHeader",
    "https://fhir.nhs.uk/StructureDefinition/BARSMessageHeader-booking-request",
    1,
    Some(1),
);
const APPOINTMENT: Focus = focus(
    "Appointment",
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment",
    1,
    Some(1),
);
const PATIENT: Focus = focus(
    "Patient",
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient",
    1,
    Some(1),
);
const ORGANIZATION: Focus = focus(
    "Organization",
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Organization",
    2,
    None,
);

/// Section 6.2, column booking-request.
const BOOKING_REQUEST_FOCUS: &[Focus] = &[
    BUNDLE,
    HEADER,
    APPOINTMENT,
    PATIENT,
    ORGANIZATION,
    focus(
        "Slot",
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Slot",
        1,
        Some(1),
    ),
    focus(
        "Schedule",
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Schedule",
        1,
        Some(1),
    ),
    focus(
        "HealthcareService",
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-HealthcareService",
        1,
        Some(1),
    ),
    focus(
        "ServiceRequest",
        "https://fhir.nhs.uk/StructureDefinition/BARSServiceRequest-request-referral",
        0,
        Some(1),
    ),
    focus(
        "Location",
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Location",
        0,
        Some(1),
    ),
    focus(
        "Practitioner",
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Practitioner",
        0,
        None,
    ),
    focus(
        "PractitionerRole",
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-PractitionerRole",
        0,
        None,
    ),
    focus(
        "Consent",
        "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Consent",
        0,
        None,
    ),
];

/// Section 6.2, column booking-request-cancelled.
const CANCELLED_FOCUS: &[Focus] = &[BUNDLE, HEADER, APPOINTMENT, PATIENT, ORGANIZATION];

/// The two booking message definitions of BaRS (section 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `bars-message-booking-request`: a new booking, or an update to one.
    BookingRequest,
    /// `bars-message-booking-request-cancelled`: a cancellation (or entered-in-error).
    BookingRequestCancelled,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::BookingRequest, Kind::BookingRequestCancelled];

    /// The canonical URL senders put in `MessageHeader.definition`.
    pub fn url(self) -> &'static str {
        match self {
            Kind::BookingRequest => {
                "https://fhir.nhs.uk/MessageDefinition/bars-message-booking-request"
            }
            Kind::BookingRequestCancelled => {
                "https://fhir.nhs.uk/MessageDefinition/bars-message-booking-request-cancelled"
            }
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Kind::BookingRequest => "booking-request",
            Kind::BookingRequestCancelled => "booking-request-cancelled",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::BookingRequest => "BaRS Message Definition Booking Request",
            Kind::BookingRequestCancelled => "BaRS Message Definition Booking Request Cancelled",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::BookingRequest => "BARSMessageDefinitionBookingRequest",
            Kind::BookingRequestCancelled => "BARSMessageDefinitionBookingRequestCancelled",
        }
    }

    /// What the message carries: the rows of section 6.2.
    pub fn focus(self) -> &'static [Focus] {
        match self {
            Kind::BookingRequest => BOOKING_REQUEST_FOCUS,
            Kind::BookingRequestCancelled => CANCELLED_FOCUS,
        }
    }

    /// The kind a `MessageHeader.definition` names; a `|version` suffix is allowed.
    pub fn from_url(url: &str) -> Option<Kind> {
        let canonical = url.split('|').next().unwrap_or(url);
        Kind::ALL.into_iter().find(|k| k.url() == canonical)
    }
}

/// One served definition: the service and the use case (None = generic Foundation booking).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Served<'a> {
    service: &'a HostedService,
    use_case: Option<&'a str>,
    kind: Kind,
}

impl Served<'_> {
    /// `(system, code)` of each use context.
    fn contexts(&self) -> Vec<(&'static str, &str)> {
        let mut c = vec![(DOS_SERVICE_SYSTEM, self.service.id.as_str())];
        if let Some(u) = self.use_case {
            c.push((USE_CASE_SYSTEM, u));
        }
        c
    }

    /// A stable id: the same definition has the same id on every run and instance, and each
    /// (kind, service, use case) has its own (the IG's two files share one id; ours must not).
    fn id(&self) -> String {
        let readable = format!(
            "{}-{}-{}",
            self.kind.slug(),
            self.service.id,
            self.use_case.unwrap_or("generic")
        );
        let valid = readable.len() <= 64
            && readable
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if valid {
            readable
        } else {
            // FHIR ids are [A-Za-z0-9-.]{1,64}: fall back to a digest of the parts.
            format!(
                "{}-{:016x}",
                self.kind.slug(),
                fnv1a(&format!(
                    "{}|{}",
                    self.service.id,
                    self.use_case.unwrap_or("")
                ))
            )
        }
    }

    fn resource(&self, config: &ReceiverConfig) -> Value {
        let use_context: Vec<Value> = self
            .contexts()
            .into_iter()
            .map(|(system, code)| {
                json!({
                    "code": { "system": system, "code": code },
                    "valueCodeableConcept": { "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/variant-state",
                        "code": "positive"
                    }]}
                })
            })
            .collect();
        let focus: Vec<Value> = self
            .kind
            .focus()
            .iter()
            .map(|f| {
                json!({
                    "code": f.code,
                    "profile": f.profile,
                    "min": f.min,
                    "max": f.max.map_or_else(|| "*".to_string(), |m| m.to_string()),
                })
            })
            .collect();
        let scope = match self.use_case {
            Some(u) => format!("use case {u}"),
            None => "generic Appointment Management Foundation bookings".to_string(),
        };
        json!({
            "resourceType": "MessageDefinition",
            "id": self.id(),
            "meta": { "profile": ["http://hl7.org/fhir/StructureDefinition/MessageDefinition"] },
            "url": self.kind.url(),
            "version": MESSAGE_VERSION,
            "name": self.kind.name(),
            "title": self.kind.title(),
            "status": "active",
            "date": CAPABILITIES_DATE,
            "publisher": config.organisation_name,
            "description": format!(
                "{} as processed by service {} ({}) of {} ({}), for {scope}.",
                self.kind.title(), self.service.id, self.service.name, config.organisation_name, config.ods_code
            ),
            "useContext": use_context,
            "eventCoding": { "system": EVENT_SYSTEM, "code": "booking-request" },
            // FHIR: "consequence" is for messages that change state and must not be processed
            // twice - its own example is booking an appointment. The receiver de-duplicates them.
            "category": "consequence",
            "focus": focus,
            // The receiver always answers synchronously: a message Bundle or an OperationOutcome.
            "responseRequired": "always",
        })
    }
}

/// 64-bit FNV-1a: deterministic across runs and Rust versions, unlike `DefaultHasher`.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Every definition served: per hosted service, per use case it supports (or the generic one
/// when it lists none), both kinds.
fn served(config: &ReceiverConfig) -> Vec<Served<'_>> {
    let mut out = Vec::new();
    for service in &config.services {
        let use_cases: Vec<Option<&str>> = if service.use_cases.is_empty() {
            vec![None]
        } else {
            service.use_cases.iter().map(|u| Some(u.as_str())).collect()
        };
        for use_case in use_cases {
            for kind in Kind::ALL {
                out.push(Served {
                    service,
                    use_case,
                    kind,
                });
            }
        }
    }
    out
}

/// Every definition this receiver serves, as resources.
pub fn all(config: &ReceiverConfig) -> Vec<Value> {
    served(config).iter().map(|s| s.resource(config)).collect()
}

/// One `context` value: `system|value` or a bare value (any system).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContextToken {
    system: Option<String>,
    code: String,
}

impl ContextToken {
    fn parse(text: &str) -> Result<ContextToken, ApiError> {
        let bad = || {
            ApiError::bars(
                BarsCode::RecBadRequest,
                IssueType::Value,
                "context must be system|value or a bare value, such as https://fhir.nhs.uk/Id/dos-service-id|2000099999",
            )
            .at(CONTEXT_PARAM)
        };
        let text = text.trim();
        let (system, code) = match text.split_once('|') {
            Some((s, c)) => (Some(s).filter(|s| !s.is_empty()), c),
            None => (None, text),
        };
        if code.is_empty() || code.contains('|') || code.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        Ok(ContextToken {
            system: system.map(str::to_string),
            code: code.to_string(),
        })
    }

    fn matches(&self, system: &str, code: &str) -> bool {
        if self.code != code {
            return false;
        }
        match self.system.as_deref() {
            None => true,
            Some(s) if system == DOS_SERVICE_SYSTEM => {
                is_dos_service_system(s) || s == DOS_ID_CODE_SYSTEM
            }
            Some(s) => s == system,
        }
    }
}

/// `GET /MessageDefinition?context=...`: the definitions whose use contexts match every given
/// context. BaRS answers "no match" with 404 `REC_NOT_FOUND`, not an empty searchset.
pub fn search(config: &ReceiverConfig, query: &Query) -> Result<Value, ApiError> {
    let raw = query.all(&[CONTEXT_PARAM]);
    if raw.is_empty() {
        return Err(ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Required,
            "the context parameter is required (a service, https://fhir.nhs.uk/Id/dos-service-id|<id>, and/or a use case, https://fhir.nhs.uk/CodeSystem/usecases-categories-bars|<code>)",
        )
        .at(CONTEXT_PARAM));
    }
    // Repeated parameters must all match (AND); commas within one are alternatives (FHIR OR).
    let groups = raw
        .iter()
        .map(|value| {
            value
                .split(',')
                .map(ContextToken::parse)
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let matching: Vec<Served<'_>> = served(config)
        .into_iter()
        .filter(|s| {
            let contexts = s.contexts();
            groups.iter().all(|alternatives| {
                alternatives
                    .iter()
                    .any(|t| contexts.iter().any(|(sys, code)| t.matches(sys, code)))
            })
        })
        .collect();
    if matching.is_empty() {
        return Err(ApiError::bars(
            BarsCode::RecNotFound,
            IssueType::NotFound,
            format!(
                "{} has no message definition for the given context",
                config.ods_code
            ),
        )
        .at(CONTEXT_PARAM));
    }
    let self_link = format!(
        "{}?{}",
        config.url("MessageDefinition"),
        raw.iter()
            .map(|v| format!("{CONTEXT_PARAM}={}", encode_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    );
    let entries: Vec<SearchEntry> = matching
        .iter()
        .map(|s| SearchEntry {
            full_url: config.url(&format!("MessageDefinition/{}", s.id())),
            resource: s.resource(config),
            mode: SearchMode::Match,
        })
        .collect();
    Ok(searchset(entries.len() as u64, &self_link, None, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ReceiverConfig {
        let mut c = ReceiverConfig::new("RX001", "https://rx.example")
            .with_service("2000011111", "MIU")
            .with_service("2000022222", "UTC");
        c.services[1].use_cases = vec!["a1t1".into(), "a2t1".into()];
        c
    }

    fn query(q: &str) -> Query {
        Query::parse(Some(q)).unwrap()
    }

    fn ids(bundle: &Value) -> Vec<String> {
        bundle["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn every_service_use_case_and_kind_has_its_own_stable_id() {
        let defs = all(&config());
        // One generic service (2 kinds) + one service with two use cases (4).
        assert_eq!(defs.len(), 6);
        let mut ids: Vec<&str> = defs.iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&"booking-request-2000011111-generic"));
        assert!(ids.contains(&"booking-request-cancelled-2000022222-a2t1"));
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6);
        let again = all(&config());
        assert_eq!(
            again.iter().map(|d| &d["id"]).collect::<Vec<_>>(),
            defs.iter().map(|d| &d["id"]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn odd_service_ids_still_give_valid_fhir_ids() {
        let c = ReceiverConfig::new("RX001", "https://rx.example").with_service("a b/c", "Odd");
        let defs = all(&c);
        let id = defs[0]["id"].as_str().unwrap();
        assert!(id.len() <= 64);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        );
    }

    #[test]
    fn definitions_carry_the_focus_table_and_contexts() {
        let c = config();
        let b = search(&c, &query("context=2000022222&context=a1t1")).unwrap();
        assert_eq!(b["total"], 2);
        let d = &b["entry"][0]["resource"];
        assert_eq!(d["url"], Kind::BookingRequest.url());
        assert_eq!(d["status"], "active");
        assert_eq!(d["eventCoding"]["code"], "booking-request");
        assert_eq!(d["useContext"][0]["code"]["system"], DOS_SERVICE_SYSTEM);
        assert_eq!(d["useContext"][1]["code"]["code"], "a1t1");
        let org = d["focus"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "Organization")
            .unwrap();
        assert_eq!(
            (org["min"].clone(), org["max"].clone()),
            (json!(2), json!("*"))
        );
        let cancelled = &b["entry"][1]["resource"];
        assert_eq!(cancelled["url"], Kind::BookingRequestCancelled.url());
        assert!(
            !cancelled["focus"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["code"] == "Slot")
        );
    }

    #[test]
    fn contexts_match_by_system_or_bare_value_and_all_must_match() {
        let c = config();
        for q in [
            "context=https://fhir.nhs.uk/Id/dos-service-id|2000011111",
            "context=http://fhir.nhs.uk/Id/dos-service-id|2000011111",
            "context=https://fhir.nhs.uk/CodeSystem/dos-id|2000011111",
            "context=2000011111",
            "context=%7C2000011111",
        ] {
            let b = search(&c, &query(q)).unwrap();
            assert_eq!(
                ids(&b),
                [
                    "booking-request-2000011111-generic",
                    "booking-request-cancelled-2000011111-generic"
                ],
                "{q}"
            );
        }
        let b = search(
            &c,
            &query("context=https://fhir.nhs.uk/CodeSystem/usecases-categories-bars|a2t1"),
        )
        .unwrap();
        assert_eq!(b["total"], 2);
        // Commas are alternatives.
        let b = search(&c, &query("context=a1t1,a2t1&context=2000022222")).unwrap();
        assert_eq!(b["total"], 4);
        // The service without use cases does not serve a1t1.
        let e = search(&c, &query("context=2000011111&context=a1t1")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.issue), (404, IssueType::NotFound));
        // A service id under the use-case system is not a use case.
        let e = search(
            &c,
            &query("context=https://fhir.nhs.uk/CodeSystem/usecases-categories-bars|2000011111"),
        )
        .unwrap_err();
        assert_eq!(e.status.as_u16(), 404);
    }

    #[test]
    fn missing_and_malformed_contexts_are_400() {
        let c = config();
        let e = search(&c, &query("")).unwrap_err();
        assert_eq!((e.status.as_u16(), e.issue), (400, IssueType::Required));
        for q in [
            "context=",
            "context=a|",
            "context=a|b|c",
            "context=x%20y",
            "context=a1t1,",
        ] {
            let e = search(&c, &query(q)).unwrap_err();
            assert_eq!((e.status.as_u16(), e.issue), (400, IssueType::Value), "{q}");
        }
    }

    #[test]
    fn definitions_are_found_by_url() {
        assert_eq!(
            Kind::from_url(
                "https://fhir.nhs.uk/MessageDefinition/bars-message-booking-request|1.1.0"
            ),
            Some(Kind::BookingRequest)
        );
        assert_eq!(Kind::from_url("https://example.org/other"), None);
    }
}
