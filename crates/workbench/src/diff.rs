//! What changed between two versions of a resource, as a person reads it: each leaf that was
//! added, removed or changed, by its JSON path (`/slot/0/reference`), with the old and new value.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

fn leaves(value: &Value, path: String, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                leaves(
                    v,
                    format!("{path}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{path}/{i}"), out);
            }
        }
        Value::String(s) => {
            out.insert(path, s.clone());
        }
        other => {
            out.insert(path, other.to_string());
        }
    }
}

/// Every leaf that differs, in path order.
pub fn changes(before: &Value, after: &Value) -> Vec<Change> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    leaves(before, String::new(), &mut a);
    leaves(after, String::new(), &mut b);
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| Change {
            path: p.clone(),
            before: a.get(p).cloned(),
            after: b.get(p).cloned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_what_was_added_removed_and_changed() {
        let v1 = json!({"status": "booked", "slot": [{"reference": "Slot/a"}], "description": "x", "meta": {"versionId": "1"}});
        let v2 = json!({"status": "booked", "slot": [{"reference": "Slot/b"}], "comment": "y", "meta": {"versionId": "2"}});
        let c = changes(&v1, &v2);
        let by_path = |p: &str| c.iter().find(|c| c.path == p).cloned();
        assert_eq!(c.len(), 4, "{c:?}");
        assert_eq!(
            by_path("/slot/0/reference").unwrap().after.as_deref(),
            Some("Slot/b")
        );
        assert_eq!(by_path("/description").unwrap().after, None);
        assert_eq!(by_path("/comment").unwrap().before, None);
        assert_eq!(
            by_path("/meta/versionId").unwrap().before.as_deref(),
            Some("1")
        );
        assert!(changes(&v1, &v1).is_empty());
    }
}
