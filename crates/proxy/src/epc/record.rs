//! The catalogue's records as the proxy keeps them: typed, with systems canonical, so that
//! matching, ownership and routing never look at wire JSON. Each record renders itself in the
//! OAS14 shape (delta D20): that is what the API answers and what the database stores.

use bars_fhir::headers::{DOS_SERVICE_SYSTEM, ODS_SYSTEM};
use bars_fhir::instant::Instant;
use serde_json::{Map, Value, json};

/// The product-id system as OAS14 spells it (lower-case `id`).
pub const PRODUCT_ID_SYSTEM: &str = "https://fhir.nhs.uk/id/product-id";
pub const CONNECTION_TYPE_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/endpoint-connection-type";
pub const PAYLOAD_TYPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/endpoint-payload-type";
/// The payload type that marks a BaRS endpoint, the one routing uses.
pub const BARS_PAYLOAD: &str = "bars";

/// The three kinds of record, named as the database names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Service,
    Endpoint,
    /// A product-level Endpoint definition (`/Endpoint/$template`), bound to no service.
    Template,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "HealthcareService",
            Kind::Endpoint => "Endpoint",
            Kind::Template => "EndpointTemplate",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        [Kind::Service, Kind::Endpoint, Kind::Template]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// A system URL without its scheme and in lower case: the NHS systems circulate as `http` and
/// `https`, `Id` and `id` (delta 6.5), and all of them mean the same.
pub fn system_key(system: &str) -> String {
    let bare = system
        .strip_prefix("https://")
        .or_else(|| system.strip_prefix("http://"))
        .unwrap_or(system);
    bare.trim_end_matches('/').to_ascii_lowercase()
}

pub fn same_system(a: &str, b: &str) -> bool {
    system_key(a) == system_key(b)
}

/// The spelling the catalogue emits for a system: OAS14's for the NHS and HL7 systems it knows,
/// the caller's for any other.
pub fn canonical_system(system: &str) -> String {
    [
        DOS_SERVICE_SYSTEM,
        ODS_SYSTEM,
        PRODUCT_ID_SYSTEM,
        CONNECTION_TYPE_SYSTEM,
        PAYLOAD_TYPE_SYSTEM,
    ]
    .into_iter()
    .find(|known| same_system(known, system))
    .map(str::to_string)
    .unwrap_or_else(|| system.to_string())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub system: String,
    pub value: String,
}

impl Ident {
    pub fn new(system: &str, value: &str) -> Ident {
        Ident {
            system: canonical_system(system),
            value: value.to_string(),
        }
    }

    fn json(&self) -> Value {
        json!({ "system": self.system, "value": self.value })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub system: String,
    pub code: String,
    pub display: Option<String>,
}

impl Code {
    pub fn new(system: &str, code: &str, display: Option<&str>) -> Code {
        Code {
            system: canonical_system(system),
            code: code.to_string(),
            display: display.map(str::to_string),
        }
    }

    fn json(&self) -> Value {
        let mut c = json!({ "system": self.system, "code": self.code });
        if let Some(d) = &self.display {
            c["display"] = json!(d);
        }
        c
    }

    fn same(&self, other: &Code) -> bool {
        same_system(&self.system, &other.system) && self.code == other.code
    }
}

/// The version the catalogue stamped a record with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub version: i64,
    pub last_updated: Instant,
}

impl Meta {
    fn json(&self) -> Value {
        json!({ "versionId": self.version.to_string(), "lastUpdated": self.last_updated.to_string() })
    }

    /// The weak ETag of this version.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// A HealthcareService: a bookable service, who provides it, and the endpoints that reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    pub id: String,
    pub meta: Meta,
    pub identifiers: Vec<Ident>,
    /// ODS codes of the providing organisation: its owners.
    pub provided_by: Vec<String>,
    /// Ids of the Endpoints it references.
    pub endpoints: Vec<String>,
    pub active: bool,
    pub name: String,
}

impl ServiceRecord {
    /// The resource without `meta`, as stored.
    pub fn body(&self) -> Value {
        json!({
            "resourceType": "HealthcareService",
            "id": self.id,
            "identifier": self.identifiers.iter().map(Ident::json).collect::<Vec<_>>(),
            "active": self.active,
            "providedBy": owners_json(&self.provided_by),
            "name": self.name,
            "endpoint": self.endpoints.iter().map(|id| json!({ "reference": format!("Endpoint/{id}") })).collect::<Vec<_>>(),
        })
    }

    pub fn resource(&self) -> Value {
        with_meta(self.body(), &self.meta)
    }

    pub fn owned_by(&self, ods: &str) -> bool {
        owns(&self.provided_by, ods)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Period {
    pub start: Option<String>,
    pub end: Option<String>,
}

/// An Endpoint (or an Endpoint template): where a service's requests go and who manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    pub id: String,
    pub meta: Meta,
    pub identifiers: Vec<Ident>,
    pub status: String,
    pub connection_type: Code,
    pub payload_types: Vec<Code>,
    pub name: String,
    /// ODS codes of the managing organisation: its owners.
    pub managing: Vec<String>,
    pub address: String,
    /// `header = private`: the address is shown to its owners only.
    pub private: bool,
    pub period: Option<Period>,
}

impl EndpointRecord {
    pub fn body(&self) -> Value {
        let mut body = json!({
            "resourceType": "Endpoint",
            "id": self.id,
            "identifier": self.identifiers.iter().map(Ident::json).collect::<Vec<_>>(),
            "status": self.status,
            "connectionType": { "coding": [self.connection_type.json()] },
            "name": self.name,
            "payloadType": self.payload_types.iter().map(|c| json!({ "coding": [c.json()] })).collect::<Vec<_>>(),
            "managingOrganization": owners_json(&self.managing),
            "address": self.address,
            "header": if self.private { "private" } else { "public" },
        });
        if let Some(p) = &self.period {
            let mut period = Map::new();
            if let Some(s) = &p.start {
                period.insert("start".into(), json!(s));
            }
            if let Some(e) = &p.end {
                period.insert("end".into(), json!(e));
            }
            body["period"] = Value::Object(period);
        }
        body
    }

    /// The resource as `reader` may see it: without its address when it is private and the
    /// reader is not an owner (delta 6.6, D17), marked REDACTED so nobody mistakes the
    /// omission for a record without an address.
    pub fn resource_for(&self, reader: &Caller) -> Value {
        let mut resource = with_meta(self.body(), &self.meta);
        if self.private && !reader.may_see_private(self) {
            if let Some(obj) = resource.as_object_mut() {
                obj.remove("address");
            }
            resource["meta"]["security"] = json!([{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                "code": "REDACTED",
                "display": "redacted"
            }]);
        }
        resource
    }

    pub fn owned_by(&self, ods: &str) -> bool {
        owns(&self.managing, ods)
    }

    pub fn is_bars(&self) -> bool {
        self.payload_types.iter().any(|p| p.code == BARS_PAYLOAD)
    }

    /// Two endpoints of one type may not serve one service (IG: "Multiple Endpoints of the same
    /// type are not permitted for a HealthcareService").
    pub fn same_type(&self, other: &EndpointRecord) -> bool {
        self.connection_type.same(&other.connection_type)
            && self.payload_types.len() == other.payload_types.len()
            && self
                .payload_types
                .iter()
                .all(|p| other.payload_types.iter().any(|q| p.same(q)))
    }

    /// Whether routing may use it at `now`: active, and within its period.
    pub fn routable_at(&self, now: Instant) -> bool {
        if self.status != "active" || !self.is_bars() {
            return false;
        }
        let Some(period) = &self.period else {
            return false;
        };
        let started = period
            .start
            .as_deref()
            .and_then(period_instant)
            .is_some_and(|s| s <= now);
        let not_ended = period
            .end
            .as_deref()
            .is_none_or(|e| period_instant(e).is_some_and(|e| now < e));
        started && not_ended
    }
}

/// Who is asking: the organisation the proxy authenticated, or the operator's admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Organisation(String),
    Admin,
}

impl Caller {
    fn may_see_private(&self, endpoint: &EndpointRecord) -> bool {
        match self {
            Caller::Admin => true,
            Caller::Organisation(ods) => endpoint.owned_by(ods),
        }
    }
}

/// A period bound as an instant: a dateTime with its offset, or a date (its midnight, UTC).
pub fn period_instant(text: &str) -> Option<Instant> {
    Instant::parse(text)
        .ok()
        .or_else(|| {
            bars_fhir::instant::check_date(text).ok()?;
            Instant::parse(&format!("{text}T00:00:00Z")).ok()
        })
        .or_else(|| Instant::parse(&format!("{text}Z")).ok())
}

fn owns(owners: &[String], ods: &str) -> bool {
    owners.iter().any(|o| o.eq_ignore_ascii_case(ods))
}

fn owners_json(owners: &[String]) -> Value {
    owners
        .iter()
        .map(|ods| json!({ "identifier": { "system": ODS_SYSTEM, "value": ods } }))
        .collect()
}

fn with_meta(mut body: Value, meta: &Meta) -> Value {
    if let Some(obj) = body.as_object_mut() {
        let mut out = Map::new();
        out.insert(
            "resourceType".into(),
            obj.remove("resourceType").unwrap_or(Value::Null),
        );
        out.insert("id".into(), obj.remove("id").unwrap_or(Value::Null));
        out.insert("meta".into(), meta.json());
        out.extend(std::mem::take(obj));
        return Value::Object(out);
    }
    body
}
