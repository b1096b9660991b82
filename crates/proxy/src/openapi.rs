//! The proxy's OpenAPI document: the BaRS API as senders call it, generated from [`ROUTES`]
//! (the table the proxy routes by), plus the token endpoint.

use bars_http::openapi::{Document, Operation, SENDER_HEADERS, health_operations};
use serde_json::{Value, json};

use crate::auth::TOKEN_PATH;
use crate::routes::{Destination, ROUTES};

fn summary(pattern: &str, method: &str) -> String {
    let what = match (pattern, method) {
        ("/metadata", _) => {
            "The CapabilityStatement of the target service (or, without a target, of the proxy)"
        }
        ("/Slot" | "/Slots", _) => "Free slots of the target service",
        ("/Appointment", "GET") => "A patient's appointments at the target service",
        ("/Appointment", "POST") => "Book an appointment at the target service",
        ("/Appointment/{id}", "GET") => "Read an appointment",
        ("/Appointment/{id}", "PUT") => "Update, reschedule or cancel an appointment",
        ("/Appointment/{id}", "PATCH") => "Patch an appointment",
        ("/Appointment/{id}", "DELETE") => "Cancel an appointment",
        ("/Appointment/{id}/_history", _) => "Every version of an appointment",
        ("/Appointment/{id}/_history/{vid}", _) => "One version of an appointment",
        ("/$process-message", _) => "Book, update or cancel by FHIR message",
        ("/MessageDefinition", _) => "The message definitions of the target service",
        ("/ServiceRequest" | "/ServiceRequest/{id}", _) => {
            "Referrals (passed to the receiver, which may not implement them)"
        }
        ("/DocumentReference", "GET") => {
            "A patient's appointments anywhere: the Registry's pointers"
        }
        ("/DocumentReference", "POST") => {
            "Create a pointer (receivers, for their own appointments)"
        }
        ("/DocumentReference/{id}", "GET") => "Read a pointer (its custodian)",
        ("/DocumentReference/{id}", "PUT") => "Replace a pointer (its custodian)",
        ("/DocumentReference/{id}", "DELETE") => "Delete a pointer (its custodian)",
        ("/HealthcareService", "GET") => {
            "Search the Endpoint Catalogue's services (at least one parameter)"
        }
        ("/HealthcareService", "POST") => "Add a service to the Endpoint Catalogue (its provider)",
        ("/HealthcareService/{id}", "GET") => "Read a service",
        ("/HealthcareService/{id}", "PUT") => "Update or create a service (its provider)",
        ("/HealthcareService/{id}", "DELETE") => "Remove a service (its provider)",
        ("/Endpoint", "GET") => "Search endpoints (a private address is shown to its owner only)",
        ("/Endpoint", "POST") => "Add an endpoint (its managing organisation)",
        ("/Endpoint/$template", "GET") => "Search endpoint templates",
        ("/Endpoint/$template", "POST") => "Add an endpoint template",
        ("/Endpoint/{id}", "GET") => "Read an endpoint",
        ("/Endpoint/{id}", "PUT") => "Update or create an endpoint (its managing organisation)",
        ("/Endpoint/{id}", "DELETE") => "Remove an endpoint no service uses (its owner)",
        ("/Endpoint/{id}/$template", "PUT") => "Update or create an endpoint template (its owner)",
        ("/Endpoint/{id}/$template", "DELETE") => "Remove an endpoint template (its owner)",
        _ => "",
    };
    format!("{what}.")
}

fn method_name(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        _ => "DELETE",
    }
}

/// The search parameters of the catalogue's searches (BaRS 1.5 delta 6.5).
fn catalogue_parameters(op: Operation, pattern: &str, method: &str) -> Operation {
    let params: &[(&str, &str)] = match (pattern, method) {
        ("/HealthcareService", "GET") => &[
            (
                "HealthcareService.identifier",
                "system|value of the service (e.g. its DoS service id).",
            ),
            (
                "HealthcareService.providedBy",
                "ODS code of the providing organisation (system|value or value).",
            ),
            ("name", "Part of the service's name."),
            ("active", "true or false."),
        ],
        ("/Endpoint", "GET") => &[
            (
                "_has:HealthcareService.Identifier",
                "Endpoints of the services with this identifier.",
            ),
            (
                "_has:HealthcareService.Id",
                "Endpoints of the service with this id.",
            ),
            (
                "Endpoint.identifier",
                "system|value of the endpoint (e.g. its product id).",
            ),
        ],
        ("/Endpoint/$template", "GET") => &[
            (
                "Endpoint.identifier",
                "system|value of the template (e.g. its product id).",
            ),
            ("ConnectionType", "system|code of the connection type."),
            ("PayloadType", "system|code of the payload type."),
        ],
        _ => &[],
    };
    params
        .iter()
        .fold(op, |op, (name, what)| op.query(name, what, false))
}

/// The proxy's API as OpenAPI 3.1.
pub fn document() -> Value {
    let mut operations = Vec::new();
    for route in ROUTES {
        for method in route.allow.split(", ") {
            let mut op = Operation::new(
                method_name(method),
                route.pattern,
                summary(route.pattern, method),
            )
            .headers(SENDER_HEADERS)
            .errors(&[400, 401, 403, 404, 405, 406, 408, 429, 500, 503]);
            op = match route.destination {
                Destination::Receiver => op.tag("Receivers").headers(&["TargetIdentifier"]),
                Destination::Registry => op.tag("Registry"),
                Destination::Proxy => catalogue_parameters(
                    op.tag("Endpoint Catalogue").errors(&[409]),
                    route.pattern,
                    method,
                ),
            };
            if matches!(method, "PUT" | "PATCH" | "DELETE") {
                op = op.headers(&["IfMatch"]).errors(&[409, 412]);
            }
            op = match method {
                "POST" if route.pattern == "/$process-message" => op
                    .body("application/fhir+json", "Bundle")
                    .ok(200, "The response message Bundle.", "Bundle")
                    .errors(&[409, 422, 425]),
                "POST" => op
                    .body("application/fhir+json", "Resource")
                    .ok(201, "Created.", "Resource")
                    .errors(&[409, 422, 425]),
                "PUT" => op
                    .body("application/fhir+json", "Resource")
                    .ok(200, "The new version.", "Resource")
                    .errors(&[422, 425]),
                "PATCH" => op
                    .body("application/json-patch+json", "JsonPatch")
                    .ok(200, "The new version.", "Resource")
                    .errors(&[422, 425]),
                "DELETE" => op.ok(200, "Done.", "Resource"),
                _ if route.pattern.contains('{') => op.ok(200, "The resource.", "Resource"),
                _ => op.ok(
                    200,
                    "A Bundle (or, for /metadata, a CapabilityStatement).",
                    "Resource",
                ),
            };
            operations.push(op);
        }
    }
    operations.push(
        Operation::new("POST", TOKEN_PATH, "An access token for a signed client assertion (OAuth 2.0 client credentials, RFC 7523).")
            .tag("Authentication")
            .body("application/x-www-form-urlencoded", "Resource")
            .ok(200, "The access token.", "Token")
            .errors(&[400, 401]),
    );
    operations.extend(health_operations());
    let mut doc = Document {
        title: "BaRS proxy",
        description: "The one front door of BaRS: senders authenticate with a signed-JWT client assertion at /oauth2/token, then call the BaRS API with the access token and NHSD-Target-Identifier naming the service; the proxy routes to the receiver (or the Registry) over mutual TLS and passes its answer back. Errors are FHIR OperationOutcomes with BaRS error codes.",
        security: Some((
            json!({ "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "An access token from /oauth2/token." } }),
            json!([{ "bearer": [] }]),
        )),
        operations,
    }
    .build();
    // The token endpoint and the health checks need no access token.
    for path in [TOKEN_PATH, "/_ping", "/_status"] {
        if let Some(Value::Object(methods)) = doc["paths"].get_mut(path) {
            for op in methods.values_mut() {
                op["security"] = json!([]);
            }
        }
    }
    doc
}
