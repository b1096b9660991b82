//! Bundle builders for search results and messages.
//!
//! [`searchset`] builds a `Value`, for bundles whose entries are built as `Value`s anyway.
//! [`Page`] is the same Bundle written straight to JSON text when serialised: a stored body
//! goes in as the text it is (`&RawValue`), neither parsed nor copied into a tree first.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

use crate::instant::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    Match,
    Include,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Match => "match",
            SearchMode::Include => "include",
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
        entry.serialize_field("search", &Mode(self.mode))?;
        entry.end()
    }
}

/// `{"mode": ...}`
struct Mode(SearchMode);

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut search = s.serialize_struct("Search", 1)?;
        search.serialize_field("mode", self.0.as_str())?;
        search.end()
    }
}

/// One entry of a history: a version with the URL of that version.
#[derive(Debug, Clone)]
pub struct HistoryEntry<R> {
    pub full_url: String,
    pub resource: R,
}

impl<R: Serialize> Serialize for HistoryEntry<R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entry = s.serialize_struct("HistoryEntry", 2)?;
        entry.serialize_field("fullUrl", &self.full_url)?;
        entry.serialize_field("resource", &self.resource)?;
        entry.end()
    }
}

/// One page of a `searchset` or `history` Bundle, serialised as it is written: `total` counts
/// every match (every version), not just this page's, and a `next` link follows while more
/// pages do. Build it with [`Page::searchset`] or [`Page::history`].
#[derive(Debug, Clone)]
pub struct Page<'a, E> {
    history: bool,
    total: u64,
    self_link: &'a str,
    next_link: Option<&'a str>,
    entries: Vec<E>,
}

impl<'a, R: Serialize> Page<'a, SearchEntry<R>> {
    /// A searchset page; `total` counts matches only, never included resources.
    pub fn searchset(
        total: u64,
        self_link: &'a str,
        next_link: Option<&'a str>,
        entries: Vec<SearchEntry<R>>,
    ) -> Self {
        Page {
            history: false,
            total,
            self_link,
            next_link,
            entries,
        }
    }
}

impl<'a, R: Serialize> Page<'a, HistoryEntry<R>> {
    /// A history page: versions newest first.
    pub fn history(
        total: u64,
        self_link: &'a str,
        next_link: Option<&'a str>,
        entries: Vec<HistoryEntry<R>>,
    ) -> Self {
        Page {
            history: true,
            total,
            self_link,
            next_link,
            entries,
        }
    }
}

/// `{"relation": ..., "url": ...}`
struct Link<'a>(&'static str, &'a str);

impl Serialize for Link<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut link = s.serialize_struct("Link", 2)?;
        link.serialize_field("relation", self.0)?;
        link.serialize_field("url", self.1)?;
        link.end()
    }
}

/// `{"lastUpdated": ...}`
struct LastUpdated<'a>(&'a str);

impl Serialize for LastUpdated<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut meta = s.serialize_struct("Meta", 1)?;
        meta.serialize_field("lastUpdated", self.0)?;
        meta.end()
    }
}

impl<E: Serialize> Serialize for Page<'_, E> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let now = Instant::now().to_string();
        let links = [
            Some(Link("self", self.self_link)),
            self.next_link.map(|next| Link("next", next)),
        ];
        let mut bundle = s.serialize_map(None)?;
        bundle.serialize_entry("resourceType", "Bundle")?;
        bundle.serialize_entry("id", &uuid::Uuid::new_v4().to_string())?;
        if !self.history {
            bundle.serialize_entry("meta", &LastUpdated(&now))?;
        }
        bundle.serialize_entry("type", if self.history { "history" } else { "searchset" })?;
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
        let page = Page::searchset(
            3,
            "http://x/Appointment?_count=1",
            Some("http://x/Appointment?_count=1&_page_after=t"),
            vec![SearchEntry {
                full_url: "http://x/Appointment/1".into(),
                resource: raw,
                mode: SearchMode::Match,
            }],
        );
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

        let history = Page::history(
            1,
            "http://x/Appointment/1/_history",
            None,
            vec![HistoryEntry {
                full_url: "http://x/Appointment/1/_history/1".into(),
                resource: raw,
            }],
        );
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
