//! Bundle builders for search results and messages.
//!
//! [`searchset`] builds a `Value`, for bundles whose entries are built as `Value`s anyway.
//! [`Page`] is such a Bundle written straight to JSON text when serialised: a stored body
//! goes in as the text it is (`&RawValue`), neither parsed nor copied into a tree first.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::instant::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    Match,
    Include,
    /// An OperationOutcome about the search itself (a warning, say).
    Outcome,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Match => "match",
            SearchMode::Include => "include",
            SearchMode::Outcome => "outcome",
        }
    }
}

/// One entry of a searchset: the resource with its absolute URL and why it is there. The
/// resource is whatever serialises as one: a `Value`, or a stored body as it is (`&RawValue`).
#[derive(Debug, Clone)]
pub struct SearchEntry<R = Value> {
    pub full_url: String,
    pub resource: R,
    pub mode: SearchMode,
}

impl<R: Serialize> Serialize for SearchEntry<R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entry = s.serialize_struct("SearchEntry", 3)?;
        entry.serialize_field("fullUrl", &self.full_url)?;
        entry.serialize_field("resource", &self.resource)?;
        entry.serialize_field(
            "search",
            &Search {
                mode: self.mode.as_str(),
            },
        )?;
        entry.end()
    }
}

#[derive(Serialize)]
struct Search {
    mode: &'static str,
}

/// One entry of a history: a version with the URL of that version.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry<R> {
    pub full_url: String,
    pub resource: R,
}

/// An entry of a [`Page`]; what it is says which Bundle the page is.
pub trait PageEntry: Serialize {
    /// `Bundle.type`.
    const BUNDLE_TYPE: &'static str;
}

impl<R: Serialize> PageEntry for SearchEntry<R> {
    const BUNDLE_TYPE: &'static str = "searchset";
}

impl<R: Serialize> PageEntry for HistoryEntry<R> {
    const BUNDLE_TYPE: &'static str = "history";
}

/// One page of a `searchset` or `history` Bundle (by its entries' type), serialised as it is
/// written. `total` counts every match (every version), not just this page's, and never the
/// included resources; a `next` link follows while more pages do. History entries come newest
/// first.
#[derive(Debug, Clone)]
pub struct Page<'a, E> {
    pub total: u64,
    pub self_link: &'a str,
    pub next_link: Option<&'a str>,
    pub entries: Vec<E>,
}

#[derive(Serialize)]
struct Link<'a> {
    relation: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    last_updated: &'a str,
}

impl<E: PageEntry> Serialize for Page<'_, E> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let now = Instant::now().to_string();
        let link = |relation, url| Link { relation, url };
        let links = [
            Some(link("self", self.self_link)),
            self.next_link.map(|next| link("next", next)),
        ];
        let mut bundle = s.serialize_map(None)?;
        bundle.serialize_entry("resourceType", "Bundle")?;
        bundle.serialize_entry("id", &uuid::Uuid::new_v4().to_string())?;
        if E::BUNDLE_TYPE == "searchset" {
            bundle.serialize_entry("meta", &Meta { last_updated: &now })?;
        }
        bundle.serialize_entry("type", E::BUNDLE_TYPE)?;
        bundle.serialize_entry("timestamp", &now)?;
        bundle.serialize_entry("total", &self.total)?;
        bundle.serialize_entry("link", &links.iter().flatten().collect::<Vec<_>>())?;
        bundle.serialize_entry("entry", &self.entries)?;
        bundle.end()
    }
}

/// Builds a `searchset` Bundle. `total` counts matches only, never included resources.
pub fn searchset(
    total: u64,
    self_link: &str,
    next_link: Option<&str>,
    entries: Vec<SearchEntry>,
) -> Value {
    let mut links = vec![json!({ "relation": "self", "url": self_link })];
    if let Some(next) = next_link {
        links.push(json!({ "relation": "next", "url": next }));
    }
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|e| json!({ "fullUrl": e.full_url, "resource": e.resource, "search": { "mode": e.mode.as_str() } }))
        .collect();
    let mut bundle = Map::new();
    bundle.insert("resourceType".into(), "Bundle".into());
    bundle.insert("id".into(), uuid::Uuid::new_v4().to_string().into());
    bundle.insert(
        "meta".into(),
        json!({ "lastUpdated": Instant::now().to_string() }),
    );
    bundle.insert("type".into(), "searchset".into());
    bundle.insert("timestamp".into(), Instant::now().to_string().into());
    bundle.insert("total".into(), total.into());
    bundle.insert("link".into(), Value::Array(links));
    bundle.insert("entry".into(), Value::Array(entries));
    Value::Object(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searchset_counts_matches_only() {
        let b = searchset(
            1,
            "http://x/Slot?status=free",
            None,
            vec![
                SearchEntry {
                    full_url: "http://x/Slot/1".into(),
                    resource: json!({"resourceType":"Slot"}),
                    mode: SearchMode::Match,
                },
                SearchEntry {
                    full_url: "http://x/Schedule/1".into(),
                    resource: json!({"resourceType":"Schedule"}),
                    mode: SearchMode::Include,
                },
            ],
        );
        assert_eq!(b["total"], 1);
        assert_eq!(b["entry"][1]["search"]["mode"], "include");
        assert_eq!(b["link"][0]["relation"], "self");
    }

    #[test]
    fn a_page_splices_stored_bodies_as_they_are() {
        use serde_json::value::RawValue;
        // Decimals keep their digits and members their order: the text is not re-written.
        let stored = r#"{"resourceType":"Appointment","z":1.50,"a":[0.10,{"y":"\u00e9"}]}"#;
        let raw: &RawValue = serde_json::from_str(stored).unwrap();
        let page = Page {
            total: 3,
            self_link: "http://x/Appointment?_count=1",
            next_link: Some("http://x/Appointment?_count=1&_page_after=t"),
            entries: vec![SearchEntry {
                full_url: "http://x/Appointment/1".into(),
                resource: raw,
                mode: SearchMode::Match,
            }],
        };
        let text = serde_json::to_string(&page).unwrap();
        assert!(
            text.contains(&format!(r#"{{"fullUrl":"http://x/Appointment/1","resource":{stored},"search":{{"mode":"match"}}}}"#)),
            "{text}"
        );
        let b: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "resourceType",
                "id",
                "meta",
                "type",
                "timestamp",
                "total",
                "link",
                "entry"
            ]
        );
        assert_eq!(b["type"], "searchset");
        assert_eq!(b["total"], 3);
        assert_eq!(b["meta"]["lastUpdated"], b["timestamp"]);
        assert_eq!(b["link"][1]["relation"], "next");

        let history = Page {
            total: 1,
            self_link: "http://x/Appointment/1/_history",
            next_link: None,
            entries: vec![HistoryEntry {
                full_url: "http://x/Appointment/1/_history/1".into(),
                resource: raw,
            }],
        };
        let b: Value = serde_json::from_str(&serde_json::to_string(&history).unwrap()).unwrap();
        let keys: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "resourceType",
                "id",
                "type",
                "timestamp",
                "total",
                "link",
                "entry"
            ]
        );
        assert_eq!(b["link"].as_array().unwrap().len(), 1);
        assert_eq!(b["entry"][0]["resource"]["z"].to_string(), "1.50");
    }
}
