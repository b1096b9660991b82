//! The BaRS partial-resource PATCH (digest §2.8): the body is an Appointment holding only the
//! elements to change. Not a FHIR-standard patch format, but what the BaRS examples send.

use serde_json::Value;

use super::PatchError;
use crate::issue::IssueType;

/// Members of the partial that this function never applies: the caller checks `id` against the
/// URL and owns `meta` (version, lastUpdated); `resourceType` only identifies the body.
const NOT_APPLIED: &[&str] = &["resourceType", "id", "_id", "meta"];

/// The BaRS partial-resource PATCH: `partial` is a JSON object with resourceType equal to the
/// target's; every top-level element present in `partial` replaces the target's element
/// wholesale (arrays replaced, not merged); `resourceType`, `id` and `meta` in the partial are
/// ignored here (the caller checks id against the URL and owns meta). A `null` value removes
/// the element (merge-patch style).
///
/// An element's primitive extensions (`_start` for `start`) are part of the element, so
/// replacing or removing `start` also drops a stored `_start` unless the partial supplies one.
pub fn partial_resource(target: &Value, partial: &Value) -> Result<Value, PatchError> {
    let Value::Object(target_members) = target else {
        return Err(PatchError::failed(
            IssueType::Processing,
            "the stored resource is not a JSON object",
        ));
    };
    let resource_type = target_members
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let partial_members = match partial {
        Value::Object(members)
            if members.get("resourceType").and_then(Value::as_str) == Some(resource_type) =>
        {
            members
        }
        _ => {
            return Err(PatchError::malformed(
                IssueType::Invalid,
                format!(
                    "the PATCH body is not {} {resource_type}",
                    article(resource_type)
                ),
            ));
        }
    };
    let mut result = target_members.clone();
    for (name, value) in partial_members
        .iter()
        .filter(|(name, _)| !NOT_APPLIED.contains(&name.as_str()))
    {
        let shadow = format!("_{name}");
        if !name.starts_with('_') && !partial_members.contains_key(&shadow) {
            result.shift_remove(&shadow);
        }
        if value.is_null() {
            result.shift_remove(name);
        } else {
            result.insert(name.clone(), value.clone());
        }
    }
    let result = Value::Object(result);
    super::check_size(&result)?;
    Ok(result)
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['A', 'E', 'I', 'O', 'U', 'a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stored() -> Value {
        json!({
            "resourceType": "Appointment",
            "id": "a1",
            "meta": {"versionId": "3", "lastUpdated": "2024-01-01T00:00:00+00:00"},
            "status": "booked",
            "start": "2024-01-01T09:00:00+00:00",
            "_start": {"extension": [{"url": "http://e/x", "valueString": "y"}]},
            "slot": [{"reference": "Slot/1"}, {"reference": "Slot/2"}],
            "comment": "keep me"
        })
    }

    #[test]
    fn present_elements_replace_wholesale_and_others_stay() {
        let partial = json!({"resourceType": "Appointment", "slot": [{"reference": "Slot/9"}], "description": "new"});
        let patched = partial_resource(&stored(), &partial).unwrap();
        assert_eq!(
            patched["slot"],
            json!([{"reference": "Slot/9"}]),
            "arrays are replaced, not merged"
        );
        assert_eq!(patched["description"], json!("new"));
        assert_eq!(patched["comment"], json!("keep me"));
        assert_eq!(patched["start"], stored()["start"]);
    }

    #[test]
    fn null_removes_an_element() {
        let patched = partial_resource(
            &stored(),
            &json!({"resourceType": "Appointment", "comment": null, "start": null}),
        )
        .unwrap();
        assert!(patched.get("comment").is_none());
        assert!(patched.get("start").is_none() && patched.get("_start").is_none());
        // Removing something absent is fine.
        assert!(
            partial_resource(
                &stored(),
                &json!({"resourceType": "Appointment", "nothing": null})
            )
            .is_ok()
        );
    }

    #[test]
    fn replacing_a_primitive_drops_its_old_extensions_unless_given() {
        let patched = partial_resource(
            &stored(),
            &json!({"resourceType": "Appointment", "start": "2024-02-01T09:00:00+00:00"}),
        )
        .unwrap();
        assert!(patched.get("_start").is_none());
        let given = json!({"id": "s"});
        let patched = partial_resource(&stored(), &json!({"resourceType": "Appointment", "start": "2024-02-01T09:00:00+00:00", "_start": given})).unwrap();
        assert_eq!(patched["_start"], json!({"id": "s"}));
    }

    #[test]
    fn resource_type_id_and_meta_are_not_applied() {
        let partial = json!({"resourceType": "Appointment", "id": "other", "meta": {"versionId": "99"}, "status": "cancelled"});
        let patched = partial_resource(&stored(), &partial).unwrap();
        assert_eq!(patched["id"], json!("a1"));
        assert_eq!(patched["meta"], stored()["meta"]);
        assert_eq!(patched["status"], json!("cancelled"));
    }

    #[test]
    fn member_order_is_kept() {
        let patched = partial_resource(
            &json!({"resourceType": "Appointment", "a": 1, "b": 2, "c": 3}),
            &json!({"resourceType": "Appointment", "b": 20, "d": 4}),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&patched).unwrap(),
            r#"{"resourceType":"Appointment","a":1,"b":20,"c":3,"d":4}"#
        );
    }

    #[test]
    fn the_body_must_be_the_same_resource_type() {
        for body in [
            json!({"resourceType": "Patient"}),
            json!({"status": "booked"}),
            json!([]),
            json!("Appointment"),
            json!(null),
            json!({"resourceType": 1}),
        ] {
            let err = partial_resource(&stored(), &body).unwrap_err();
            assert_eq!(
                err,
                PatchError::malformed(IssueType::Invalid, "the PATCH body is not an Appointment"),
                "{body}"
            );
        }
    }
}
