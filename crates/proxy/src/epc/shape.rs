//! Reading a HealthcareService or Endpoint body into a record, accepting every shape in
//! circulation (delta 6.4, D20): the OAS14 wire contract, the IG's `Endpoint-Data` page, and
//! base R4. What is written back is always the OAS14 shape ([`super::record`]).

use bars_fhir::IssueType;
use bars_fhir::headers::ODS_SYSTEM;
use bars_fhir::instant::Instant;
use serde_json::Value;

use super::errors::EpcError;
use super::record::{
    BARS_PAYLOAD, CONNECTION_TYPE_SYSTEM, Code, EndpointRecord, Ident, Kind, Meta,
    PAYLOAD_TYPE_SYSTEM, Period, ServiceRecord, period_instant, same_system,
};

/// The IG's connection type for BaRS; read as FHIR REST carrying the `bars` payload.
const IG_CONNECTION_SYSTEM: &str = "https://fhir.nhs.uk/CodeSystem/ConnectionTypes";

/// The Endpoint statuses of R4.
const STATUSES: [&str; 6] = [
    "active",
    "suspended",
    "error",
    "off",
    "entered-in-error",
    "test",
];

/// What the client said about the version it changes: `meta.versionId` and `meta.lastUpdated`
/// of the body (the IG: "MUST be supplied by the client").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub version: Option<String>,
    pub last_updated: Option<Instant>,
}

/// A parsed body: the record (id and meta still the client's, or empty) and its claims.
#[derive(Debug, Clone)]
pub struct Parsed<R> {
    pub record: R,
    pub claims: Claims,
}

fn placeholder_meta() -> Meta {
    Meta {
        version: 0,
        last_updated: Instant::from_unix_nanos(0, 0),
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn required_text(v: &Value, resource: &str, key: &str) -> Result<String, EpcError> {
    match v.get(key) {
        None | Some(Value::Null) => Err(EpcError::element(
            IssueType::Required,
            &format!("{resource}.{key}"),
            format!("{resource}.{key} is required"),
        )),
        Some(_) => text(v, key).map(str::to_string).ok_or_else(|| {
            EpcError::element(
                IssueType::Value,
                &format!("{resource}.{key}"),
                format!("{resource}.{key} must be a non-empty string"),
            )
        }),
    }
}

fn check_type(v: &Value, expected: &str) -> Result<(), EpcError> {
    if !v.is_object() {
        return Err(EpcError::bad(
            IssueType::Structure,
            format!("the body must be a {expected} resource"),
        ));
    }
    match v.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == expected => Ok(()),
        _ => Err(EpcError::element(
            IssueType::Structure,
            "resourceType",
            format!("the body must be a {expected} resource"),
        )),
    }
}

/// One element or an array of them, as a list.
fn one_or_many(v: Option<&Value>) -> Vec<&Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    }
}

fn identifiers(v: &Value, resource: &str) -> Result<Vec<Ident>, EpcError> {
    let path = format!("{resource}.identifier");
    let mut out = Vec::new();
    for i in one_or_many(v.get("identifier")) {
        match (text(i, "system"), text(i, "value")) {
            (Some(s), Some(value)) => out.push(Ident::new(s, value)),
            _ => {
                return Err(EpcError::element(
                    IssueType::Value,
                    &path,
                    format!("each {path} needs a system and a value"),
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(EpcError::element(
            IssueType::Required,
            &path,
            format!("{path} is required"),
        ));
    }
    Ok(out)
}

/// ODS codes from `providedBy` / `managingOrganization`: an object or an OAS14 array, each an
/// `identifier` (ODS system) or a `reference` to `Organization/<ODS code>` (there is no
/// Organization API, D16, so its id is read as the ODS code).
fn owners(v: &Value, path: &str) -> Result<Vec<String>, EpcError> {
    let element = path.rsplit('.').next().unwrap_or(path);
    let mut out = Vec::new();
    for o in one_or_many(v.get(element)) {
        let ods = if let Some(id) = o.get("identifier") {
            match (text(id, "system"), text(id, "value")) {
                (Some(s), Some(value)) if same_system(s, ODS_SYSTEM) => Some(value),
                _ => None,
            }
        } else {
            text(o, "reference").and_then(|r| r.strip_prefix("Organization/"))
        };
        match ods {
            Some(code) if !code.contains('/') => out.push(code.to_string()),
            _ => {
                return Err(EpcError::element(
                    IssueType::Value,
                    path,
                    format!(
                        "{path} must name an organisation by ODS code ({ODS_SYSTEM}) or reference Organization/<ODS code>"
                    ),
                ));
            }
        }
    }
    // None is read as none: records configured without an ODS code have no owner (only the
    // admin API changes them); the API refuses to create one (`rules`).
    Ok(out)
}

fn claims(v: &Value) -> Result<Claims, EpcError> {
    let meta = v.get("meta");
    let version = meta
        .and_then(|m| m.get("versionId"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let last_updated = match meta
        .and_then(|m| m.get("lastUpdated"))
        .and_then(Value::as_str)
    {
        None => None,
        Some(t) => Some(Instant::parse(t).map_err(|_| {
            EpcError::element(
                IssueType::Value,
                "meta.lastUpdated",
                "meta.lastUpdated must be a FHIR instant",
            )
        })?),
    };
    Ok(Claims {
        version,
        last_updated,
    })
}

/// The Endpoint id a `HealthcareService.endpoint` reference names: `Endpoint/<id>`, an absolute
/// URL ending so, or `urn:uuid:<id>`.
fn endpoint_id(reference: &str) -> Option<String> {
    if let Some(id) = reference.strip_prefix("urn:uuid:") {
        return Some(id.to_string());
    }
    let (before, id) = reference.rsplit_once('/')?;
    (before == "Endpoint" || before.ends_with("/Endpoint")).then(|| id.to_string())
}

pub fn service(v: &Value) -> Result<Parsed<ServiceRecord>, EpcError> {
    check_type(v, "HealthcareService")?;
    let identifiers = identifiers(v, "HealthcareService")?;
    let provided_by = owners(v, "HealthcareService.providedBy")?;
    let name = required_text(v, "HealthcareService", "name")?;
    let active = match v.get("active") {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => {
            return Err(EpcError::element(
                IssueType::Required,
                "HealthcareService.active",
                "HealthcareService.active is required",
            ));
        }
        Some(_) => {
            return Err(EpcError::element(
                IssueType::Value,
                "HealthcareService.active",
                "HealthcareService.active must be true or false",
            ));
        }
    };
    let mut endpoints = Vec::new();
    for r in one_or_many(v.get("endpoint")) {
        match text(r, "reference").and_then(endpoint_id) {
            Some(id) if !endpoints.contains(&id) => endpoints.push(id),
            Some(_) => {}
            None => {
                return Err(EpcError::element(
                    IssueType::Value,
                    "HealthcareService.endpoint",
                    "each HealthcareService.endpoint must reference Endpoint/<id>",
                ));
            }
        }
    }
    if endpoints.is_empty() {
        return Err(EpcError::element(
            IssueType::Required,
            "HealthcareService.endpoint",
            "HealthcareService.endpoint is required: a reference to the service's BaRS Endpoint",
        ));
    }
    Ok(Parsed {
        record: ServiceRecord {
            id: text(v, "id").unwrap_or("").to_string(),
            meta: placeholder_meta(),
            identifiers,
            provided_by,
            endpoints,
            active,
            name,
        },
        claims: claims(v)?,
    })
}

/// Codings from a CodeableConcept, a bare Coding, or the IG's
/// `[{valueCodeableConcept: {...}}]`.
fn codings(v: &Value) -> Vec<Code> {
    let mut out = Vec::new();
    for item in one_or_many(Some(v)) {
        let concept = item.get("valueCodeableConcept").unwrap_or(item);
        let list = match concept.get("coding") {
            Some(c) => one_or_many(Some(c)),
            None => vec![concept],
        };
        for c in list {
            if let (Some(s), Some(code)) = (text(c, "system"), text(c, "code")) {
                out.push(Code::new(s, code, text(c, "display")));
            }
        }
    }
    out
}

fn period(v: &Value) -> Result<Option<Period>, EpcError> {
    let Some(p) = v.get("period").or_else(|| v.get("Period")) else {
        return Ok(None);
    };
    let bound = |names: [&str; 2]| -> Result<Option<String>, EpcError> {
        match names.iter().find_map(|n| p.get(*n)).and_then(Value::as_str) {
            None => Ok(None),
            Some(t) if period_instant(t).is_some() => Ok(Some(t.to_string())),
            Some(_) => Err(EpcError::element(
                IssueType::Value,
                "Endpoint.period",
                "Endpoint.period bounds must be FHIR dateTimes",
            )),
        }
    };
    Ok(Some(Period {
        start: bound(["start", "Start"])?,
        end: bound(["end", "End"])?,
    }))
}

/// An Endpoint (`kind` Endpoint) or an Endpoint template (`kind` Template: no period needed).
pub fn endpoint(v: &Value, kind: Kind) -> Result<Parsed<EndpointRecord>, EpcError> {
    check_type(v, "Endpoint")?;
    let identifiers = identifiers(v, "Endpoint")?;
    let managing = owners(v, "Endpoint.managingOrganization")?;
    let name = required_text(v, "Endpoint", "name")?;
    let status = required_text(v, "Endpoint", "status")?;
    if !STATUSES.contains(&status.as_str()) {
        return Err(EpcError::element(
            IssueType::Value,
            "Endpoint.status",
            format!("Endpoint.status must be one of {}", STATUSES.join(", ")),
        ));
    }
    let address = required_text(v, "Endpoint", "address")?;
    if !(address.starts_with("https://") || address.starts_with("http://")) {
        return Err(EpcError::element(
            IssueType::Value,
            "Endpoint.address",
            "Endpoint.address must be the receiver's http(s) base URL",
        ));
    }
    let mut connection = v.get("connectionType").map(codings).unwrap_or_default();
    let ig_bars = connection
        .iter()
        .any(|c| same_system(&c.system, IG_CONNECTION_SYSTEM) && c.code == "BARS");
    if ig_bars {
        connection = vec![Code::new(CONNECTION_TYPE_SYSTEM, "hl7-fhir-rest", None)];
    }
    let Some(connection_type) = connection.into_iter().next() else {
        return Err(EpcError::element(
            IssueType::Required,
            "Endpoint.connectionType",
            "Endpoint.connectionType is required (a coding such as hl7-fhir-rest)",
        ));
    };
    let mut payload_types = v.get("payloadType").map(codings).unwrap_or_default();
    if payload_types.is_empty() && ig_bars {
        payload_types.push(Code::new(PAYLOAD_TYPE_SYSTEM, BARS_PAYLOAD, Some("BaRS")));
    }
    let private = match one_or_many(v.get("header")).as_slice() {
        [] => false,
        [one] => match one.as_str() {
            Some(h) if h.eq_ignore_ascii_case("private") => true,
            Some(h) if h.eq_ignore_ascii_case("public") => false,
            _ => {
                return Err(EpcError::element(
                    IssueType::Value,
                    "Endpoint.header",
                    "Endpoint.header must be public or private",
                ));
            }
        },
        _ => {
            return Err(EpcError::element(
                IssueType::Value,
                "Endpoint.header",
                "Endpoint.header must be one value: public or private",
            ));
        }
    };
    let period = period(v)?;
    if kind == Kind::Endpoint && period.as_ref().and_then(|p| p.start.as_ref()).is_none() {
        return Err(EpcError::element(
            IssueType::Required,
            "Endpoint.period.start",
            "Endpoint.period.start is required: the endpoint is routed to only within its period",
        ));
    }
    Ok(Parsed {
        record: EndpointRecord {
            id: text(v, "id").unwrap_or("").to_string(),
            meta: placeholder_meta(),
            identifiers,
            status,
            connection_type,
            payload_types,
            name,
            managing,
            address: address.trim_end_matches('/').to_string(),
            private,
            period,
        },
        claims: claims(v)?,
    })
}
