//! The three PATCH forms a BaRS Receiver accepts on `PATCH /Appointment/{id}` (digest §2.8):
//!
//! * [`json_patch`] - RFC 6902 JSON Patch (`application/json-patch+json`), FHIR-standard;
//! * [`fhirpath_patch`] - FHIRPath Patch (a `Parameters` resource), FHIR-standard;
//! * [`partial_resource`] - the partial Appointment the BaRS examples send, not a FHIR format.
//!
//! Every form is a pure function from the stored resource and the request body to the patched
//! resource. Each works on its own copy, so a patch either applies completely or not at all and
//! the caller's value is never touched. The result still has to go through the whole PUT pipeline
//! (validation, state machine, slots); these functions only guarantee that the resource keeps its
//! `resourceType` and `id`, because the URL the patch arrived on names both.

use std::fmt;

use serde_json::Value;

use crate::issue::IssueType;

mod equality;
mod eval;
mod expr;
mod fhirpath_patch;
mod parameters;
mod partial;
mod pointer;
mod rfc6902;
#[cfg(test)]
mod tests;

pub use equality::json_equal;
pub use fhirpath_patch::fhirpath_patch;
pub use partial::partial_resource;
pub use rfc6902::json_patch;

/// Why a patch could not be applied. `Malformed` means the patch document itself is wrong
/// (HTTP 400); `Failed` means it is well-formed but cannot be applied to this resource
/// (HTTP 422, e.g. a failing JSON Patch `test`, a path that matches nothing for replace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchError {
    Malformed {
        code: IssueType,
        diagnostics: String,
    },
    Failed {
        code: IssueType,
        diagnostics: String,
    },
}

impl PatchError {
    fn malformed(code: IssueType, diagnostics: impl Into<String>) -> Self {
        PatchError::Malformed {
            code,
            diagnostics: diagnostics.into(),
        }
    }

    fn failed(code: IssueType, diagnostics: impl Into<String>) -> Self {
        PatchError::Failed {
            code,
            diagnostics: diagnostics.into(),
        }
    }

    /// The `OperationOutcome.issue.code` to report.
    pub fn code(&self) -> IssueType {
        match self {
            PatchError::Malformed { code, .. } | PatchError::Failed { code, .. } => *code,
        }
    }

    /// A human explanation naming the operation and path at fault, never the values involved
    /// (they may be patient data).
    pub fn diagnostics(&self) -> &str {
        match self {
            PatchError::Malformed { diagnostics, .. } | PatchError::Failed { diagnostics, .. } => {
                diagnostics
            }
        }
    }

    /// True when the patch document itself is wrong (400), false when it does not fit this
    /// resource (422).
    pub fn is_malformed(&self) -> bool {
        matches!(self, PatchError::Malformed { .. })
    }
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.diagnostics())
    }
}

impl std::error::Error for PatchError {}

/// Refuses a result whose `resourceType` or `id` differs from the stored resource's: the URL names
/// both, so a patch that changed them would silently turn the request into a different one.
/// Only the final result is compared; intermediate operations may move these elements around.
fn ensure_identity_kept(before: &Value, after: &Value) -> Result<(), PatchError> {
    if before.get("resourceType") != after.get("resourceType") {
        return Err(PatchError::failed(
            IssueType::Invariant,
            "resourceType cannot be changed",
        ));
    }
    if before.get("id") != after.get("id") {
        return Err(PatchError::failed(
            IssueType::Invariant,
            "id cannot be changed",
        ));
    }
    check_size(after)
}

/// Most elements (objects, arrays and values) a patched resource may hold: a booking holds a
/// few hundred, so this only stops a patch that multiplies the resource (JSON Patch `copy` of
/// the document into itself doubles it each time).
pub const MAX_RESULT_ELEMENTS: usize = 100_000;

/// Deepest nesting a patched resource may have. JSON is read back with a nesting limit of 128,
/// so a deeper result could be stored but never read again.
pub const MAX_RESULT_DEPTH: usize = 64;

/// Refuses a result too large or too deeply nested to store and read back.
fn check_size(result: &Value) -> Result<(), PatchError> {
    let mut budget = MAX_RESULT_ELEMENTS;
    if !within(result, 0, &mut budget) {
        return Err(PatchError::failed(
            IssueType::TooLong,
            format!(
                "the patched resource would be larger than {MAX_RESULT_ELEMENTS} elements or nested more than {MAX_RESULT_DEPTH} deep"
            ),
        ));
    }
    Ok(())
}

/// Walks `value` spending one unit of `budget` per element; false as soon as the budget or the
/// depth limit is exceeded, so the cost of the check is bounded too.
fn within(value: &Value, depth: usize, budget: &mut usize) -> bool {
    if depth > MAX_RESULT_DEPTH || *budget == 0 {
        return false;
    }
    *budget -= 1;
    match value {
        Value::Array(items) => items.iter().all(|v| within(v, depth + 1, budget)),
        Value::Object(members) => members.values().all(|v| within(v, depth + 1, budget)),
        _ => true,
    }
}

/// The number of elements in `value`, counting at most `limit`.
fn elements(value: &Value, limit: usize) -> usize {
    let mut budget = limit;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        if budget == 0 {
            return limit;
        }
        budget -= 1;
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(members) => stack.extend(members.values()),
            _ => {}
        }
    }
    limit - budget
}

/// Shortens text taken from a request before it goes into diagnostics, so a hostile body cannot
/// make error messages arbitrarily large.
fn clip(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    if text.chars().count() <= MAX_CHARS {
        text.to_string()
    } else {
        let mut clipped: String = text.chars().take(MAX_CHARS).collect();
        clipped.push('…');
        clipped
    }
}
