//! The registry's OpenAPI document, generated from the paths and methods its router serves
//! ([`ALLOW_COLLECTION`], [`ALLOW_POINTER`]) and its search parameters.

use bars_http::openapi::{Document, Operation, health_operations};
use serde_json::{Value, json};

use crate::search::{CATEGORY, CUSTODIAN, NEXT_PAGE_TOKEN, SUBJECT, TYPE};

/// The methods each path accepts; 405 answers name them in `Allow`.
pub const ALLOW_COLLECTION: &str = "GET, POST";
pub const ALLOW_POINTER: &str = "GET, PUT, DELETE";

/// The paths of the API and the methods each accepts, as the router declares them.
pub const PATHS: &[(&str, &str)] = &[
    ("/DocumentReference", ALLOW_COLLECTION),
    ("/DocumentReference/{id}", ALLOW_POINTER),
];

fn operation(path: &str, method: &'static str) -> Operation {
    let op = |summary: &str| {
        Operation::new(method, path, summary)
            .tag("DocumentReference")
            .headers(&["XRequestID", "XCorrelationID"])
            .errors(&[400, 403, 500, 503])
    };
    match (path, method) {
        ("/DocumentReference", "GET") => op("A patient's appointment pointers, 20 a page.")
            .query(
                SUBJECT,
                "https://fhir.nhs.uk/Id/nhs-number|<NHS number>; required.",
                true,
            )
            .query(TYPE, "system|code of the pointer type.", false)
            .query(CATEGORY, "system|code of the pointer category.", false)
            .query(
                CUSTODIAN,
                "https://fhir.nhs.uk/Id/ods-organization-code|<ODS code>.",
                false,
            )
            .query(
                NEXT_PAGE_TOKEN,
                "The token of the previous page's next link.",
                false,
            )
            .ok(200, "A searchset Bundle.", "Bundle"),
        ("/DocumentReference", "POST") => op("Create a pointer (custodian only).")
            .body("application/fhir+json", "Resource")
            .ok(201, "Created: Location names the pointer.", "Resource")
            .errors(&[409, 415, 422]),
        (_, "GET") => op("Read a pointer (custodian only).")
            .ok(200, "The pointer.", "Resource")
            .errors(&[404]),
        (_, "PUT") => {
            op("Replace a pointer (custodian only); id, subject, custodian and type cannot change.")
                .headers(&["IfMatch"])
                .body("application/fhir+json", "Resource")
                .ok(200, "The new version.", "Resource")
                .errors(&[404, 409, 412, 415, 422])
        }
        _ => op("Delete a pointer (custodian only).")
            .headers(&["IfMatch"])
            .ok(200, "Deleted.", "OperationOutcome")
            .errors(&[404, 412]),
    }
}

/// The registry's API as OpenAPI 3.1.
pub fn document() -> Value {
    let mut operations: Vec<Operation> = PATHS
        .iter()
        .flat_map(|(path, allow)| allow.split(", ").map(move |m| (path, m)))
        .map(|(path, method)| {
            let method: &'static str = match method {
                "GET" => "GET",
                "POST" => "POST",
                "PUT" => "PUT",
                _ => "DELETE",
            };
            operation(path, method)
        })
        .collect();
    operations.extend(health_operations());
    Document {
        title: "BaRS registry",
        description: "The national registry of appointment pointers (DocumentReference), as the National Record Locator serves it behind the BaRS proxy. Receivers write the pointers of their own appointments; senders search a patient's. Errors are OperationOutcomes with Spine error codes.",
        security: Some((
            json!({ "proxyCertificate": { "type": "mutualTLS", "description": "The BaRS proxy's client certificate." } }),
            json!([{ "proxyCertificate": [] }]),
        )),
        operations,
    }
    .build()
}
