//! A stored slot as a UKCore-Slot: the schedule's shared elements, then the slot's own.
//!
//! Written field by field into the response rather than built as a JSON tree first: a search
//! answers with up to a page of slots, and building each one's tree (cloning the schedule's
//! template into it, then serialising and freeing it all) was a quarter of a slot search's CPU.
//! What is written is what that tree held: elements in the order they were first set, a later
//! setting replacing an earlier one's value in its place (the template may restate an element;
//! the slot's own columns and its extra elements win). The template's values, the same for
//! every slot of a schedule, are written as JSON text once per search ([`Template`]).

use bars_fhir::Instant;
use bars_store::SlotRecord;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::catalog::SLOT_PROFILE;

/// One element's value, borrowed from the slot, its schedule's template or its extra elements.
enum Element<'a> {
    Text(&'a str),
    Time(Instant),
    Json(&'a Value),
    /// A template's value, already JSON text.
    Raw(&'a RawValue),
    Meta(&'a SlotRecord),
    Schedule(&'a str),
}

impl Serialize for Element<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Element::Text(text) => s.serialize_str(text),
            Element::Time(at) => s.serialize_str(at.text().as_str()),
            Element::Json(value) => value.serialize(s),
            Element::Raw(value) => value.serialize(s),
            Element::Meta(slot) => {
                let mut meta = s.serialize_map(Some(3))?;
                meta.serialize_entry("versionId", &slot.version.to_string())?;
                meta.serialize_entry("lastUpdated", &Element::Time(slot.last_updated))?;
                meta.serialize_entry("profile", &[SLOT_PROFILE])?;
                meta.end()
            }
            Element::Schedule(id) => {
                let mut reference = s.serialize_map(Some(1))?;
                reference.serialize_entry("reference", &format_args!("Schedule/{id}"))?;
                reference.end()
            }
        }
    }
}

/// A schedule's slot template, each element's value written as JSON text when the search
/// reads the schedule. Every slot of a page repeats these values; written from the parsed tree
/// they were walked and their strings escaped again for each slot. (Measured together with the
/// count a full first page no longer runs, +6% searches a second; most of the escaping left is
/// of the elements' names.)
#[derive(Default)]
pub struct Template(Vec<(String, Box<RawValue>)>);

impl Template {
    /// The template of a stored schedule; a template that is not a JSON object adds nothing.
    /// Parsed as a map first, so a name the text repeats keeps its first place and its last
    /// value, as the map did.
    pub fn parse(text: &str) -> Template {
        let elements = serde_json::from_str::<Map<String, Value>>(text).unwrap_or_default();
        Template(
            elements
                .into_iter()
                .filter_map(|(name, value)| {
                    Some((name, serde_json::value::to_raw_value(&value).ok()?))
                })
                .collect(),
        )
    }
}

/// A slot ready to be written: its elements in order, each borrowed.
pub struct SlotResource<'a> {
    elements: Vec<(&'a str, Element<'a>)>,
}

impl<'a> SlotResource<'a> {
    /// `extra` is the slot's own elements beyond the template, parsed by the caller (who keeps
    /// them alive for the write); `None` when it has none or they are not an object.
    pub fn new(
        slot: &'a SlotRecord,
        template: &'a Template,
        extra: Option<&'a Map<String, Value>>,
    ) -> SlotResource<'a> {
        let mut r = SlotResource {
            elements: Vec::with_capacity(8 + template.0.len()),
        };
        r.set("resourceType", Element::Text("Slot"));
        r.set("id", Element::Text(&slot.id));
        r.set("meta", Element::Meta(slot));
        for (name, value) in &template.0 {
            r.set(name, Element::Raw(value));
        }
        r.set("schedule", Element::Schedule(&slot.schedule_id));
        r.set("status", Element::Text(slot.status.as_str()));
        r.set("start", Element::Time(slot.start));
        r.set("end", Element::Time(slot.end));
        for (name, value) in extra.into_iter().flatten() {
            r.set(name, Element::Json(value));
        }
        r
    }

    fn set(&mut self, name: &'a str, element: Element<'a>) {
        match self.elements.iter_mut().find(|(n, _)| *n == name) {
            Some((_, held)) => *held = element,
            None => self.elements.push((name, element)),
        }
    }
}

impl Serialize for SlotResource<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.elements.len()))?;
        for (name, element) in &self.elements {
            map.serialize_entry(name, element)?;
        }
        map.end()
    }
}

/// A slot's extra elements, when they are a JSON object.
pub fn extra_of(slot: &SlotRecord) -> Option<Map<String, Value>> {
    match serde_json::from_str::<Value>(slot.extra.as_deref()?) {
        Ok(Value::Object(extra)) => Some(extra),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bars_booking::SlotStatus;
    use serde_json::json;

    /// The slot as a JSON tree built by inserting each element in turn into an ordered map,
    /// which is what a slot always was: the reference the written form must equal.
    fn as_a_tree(slot: &SlotRecord, template: &Map<String, Value>) -> Value {
        let mut out = Map::new();
        out.insert("resourceType".into(), "Slot".into());
        out.insert("id".into(), slot.id.clone().into());
        out.insert(
            "meta".into(),
            json!({ "versionId": slot.version.to_string(), "lastUpdated": slot.last_updated.to_string(), "profile": [SLOT_PROFILE] }),
        );
        for (k, v) in template {
            out.insert(k.clone(), v.clone());
        }
        out.insert(
            "schedule".into(),
            json!({ "reference": format!("Schedule/{}", slot.schedule_id) }),
        );
        out.insert("status".into(), slot.status.as_str().into());
        out.insert("start".into(), slot.start.to_string().into());
        out.insert("end".into(), slot.end.to_string().into());
        if let Some(extra) = extra_of(slot) {
            for (k, v) in extra {
                out.insert(k, v);
            }
        }
        Value::Object(out)
    }

    fn slot(extra: Option<Value>) -> SlotRecord {
        SlotRecord {
            id: "sched-1-202601050900".into(),
            schedule_id: "sched-1".into(),
            service_id: "2000011111".into(),
            status: SlotStatus::Free,
            start: Instant::parse("2026-01-05T09:00:00Z").unwrap(),
            end: Instant::parse("2026-01-05T09:10:00.250Z").unwrap(),
            version: 3,
            last_updated: Instant::parse("2025-12-01T10:11:12.5Z").unwrap(),
            extra: extra.map(|e| e.to_string()),
        }
    }

    /// Byte for byte what the tree gave: a plain template; a template restating `id`, `status`
    /// and `schedule` (the slot's columns win, in the template's places); extra elements that
    /// restate `start` and the template's own and add new ones; extra elements not an object.
    #[test]
    fn a_slot_is_written_exactly_as_its_tree_was() {
        let plain = json!({
            "serviceType": [{ "coding": [{ "system": "s", "code": "c", "display": "é \"x\"" }] }],
            "serviceCategory": [{ "text": "GP" }],
        });
        let restating = json!({
            "status": "busy", "id": "from-template", "serviceType": [{ "text": "t" }],
            "schedule": { "reference": "Schedule/other" }, "comment": "a\nb",
        });
        let extras = [
            None,
            Some(json!({ "comment": "own", "start": "2030-01-01T00:00:00Z", "overbooked": true })),
            Some(json!(["not", "an", "object"])),
            Some(json!({})),
        ];
        for template in [plain, restating, json!({})] {
            let template = template.as_object().unwrap().clone();
            let written_once = Template::parse(&Value::Object(template.clone()).to_string());
            for extra in &extras {
                let s = slot(extra.clone());
                let held = extra_of(&s);
                let written =
                    serde_json::to_string(&SlotResource::new(&s, &written_once, held.as_ref()))
                        .unwrap();
                let tree = serde_json::to_string(&as_a_tree(&s, &template)).unwrap();
                assert_eq!(written, tree, "template {template:?}, extra {extra:?}");
            }
        }
    }
}
