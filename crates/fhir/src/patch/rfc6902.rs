//! RFC 6902 JSON Patch (`application/json-patch+json`).
//!
//! The whole document is checked before anything is applied, so a malformed tenth operation is
//! reported as malformed (400) rather than as whatever the first nine happened to do. Operations
//! then run in order on a copy; the first failure abandons the copy.

use serde_json::{Map, Value};

use super::equality::json_equal;
use super::pointer::{self, ArrayPosition, Pointer};
use super::{MAX_RESULT_ELEMENTS, PatchError, clip, elements, ensure_identity_kept};
use crate::issue::IssueType;

/// RFC 6902 JSON Patch (`application/json-patch+json`): ops add, remove, replace, move, copy,
/// test, applied in order to a copy; any failure leaves the target untouched (atomic).
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let operations = parse_patch(patch)?;
    let mut result = target.clone();
    // `copy` is the one operation that can grow the document faster than the patch is long;
    // the copies are counted as they happen so a doubling patch stops at the limit, not at
    // the end of memory.
    // Counted at the first copy: a patch without one (nearly all) never pays for it.
    let mut size = None;
    for operation in &operations {
        if let Operation::Copy { from, .. } = operation {
            let copied = existing(&result, from, "copy")?;
            let size = size.get_or_insert_with(|| elements(&result, MAX_RESULT_ELEMENTS + 1));
            *size += elements(copied, MAX_RESULT_ELEMENTS + 1);
            if *size > MAX_RESULT_ELEMENTS {
                return Err(PatchError::failed(
                    IssueType::TooLong,
                    format!(
                        "the patched resource would be larger than {MAX_RESULT_ELEMENTS} elements"
                    ),
                ));
            }
        }
        apply(&mut result, operation)?;
    }
    ensure_identity_kept(target, &result)?;
    Ok(result)
}

/// One validated operation; values are borrowed from the patch document.
#[derive(Debug)]
enum Operation<'a> {
    Add { path: Pointer, value: &'a Value },
    Remove { path: Pointer },
    Replace { path: Pointer, value: &'a Value },
    Move { from: Pointer, path: Pointer },
    Copy { from: Pointer, path: Pointer },
    Test { path: Pointer, value: &'a Value },
}

fn parse_patch(patch: &Value) -> Result<Vec<Operation<'_>>, PatchError> {
    let Value::Array(entries) = patch else {
        return Err(PatchError::malformed(
            IssueType::Structure,
            "a JSON Patch document must be a JSON array of operations",
        ));
    };
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| parse_operation(index + 1, entry))
        .collect()
}

/// Validates one operation object. Members an operation does not use are ignored (RFC 6902 §4).
fn parse_operation(number: usize, entry: &Value) -> Result<Operation<'_>, PatchError> {
    let Value::Object(members) = entry else {
        return Err(PatchError::malformed(
            IssueType::Structure,
            format!("JSON Patch operation {number} is not a JSON object"),
        ));
    };
    let op = string_member(members, "op", number)?;
    let path = Pointer::parse(string_member(members, "path", number)?)?;
    let operation = match op {
        "add" => Operation::Add {
            path,
            value: value_member(members, number)?,
        },
        "remove" => Operation::Remove { path },
        "replace" => Operation::Replace {
            path,
            value: value_member(members, number)?,
        },
        "test" => Operation::Test {
            path,
            value: value_member(members, number)?,
        },
        "copy" => Operation::Copy {
            from: Pointer::parse(string_member(members, "from", number)?)?,
            path,
        },
        "move" => {
            let from = Pointer::parse(string_member(members, "from", number)?)?;
            if path.is_strictly_inside(&from) {
                return Err(PatchError::malformed(
                    IssueType::Invalid,
                    format!(
                        "JSON Patch operation {number}: cannot move {from} into one of its own children"
                    ),
                ));
            }
            Operation::Move { from, path }
        }
        other => {
            return Err(PatchError::malformed(
                IssueType::Invalid,
                format!(
                    "JSON Patch operation {number}: unknown op '{}'",
                    clip(other)
                ),
            ));
        }
    };
    Ok(operation)
}

fn string_member<'a>(
    members: &'a Map<String, Value>,
    name: &str,
    number: usize,
) -> Result<&'a str, PatchError> {
    match members.get(name) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(PatchError::malformed(
            IssueType::Structure,
            format!("JSON Patch operation {number}: '{name}' must be a string"),
        )),
        None => Err(PatchError::malformed(
            IssueType::Invalid,
            format!("JSON Patch operation {number} has no '{name}'"),
        )),
    }
}

/// `value` may legitimately be `null`; only its absence is an error.
fn value_member(members: &Map<String, Value>, number: usize) -> Result<&Value, PatchError> {
    members.get("value").ok_or_else(|| {
        PatchError::malformed(
            IssueType::Invalid,
            format!("JSON Patch operation {number} has no 'value'"),
        )
    })
}

fn apply(doc: &mut Value, operation: &Operation<'_>) -> Result<(), PatchError> {
    match operation {
        Operation::Add { path, value } => add(doc, path, (*value).clone()),
        Operation::Remove { path } => remove(doc, path, "remove").map(drop),
        Operation::Replace { path, value } => replace(doc, path, (*value).clone()),
        Operation::Move { from, path } => move_value(doc, from, path),
        Operation::Copy { from, path } => {
            let value = existing(doc, from, "copy")?.clone();
            add(doc, path, value)
        }
        Operation::Test { path, value } => test(doc, path, value),
    }
}

/// RFC 6902 §4.1: the container must exist; an object member is created or replaced, an array
/// element is inserted (index up to the length, or `-` to append); an empty path replaces the
/// whole document.
fn add(doc: &mut Value, path: &Pointer, value: Value) -> Result<(), PatchError> {
    let Some((last, container_tokens)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    let container =
        pointer::get_mut(doc, container_tokens)?.ok_or_else(|| not_found("add", path))?;
    match container {
        Value::Object(members) => {
            members.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = match pointer::array_position(last)? {
                ArrayPosition::At(index) => index,
                ArrayPosition::End => items.len(),
            };
            if index > items.len() {
                return Err(PatchError::failed(
                    IssueType::Processing,
                    format!("add: index out of range at {path}"),
                ));
            }
            items.insert(index, value);
            Ok(())
        }
        _ => Err(PatchError::failed(
            IssueType::Processing,
            format!("add: the parent of {path} is neither an object nor an array"),
        )),
    }
}

/// RFC 6902 §4.2: the location must exist. Removing the whole resource is never a patch.
fn remove(doc: &mut Value, path: &Pointer, operation: &str) -> Result<Value, PatchError> {
    let Some((last, container_tokens)) = path.split_last() else {
        return Err(PatchError::failed(
            IssueType::Processing,
            format!("{operation}: cannot remove the whole resource"),
        ));
    };
    let container =
        pointer::get_mut(doc, container_tokens)?.ok_or_else(|| not_found(operation, path))?;
    let removed = match container {
        // shift_remove keeps the order of the remaining members (preserve_order).
        Value::Object(members) => members.shift_remove(last.as_str()),
        Value::Array(items) => match pointer::array_position(last)? {
            ArrayPosition::At(index) if index < items.len() => Some(items.remove(index)),
            _ => None,
        },
        _ => None,
    };
    removed.ok_or_else(|| not_found(operation, path))
}

/// RFC 6902 §4.3: like remove then add, but the location must already exist.
fn replace(doc: &mut Value, path: &Pointer, value: Value) -> Result<(), PatchError> {
    let slot = pointer::get_mut(doc, &path.tokens)?.ok_or_else(|| not_found("replace", path))?;
    *slot = value;
    Ok(())
}

/// RFC 6902 §4.4: remove from `from`, then add at `path` (indexes in `path` refer to the document
/// after the removal). Moving a location onto itself is a no-op once it is known to exist.
fn move_value(doc: &mut Value, from: &Pointer, path: &Pointer) -> Result<(), PatchError> {
    if from == path {
        return existing(doc, from, "move").map(drop);
    }
    let value = remove(doc, from, "move")?;
    add(doc, path, value)
}

/// RFC 6902 §4.6: the location must exist and hold a value equal to `expected`.
fn test(doc: &Value, path: &Pointer, expected: &Value) -> Result<(), PatchError> {
    match pointer::get(doc, &path.tokens)? {
        Some(actual) if json_equal(actual, expected) => Ok(()),
        _ => Err(PatchError::failed(
            IssueType::Processing,
            format!("test operation failed at {path}"),
        )),
    }
}

fn existing<'a>(doc: &'a Value, path: &Pointer, operation: &str) -> Result<&'a Value, PatchError> {
    pointer::get(doc, &path.tokens)?.ok_or_else(|| not_found(operation, path))
}

fn not_found(operation: &str, path: &Pointer) -> PatchError {
    PatchError::failed(
        IssueType::Processing,
        format!("{operation}: nothing found at {path}"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn patched(doc: Value, patch: Value) -> Value {
        json_patch(&doc, &patch).unwrap()
    }

    fn error(doc: Value, patch: Value) -> PatchError {
        json_patch(&doc, &patch).unwrap_err()
    }

    // RFC 6902 Appendix A, in order.

    #[test]
    fn a1_adding_an_object_member() {
        let doc = patched(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux"}]),
        );
        assert_eq!(doc, json!({"foo": "bar", "baz": "qux"}));
    }

    #[test]
    fn a2_adding_an_array_element() {
        let doc = patched(
            json!({"foo": ["bar", "baz"]}),
            json!([{"op": "add", "path": "/foo/1", "value": "qux"}]),
        );
        assert_eq!(doc, json!({"foo": ["bar", "qux", "baz"]}));
    }

    #[test]
    fn a3_removing_an_object_member() {
        let doc = patched(
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "remove", "path": "/baz"}]),
        );
        assert_eq!(doc, json!({"foo": "bar"}));
    }

    #[test]
    fn a4_removing_an_array_element() {
        let doc = patched(
            json!({"foo": ["bar", "qux", "baz"]}),
            json!([{"op": "remove", "path": "/foo/1"}]),
        );
        assert_eq!(doc, json!({"foo": ["bar", "baz"]}));
    }

    #[test]
    fn a5_replacing_a_value() {
        let doc = patched(
            json!({"baz": "qux", "foo": "bar"}),
            json!([{"op": "replace", "path": "/baz", "value": "boo"}]),
        );
        assert_eq!(doc, json!({"baz": "boo", "foo": "bar"}));
    }

    #[test]
    fn a6_moving_a_value() {
        let doc = json!({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}});
        let doc = patched(
            doc,
            json!([{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}]),
        );
        assert_eq!(
            doc,
            json!({"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}})
        );
    }

    #[test]
    fn a7_moving_an_array_element() {
        let doc = patched(
            json!({"foo": ["all", "grass", "cows", "eat"]}),
            json!([{"op": "move", "from": "/foo/1", "path": "/foo/3"}]),
        );
        assert_eq!(doc, json!({"foo": ["all", "cows", "eat", "grass"]}));
    }

    #[test]
    fn a8_testing_a_value_success() {
        let doc = json!({"baz": "qux", "foo": ["a", 2, "c"]});
        let patch = json!([{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}]);
        assert_eq!(patched(doc.clone(), patch), doc);
    }

    #[test]
    fn a9_testing_a_value_error() {
        let err = error(
            json!({"baz": "qux"}),
            json!([{"op": "test", "path": "/baz", "value": "bar"}]),
        );
        assert_eq!(
            err,
            PatchError::failed(IssueType::Processing, "test operation failed at /baz")
        );
    }

    #[test]
    fn a10_adding_a_nested_member_object() {
        let doc = patched(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/child", "value": {"grandchild": {}}}]),
        );
        assert_eq!(doc, json!({"foo": "bar", "child": {"grandchild": {}}}));
    }

    #[test]
    fn a11_ignoring_unrecognized_elements() {
        let doc = patched(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}]),
        );
        assert_eq!(doc, json!({"foo": "bar", "baz": "qux"}));
    }

    #[test]
    fn a12_adding_to_a_nonexistent_target() {
        let err = error(
            json!({"foo": "bar"}),
            json!([{"op": "add", "path": "/baz/bat", "value": "qux"}]),
        );
        assert!(!err.is_malformed());
        assert_eq!(err.code(), IssueType::Processing);
    }

    #[test]
    fn a14_tilde_escape_ordering() {
        let doc = json!({"/": 9, "~1": 10});
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "test", "path": "/~01", "value": 10}])
            ),
            doc
        );
    }

    #[test]
    fn a15_comparing_strings_and_numbers() {
        let err = error(
            json!({"/": 9, "~1": 10}),
            json!([{"op": "test", "path": "/~01", "value": "10"}]),
        );
        assert_eq!(err.diagnostics(), "test operation failed at /~01");
    }

    #[test]
    fn a16_adding_an_array_value() {
        let doc = patched(
            json!({"foo": ["bar"]}),
            json!([{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}]),
        );
        assert_eq!(doc, json!({"foo": ["bar", ["abc", "def"]]}));
    }

    // Further RFC 6902 rules.

    #[test]
    fn add_replaces_an_existing_member_in_place() {
        let doc = patched(
            json!({"a": 1, "b": 2, "c": 3}),
            json!([{"op": "add", "path": "/b", "value": 20}]),
        );
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"a":1,"b":20,"c":3}"#
        );
    }

    #[test]
    fn add_at_array_length_appends_and_beyond_fails() {
        let doc = patched(
            json!({"a": [1]}),
            json!([{"op": "add", "path": "/a/1", "value": 2}]),
        );
        assert_eq!(doc, json!({"a": [1, 2]}));
        let err = error(
            json!({"a": [1]}),
            json!([{"op": "add", "path": "/a/2", "value": 2}]),
        );
        assert_eq!(err.code(), IssueType::Processing);
        assert!(!err.is_malformed());
    }

    #[test]
    fn add_with_null_value_is_allowed() {
        assert_eq!(
            patched(
                json!({}),
                json!([{"op": "add", "path": "/a", "value": null}])
            ),
            json!({"a": null})
        );
    }

    #[test]
    fn add_at_root_replaces_the_document() {
        assert_eq!(
            patched(
                json!({"a": 1}),
                json!([{"op": "add", "path": "", "value": {"b": 2}}])
            ),
            json!({"b": 2})
        );
    }

    #[test]
    fn remove_keeps_member_order() {
        let doc = patched(
            json!({"a": 1, "b": 2, "c": 3}),
            json!([{"op": "remove", "path": "/a"}]),
        );
        assert_eq!(serde_json::to_string(&doc).unwrap(), r#"{"b":2,"c":3}"#);
    }

    #[test]
    fn remove_and_replace_of_missing_locations_fail() {
        for patch in [
            json!([{"op": "remove", "path": "/missing"}]),
            json!([{"op": "remove", "path": "/a/5"}]),
            json!([{"op": "remove", "path": "/a/-"}]),
            json!([{"op": "replace", "path": "/missing", "value": 1}]),
            json!([{"op": "replace", "path": "/a/1", "value": 1}]),
            json!([{"op": "move", "from": "/missing", "path": "/b"}]),
            json!([{"op": "copy", "from": "/missing", "path": "/b"}]),
            json!([{"op": "test", "path": "/missing", "value": 1}]),
            json!([{"op": "remove", "path": ""}]),
        ] {
            let err = error(json!({"a": [1]}), patch.clone());
            assert!(!err.is_malformed(), "{patch}");
            assert_eq!(err.code(), IssueType::Processing, "{patch}");
        }
    }

    #[test]
    fn copy_duplicates_a_value() {
        let doc = patched(
            json!({"a": {"b": [1]}}),
            json!([{"op": "copy", "from": "/a/b", "path": "/c"}]),
        );
        assert_eq!(doc, json!({"a": {"b": [1]}, "c": [1]}));
        let doc = patched(
            json!({"a": [1, 2]}),
            json!([{"op": "copy", "from": "/a/1", "path": "/a/0"}]),
        );
        assert_eq!(doc, json!({"a": [2, 1, 2]}));
    }

    #[test]
    fn move_into_own_child_is_malformed_and_onto_itself_is_a_no_op() {
        let err = error(
            json!({"a": {"b": 1}}),
            json!([{"op": "move", "from": "/a", "path": "/a/c"}]),
        );
        assert!(err.is_malformed());
        let doc = json!({"a": {"b": 1}});
        assert_eq!(
            patched(
                doc.clone(),
                json!([{"op": "move", "from": "/a", "path": "/a"}])
            ),
            doc
        );
        // "/ab" is not inside "/a".
        let doc = patched(
            json!({"a": 1}),
            json!([{"op": "move", "from": "/a", "path": "/ab"}]),
        );
        assert_eq!(doc, json!({"ab": 1}));
    }

    #[test]
    fn test_compares_numbers_by_value_and_objects_unordered() {
        let doc = json!({"n": 1, "o": {"x": 1, "y": [true, null]}});
        let patch = json!([
            {"op": "test", "path": "/n", "value": 1.0},
            {"op": "test", "path": "/o", "value": {"y": [true, null], "x": 1}}
        ]);
        assert_eq!(patched(doc.clone(), patch), doc);
        let err = error(
            doc,
            json!([{"op": "test", "path": "/o/y", "value": [null, true]}]),
        );
        assert_eq!(err.diagnostics(), "test operation failed at /o/y");
    }

    #[test]
    fn bad_array_indexes_are_malformed() {
        for path in ["/a/01", "/a/x", "/a/-1"] {
            let err = error(
                json!({"a": [1, 2]}),
                json!([{"op": "replace", "path": path, "value": 0}]),
            );
            assert!(err.is_malformed(), "{path}");
            assert_eq!(err.code(), IssueType::Value);
        }
    }

    #[test]
    fn malformed_documents_are_rejected_before_anything_applies() {
        let cases = [
            (
                json!({"op": "add", "path": "/a", "value": 1}),
                IssueType::Structure,
            ),
            (json!([1]), IssueType::Structure),
            (json!([{"path": "/a"}]), IssueType::Invalid),
            (json!([{"op": "add", "value": 1}]), IssueType::Invalid),
            (json!([{"op": "add", "path": "/a"}]), IssueType::Invalid),
            (json!([{"op": "copy", "path": "/a"}]), IssueType::Invalid),
            (json!([{"op": "jump", "path": "/a"}]), IssueType::Invalid),
            (json!([{"op": 1, "path": "/a"}]), IssueType::Structure),
            (json!([{"op": "remove", "path": 1}]), IssueType::Structure),
            (json!([{"op": "remove", "path": "a"}]), IssueType::Value),
        ];
        for (patch, code) in cases {
            let err = error(json!({"a": 1}), patch.clone());
            assert!(err.is_malformed(), "{patch}");
            assert_eq!(err.code(), code, "{patch}");
        }
        // A failing first operation does not hide a malformed later one.
        let err = error(
            json!({}),
            json!([{"op": "test", "path": "/x", "value": 1}, {"op": "nope", "path": ""}]),
        );
        assert!(err.is_malformed());
    }

    #[test]
    fn empty_patch_returns_the_target_unchanged() {
        assert_eq!(patched(json!({"a": 1}), json!([])), json!({"a": 1}));
    }

    #[test]
    fn a_patch_that_doubles_the_resource_stops_at_the_limit() {
        let doc = json!({"resourceType": "Appointment", "id": "a", "x": [1, 2, 3]});
        // Each copy of the whole document into itself doubles it: 2^60 elements unchecked.
        let ops: Vec<Value> = (0..60)
            .map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")}))
            .collect();
        let e = error(doc.clone(), Value::Array(ops));
        assert_eq!(e.code(), IssueType::TooLong);
        assert!(!e.is_malformed());
        // A few copies are fine.
        let ops: Vec<Value> = (0..3)
            .map(|i| json!({"op": "copy", "from": "/x", "path": format!("/c{i}")}))
            .collect();
        assert_eq!(patched(doc, Value::Array(ops))["c2"], json!([1, 2, 3]));
    }

    #[test]
    fn a_result_nested_too_deeply_to_read_back_is_refused() {
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!([deep]);
        }
        let doc = json!({"resourceType": "Appointment", "id": "a"});
        let e = error(doc, json!([{"op": "add", "path": "/deep", "value": deep}]));
        assert_eq!(e.code(), IssueType::TooLong);
    }
}
