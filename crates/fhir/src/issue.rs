//! OperationOutcome issues: what went wrong, in FHIR's own vocabulary.

use std::fmt;

/// FHIR R4 `IssueType` (`http://hl7.org/fhir/issue-type`), the required binding of
/// `OperationOutcome.issue.code`. Only valid codes can be expressed, so the non-FHIR values seen in
/// some official BaRS examples (`"400"`, `"too costly"`) can never be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueType {
    Invalid,
    Structure,
    Required,
    Value,
    Invariant,
    Security,
    Login,
    Unknown,
    Expired,
    Forbidden,
    Suppressed,
    Processing,
    NotSupported,
    Duplicate,
    MultipleMatches,
    NotFound,
    Deleted,
    TooLong,
    CodeInvalid,
    Extension,
    TooCostly,
    BusinessRule,
    Conflict,
    Transient,
    LockError,
    NoStore,
    Exception,
    Timeout,
    Incomplete,
    Throttled,
    Informational,
}

impl IssueType {
    pub const ALL: [IssueType; 31] = [
        IssueType::Invalid,
        IssueType::Structure,
        IssueType::Required,
        IssueType::Value,
        IssueType::Invariant,
        IssueType::Security,
        IssueType::Login,
        IssueType::Unknown,
        IssueType::Expired,
        IssueType::Forbidden,
        IssueType::Suppressed,
        IssueType::Processing,
        IssueType::NotSupported,
        IssueType::Duplicate,
        IssueType::MultipleMatches,
        IssueType::NotFound,
        IssueType::Deleted,
        IssueType::TooLong,
        IssueType::CodeInvalid,
        IssueType::Extension,
        IssueType::TooCostly,
        IssueType::BusinessRule,
        IssueType::Conflict,
        IssueType::Transient,
        IssueType::LockError,
        IssueType::NoStore,
        IssueType::Exception,
        IssueType::Timeout,
        IssueType::Incomplete,
        IssueType::Throttled,
        IssueType::Informational,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IssueType::Invalid => "invalid",
            IssueType::Structure => "structure",
            IssueType::Required => "required",
            IssueType::Value => "value",
            IssueType::Invariant => "invariant",
            IssueType::Security => "security",
            IssueType::Login => "login",
            IssueType::Unknown => "unknown",
            IssueType::Expired => "expired",
            IssueType::Forbidden => "forbidden",
            IssueType::Suppressed => "suppressed",
            IssueType::Processing => "processing",
            IssueType::NotSupported => "not-supported",
            IssueType::Duplicate => "duplicate",
            IssueType::MultipleMatches => "multiple-matches",
            IssueType::NotFound => "not-found",
            IssueType::Deleted => "deleted",
            IssueType::TooLong => "too-long",
            IssueType::CodeInvalid => "code-invalid",
            IssueType::Extension => "extension",
            IssueType::TooCostly => "too-costly",
            IssueType::BusinessRule => "business-rule",
            IssueType::Conflict => "conflict",
            IssueType::Transient => "transient",
            IssueType::LockError => "lock-error",
            IssueType::NoStore => "no-store",
            IssueType::Exception => "exception",
            IssueType::Timeout => "timeout",
            IssueType::Incomplete => "incomplete",
            IssueType::Throttled => "throttled",
            IssueType::Informational => "informational",
        }
    }

    pub fn parse(code: &str) -> Option<IssueType> {
        IssueType::ALL.into_iter().find(|t| t.as_str() == code)
    }
}

impl fmt::Display for IssueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }
}

/// One finding: severity, FHIR issue type, a human explanation that never contains patient data,
/// and the FHIRPath expressions of the elements concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    pub code: IssueType,
    pub diagnostics: String,
    pub expression: Vec<String>,
}

impl Issue {
    pub fn error(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Error,
            code,
            diagnostics: diagnostics.into(),
            expression: Vec::new(),
        }
    }

    pub fn warning(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Issue {
            severity: Severity::Warning,
            code,
            diagnostics: diagnostics.into(),
            expression: Vec::new(),
        }
    }

    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression.push(expression.into());
        self
    }

    pub fn is_error(&self) -> bool {
        matches!(self.severity, Severity::Error | Severity::Fatal)
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.expression.is_empty() {
            write!(f, "{}", self.diagnostics)
        } else {
            write!(f, "{} ({})", self.diagnostics, self.expression.join(", "))
        }
    }
}
