//! Building and reading `OperationOutcome` resources.

use serde_json::{Map, Value, json};

use crate::issue::{Issue, IssueType, Severity};

pub const OPERATION_OUTCOME_PROFILE: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-OperationOutcome";

/// A coded reason attached to every issue of an outcome (`issue.details.coding`): a BaRS HTTP
/// error code for the receiver and proxy, a Spine code for the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coding {
    pub system: String,
    pub code: String,
    pub display: Option<String>,
}

impl Coding {
    pub fn new(
        system: impl Into<String>,
        code: impl Into<String>,
        display: Option<String>,
    ) -> Self {
        Coding {
            system: system.into(),
            code: code.into(),
            display,
        }
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("system".into(), Value::String(self.system.clone()));
        m.insert("code".into(), Value::String(self.code.clone()));
        if let Some(d) = &self.display {
            m.insert("display".into(), Value::String(d.clone()));
        }
        Value::Object(m)
    }
}

/// Renders an OperationOutcome with a fresh id. Every issue carries `details` when a coding is
/// given, so a sender reading any issue finds the machine-readable code.
pub fn operation_outcome(details: Option<&Coding>, issues: &[Issue]) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|issue| {
            let mut m = Map::new();
            m.insert(
                "severity".into(),
                Value::String(issue.severity.as_str().into()),
            );
            m.insert("code".into(), Value::String(issue.code.as_str().into()));
            if let Some(coding) = details {
                m.insert("details".into(), json!({ "coding": [coding.to_json()] }));
            }
            if !issue.diagnostics.is_empty() {
                m.insert(
                    "diagnostics".into(),
                    Value::String(issue.diagnostics.clone()),
                );
            }
            if !issue.expression.is_empty() {
                m.insert(
                    "expression".into(),
                    Value::Array(
                        issue
                            .expression
                            .iter()
                            .cloned()
                            .map(Value::String)
                            .collect(),
                    ),
                );
            }
            Value::Object(m)
        })
        .collect();
    json!({
        "resourceType": "OperationOutcome",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": { "profile": [OPERATION_OUTCOME_PROFILE] },
        "issue": issues,
    })
}

/// An informational outcome for a successful operation that returns no resource.
pub fn informational(details: Option<&Coding>, diagnostics: &str) -> Value {
    let issue = Issue {
        severity: Severity::Information,
        code: IssueType::Informational,
        diagnostics: diagnostics.into(),
        expression: vec![],
    };
    operation_outcome(details, &[issue])
}

/// What an OperationOutcome says, read leniently: the proxy inspects receiver errors and the
/// sender client explains them, and official peers emit non-FHIR issue codes such as `"400"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutcomeSummary {
    pub issue_code: Option<String>,
    pub coding_system: Option<String>,
    pub coding_code: Option<String>,
    pub diagnostics: Option<String>,
}

pub fn summarise(value: &Value) -> Option<OutcomeSummary> {
    if value.get("resourceType")?.as_str()? != "OperationOutcome" {
        return None;
    }
    let first = value.get("issue")?.as_array()?.first()?;
    let coding = first.pointer("/details/coding/0");
    Some(OutcomeSummary {
        issue_code: first
            .get("code")
            .and_then(Value::as_str)
            .map(str::to_string),
        coding_system: coding
            .and_then(|c| c.get("system"))
            .and_then(Value::as_str)
            .map(str::to_string),
        coding_code: coding
            .and_then(|c| c.get("code"))
            .and_then(Value::as_str)
            .map(str::to_string),
        diagnostics: first
            .get("diagnostics")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_reads_back() {
        let coding = Coding::new(
            crate::codes::HTTP_ERROR_CODES_SYSTEM,
            "REC_CONFLICT",
            Some("409 - REC_CONFLICT".into()),
        );
        let oo = operation_outcome(
            Some(&coding),
            &[Issue::error(IssueType::Conflict, "slot taken").at("Appointment.slot[0]")],
        );
        assert_eq!(oo["issue"][0]["code"], "conflict");
        assert_eq!(oo["issue"][0]["expression"][0], "Appointment.slot[0]");
        let s = summarise(&oo).unwrap();
        assert_eq!(s.coding_code.as_deref(), Some("REC_CONFLICT"));
        assert_eq!(s.issue_code.as_deref(), Some("conflict"));
    }
}
