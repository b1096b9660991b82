//! The CapabilityStatement, generated from [`SERVED`]: the same table the router is derived
//! from ([`crate::api::routes`]), so the statement says exactly what is served.

use bars_booking::CoreVersion;
use serde_json::{Value, json};

use crate::catalog::{INCLUDES, SERVICE_PARAM};
use crate::config::ReceiverConfig;
use crate::messaging::definitions::{CONTEXT_PARAM, Kind};

pub use crate::catalog::CAPABILITIES_DATE;

/// The search parameters a Core 1.5.0 request may use on Appointment besides those of
/// [`SERVED`] (delta section 2.3): the patient's demographics, and `status` (decision D5).
pub const DEMOGRAPHIC_SEARCH: &[(&str, &str, &str)] = &[
    (
        "patient:name",
        "string",
        "Core 1.5.0: the patient's name (any of family, given, prefix, suffix, text; each word a prefix of a name part, case-insensitive); with patient:birthdate and patient:address-postalcode when there is no patient:identifier.",
    ),
    (
        "patient:birthdate",
        "date",
        "Core 1.5.0: the patient's date of birth, YYYY-MM-DD or DD/MM/YYYY, optionally prefixed eq.",
    ),
    (
        "patient:address-postalcode",
        "string",
        "Core 1.5.0: the postcode of the patient's home address (spaces and case ignored).",
    ),
    (
        "status",
        "token",
        "Core 1.5.0: only appointments with these statuses (comma-separated); without it every status but entered-in-error.",
    ),
];

/// The CapabilityStatement of each version served, built once at start-up: a request is
/// answered with the statement of the version its `Accept` selects, which says which rules
/// it will be held to and lists every version served.
#[derive(Debug, Clone)]
pub struct Capabilities {
    statements: Vec<(CoreVersion, Value)>,
}

impl Capabilities {
    pub fn new(config: &ReceiverConfig) -> Self {
        Capabilities {
            statements: config
                .versions
                .iter()
                .map(|v| (*v, capability_statement_for(config, *v)))
                .collect(),
        }
    }

    /// The statement of `version`, or of the first served when it is not served (the
    /// configuration's version choice never names one that is not).
    pub fn of(&self, version: CoreVersion) -> Option<&Value> {
        self.statements
            .iter()
            .find(|(v, _)| *v == version)
            .or_else(|| self.statements.first())
            .map(|(_, s)| s)
    }
}

/// One resource type as served: its profile, FHIR interactions and search parameters.
pub struct ServedResource {
    pub resource: &'static str,
    pub profile: &'static str,
    /// FHIR `TypeRestfulInteraction` codes.
    pub interactions: &'static [&'static str],
    /// (name, type, documentation)
    pub search_params: &'static [(&'static str, &'static str, &'static str)],
    pub includes: &'static [&'static str],
    pub versioned: bool,
}

pub const SERVED: &[ServedResource] = &[
    ServedResource {
        resource: "Appointment",
        profile: "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment",
        interactions: &[
            "read",
            "vread",
            "update",
            "patch",
            "delete",
            "history-instance",
            "create",
            "search-type",
        ],
        search_params: &[
            (
                "patient:identifier",
                "token",
                "The patient's NHS number as https://fhir.nhs.uk/Id/nhs-number|<number>; required.",
            ),
            (
                "_count",
                "number",
                "Appointments per page, 0 to 100 (0: the total only); 100 when absent. Pages follow in booking order through the next link.",
            ),
        ],
        includes: &[],
        versioned: true,
    },
    ServedResource {
        resource: "Slot",
        profile: crate::catalog::SLOT_PROFILE,
        interactions: &["search-type"],
        search_params: &[
            (
                SERVICE_PARAM,
                "token",
                "The DoS service id (bare or https://fhir.nhs.uk/Id/dos-service-id|id); required.",
            ),
            ("status", "token", "free, busy or free,busy; required."),
            (
                "start",
                "date",
                "Exactly one lower (ge) and one upper (le) bound in UTC, at most 14 days apart; required.",
            ),
            (
                "_count",
                "number",
                "Slots per page, 0 to the receiver's page size (1000 unless configured otherwise), which is also the default.",
            ),
        ],
        includes: &INCLUDES,
        versioned: false,
    },
    ServedResource {
        resource: "MessageDefinition",
        profile: "http://hl7.org/fhir/StructureDefinition/MessageDefinition",
        interactions: &["search-type"],
        search_params: &[(
            CONTEXT_PARAM,
            "token",
            "A use context: the service (https://fhir.nhs.uk/Id/dos-service-id|id) and/or the use case (https://fhir.nhs.uk/CodeSystem/usecases-categories-bars|code), as system|value or a bare value; required; repeats must all match, commas within one are alternatives.",
        )],
        includes: &[],
        versioned: false,
    },
];

/// A system-level operation as served: its name, definition and where it is posted.
pub struct ServedOperation {
    pub name: &'static str,
    pub definition: &'static str,
    pub method: &'static str,
    pub path: &'static str,
}

pub const OPERATIONS: &[ServedOperation] = &[ServedOperation {
    name: "process-message",
    definition: "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
    method: "POST",
    path: "/$process-message",
}];

/// HTTP verb and path (relative to the resource type) of a FHIR interaction.
pub fn route_of(interaction: &str) -> Option<(&'static str, &'static str)> {
    Some(match interaction {
        "read" => ("GET", "/{id}"),
        "vread" => ("GET", "/{id}/_history/{vid}"),
        "update" => ("PUT", "/{id}"),
        "patch" => ("PATCH", "/{id}"),
        "delete" => ("DELETE", "/{id}"),
        "history-instance" => ("GET", "/{id}/_history"),
        "create" => ("POST", ""),
        "search-type" => ("GET", ""),
        _ => return None,
    })
}

/// The statement of the version the receiver answers requests without a version by.
pub fn capability_statement(config: &ReceiverConfig) -> Value {
    capability_statement_for(config, config.version_for(None, None))
}

/// The statement a request answered under `version` is given.
pub fn capability_statement_for(config: &ReceiverConfig, version: CoreVersion) -> Value {
    let resources: Vec<Value> = SERVED
        .iter()
        .map(|r| {
            let mut v = json!({
                "type": r.resource,
                "profile": r.profile,
                "interaction": r.interactions.iter().map(|i| json!({ "code": i })).collect::<Vec<_>>(),
            });
            if r.versioned {
                v["versioning"] = json!("versioned-update");
                v["readHistory"] = json!(true);
                v["updateCreate"] = json!(false);
                v["conditionalCreate"] = json!(false);
                v["conditionalUpdate"] = json!(false);
                v["conditionalDelete"] = json!("not-supported");
            } else {
                v["versioning"] = json!("no-version");
            }
            if !r.includes.is_empty() {
                v["searchInclude"] = json!(r.includes);
            }
            let extra: &[(&str, &str, &str)] =
                if r.resource == "Appointment" && version == CoreVersion::V1_5_0 {
                    DEMOGRAPHIC_SEARCH
                } else {
                    &[]
                };
            if !r.search_params.is_empty() {
                v["searchParam"] = r.search_params.iter().chain(extra).map(|(name, ty, doc)| {
                    let doc = match (version, *name) {
                        (CoreVersion::V1_5_0, "patient:identifier") => "The patient's NHS number as https://fhir.nhs.uk/Id/nhs-number|<number>; required unless patient:name, patient:birthdate and patient:address-postalcode are given (AND-combined when both are).",
                        (CoreVersion::V1_5_0, "_count") => "Appointments returned, 0 to 100 (0: the total only); 100 when absent. Core 1.5.0 answers on one page, in order of start.",
                        _ => doc,
                    };
                    json!({ "name": name, "type": ty, "documentation": doc })
                }).collect();
            }
            v
        })
        .collect();
    let served: Vec<&str> = config.versions.iter().map(|v| v.as_str()).collect();
    let rules = match version {
        CoreVersion::V1_1_6 => {
            "Core 1.1.6 rules: PUT replaces the appointment, PATCH changes any element, placeholders (waitlist, proposed, pending) may be created, appointments are searched by NHS number."
        }
        CoreVersion::V1_5_0 => {
            "Core 1.5.0 rules: PUT changes only status and reasonCode (cancel: status cancelled or entered-in-error), PATCH changes only the slot (reschedule; start and end follow the new slot), a new appointment is booked, appointments are searched by NHS number or by name, birth date and postcode."
        }
    };
    json!({
        "resourceType": "CapabilityStatement",
        "id": "bars-receiver",
        "url": config.url("metadata"),
        "version": version.as_str(),
        "name": "BaRSReceiver",
        "title": format!("BaRS Appointment Management receiver for {}", config.organisation_name),
        "status": "active",
        "date": CAPABILITIES_DATE,
        "publisher": config.organisation_name,
        "kind": "instance",
        "software": { "name": "bars", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": format!("{} ({})", config.organisation_name, config.ods_code), "url": config.base_url },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "Certificates" }] }],
                "description": "Mutual TLS with the BaRS proxy; sending organisations are authorised from the NHSD access-control headers.",
            },
            "documentation": format!(
                "BaRS Core versions served: {}; Accept: application/fhir+json; version=<x.y.z> selects the closest (same major, nearest minor), a request without a version is answered as {}. This statement: {rules}",
                served.join(", "),
                config.version_for(None, None),
            ),
            "resource": resources,
            "operation": OPERATIONS.iter().map(|o| json!({ "name": o.name, "definition": o.definition })).collect::<Vec<_>>(),
        }],
        "messaging": [{
            "endpoint": [{
                "protocol": { "system": "http://terminology.hl7.org/CodeSystem/message-transport", "code": "http" },
                "address": config.url("$process-message"),
            }],
            "documentation": "BaRS booking messages (booking-request: new, update, cancellation), answered synchronously; GET /MessageDefinition?context=... gives the definitions per service and use case.",
            "supportedMessage": Kind::ALL.iter().map(|k| json!({ "mode": "receiver", "definition": k.url() })).collect::<Vec<_>>(),
        }],
    })
}
