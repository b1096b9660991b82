//! The pointer rules: base FHIR R4 DocumentReference structure plus what the National Record
//! Locator demands of a pointer (digest §5.14), and the values the Registry indexes.
//!
//! Checking and extracting are one pass on purpose: a pointer that passes the rules always
//! yields its [`PointerKeys`], so no later code has to re-read or trust the JSON. Diagnostics
//! name the element and the rule, never a value from the pointer.

use bars_fhir::headers::ODS_SYSTEM;
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use bars_fhir::resource::reference_id;
use bars_fhir::validate;
use bars_fhir::{Issue, IssueType, NhsNumber};
use serde_json::Value;

use crate::store::PointerKeys;

/// The identifier system of the BaRS appointment a pointer points at.
pub const BARS_IDENTIFIER_SYSTEM: &str = "https://fhir.nhs.uk/Id/BaRS-Identifier";

/// The identifier system of the service that holds the appointment (its DoS service id).
pub const DOS_SERVICE_SYSTEM: &str = "https://fhir.nhs.uk/Id/dos-service-id";
/// SNOMED CT, as pointers name their type.
pub const SNOMED: &str = "http://snomed.info/sct";
/// The misspelling of [`SNOMED`] the BaRS guides print (1.1.6 and 1.5.0 alike); pointers that
/// use it are the same type (delta section 3.2).
pub const SNOMED_MISPRINT: &str = "https://snomed.info/ict";

/// Which BaRS Core version's pointer rules a write is held to, by the `Accept` version of the
/// request that carries it: BaRS made a pointer's identifiers and period mandatory in Core
/// 1.3 (delta section 3.2), so a 1.1.x writer is held to the rules it was written for and a
/// newer one to the newer rules; both are stored and served alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointerRules {
    /// Core 1.1.6: NRL's rules.
    Core116,
    /// Core 1.5.0: also `identifier` BaRS-Identifier and dos-service-id, and
    /// `context.period` with `start` and `end`.
    Core150,
}

impl PointerRules {
    /// The rules of the version an `Accept` `version=` names (the closest of the two); a
    /// request without one is held to the older rules.
    pub fn for_accept(version: Option<&str>) -> PointerRules {
        let newer = version
            .and_then(|v| bars_booking::CoreVersion::negotiate(v, &bars_booking::CoreVersion::ALL))
            .is_some_and(|v| v == bars_booking::CoreVersion::V1_5_0);
        if newer {
            PointerRules::Core150
        } else {
            PointerRules::Core116
        }
    }
}

/// A type system as the Registry keys it: the guides' misprint read as SNOMED CT.
pub fn normalise_type_system(system: &str) -> &str {
    if system.eq_ignore_ascii_case(SNOMED_MISPRINT) {
        SNOMED
    } else {
        system
    }
}

/// The `relatesTo.code` values NRL accepts (R4's four plus R5's `incorporates`, `summarizes`).
pub const RELATES_TO_CODES: [&str; 6] = [
    "replaces",
    "transforms",
    "signs",
    "appends",
    "incorporates",
    "summarizes",
];

/// Longest ODS code accepted; real ones are 3 to 6 characters.
const MAX_ODS_LEN: usize = 16;

const ROOT: &str = "DocumentReference";

/// A pointer that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPointer {
    pub keys: PointerKeys,
    /// The id of the pointer this one replaces (`relatesTo` with code `replaces`), if any.
    pub replaces: Option<String>,
}

/// Checks a pointer against the base R4 structure and the NRL rules; on failure returns every
/// finding, base structure first.
pub fn check(resource: &Value) -> Result<CheckedPointer, Vec<Issue>> {
    check_as(resource, PointerRules::Core116)
}

/// [`check`] under the rules of a version.
pub fn check_as(resource: &Value, version: PointerRules) -> Result<CheckedPointer, Vec<Issue>> {
    let mut issues: Vec<Issue> = validate::document_reference(resource)
        .into_iter()
        .filter(Issue::is_error)
        .collect();
    let mut nrl = Vec::new();
    let custodian = custodian(resource, &mut nrl);
    let subject = subject(resource, &mut nrl);
    let type_token = type_token(resource, &mut nrl);
    let category_token = category_token(resource, &mut nrl);
    require_present(resource, "status", &mut nrl);
    require_content(resource, &mut nrl);
    let replaces = relates_to(resource, &mut nrl);
    if version == PointerRules::Core150 {
        core_150(resource, &mut nrl);
    }
    // The base walker already reports some of the same elements (content, relatesTo.code):
    // keep one finding per element.
    for issue in nrl {
        let already = issues
            .iter()
            .any(|known| known.expression == issue.expression);
        if !already {
            issues.push(issue);
        }
    }
    match (custodian, subject, type_token, category_token, replaces) {
        (
            Some(custodian),
            Some(subject),
            Some(type_token),
            Some(category_token),
            Some(replaces),
        ) if issues.is_empty() => Ok(CheckedPointer {
            keys: PointerKeys {
                custodian,
                subject,
                type_token,
                category_token,
                appointment_id: appointment_id(resource),
            },
            replaces,
        }),
        _ if issues.is_empty() => Err(vec![
            Issue::error(
                IssueType::Invalid,
                "the DocumentReference is not a valid pointer",
            )
            .at(ROOT),
        ]),
        _ => Err(issues),
    }
}

/// On update, the elements that identify a pointer must not change (NRL: id, subject,
/// custodian and type are immutable; the id is checked against the URL separately).
pub fn immutable_changes(existing: &PointerKeys, proposed: &PointerKeys) -> Vec<Issue> {
    let mut issues = Vec::new();
    let rule = |element: &str| {
        Issue::error(
            IssueType::BusinessRule,
            format!(
                "{element} cannot be changed on update; delete the pointer and create a new one"
            ),
        )
        .at(format!("{ROOT}.{element}"))
    };
    if existing.subject != proposed.subject {
        issues.push(rule("subject"));
    }
    if !existing.custodian.eq_ignore_ascii_case(&proposed.custodian) {
        issues.push(rule("custodian"));
    }
    if existing.type_token != proposed.type_token {
        issues.push(rule("type"));
    }
    issues
}

/// A FHIR id (`[A-Za-z0-9\-\.]{1,64}`); pointer ids are `<ODS>-<uuid>` but any FHIR id is read.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// An ODS code as the Registry keys it: letters and digits only, compared upper-case.
pub fn normalise_ods(code: &str) -> Option<String> {
    let ok =
        (1..=MAX_ODS_LEN).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| code.to_ascii_uppercase())
}

fn required(path: &str) -> Issue {
    Issue::error(IssueType::Required, format!("{path} is required")).at(format!("{ROOT}.{path}"))
}

fn wrong(path: &str, rule: impl Into<String>) -> Issue {
    Issue::error(IssueType::Value, rule.into()).at(format!("{ROOT}.{path}"))
}

fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn require_present(resource: &Value, element: &str, issues: &mut Vec<Issue>) {
    if resource.get(element).is_none_or(Value::is_null) {
        issues.push(required(element));
    }
}

/// `<element>.identifier.{system,value}`, with the system NRL prescribes for that element.
fn identifier<'a>(
    resource: &'a Value,
    element: &str,
    system: &str,
    issues: &mut Vec<Issue>,
) -> Option<&'a str> {
    let Some(reference) = resource.get(element).filter(|v| !v.is_null()) else {
        issues.push(required(element));
        return None;
    };
    let Some(id) = reference.get("identifier").filter(|v| v.is_object()) else {
        issues.push(required(&format!("{element}.identifier")));
        return None;
    };
    let found_system = non_empty_str(id.get("system"));
    let value = non_empty_str(id.get("value"));
    match found_system {
        None => issues.push(required(&format!("{element}.identifier.system"))),
        Some(s) if s != system => issues.push(wrong(
            &format!("{element}.identifier.system"),
            format!("{element}.identifier.system must be {system}"),
        )),
        Some(_) => {}
    }
    if value.is_none() {
        issues.push(required(&format!("{element}.identifier.value")));
    }
    match found_system {
        Some(s) if s == system => value,
        _ => None,
    }
}

fn custodian(resource: &Value, issues: &mut Vec<Issue>) -> Option<String> {
    let code = identifier(resource, "custodian", ODS_SYSTEM, issues)?;
    let normalised = normalise_ods(code);
    if normalised.is_none() {
        issues.push(wrong(
            "custodian.identifier.value",
            "custodian.identifier.value must be an ODS code (letters and digits only)",
        ));
    }
    normalised
}

fn subject(resource: &Value, issues: &mut Vec<Issue>) -> Option<NhsNumber> {
    let value = identifier(resource, "subject", NHS_NUMBER_SYSTEM, issues)?;
    match NhsNumber::parse(value) {
        Ok(nhs) => Some(nhs),
        Err(e) => {
            issues.push(wrong(
                "subject.identifier.value",
                format!("subject.identifier.value is not a valid NHS number: {e}"),
            ));
            None
        }
    }
}

/// `system|code` of a Coding, reporting a missing half.
fn coding_token(coding: &Value, path: &str, issues: &mut Vec<Issue>) -> Option<String> {
    let system = non_empty_str(coding.get("system"));
    let code = non_empty_str(coding.get("code"));
    if system.is_none() {
        issues.push(required(&format!("{path}.system")));
    }
    if code.is_none() {
        issues.push(required(&format!("{path}.code")));
    }
    Some(format!("{}|{}", system?, code?))
}

/// The pointer type is keyed on its first coding, as NRL does.
fn type_token(resource: &Value, issues: &mut Vec<Issue>) -> Option<String> {
    let Some(concept) = resource.get("type").filter(|v| !v.is_null()) else {
        issues.push(required("type"));
        return None;
    };
    let Some(first) = concept
        .get("coding")
        .and_then(Value::as_array)
        .and_then(|codings| codings.first())
    else {
        issues.push(required("type.coding"));
        return None;
    };
    let token = coding_token(first, "type.coding[0]", issues)?;
    let (system, code) = token.split_once('|')?;
    Some(format!("{}|{code}", normalise_type_system(system)))
}

/// What Core 1.5.0 adds (delta section 3.2): the BaRS-Identifier (the appointment's id) and
/// the dos-service-id (the service holding it, which senders route by), and a period with the
/// appointment's start and end.
fn core_150(resource: &Value, issues: &mut Vec<Issue>) {
    let identifiers: Vec<&Value> = resource
        .get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    for system in [BARS_IDENTIFIER_SYSTEM, DOS_SERVICE_SYSTEM] {
        let present = identifiers.iter().any(|i| {
            i.get("system")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case(system))
                && non_empty_str(i.get("value")).is_some()
        });
        if !present {
            issues.push(
                Issue::error(
                    IssueType::Required,
                    format!("BaRS 1.5.0: an identifier with the system {system} is required"),
                )
                .at(format!("{ROOT}.identifier")),
            );
        }
    }
    for bound in ["start", "end"] {
        if non_empty_str(resource.pointer(&format!("/context/period/{bound}"))).is_none() {
            issues.push(
                Issue::error(
                    IssueType::Required,
                    format!(
                        "BaRS 1.5.0: context.period.{bound} (the appointment's {bound}) is required"
                    ),
                )
                .at(format!("{ROOT}.context.period.{bound}")),
            );
        }
    }
}

/// NRL: exactly one category, carrying exactly one coding.
fn category_token(resource: &Value, issues: &mut Vec<Issue>) -> Option<String> {
    let Some(categories) = resource.get("category").filter(|v| !v.is_null()) else {
        issues.push(required("category"));
        return None;
    };
    let Some(categories) = categories.as_array() else {
        // The base walker reports the shape.
        return None;
    };
    if categories.len() != 1 {
        issues.push(wrong("category", "exactly one category is allowed"));
        return None;
    }
    let codings = categories[0].get("coding").and_then(Value::as_array);
    match codings.map(Vec::as_slice) {
        None | Some([]) => {
            issues.push(required("category[0].coding"));
            None
        }
        Some([only]) => coding_token(only, "category[0].coding[0]", issues),
        Some(_) => {
            issues.push(wrong(
                "category[0].coding",
                "the category must carry exactly one coding",
            ));
            None
        }
    }
}

fn require_content(resource: &Value, issues: &mut Vec<Issue>) {
    let present = resource
        .get("content")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if !present {
        issues.push(required("content"));
    }
}

/// Checks every `relatesTo`; returns the id a `replaces` relation names (`Some(None)` when there
/// is none), or `None` when the relations are unusable.
fn relates_to(resource: &Value, issues: &mut Vec<Issue>) -> Option<Option<String>> {
    let Some(relations) = resource.get("relatesTo").and_then(Value::as_array) else {
        return Some(None);
    };
    let before = issues.len();
    let mut replaces = Vec::new();
    for (i, relation) in relations.iter().enumerate() {
        let path = format!("relatesTo[{i}]");
        match non_empty_str(relation.get("code")) {
            None => issues.push(required(&format!("{path}.code"))),
            Some(code) if !RELATES_TO_CODES.contains(&code) => issues.push(wrong(
                &format!("{path}.code"),
                format!("{path}.code must be one of {}", RELATES_TO_CODES.join(", ")),
            )),
            Some("replaces") => match replaced_id(relation) {
                Some(id) if is_valid_id(id) => replaces.push(id.to_string()),
                Some(_) => issues.push(wrong(
                    &format!("{path}.target.identifier.value"),
                    format!("{path}.target.identifier.value must be a pointer id"),
                )),
                None => issues.push(required(&format!("{path}.target.identifier.value"))),
            },
            Some(_) => {}
        }
    }
    if replaces.len() > 1 {
        issues.push(wrong(
            "relatesTo",
            "a pointer can replace only one other pointer",
        ));
    }
    (issues.len() == before).then(|| replaces.pop())
}

/// The replaced pointer's id: `target.identifier.value`, or a `DocumentReference/<id>` reference.
fn replaced_id(relation: &Value) -> Option<&str> {
    let target = relation.get("target")?;
    non_empty_str(target.pointer("/identifier/value")).or_else(|| {
        non_empty_str(target.get("reference")).and_then(|r| reference_id(r, "DocumentReference"))
    })
}

fn appointment_id(resource: &Value) -> Option<String> {
    resource
        .get("identifier")?
        .as_array()?
        .iter()
        .find(|id| id.get("system").and_then(Value::as_str) == Some(BARS_IDENTIFIER_SYSTEM))
        .and_then(|id| non_empty_str(id.get("value")))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const FIXTURE: &str = include_str!(
        "../../../fixtures/bars-api-examples/examples__document_reference__POST-body.json"
    );

    fn pointer() -> Value {
        serde_json::from_str(FIXTURE).unwrap()
    }

    fn without(element: &str) -> Value {
        let mut p = pointer();
        p.as_object_mut().map(|o| o.shift_remove(element));
        p
    }

    fn with(path: &str, value: Value) -> Value {
        let mut p = pointer();
        if let Some(slot) = p.pointer_mut(path) {
            *slot = value;
        } else {
            let (parent, key) = path.rsplit_once('/').unwrap();
            let parent = if parent.is_empty() {
                &mut p
            } else {
                p.pointer_mut(parent).unwrap()
            };
            parent.as_object_mut().unwrap().insert(key.into(), value);
        }
        p
    }

    #[track_caller]
    fn refused(resource: &Value, code: IssueType, expression: &str) -> Vec<Issue> {
        let issues = check(resource).expect_err("the pointer should be refused");
        assert!(
            issues
                .iter()
                .any(|i| i.code == code && i.expression.iter().any(|e| e == expression)),
            "expected {code} at {expression}, got {issues:#?}"
        );
        for issue in &issues {
            assert!(!issue.diagnostics.contains("9693893123"), "{issue}");
        }
        issues
    }

    #[test]
    fn the_official_example_is_a_valid_pointer() {
        let checked = check(&pointer()).unwrap();
        assert_eq!(checked.keys.custodian, "RGT");
        assert_eq!(checked.keys.subject.as_str(), "9693893123");
        assert_eq!(
            checked.keys.type_token,
            "http://snomed.info/sct|749001000000101"
        );
        assert_eq!(
            checked.keys.category_token,
            "http://snomed.info/sct|419891008"
        );
        assert_eq!(checked.keys.appointment_id.as_deref(), Some("GL0-DZOqD39"));
        assert_eq!(checked.replaces, None);
    }

    #[test]
    fn the_nrl_required_elements_are_required() {
        for element in [
            "custodian",
            "type",
            "status",
            "subject",
            "category",
            "content",
        ] {
            refused(
                &without(element),
                IssueType::Required,
                &format!("DocumentReference.{element}"),
            );
        }
        // The base walker already refuses an empty array (ele-1); it is reported once.
        refused(
            &with("/content", json!([])),
            IssueType::Structure,
            "DocumentReference.content",
        );
    }

    #[test]
    fn each_missing_element_is_reported_once() {
        let issues = check(&without("content")).unwrap_err();
        let content = issues
            .iter()
            .filter(|i| i.expression == ["DocumentReference.content"])
            .count();
        assert_eq!(content, 1, "{issues:#?}");
    }

    #[test]
    fn custodian_must_be_an_ods_identifier() {
        refused(
            &with(
                "/custodian/identifier/system",
                json!("https://example.org/org"),
            ),
            IssueType::Value,
            "DocumentReference.custodian.identifier.system",
        );
        refused(
            &with("/custodian/identifier/value", json!("RG T")),
            IssueType::Value,
            "DocumentReference.custodian.identifier.value",
        );
        refused(
            &with("/custodian", json!({"reference": "Organization/RGT"})),
            IssueType::Required,
            "DocumentReference.custodian.identifier",
        );
        let lower = check(&with("/custodian/identifier/value", json!("rgt"))).unwrap();
        assert_eq!(lower.keys.custodian, "RGT");
    }

    #[test]
    fn subject_must_be_a_valid_nhs_number() {
        refused(
            &with(
                "/subject/identifier/system",
                json!("https://example.org/mrn"),
            ),
            IssueType::Value,
            "DocumentReference.subject.identifier.system",
        );
        refused(
            &with("/subject/identifier/value", json!("9693893124")),
            IssueType::Value,
            "DocumentReference.subject.identifier.value",
        );
        refused(
            &with("/subject/identifier/value", json!("96938931")),
            IssueType::Value,
            "DocumentReference.subject.identifier.value",
        );
        refused(
            &with("/subject/identifier", json!({"system": NHS_NUMBER_SYSTEM})),
            IssueType::Required,
            "DocumentReference.subject.identifier.value",
        );
    }

    #[test]
    fn exactly_one_category_coding() {
        let two_codings = json!([{"coding": [
            {"system": "http://snomed.info/sct", "code": "419891008"},
            {"system": "http://snomed.info/sct", "code": "734163000"}
        ]}]);
        refused(
            &with("/category", two_codings),
            IssueType::Value,
            "DocumentReference.category[0].coding",
        );
        let two_categories = json!([
            {"coding": [{"system": "http://snomed.info/sct", "code": "419891008"}]},
            {"coding": [{"system": "http://snomed.info/sct", "code": "734163000"}]}
        ]);
        refused(
            &with("/category", two_categories),
            IssueType::Value,
            "DocumentReference.category",
        );
        refused(
            &with("/category", json!([{"text": "Appointment"}])),
            IssueType::Required,
            "DocumentReference.category[0].coding",
        );
        refused(
            &with("/category/0/coding/0", json!({"code": "419891008"})),
            IssueType::Required,
            "DocumentReference.category[0].coding[0].system",
        );
    }

    #[test]
    fn type_needs_a_system_and_code() {
        refused(
            &with("/type", json!({"text": "Appointment"})),
            IssueType::Required,
            "DocumentReference.type.coding",
        );
        refused(
            &with(
                "/type/coding/0",
                json!({"system": "http://snomed.info/sct"}),
            ),
            IssueType::Required,
            "DocumentReference.type.coding[0].code",
        );
    }

    #[test]
    fn relates_to_codes_and_the_replaced_pointer() {
        for code in RELATES_TO_CODES {
            let relation = json!([{"code": code, "target": {"identifier": {"value": "RGT-1"}}}]);
            let checked = check(&with("/relatesTo", relation)).unwrap();
            assert_eq!(checked.replaces.is_some(), code == "replaces");
        }
        refused(
            &with(
                "/relatesTo",
                json!([{"code": "supersedes", "target": {"identifier": {"value": "RGT-1"}}}]),
            ),
            IssueType::Value,
            "DocumentReference.relatesTo[0].code",
        );
        refused(
            &with(
                "/relatesTo",
                json!([{"code": "replaces", "target": {"display": "the old one"}}]),
            ),
            IssueType::Required,
            "DocumentReference.relatesTo[0].target.identifier.value",
        );
        refused(
            &with(
                "/relatesTo",
                json!([{"code": "replaces", "target": {"identifier": {"value": "not an id!"}}}]),
            ),
            IssueType::Value,
            "DocumentReference.relatesTo[0].target.identifier.value",
        );
        refused(
            &with(
                "/relatesTo",
                json!([
                    {"code": "replaces", "target": {"identifier": {"value": "RGT-1"}}},
                    {"code": "replaces", "target": {"identifier": {"value": "RGT-2"}}}
                ]),
            ),
            IssueType::Value,
            "DocumentReference.relatesTo",
        );
        let by_reference =
            json!([{"code": "replaces", "target": {"reference": "DocumentReference/RGT-7"}}]);
        assert_eq!(
            check(&with("/relatesTo", by_reference))
                .unwrap()
                .replaces
                .as_deref(),
            Some("RGT-7")
        );
    }

    #[test]
    fn base_structure_is_checked_too() {
        refused(
            &with("/resourceType", json!("Appointment")),
            IssueType::Structure,
            "DocumentReference",
        );
        refused(
            &with("/madeUp", json!(true)),
            IssueType::Structure,
            "DocumentReference.madeUp",
        );
        refused(
            &with("/status", json!("active")),
            IssueType::Value,
            "DocumentReference.status",
        );
        refused(&json!([]), IssueType::Structure, "DocumentReference");
    }

    #[test]
    fn immutable_elements() {
        let existing = check(&pointer()).unwrap().keys;
        assert!(immutable_changes(&existing, &existing).is_empty());
        let mut lower = existing.clone();
        lower.custodian = "rgt".into();
        assert!(immutable_changes(&existing, &lower).is_empty());
        let mut moved = existing.clone();
        moved.subject = NhsNumber::parse("9434765919").unwrap();
        moved.custodian = "V4T0L".into();
        moved.type_token = "http://snomed.info/sct|3457005".into();
        let issues = immutable_changes(&existing, &moved);
        let at: Vec<&str> = issues.iter().map(|i| i.expression[0].as_str()).collect();
        assert_eq!(
            at,
            [
                "DocumentReference.subject",
                "DocumentReference.custodian",
                "DocumentReference.type"
            ]
        );
        assert!(issues.iter().all(|i| i.code == IssueType::BusinessRule));
    }

    #[test]
    fn ids_and_ods_codes() {
        assert!(is_valid_id("V4T0L-fb40f2f3-97dc-4aca-8c37-ae6a638518b4"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id(&"a".repeat(65)));
        assert!(!is_valid_id("RGT/1"));
        assert!(!is_valid_id("RGT 1"));
        assert_eq!(normalise_ods("y05868").as_deref(), Some("Y05868"));
        assert_eq!(normalise_ods("RG-T"), None);
        assert_eq!(normalise_ods(""), None);
    }
}
