//! The one place errors become responses: every failure leaves as a FHIR OperationOutcome
//! with an HTTP status, a FHIR issue code and a machine-readable coding.

use axum::response::{IntoResponse, Response};
use bars_fhir::codes::{BarsCode, HTTP_ERROR_CODES_SYSTEM};
use bars_fhir::outcome::{Coding, operation_outcome};
use bars_fhir::{Issue, IssueType, Severity};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::media::FHIR_JSON;

/// An error on its way to the caller. Boxed so that `Result<_, ApiError>` stays small on the
/// success path; fields are reached through `Deref`.
#[derive(Debug, Clone)]
pub struct ApiError(Box<ErrorDetail>);

#[derive(Debug, Clone)]
pub struct ErrorDetail {
    /// The OperationOutcome's id, fixed when the error is made so that a stored copy and the
    /// response are the same document.
    pub id: String,
    pub status: StatusCode,
    /// The machine-readable code (`issue.details.coding`): a BaRS HTTP error code, or a
    /// registry (Spine) code.
    pub coding: Coding,
    pub issue: IssueType,
    /// A clear cause for a developer. Never contains patient-identifying data.
    pub diagnostics: String,
    pub expression: Vec<String>,
    /// Further findings reported with the main one (e.g. every validation error at once).
    pub more: Vec<Issue>,
    pub headers: HeaderMap,
}

impl ApiError {
    /// An error with a BaRS code; the HTTP status is the one the code is documented with.
    pub fn bars(code: BarsCode, issue: IssueType, diagnostics: impl Into<String>) -> Self {
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let coding = Coding::new(
            HTTP_ERROR_CODES_SYSTEM,
            code.as_str(),
            Some(format!("{} - {}", status.as_u16(), code.as_str())),
        );
        ApiError::coded(status, coding, issue, diagnostics)
    }

    /// An error coded in another system (the registry's Spine codes).
    pub fn coded(
        status: StatusCode,
        coding: Coding,
        issue: IssueType,
        diagnostics: impl Into<String>,
    ) -> Self {
        ApiError(Box::new(ErrorDetail {
            id: uuid::Uuid::new_v4().to_string(),
            status,
            coding,
            issue,
            diagnostics: diagnostics.into(),
            expression: Vec::new(),
            more: Vec::new(),
            headers: HeaderMap::new(),
        }))
    }

    /// An error built from validation findings: the first error leads, the rest follow.
    pub fn from_issues(code: BarsCode, issues: &[Issue]) -> Self {
        let mut errors = issues.iter().filter(|i| i.is_error());
        let Some(first) = errors.next() else {
            return ApiError::bars(code, IssueType::Invalid, "the resource is not valid");
        };
        let mut e = ApiError::bars(code, first.code, first.diagnostics.clone());
        e.expression = first.expression.clone();
        e.more = errors.cloned().collect();
        e
    }

    pub fn at(mut self, expression: impl Into<String>) -> Self {
        self.expression.push(expression.into());
        self
    }

    /// The same code sent with another status (BaRS reuses codes: `REC_BAD_REQUEST` also
    /// travels with 413), the display following the status as the BaRS examples write it.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self.coding.display = Some(format!("{} - {}", status.as_u16(), self.coding.code));
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    /// 405 with the `Allow` header listing what the path does accept.
    pub fn method_not_allowed(code: BarsCode, allow: &str) -> Self {
        ApiError::bars(
            code,
            IssueType::NotSupported,
            format!("this path accepts only {allow}"),
        )
        .with_header(header::ALLOW, allow)
    }

    /// The OperationOutcome body.
    pub fn outcome(&self) -> serde_json::Value {
        let mut issues = vec![Issue {
            severity: Severity::Error,
            code: self.issue,
            diagnostics: self.diagnostics.clone(),
            expression: self.expression.clone(),
        }];
        issues.extend(self.more.iter().cloned());
        let mut outcome = operation_outcome(Some(&self.coding), &issues);
        outcome["id"] = serde_json::Value::String(self.id.clone());
        outcome
    }

    pub fn code(&self) -> &str {
        &self.coding.code
    }
}

impl std::ops::Deref for ApiError {
    type Target = ErrorDetail;
    fn deref(&self) -> &ErrorDetail {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ErrorDetail {
        &mut self.0
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}: {}",
            self.status.as_u16(),
            self.coding.code,
            self.issue,
            self.diagnostics
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.outcome().to_string();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
            body,
        )
            .into_response();
        response.headers_mut().extend(self.headers.clone());
        // Handlers' logging middleware reads the error from here, inside the request span.
        response.extensions_mut().insert(ErrorSummary {
            code: self.coding.code.clone(),
            issue: self.issue,
            diagnostics: self.diagnostics.clone(),
        });
        response
    }
}

/// What an error response was, for the request log (kept as a response extension).
#[derive(Debug, Clone)]
pub struct ErrorSummary {
    pub code: String,
    pub issue: IssueType,
    pub diagnostics: String,
}
