//! The synchronous answer to a processed message (section 6.4): a `message` Bundle with a new
//! id, led by a MessageHeader that answers the request (`response.identifier` = the request
//! Bundle's id, `response.code` `ok`), then the persisted Appointment - with the receiver's id,
//! `created`, `meta.versionId` and `meta.lastUpdated`, which only the receiver can populate -
//! and the request's other entries echoed under their original fullUrls, so every reference in
//! the bundle still resolves.

use bars_fhir::Instant;
use bars_fhir::headers::DOS_SERVICE_SYSTEM;
use bars_http::ApiError;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use super::bundle::{Entry, Message, Object};
use super::{BUNDLE_PROFILE, Destination, EVENT_SYSTEM, HEADER_PROFILE};
use crate::answer;
use crate::config::ReceiverConfig;
use crate::service::writes::Written;

/// The response Bundle as it is written: the persisted Appointment is the text the write
/// stored, the request's other entries are written from the request as it was read.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseBundle<'a> {
    resource_type: &'static str,
    id: String,
    meta: Map<String, Value>,
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: &'a str,
    entry: Vec<ResponseEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseEntry<'a> {
    full_url: Option<&'a str>,
    resource: Resource<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Resource<'a> {
    /// The MessageHeader answering the request.
    Header(Value),
    /// An entry of the request, echoed (`null` when it had no resource).
    Echoed(Option<&'a Object>),
    /// The Appointment as persisted.
    Persisted(&'a RawValue),
}

/// Writes the response Bundle.
pub fn build(
    config: &ReceiverConfig,
    request: &Message<'_>,
    request_header: &Object,
    destination: &Destination<'_, '_>,
    appointment: Entry<'_>,
    written: &Written,
) -> Result<String, ApiError> {
    let now = Instant::now().to_string();
    let appointment_url = appointment.full_url.unwrap_or_default();
    let header_url = format!("urn:uuid:{}", uuid::Uuid::new_v4());

    let mut response_header = json!({
        "resourceType": "MessageHeader",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "lastUpdated": now, "profile": [HEADER_PROFILE] },
        "eventCoding": { "system": EVENT_SYSTEM, "code": "booking-request" },
        "destination": [{
            "endpoint": request_header.get("source").and_then(|s| s.get("endpoint")).cloned().unwrap_or(Value::Null),
        }],
        "sender": { "reference": destination.receiver },
        "source": {
            "name": config.organisation_name,
            "software": "bars",
            "version": env!("CARGO_PKG_VERSION"),
            "endpoint": format!("{DOS_SERVICE_SYSTEM}|{}", destination.service.id),
        },
        "response": {
            "identifier": request.str_at("id").unwrap_or_default(),
            "code": "ok",
        },
        "focus": [{ "reference": appointment_url, "type": "Appointment" }],
    });
    // The sender's own Organization entry, echoed below, is who the answer is for.
    if let Some(sender) = request_header.get("sender").cloned() {
        response_header["destination"][0]["receiver"] = sender;
    }

    let mut entries = Vec::with_capacity(request.entries.len());
    entries.push(ResponseEntry {
        full_url: Some(&header_url),
        resource: Resource::Header(response_header),
    });
    for e in request.entries.iter().skip(1) {
        let resource = if e.index == appointment.index {
            Resource::Persisted(&written.body)
        } else {
            Resource::Echoed(e.resource)
        };
        entries.push(ResponseEntry {
            full_url: e.full_url,
            resource,
        });
    }

    let mut meta = Map::new();
    // The message version the exchange followed, as the request declared it.
    if let Some(v) = request.bundle.get("meta").and_then(|m| m.get("versionId")) {
        meta.insert("versionId".into(), v.clone());
    }
    meta.insert("lastUpdated".into(), Value::String(now.clone()));
    meta.insert("profile".into(), json!([BUNDLE_PROFILE]));
    answer::text(&ResponseBundle {
        resource_type: "Bundle",
        id: uuid::Uuid::new_v4().to_string(),
        meta,
        kind: "message",
        timestamp: &now,
        entry: entries,
    })
}
