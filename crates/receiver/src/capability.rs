//! The CapabilityStatement, generated from [`SERVED`]: the same table the router is derived
//! from ([`crate::api::routes`]), so the statement says exactly what is served.

use serde_json::{Value, json};

use crate::config::ReceiverConfig;
use crate::messaging::definitions::{CONTEXT_PARAM, Kind};
use crate::slots::{INCLUDES, SERVICE_PARAM};

pub use crate::catalog::{BARS_CORE_VERSION, CAPABILITIES_DATE};

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
        profile: crate::slots::SLOT_PROFILE,
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

pub fn capability_statement(config: &ReceiverConfig) -> Value {
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
            if !r.search_params.is_empty() {
                v["searchParam"] = r.search_params.iter().map(|(name, ty, doc)| json!({ "name": name, "type": ty, "documentation": doc })).collect();
            }
            v
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "id": "bars-receiver",
        "url": config.url("metadata"),
        "version": BARS_CORE_VERSION,
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
