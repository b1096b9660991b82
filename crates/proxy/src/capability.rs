//! The proxy's own CapabilityStatement, answered for `GET /metadata` without a target.

use serde_json::{Value, json};

pub fn capability_statement(base_url: &str) -> Value {
    let interactions = |codes: &[&str]| {
        codes
            .iter()
            .map(|c| json!({ "code": c }))
            .collect::<Vec<_>>()
    };
    json!({
        "resourceType": "CapabilityStatement",
        "id": "bars-proxy",
        "url": format!("{base_url}/metadata"),
        "version": "1.1.6",
        "name": "BaRSProxy",
        "title": "BaRS proxy",
        "status": "active",
        "date": "2026-11-22",
        "kind": "instance",
        "software": { "name": "bars", "version": env!("CARGO_PKG_VERSION") },
        "implementation": { "description": "The central BaRS proxy: authenticates senders and routes by NHSD-Target-Identifier", "url": base_url },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Every call except this one needs an OAuth 2.0 access token (client credentials with a signed JWT, at /oauth2/token). Calls other than /metadata, the Endpoint Catalogue (/HealthcareService, /Endpoint) and /DocumentReference are routed by NHSD-Target-Identifier to the receiver serving that service.",
                "security": { "service": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "OAuth" }] }] },
                "resource": [
                    { "type": "HealthcareService", "documentation": "The Endpoint Catalogue (BaRS 1.5 preview): only the providing organisation changes a service.",
                        "interaction": interactions(&["read", "update", "delete", "create", "search-type"]), "searchParam": [
                        { "name": "HealthcareService.identifier", "type": "token" }, { "name": "HealthcareService.providedBy", "type": "token" },
                        { "name": "name", "type": "string" }, { "name": "active", "type": "token" } ] },
                    { "type": "Endpoint", "documentation": "The Endpoint Catalogue (BaRS 1.5 preview): only the managing organisation changes an endpoint or sees its address when it is private.",
                        "interaction": interactions(&["read", "update", "delete", "create", "search-type"]), "searchParam": [
                        { "name": "_has:HealthcareService.Identifier", "type": "token" }, { "name": "_has:HealthcareService.Id", "type": "token" },
                        { "name": "Endpoint.identifier", "type": "token" } ],
                        "operation": [{ "name": "template", "definition": "https://fhir.nhs.uk/OperationDefinition/Endpoint-template" }] },
                    { "type": "DocumentReference", "interaction": interactions(&["read", "update", "delete", "create", "search-type"]), "searchParam": [
                        { "name": "subject:identifier", "type": "token" }, { "name": "type", "type": "token" }, { "name": "custodian:identifier", "type": "token" } ] },
                    { "type": "Appointment", "interaction": interactions(&["read", "vread", "update", "patch", "delete", "history-instance", "create", "search-type"]) },
                    { "type": "Slot", "interaction": interactions(&["search-type"]) },
                    { "type": "MessageDefinition", "interaction": interactions(&["search-type"]) }
                ],
                "operation": [{ "name": "process-message", "definition": "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message" }]
            },
            {
                "mode": "client",
                "documentation": "Routed calls reach receivers over mutual TLS.",
                "security": { "service": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "Certificates" }] }] }
            }
        ]
    })
}
