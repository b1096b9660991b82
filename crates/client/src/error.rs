//! What went wrong, with the BaRS code kept for the record and an explanation in plain words
//! for the person at the screen (BaRS 4.5: codes are for developers; senders translate them).

use std::fmt;

use bars_fhir::outcome::summarise;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BarsError {
    /// BaRS answered with an error.
    Refused {
        status: u16,
        code: Option<String>,
        issue: Option<String>,
        diagnostics: Option<String>,
        content_location: Option<String>,
    },
    /// No usable answer: the proxy could not be reached, or kept failing after the retries.
    Unreachable(String),
    /// The access token could not be obtained.
    Token(String),
    /// The answer could not be understood.
    Unexpected(String),
    /// The change was not sent: what was read shows it cannot apply (read-before-write).
    NotApplicable(String),
}

impl BarsError {
    pub fn refused(status: u16, body: &[u8]) -> BarsError {
        let summary = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| summarise(&v))
            .unwrap_or_default();
        BarsError::Refused {
            status,
            code: summary.coding_code,
            issue: summary.issue_code,
            diagnostics: summary.diagnostics,
            content_location: None,
        }
    }

    /// True for 409 `REC_CONFLICT`/`duplicate`: the request was processed earlier (the answer
    /// to it was lost); it signals success and must never be retried.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, BarsError::Refused { status: 409, issue: Some(i), .. } if i == "duplicate")
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            BarsError::Refused { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            BarsError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A sentence for the user: what happened and what to do.
    pub fn explanation(&self) -> String {
        let BarsError::Refused {
            status,
            code,
            issue,
            diagnostics,
            ..
        } = self
        else {
            return match self {
                BarsError::NotApplicable(why) => why.clone(),
                BarsError::Unreachable(_) => {
                    "BaRS could not be reached. Check the network and try again.".into()
                }
                BarsError::Token(_) => {
                    "This system could not sign in to BaRS. Check its credentials.".into()
                }
                _ => "BaRS gave an answer this system did not understand.".into(),
            };
        };
        let (code, issue) = (
            code.as_deref().unwrap_or(""),
            issue.as_deref().unwrap_or(""),
        );
        match (code, issue) {
            ("REC_CONFLICT", "duplicate") => "This request was already received and processed; it has not been applied twice.".into(),
            ("REC_CONFLICT", _) if *status == 412 => {
                "Someone else changed this appointment at the same moment. Look at the latest details and try again.".into()
            }
            ("REC_CONFLICT", "conflict") if diagnostics.as_deref().is_some_and(|d| d.contains("no longer be changed")) => {
                "The appointment is no longer current (it may already be cancelled or attended), so it cannot be changed.".into()
            }
            ("REC_CONFLICT", "conflict") if diagnostics.as_deref().is_some_and(|d| d.contains("slot")) => {
                "That slot has just been taken or is no longer available. Search again and choose another.".into()
            }
            ("REC_CONFLICT", "conflict") => "The service's copy changed since it was read. Look at the latest details and try again.".into(),
            ("REC_TOO_EARLY", _) => "The same request is still being processed. Wait a moment.".into(),
            ("REC_NOT_FOUND", _) => "The service does not have that appointment or slot.".into(),
            ("PROXY_NOT_FOUND", "multiple-matches") => "The service is listed more than once in the BaRS directory; report this to the BaRS service desk.".into(),
            ("PROXY_NOT_FOUND", _) => "That service is not in the BaRS directory. Check the service identifier.".into(),
            ("REC_UNAUTHORIZED", _) | ("SEND_FORBIDDEN", _) => "Your organisation or software is not allowed to do this at that service.".into(),
            ("SEND_UNAUTHORIZED", _) => "This system's sign-in to BaRS was refused. Check its credentials.".into(),
            ("REC_UNPROCESSABLE_ENTITY", "too-costly") => "The date range is too wide. Search at most 14 days at a time.".into(),
            ("REC_UNPROCESSABLE_ENTITY", "business-rule") => "The service cannot accept this: the patient must be identified by NHS number.".into(),
            ("REC_UNPROCESSABLE_ENTITY", _) => "The service cannot accept this request (for example, it does not offer this use case).".into(),
            ("REC_BAD_REQUEST", _) | ("SEND_BAD_REQUEST", _) | ("PROXY_BAD_REQUEST", _) | ("BAD_REQUEST", _) => {
                "The request was not valid; the details below say what to correct.".into()
            }
            ("REC_TIMEOUT", _) => "The service took too long to answer. Check the appointment before trying again.".into(),
            ("REC_SERVICE_UNAVAILABLE", _) | ("SEND_TOO_MANY_REQUESTS", _) | ("REC_TOO_MANY_REQUESTS", _) => {
                "The service is busy or unavailable. Try again shortly.".into()
            }
            ("REC_SERVER_ERROR", _) => "The service had a problem. Try again later; if it persists, contact the service.".into(),
            ("REC_FORBIDDEN", _) => "The BaRS proxy and the service could not establish a secure connection.".into(),
            _ if *status == 409 => "The appointment can no longer be changed this way (it may already be cancelled).".into(),
            _ => format!("BaRS refused the request (HTTP {status})."),
        }
    }
}

impl fmt::Display for BarsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.explanation())?;
        match self {
            BarsError::Refused {
                status,
                code,
                issue,
                diagnostics,
                ..
            } => {
                write!(
                    f,
                    " [{status} {} {}]",
                    code.as_deref().unwrap_or("-"),
                    issue.as_deref().unwrap_or("-")
                )?;
                if let Some(d) = diagnostics {
                    write!(f, " {d}")?;
                }
                Ok(())
            }
            BarsError::Unreachable(d) | BarsError::Token(d) | BarsError::Unexpected(d) => {
                write!(f, " ({d})")
            }
            BarsError::NotApplicable(_) => Ok(()),
        }
    }
}

impl std::error::Error for BarsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_and_keeps_the_code() {
        let body = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"conflict","details":{"coding":[{"system":"https://fhir.nhs.uk/Codesystem/http-error-codes","code":"REC_CONFLICT"}]},"diagnostics":"slot s1 cannot be booked"}]}"#;
        let e = BarsError::refused(409, body);
        assert_eq!(e.code(), Some("REC_CONFLICT"));
        let text = e.to_string();
        assert!(text.contains("slot has just been taken"), "{text}");
        assert!(text.contains("[409 REC_CONFLICT conflict]"), "{text}");
        let junk = BarsError::refused(502, b"<html>");
        assert!(junk.to_string().contains("502"));
    }
}
