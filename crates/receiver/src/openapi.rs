//! The receiver's OpenAPI document, generated from [`SERVED`] and [`OPERATIONS`] (the tables the
//! CapabilityStatement comes from and the router is derived from).

use bars_http::openapi::{Document, Operation, SENDER_HEADERS, health_operations};
use serde_json::{Value, json};

use crate::capability::{OPERATIONS, SERVED, route_of};
use crate::paging;

fn summary(resource: &str, interaction: &str) -> String {
    match (resource, interaction) {
        ("Appointment", "search-type") => "A patient's appointments at this service.".into(),
        ("Appointment", "create") => "Book: the slots are taken in the same transaction.".into(),
        ("Appointment", "update") => "Update (or cancel, or reschedule) an appointment.".into(),
        ("Appointment", "patch") => {
            "Patch an appointment (JSON Patch, FHIRPath Patch or a partial resource).".into()
        }
        ("Appointment", "delete") => {
            "Cancel an appointment (it is kept, with status cancelled).".into()
        }
        ("Slot", "search-type") => {
            "Free (or busy) slots of a service in a window of at most 14 days.".into()
        }
        ("MessageDefinition", "search-type") => {
            "The message definitions per service and use case.".into()
        }
        (r, "read") => format!("Read a {r}."),
        (r, "vread") => format!("Read one version of a {r}."),
        (r, "history-instance") => {
            format!("The versions of a {r}, newest first, a page at a time.")
        }
        (r, i) => format!("{r} {i}."),
    }
}

fn interaction(resource: &crate::capability::ServedResource, interaction: &str) -> Operation {
    let (method, suffix) = route_of(interaction).unwrap_or(("GET", ""));
    let mut op = Operation::new(
        method,
        format!("/{}{suffix}", resource.resource),
        summary(resource.resource, interaction),
    )
    .tag(resource.resource)
    .headers(SENDER_HEADERS)
    .errors(&[400, 403, 406, 408, 500, 503]);
    // Page parameters are added below, with their bounds.
    for (name, _, doc) in resource
        .search_params
        .iter()
        .filter(|(name, _, _)| *name != paging::COUNT)
    {
        op = op.query(name, doc, !name.starts_with('_'));
    }
    if interaction == "search-type" && !resource.includes.is_empty() {
        op = op.query(
            "_include",
            &format!("Repeatable: {}.", resource.includes.join(", ")),
            true,
        );
    }
    if interaction != "search-type" {
        op.query.clear();
    }
    if let Some(max) = paging::max_page(resource.resource, interaction) {
        op = op
            .query_integer(
                paging::COUNT,
                &format!("Entries per page, 0 to {max} (0: the total only); {max} when absent. Anything else is refused (400)."),
                0,
                max,
            )
            .query(
                paging::PAGE_AFTER,
                "Where the page starts: the token in the previous page's next link. Opaque; one this server did not issue is refused (400).",
                false,
            );
    }
    match interaction {
        "search-type" => op
            .ok(200, "A searchset Bundle.", "Bundle")
            .errors(&[404, 422]),
        "history-instance" => op.ok(200, "A history Bundle.", "Bundle").errors(&[404]),
        "read" | "vread" => op
            .ok(
                200,
                "The resource, with ETag and Last-Modified.",
                "Resource",
            )
            .errors(&[404]),
        "create" => op
            .body("application/fhir+json", "Resource")
            .ok(
                201,
                "Booked: Location, ETag and Last-Modified name the new version.",
                "Resource",
            )
            .errors(&[409, 415, 422, 425]),
        "update" => op
            .headers(&["IfMatch"])
            .body("application/fhir+json", "Resource")
            .ok(200, "The new version.", "Resource")
            .errors(&[404, 409, 412, 415, 422, 425]),
        "patch" => op
            .headers(&["IfMatch"])
            .body("application/json-patch+json", "JsonPatch")
            .ok(200, "The new version.", "Resource")
            .errors(&[404, 409, 412, 415, 422, 425]),
        "delete" => op
            .headers(&["IfMatch"])
            .ok(200, "The cancelled appointment.", "Resource")
            .errors(&[404, 409, 412, 425]),
        _ => op,
    }
}

/// The receiver's API as OpenAPI 3.1.
pub fn document() -> Value {
    let mut operations = vec![
        Operation::new(
            "GET",
            "/metadata",
            "The CapabilityStatement: what this receiver serves.",
        )
        .tag("Capabilities")
        .ok(200, "A CapabilityStatement.", "Resource")
        .errors(&[406]),
    ];
    for resource in SERVED {
        for i in resource.interactions {
            operations.push(interaction(resource, i));
        }
    }
    for op in OPERATIONS {
        operations.push(
            Operation::new(
                op.method,
                op.path,
                "Book, update or cancel by FHIR message (a booking-request Bundle).",
            )
            .tag("Messaging")
            .headers(SENDER_HEADERS)
            .body("application/fhir+json", "Bundle")
            .ok(200, "The response message Bundle.", "Bundle")
            .errors(&[400, 403, 406, 408, 409, 415, 422, 425, 500, 503]),
        );
    }
    operations.extend(health_operations());
    Document {
        title: "BaRS receiver",
        description: "A healthcare service's BaRS Appointment Management API: slots, appointments and booking messages. Called by the BaRS proxy over mutual TLS; the proxy authenticates senders. Every error is a FHIR OperationOutcome with a BaRS error code.",
        security: Some((
            json!({ "proxyCertificate": { "type": "mutualTLS", "description": "The BaRS proxy's client certificate, from the CA the receiver trusts." } }),
            json!([{ "proxyCertificate": [] }]),
        )),
        operations,
    }
    .build()
}
