//! Small helpers for reading and stamping FHIR resources held as JSON.

use serde_json::{Map, Value};

use crate::instant::Instant;

pub fn resource_type(resource: &Value) -> Option<&str> {
    resource.get("resourceType").and_then(Value::as_str)
}

/// Sets `id`, `meta.versionId` and `meta.lastUpdated`, keeping any other `meta` content (profiles,
/// tags) and placing `id` and `meta` right after `resourceType`, where readers expect them.
pub fn stamp(resource: &mut Value, id: &str, version: u64, last_updated: Instant) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    let mut meta = match obj.remove("meta") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    meta.shift_remove("versionId");
    meta.shift_remove("lastUpdated");
    let mut new_meta = Map::new();
    new_meta.insert("versionId".into(), Value::String(version.to_string()));
    new_meta.insert(
        "lastUpdated".into(),
        Value::String(last_updated.to_string()),
    );
    new_meta.extend(meta);
    obj.shift_remove("id");
    let rest = std::mem::take(obj);
    let mut out = Map::new();
    if let Some(rt) = rest.get("resourceType") {
        out.insert("resourceType".into(), rt.clone());
    }
    out.insert("id".into(), Value::String(id.to_string()));
    out.insert("meta".into(), Value::Object(new_meta));
    for (k, v) in rest {
        if k != "resourceType" {
            out.insert(k, v);
        }
    }
    *obj = out;
}

/// `meta.lastUpdated` of a resource, when present and a valid instant.
pub fn last_updated(resource: &Value) -> Option<Result<Instant, crate::instant::InstantError>> {
    resource
        .pointer("/meta/lastUpdated")
        .and_then(Value::as_str)
        .map(Instant::parse)
}

/// The id part of a relative reference `Type/id` (also accepting `Type/id/_history/n` and an
/// absolute URL ending in `Type/id`).
pub fn reference_id<'a>(reference: &'a str, expected_type: &str) -> Option<&'a str> {
    let path = reference.split('?').next()?;
    let path = match path.find("/_history/") {
        Some(i) => &path[..i],
        None => path,
    };
    let (ty, id) = path.rsplit_once('/')?;
    let ty = ty.rsplit('/').next()?;
    (ty == expected_type && !id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stamp_orders_id_and_meta_first_and_keeps_profiles() {
        let mut r = json!({"resourceType":"Appointment","status":"booked","meta":{"profile":["p"],"lastUpdated":"2020-01-01T00:00:00Z"},"id":"old"});
        stamp(
            &mut r,
            "new",
            3,
            Instant::parse("2024-01-01T00:00:00Z").unwrap(),
        );
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["resourceType", "id", "meta", "status"]);
        assert_eq!(r["meta"]["versionId"], "3");
        assert_eq!(r["meta"]["lastUpdated"], "2024-01-01T00:00:00+00:00");
        assert_eq!(r["meta"]["profile"][0], "p");
    }

    #[test]
    fn reference_ids() {
        assert_eq!(reference_id("Slot/abc", "Slot"), Some("abc"));
        assert_eq!(
            reference_id("https://x.nhs.uk/fhir/Slot/abc", "Slot"),
            Some("abc")
        );
        assert_eq!(reference_id("Slot/abc/_history/2", "Slot"), Some("abc"));
        assert_eq!(reference_id("Schedule/abc", "Slot"), None);
        assert_eq!(reference_id("urn:uuid:abc", "Slot"), None);
        assert_eq!(reference_id("Slot/", "Slot"), None);
    }
}
