//! Bundle builders for search results and messages.

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

/// One entry of a searchset: the resource with its absolute URL and why it is there.
#[derive(Debug, Clone)]
pub struct SearchEntry {
    pub full_url: String,
    pub resource: Value,
    pub mode: SearchMode,
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

/// Builds one page of a `history` Bundle: versions newest first, `total` counting every
/// version (not just this page's), and a `next` link while older versions follow.
pub fn history(
    total: u64,
    self_link: &str,
    next_link: Option<&str>,
    versions: Vec<(String, Value)>,
) -> Value {
    let mut links = vec![json!({ "relation": "self", "url": self_link })];
    if let Some(next) = next_link {
        links.push(json!({ "relation": "next", "url": next }));
    }
    let entries: Vec<Value> = versions
        .into_iter()
        .map(|(full_url, resource)| json!({ "fullUrl": full_url, "resource": resource }))
        .collect();
    json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": "history",
        "timestamp": Instant::now().to_string(),
        "total": total,
        "link": links,
        "entry": entries,
    })
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
}
