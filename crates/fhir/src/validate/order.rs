//! Puts findings in document order, so a sender reads them top to bottom like their payload.
//!
//! The walker and the resource rules find issues in different passes; instead of threading one
//! order through all of them, each issue is placed by where its first expression points in the
//! JSON: a parent before its children, siblings in the order the sender wrote them, and a
//! missing element after its parent's present ones. Ties keep the order they were found in.

use serde_json::Value;

use crate::issue::Issue;

pub fn in_document_order(resource: &Value, issues: Vec<Issue>) -> Vec<Issue> {
    let mut keyed: Vec<(Vec<usize>, Issue)> = issues
        .into_iter()
        .map(|issue| {
            (
                issue
                    .expression
                    .first()
                    .map(|e| position(resource, e))
                    .unwrap_or_default(),
                issue,
            )
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0)); // stable: ties keep discovery order
    keyed.into_iter().map(|(_, issue)| issue).collect()
}

/// The path through the document to the element an expression such as
/// `Appointment.participant[1].actor` names, as property positions and array indexes.
fn position(resource: &Value, expression: &str) -> Vec<usize> {
    let mut key = Vec::new();
    let mut current = Some(resource);
    for segment in expression.split('.').skip(1) {
        let (name, index) = split_index(segment);
        let Some(object) = current.and_then(Value::as_object) else {
            break;
        };
        key.push(
            object
                .keys()
                .position(|k| k == name)
                .unwrap_or(object.len()),
        );
        let mut next = object.get(name);
        if let Some(i) = index {
            key.push(i);
            next = next.and_then(|v| v.get(i));
        }
        // A primitive's `id`/`extension` live in its `_name` sibling.
        if next.is_some_and(|v| !v.is_object()) {
            let sibling = object.get(&format!("_{name}"));
            next = match index {
                Some(i) => sibling.and_then(|v| v.get(i)),
                None => sibling,
            };
        }
        current = next;
    }
    key
}

/// `participant[1]` → (`participant`, Some(1)).
fn split_index(segment: &str) -> (&str, Option<usize>) {
    match segment.strip_suffix(']').and_then(|s| s.split_once('[')) {
        Some((name, index)) => (name, index.parse().ok()),
        None => (segment, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::IssueType;
    use serde_json::json;

    #[test]
    fn orders_parents_first_then_siblings_as_written_then_missing() {
        let doc = json!({"resourceType": "Appointment", "status": "x", "participant": [{"status": "y"}, {"actor": {}}]});
        let at = |e: &str| Issue::error(IssueType::Value, e).at(e);
        let issues = vec![
            at("Appointment.start"),
            at("Appointment.participant[1].actor"),
            at("Appointment.participant[0].status"),
            at("Appointment.status"),
            at("Appointment"),
        ];
        let ordered: Vec<String> = in_document_order(&doc, issues)
            .into_iter()
            .map(|i| i.diagnostics)
            .collect();
        assert_eq!(
            ordered,
            [
                "Appointment",
                "Appointment.status",
                "Appointment.participant[0].status",
                "Appointment.participant[1].actor",
                "Appointment.start"
            ]
        );
    }

    #[test]
    fn primitive_extensions_sort_where_the_primitive_is() {
        let doc = json!({"resourceType": "Slot", "_status": {"extension": [{}]}, "status": "free", "comment": "c"});
        assert_eq!(position(&doc, "Slot.status.extension[0]"), vec![2, 0, 0]);
        assert_eq!(position(&doc, "Slot.comment"), vec![3]);
    }
}
