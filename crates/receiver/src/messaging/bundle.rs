//! Reading a message Bundle: its entries, the MessageHeader, and references between entries.
//!
//! Nothing here trusts the shape of the input: every element is looked up, never indexed or
//! unwrapped, so a malformed bundle is an answerable 400 and never a panic.

use std::collections::HashMap;

use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_http::ApiError;
use serde_json::{Map, Value};

pub type Object = Map<String, Value>;

/// 400 `REC_BAD_REQUEST` with an issue code and a FHIRPath-ish location.
pub fn bad(issue: IssueType, diagnostics: impl Into<String>, at: impl Into<String>) -> ApiError {
    ApiError::bars(BarsCode::RecBadRequest, issue, diagnostics).at(at)
}

/// One `Bundle.entry`, as far as it could be read.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub index: usize,
    pub full_url: Option<&'a str>,
    pub resource: Option<&'a Object>,
}

impl<'a> Entry<'a> {
    pub fn resource_type(&self) -> Option<&'a str> {
        self.resource?.get("resourceType")?.as_str()
    }

    pub fn is(&self, resource_type: &str) -> bool {
        self.resource_type() == Some(resource_type)
    }

    /// The resource's own `id`, when it has a non-empty one.
    pub fn id(&self) -> Option<&'a str> {
        self.resource?.get("id")?.as_str().filter(|s| !s.is_empty())
    }
}

/// A message Bundle opened for reading.
#[derive(Debug)]
pub struct Message<'a> {
    pub bundle: &'a Object,
    pub entries: Vec<Entry<'a>>,
    /// First entry of each fullUrl.
    by_url: HashMap<&'a str, usize>,
    /// fullUrls that appear more than once (bdl-7).
    pub duplicate_urls: usize,
}

impl<'a> Message<'a> {
    /// Opens a body as a Bundle: it must be a JSON object with `resourceType` Bundle, and
    /// `entry`, when present, an array.
    pub fn read(body: &'a Value) -> Result<Message<'a>, ApiError> {
        let Some(bundle) = body.as_object() else {
            return Err(bad(
                IssueType::Structure,
                "the body must be a Bundle",
                "Bundle",
            ));
        };
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            return Err(bad(
                IssueType::Structure,
                "the body of $process-message must be a Bundle of type message",
                "Bundle",
            ));
        }
        let raw: &[Value] = match bundle.get("entry") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(a)) => a,
            Some(_) => {
                return Err(bad(
                    IssueType::Structure,
                    "Bundle.entry must be an array",
                    "Bundle.entry",
                ));
            }
        };
        let entries: Vec<Entry<'a>> = raw
            .iter()
            .enumerate()
            .map(|(index, e)| Entry {
                index,
                full_url: e
                    .get("fullUrl")
                    .and_then(Value::as_str)
                    .filter(|u| !u.is_empty()),
                resource: e.get("resource").and_then(Value::as_object),
            })
            .collect();
        let mut by_url = HashMap::new();
        let mut duplicate_urls = 0;
        for e in &entries {
            if let Some(url) = e.full_url {
                if by_url.contains_key(url) {
                    duplicate_urls += 1;
                } else {
                    by_url.insert(url, e.index);
                }
            }
        }
        Ok(Message {
            bundle,
            entries,
            by_url,
            duplicate_urls,
        })
    }

    pub fn str_at(&self, key: &str) -> Option<&'a str> {
        self.bundle.get(key)?.as_str()
    }

    /// The MessageHeader: FHIR bdl-12 puts it first. Without one nothing else can be judged.
    pub fn header(&self) -> Result<&'a Object, ApiError> {
        let Some(first) = self.entries.first() else {
            return Err(bad(
                IssueType::Required,
                "a message Bundle must have entries, the first a MessageHeader",
                "Bundle.entry",
            ));
        };
        match first.resource {
            Some(r) if first.is("MessageHeader") => Ok(r),
            _ => Err(bad(
                IssueType::Invariant,
                "bdl-12: the first entry of a message Bundle must be a MessageHeader",
                "Bundle.entry[0].resource",
            )),
        }
    }

    /// The entry a reference points to: by `fullUrl` (how `urn:uuid:` references resolve), or
    /// a relative `Type/id` to an entry of that type and id.
    pub fn resolve(&self, reference: &str) -> Option<Entry<'a>> {
        if let Some(i) = self.by_url.get(reference) {
            return self.entries.get(*i).copied();
        }
        let (ty, id) = reference.split_once('/')?;
        if id.is_empty() || id.contains('/') {
            return None;
        }
        self.entries
            .iter()
            .find(|e| e.is(ty) && e.id() == Some(id))
            .copied()
    }

    /// The entry `holder.reference` points to, when it names one.
    pub fn resolve_at(&self, holder: Option<&Value>) -> Option<Entry<'a>> {
        let reference = holder?.get("reference")?.as_str()?;
        self.resolve(reference)
    }

    pub fn count(&self, resource_type: &str) -> usize {
        self.entries.iter().filter(|e| e.is(resource_type)).count()
    }
}

/// `reference` of a Reference-valued element, when it is a string.
pub fn reference_of(holder: Option<&Value>) -> Option<&str> {
    holder?.get("reference")?.as_str()
}

/// The codings of a CodeableConcept-valued element.
pub fn codings(concept: Option<&Value>) -> impl Iterator<Item = &Object> {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
}

/// The code of a Coding, when its system is `system`.
pub fn code_in<'v>(coding: &'v Object, system: &str) -> Option<&'v str> {
    (coding.get("system").and_then(Value::as_str) == Some(system))
        .then(|| coding.get("code").and_then(Value::as_str))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resolves_by_full_url_and_by_type_and_id() {
        let body = json!({"resourceType": "Bundle", "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "MessageHeader"}},
            {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Slot", "id": "s1"}},
            {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Slot", "id": "s2"}},
            {"resource": "not an object"}
        ]});
        let m = Message::read(&body).unwrap();
        assert_eq!(m.resolve("urn:uuid:2").unwrap().id(), Some("s1"));
        assert_eq!(m.resolve("Slot/s2").unwrap().index, 2);
        assert!(m.resolve("Slot/s3").is_none());
        assert!(m.resolve("urn:uuid:9").is_none());
        assert_eq!(m.duplicate_urls, 1);
        assert_eq!(m.count("Slot"), 2);
        assert!(m.entries[3].resource.is_none());
        assert!(m.header().is_ok());
    }

    #[test]
    fn junk_is_refused_without_panicking() {
        for body in [
            json!([]),
            json!("text"),
            json!({"resourceType": "Appointment"}),
            json!({"resourceType": "Bundle", "entry": {}}),
        ] {
            let e = Message::read(&body).unwrap_err();
            assert_eq!(e.issue, IssueType::Structure, "{body}");
        }
        let empty = json!({"resourceType": "Bundle", "entry": []});
        assert_eq!(
            Message::read(&empty).unwrap().header().unwrap_err().issue,
            IssueType::Required
        );
        let not_first = json!({"resourceType": "Bundle", "entry": [
            {"resource": {"resourceType": "Appointment"}},
            {"resource": {"resourceType": "MessageHeader"}}
        ]});
        assert_eq!(
            Message::read(&not_first)
                .unwrap()
                .header()
                .unwrap_err()
                .issue,
            IssueType::Invariant
        );
    }
}
