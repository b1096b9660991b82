//! The official toolkit's (TKW) sentinel values, answered in front of the stack's receivers so
//! that a sender can rehearse its error handling as it would against TKW (BaRS 1.5 delta 8.2):
//! a patient whose booking is always refused 404, 409 or 422, a service that always times out
//! (408), an appointment that is not implemented (501), MessageDefinition contexts that fail
//! 401 and 404. Everything else passes to the receiver unchanged.
//!
//! A layer, not receiver code: the receiver stays the one under test elsewhere, and the
//! sentinels are the toolkit's behaviour, not BaRS's.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::headers::TargetIdentifier;
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use bars_http::error::ApiError;
use http::{HeaderName, Method};
use serde::Serialize;
use serde_json::Value;

/// Where a sentinel value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Place {
    /// The NHS number of the patient a booking is for (`POST /Appointment`, `$process-message`).
    BookingPatient,
    /// The DoS service id in `NHSD-Target-Identifier` (every request to it).
    TargetService,
    /// The id in `GET /Appointment/{id}`.
    AppointmentId,
    /// The value of `GET /MessageDefinition?context=...|<value>`.
    MessageDefinitionContext,
}

impl Place {
    pub fn name(self) -> &'static str {
        match self {
            Place::BookingPatient => "patient NHS number of a booking",
            Place::TargetService => "NHSD-Target-Identifier service",
            Place::AppointmentId => "GET /Appointment/{id}",
            Place::MessageDefinitionContext => "GET /MessageDefinition context",
        }
    }
}

/// One sentinel value and the refusal it always produces.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sentinel {
    pub place: Place,
    pub value: &'static str,
    pub status: u16,
    #[serde(skip)]
    pub code: BarsCode,
    #[serde(skip)]
    pub issue: IssueType,
    pub why: &'static str,
}

/// The toolkit's sentinels this stack answers (delta 8.2).
pub const SENTINELS: &[Sentinel] = &[
    Sentinel {
        place: Place::BookingPatient,
        value: "9658499015",
        status: 404,
        code: BarsCode::RecNotFound,
        issue: IssueType::NotFound,
        why: "TKW sentinel: booking for patient 9658499015 is not found",
    },
    Sentinel {
        place: Place::BookingPatient,
        value: "9658499023",
        status: 409,
        code: BarsCode::RecConflict,
        issue: IssueType::Conflict,
        why: "TKW sentinel: booking for patient 9658499023 conflicts",
    },
    Sentinel {
        place: Place::BookingPatient,
        value: "9658499031",
        status: 422,
        code: BarsCode::RecUnprocessableEntity,
        issue: IssueType::BusinessRule,
        why: "TKW sentinel: booking for patient 9658499031 is unprocessable",
    },
    Sentinel {
        place: Place::TargetService,
        value: "2000081230",
        status: 408,
        code: BarsCode::RecTimeout,
        issue: IssueType::Timeout,
        why: "TKW sentinel: service 2000081230 always times out",
    },
    Sentinel {
        place: Place::AppointmentId,
        value: "0d440c22-7f25-4c6c-905d-2213d197d02a",
        status: 501,
        code: BarsCode::RecNotImplemented,
        issue: IssueType::NotSupported,
        why: "TKW sentinel: this appointment read is not implemented",
    },
    Sentinel {
        place: Place::MessageDefinitionContext,
        value: "FAIL0401",
        status: 401,
        code: BarsCode::RecUnauthorized,
        issue: IssueType::Security,
        why: "TKW sentinel: MessageDefinition context FAIL0401 is unauthorised",
    },
    Sentinel {
        place: Place::MessageDefinitionContext,
        value: "FAIL0404",
        status: 404,
        code: BarsCode::RecNotFound,
        issue: IssueType::NotFound,
        why: "TKW sentinel: MessageDefinition context FAIL0404 is not found",
    },
];

/// The toolkit's UserTest services the stack hosts (delta 8.2), with what each answers: slots
/// are published at all but the empty one and the one that times out.
pub const TOOLKIT_SERVICES: &[(&str, &str, bool)] = &[
    ("2000072489", "TKW: free and busy slots", true),
    ("2000073917", "TKW 2: no slots", false),
    ("1503499715", "TKW 3: mandatory-only slot response", true),
    ("2000081230", "TKW 4: always 408", false),
    ("2000011147", "TKW 7: booking and referral receiver", true),
];

/// Every NHS number in a JSON document (a booking's patient, wherever the body puts it).
fn nhs_numbers(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.get("system").and_then(Value::as_str) == Some(NHS_NUMBER_SYSTEM)
                && let Some(v) = map.get("value").and_then(Value::as_str)
            {
                found.push(v.to_string());
            }
            map.values().for_each(|v| nhs_numbers(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| nhs_numbers(v, found)),
        _ => {}
    }
}

/// The sentinel a request hits, given its method, path and query, target and body.
pub fn hit(
    method: &Method,
    path: &str,
    query: &str,
    target: Option<&str>,
    body: &[u8],
) -> Option<&'static Sentinel> {
    SENTINELS.iter().find(|s| match s.place {
        Place::TargetService => target == Some(s.value),
        Place::AppointmentId => {
            *method == Method::GET && path.strip_prefix("/Appointment/") == Some(s.value)
        }
        Place::MessageDefinitionContext => {
            *method == Method::GET
                && path == "/MessageDefinition"
                && percent_encoding::percent_decode_str(query)
                    .decode_utf8_lossy()
                    .contains(&format!("|{}", s.value))
        }
        Place::BookingPatient => {
            *method == Method::POST
                && matches!(path, "/Appointment" | "/$process-message")
                && serde_json::from_slice::<Value>(body).is_ok_and(|v| {
                    let mut found = Vec::new();
                    nhs_numbers(&v, &mut found);
                    found.iter().any(|n| n == s.value)
                })
        }
    })
}

/// Bodies are read to find a booking's patient; the receiver's own limit is 1 MiB.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The layer for [`bars_stack::StackLayers::receivers`].
pub fn layer() -> bars_stack::RouterWrap {
    std::sync::Arc::new(|router: axum::Router| router.layer(axum::middleware::from_fn(answer)))
}

async fn answer(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::TooLong,
            "the body is too large",
        )
        .with_status(http::StatusCode::PAYLOAD_TOO_LARGE)
        .into_response();
    };
    let target = parts
        .headers
        .get("nhsd-target-identifier")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| TargetIdentifier::decode_lenient(v).ok())
        .map(|t| t.value);
    let sentinel = hit(
        &parts.method,
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        target.as_deref(),
        &body,
    );
    match sentinel {
        Some(s) => {
            let mut refusal = ApiError::bars(s.code, s.issue, s.why);
            for name in ["x-request-id", "x-correlation-id"] {
                if let Some(v) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
                    refusal = refusal.with_header(HeaderName::from_static(name), v);
                }
            }
            refusal
                .with_header(http::header::CACHE_CONTROL, "no-store")
                .into_response()
        }
        None => next.run(Request::from_parts(parts, Body::from(body))).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_sentinel_where_the_toolkit_puts_it() {
        let booking = |nhs: &str| {
            format!(
                r#"{{"resourceType":"Appointment","participant":[{{"actor":{{"identifier":{{"system":"{NHS_NUMBER_SYSTEM}","value":"{nhs}"}}}}}}]}}"#
            )
        };
        let post = |nhs: &str| {
            hit(
                &Method::POST,
                "/Appointment",
                "",
                Some("2000011111"),
                booking(nhs).as_bytes(),
            )
            .map(|s| s.status)
        };
        assert_eq!(post("9658499015"), Some(404));
        assert_eq!(post("9658499023"), Some(409));
        assert_eq!(post("9658499031"), Some(422));
        assert_eq!(post("9658499007"), None);
        assert_eq!(
            hit(&Method::GET, "/Slot", "", Some("2000081230"), b"").map(|s| s.status),
            Some(408)
        );
        assert_eq!(
            hit(
                &Method::GET,
                "/Appointment/0d440c22-7f25-4c6c-905d-2213d197d02a",
                "",
                Some("2000011111"),
                b""
            )
            .map(|s| s.status),
            Some(501)
        );
        assert_eq!(
            hit(
                &Method::GET,
                "/MessageDefinition",
                "context=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fdos-service-id%7CFAIL0401",
                Some("2000011111"),
                b""
            )
            .map(|s| s.status),
            Some(401)
        );
        // A PUT for a sentinel patient is an ordinary update.
        assert!(
            hit(
                &Method::PUT,
                "/Appointment/x",
                "",
                Some("2000011111"),
                booking("9658499015").as_bytes()
            )
            .is_none()
        );
    }
}
