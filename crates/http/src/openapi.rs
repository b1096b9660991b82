//! OpenAPI 3.1 documents for the roles' APIs, built from the same route tables their routers
//! and CapabilityStatements use, so the document cannot promise a path that is not served.
//!
//! This module holds what every role's document shares: the BaRS headers as parameters, FHIR
//! resources and the OperationOutcome as schemas, the error responses, and the health checks.
//! Each role lists its operations and [`Document::build`] assembles the JSON.

use serde_json::{Map, Value, json};

/// One HTTP operation of an API.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: &'static str,
    /// An OpenAPI path template (`/Appointment/{id}`).
    pub path: String,
    pub summary: String,
    pub tag: &'static str,
    /// Query parameters: (name, description, required, JSON schema).
    pub query: Vec<(String, String, bool, Value)>,
    /// Names of shared header parameters (see [`header_parameters`]).
    pub headers: Vec<&'static str>,
    /// A request body of this media type and schema name, if the operation takes one.
    pub body: Option<(&'static str, &'static str)>,
    /// Success responses: (status, description, schema name).
    pub success: Vec<(u16, &'static str, &'static str)>,
    /// Error statuses answered with an OperationOutcome.
    pub errors: Vec<u16>,
}

impl Operation {
    pub fn new(method: &'static str, path: impl Into<String>, summary: impl Into<String>) -> Self {
        Operation {
            method,
            path: path.into(),
            summary: summary.into(),
            tag: "BaRS",
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            success: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }

    pub fn query(mut self, name: &str, description: &str, required: bool) -> Self {
        self.query.push((
            name.to_string(),
            description.to_string(),
            required,
            json!({ "type": "string" }),
        ));
        self
    }

    /// An optional whole-number query parameter and the bounds the server enforces (outside
    /// them it answers 400).
    pub fn query_integer(mut self, name: &str, description: &str, min: u64, max: u64) -> Self {
        self.query.push((
            name.to_string(),
            description.to_string(),
            false,
            json!({ "type": "integer", "minimum": min, "maximum": max }),
        ));
        self
    }

    pub fn headers(mut self, names: &[&'static str]) -> Self {
        self.headers.extend_from_slice(names);
        self
    }

    pub fn body(mut self, media_type: &'static str, schema: &'static str) -> Self {
        self.body = Some((media_type, schema));
        self
    }

    pub fn ok(mut self, status: u16, description: &'static str, schema: &'static str) -> Self {
        self.success.push((status, description, schema));
        self
    }

    pub fn errors(mut self, statuses: &[u16]) -> Self {
        self.errors.extend_from_slice(statuses);
        self
    }

    fn operation_id(&self) -> String {
        let mut id = self.method.to_ascii_lowercase();
        for part in self.path.split(['/', '$', '{', '}', '_', '-', ':']) {
            let mut chars = part.chars();
            if let Some(first) = chars.next() {
                id.push(first.to_ascii_uppercase());
                id.push_str(chars.as_str());
            }
        }
        id
    }
}

/// The headers every BaRS request from a sender carries (names of [`header_parameters`]).
pub const SENDER_HEADERS: &[&str] = &[
    "XRequestID",
    "XCorrelationID",
    "EndUserOrganisation",
    "RequestingSoftware",
    "RequestingPractitioner",
    "Accept",
];

/// The shared header parameters, by the names operations refer to them with.
pub fn header_parameters() -> Map<String, Value> {
    let header = |name: &str, description: &str, required: bool, format: Option<&str>| {
        let mut schema = json!({ "type": "string" });
        if let Some(f) = format {
            schema["format"] = json!(f);
        }
        json!({ "name": name, "in": "header", "required": required, "description": description, "schema": schema })
    };
    let mut p = Map::new();
    p.insert("XRequestID".into(), header("X-Request-ID", "A fresh UUID per request; a retry repeats it, so the request takes effect at most once. Echoed on the response.", true, Some("uuid")));
    p.insert(
        "XCorrelationID".into(),
        header(
            "X-Correlation-ID",
            "A UUID for the conversation the request belongs to. Echoed on the response.",
            true,
            Some("uuid"),
        ),
    );
    p.insert("TargetIdentifier".into(), header("NHSD-Target-Identifier", "Base64 of a JSON Identifier naming the service the request is for (system https://fhir.nhs.uk/Id/dos-service-id).", true, None));
    p.insert(
        "EndUserOrganisation".into(),
        header(
            "NHSD-End-User-Organisation",
            "Base64 of a FHIR Organization: the sending organisation with its ODS code.",
            false,
            None,
        ),
    );
    p.insert(
        "RequestingSoftware".into(),
        header(
            "NHSD-Requesting-Software",
            "Base64 of a FHIR Device: the sending software.",
            false,
            None,
        ),
    );
    p.insert(
        "RequestingPractitioner".into(),
        header(
            "NHSD-Requesting-Practitioner",
            "Base64 of a FHIR PractitionerRole: the person sending.",
            false,
            None,
        ),
    );
    p.insert(
        "Accept".into(),
        header(
            "Accept",
            "application/fhir+json, optionally with version=<BaRS version>.",
            false,
            None,
        ),
    );
    p.insert(
        "IfMatch".into(),
        header(
            "If-Match",
            "The version read (W/\"<versionId>\"); a stale one is refused with 412.",
            false,
            None,
        ),
    );
    p
}

fn schemas() -> Value {
    json!({
        "Resource": {
            "type": "object",
            "description": "A FHIR R4 resource in JSON (https://hl7.org/fhir/R4/json.html).",
            "required": ["resourceType"],
            "properties": { "resourceType": { "type": "string" }, "id": { "type": "string" } },
            "additionalProperties": true
        },
        "Bundle": {
            "allOf": [{ "$ref": "#/components/schemas/Resource" }],
            "description": "A FHIR Bundle: a searchset (with total, links and search.mode), history or message.",
            "properties": { "resourceType": { "const": "Bundle" }, "type": { "type": "string" }, "total": { "type": "integer" }, "entry": { "type": "array", "items": { "type": "object" } } }
        },
        "OperationOutcome": {
            "type": "object",
            "description": "Every error: a FHIR OperationOutcome whose issue carries a valid FHIR issue code and, in details.coding, the BaRS (or Spine) error code.",
            "required": ["resourceType", "issue"],
            "properties": {
                "resourceType": { "const": "OperationOutcome" },
                "issue": { "type": "array", "minItems": 1, "items": {
                    "type": "object",
                    "required": ["severity", "code"],
                    "properties": {
                        "severity": { "type": "string" },
                        "code": { "type": "string" },
                        "details": { "type": "object" },
                        "diagnostics": { "type": "string" },
                        "expression": { "type": "array", "items": { "type": "string" } }
                    }
                }}
            }
        },
        "JsonPatch": {
            "type": "array",
            "description": "RFC 6902 JSON Patch operations.",
            "items": { "type": "object", "required": ["op", "path"] }
        },
        "Health": {
            "type": "object",
            "description": "draft-inadarei-api-health-check: pass, warn or fail, with named checks.",
            "required": ["status"],
            "properties": { "status": { "enum": ["pass", "warn", "fail"] }, "checks": { "type": "object" } }
        },
        "Token": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in"],
            "properties": { "access_token": { "type": "string" }, "token_type": { "const": "Bearer" }, "expires_in": { "type": "integer" }, "issued_at": { "type": "string" } }
        },
        "TokenError": {
            "type": "object",
            "required": ["error"],
            "properties": { "error": { "type": "string" }, "error_description": { "type": "string" } }
        }
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad request: malformed headers, parameters or body.",
        401 => "Not authenticated.",
        403 => "Forbidden.",
        404 => "Not found.",
        405 => "Method not allowed (Allow names the methods).",
        406 => "Not acceptable: the Accept header asks for a version or format not served.",
        408 => "Not processed in time.",
        409 => "Conflict: a slot taken, a stale version, or a duplicate request.",
        412 => "Precondition failed: If-Match names an old version.",
        413 => "The body is too large.",
        415 => "Unsupported media type.",
        422 => "Unprocessable: valid FHIR that breaks a business rule.",
        425 => "Too early: the same request ids are still being processed.",
        429 => "Too many requests.",
        500 => "Server error.",
        501 => "Not implemented.",
        503 => "Unavailable for now; retry with the same ids.",
        _ => "Error.",
    }
}

/// A role's API as an OpenAPI 3.1 document.
pub struct Document {
    pub title: &'static str,
    pub description: &'static str,
    /// Security schemes by name, and the requirement every operation has (if any).
    pub security: Option<(Value, Value)>,
    pub operations: Vec<Operation>,
}

impl Document {
    pub fn build(&self) -> Value {
        let mut paths: Map<String, Value> = Map::new();
        for op in &self.operations {
            let mut parameters: Vec<Value> = op
                .headers
                .iter()
                .map(|h| json!({ "$ref": format!("#/components/parameters/{h}") }))
                .collect();
            for (name, description, required, schema) in &op.query {
                parameters.push(json!({ "name": name, "in": "query", "required": required, "description": description, "schema": schema }));
            }
            for segment in op.path.split('/') {
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    parameters.push(json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }));
                }
            }
            let mut responses = Map::new();
            for (status, description, schema) in &op.success {
                let media = if *schema == "Health" {
                    "application/health+json"
                } else if schema.starts_with("Token") {
                    "application/json"
                } else {
                    "application/fhir+json"
                };
                responses.insert(
                    status.to_string(),
                    json!({ "description": description, "content": { media: { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } }),
                );
            }
            for status in &op.errors {
                responses.insert(
                    status.to_string(),
                    json!({ "$ref": format!("#/components/responses/E{status}") }),
                );
            }
            let mut operation = json!({
                "operationId": op.operation_id(),
                "summary": op.summary,
                "tags": [op.tag],
                "responses": responses,
            });
            if !parameters.is_empty() {
                operation["parameters"] = Value::Array(parameters);
            }
            if let Some((media, schema)) = op.body {
                operation["requestBody"] = json!({ "required": true, "content": { media: { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
            }
            let entry = paths
                .entry(op.path.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            entry[op.method.to_ascii_lowercase()] = operation;
        }
        let mut statuses: Vec<u16> = self
            .operations
            .iter()
            .flat_map(|o| o.errors.iter().copied())
            .collect();
        statuses.sort_unstable();
        statuses.dedup();
        let responses: Map<String, Value> = statuses
            .iter()
            .map(|s| {
                (
                    format!("E{s}"),
                    json!({ "description": reason(*s), "content": { "application/fhir+json": { "schema": { "$ref": "#/components/schemas/OperationOutcome" } } } }),
                )
            })
            .collect();
        let mut components = json!({
            "schemas": schemas(),
            "parameters": header_parameters(),
            "responses": responses,
        });
        let mut doc = json!({
            "openapi": "3.1.0",
            "info": {
                "title": self.title,
                "version": env!("CARGO_PKG_VERSION"),
                "description": self.description,
                "license": { "name": "MIT", "identifier": "MIT" },
            },
            "paths": paths,
        });
        if let Some((schemes, requirement)) = &self.security {
            components["securitySchemes"] = schemes.clone();
            doc["security"] = requirement.clone();
        }
        doc["components"] = components;
        doc
    }
}

/// `/_ping` and `/_status`, as every role serves them.
pub fn health_operations() -> Vec<Operation> {
    vec![
        Operation::new("GET", "/_ping", "Liveness: the process answers.")
            .tag("Operations")
            .ok(200, "Alive.", "Health"),
        Operation::new(
            "GET",
            "/_status",
            "Readiness: the database, migrations, outbox lag and upstreams.",
        )
        .tag("Operations")
        .ok(
            200,
            "Ready (pass) or serving with a problem (warn).",
            "Health",
        )
        .errors(&[503]),
    ]
}

/// `GET /openapi.json` for a role, answering with its document.
pub fn route<S: Clone + Send + Sync + 'static>(document: Value) -> axum::Router<S> {
    let body = std::sync::Arc::new(document.to_string());
    axum::Router::new().route(
        "/openapi.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move {
                let mut response =
                    axum::response::Response::new(axum::body::Body::from(body.as_str().to_owned()));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                crate::transport::apply_security_headers(response.headers_mut());
                response
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_become_paths_with_parameters_and_shared_errors() {
        let doc = Document {
            title: "t",
            description: "d",
            security: None,
            operations: vec![
                Operation::new("GET", "/Appointment/{id}", "Read")
                    .headers(&["XRequestID"])
                    .ok(200, "The appointment.", "Resource")
                    .errors(&[404]),
                Operation::new("DELETE", "/Appointment/{id}", "Cancel").errors(&[404, 409]),
            ],
        }
        .build();
        assert_eq!(doc["openapi"], "3.1.0");
        let get = &doc["paths"]["/Appointment/{id}"]["get"];
        assert_eq!(get["operationId"], "getAppointmentId");
        assert_eq!(
            get["parameters"][0]["$ref"],
            "#/components/parameters/XRequestID"
        );
        assert_eq!(get["parameters"][1]["in"], "path");
        assert_eq!(
            get["responses"]["404"]["$ref"],
            "#/components/responses/E404"
        );
        assert!(doc["paths"]["/Appointment/{id}"]["delete"].is_object());
        assert!(doc["components"]["responses"]["E409"].is_object());
    }
}
