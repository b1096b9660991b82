//! `GET /Appointment` under Core 1.5.0 (delta section 2.3): by NHS number, by demographics
//! (name, birth date, postcode), or both; the decisions D1 (what a search without an NHS
//! number must name), D2 (demographics naming several patients) and D5 (every status but
//! entered-in-error unless `status` says otherwise). The matches come on one page, in order
//! of start: a patient's appointments at one service are few, and senders pick among them by
//! start and use case.

use axum::response::Response;
use bars_booking::AppointmentStatus;
use bars_fhir::bundle::{Page, SearchEntry, SearchMode};
use bars_fhir::codes::BarsCode;
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use bars_fhir::outcome::operation_outcome;
use bars_fhir::search::{Query, Token};
use bars_fhir::{Issue, IssueType, NhsNumber};
use bars_http::ApiError;
use http::StatusCode;
use serde_json::value::RawValue;

use crate::answer;
use crate::demographics::Demographics;
use crate::paging;
use crate::service::reads::{Matching, Searching};
use crate::state::AppState;

pub async fn appointments(
    state: &AppState,
    searching: Searching<'_>,
    query: &Query,
) -> Result<Response, ApiError> {
    let patient = query
        .first(&["patient:identifier"])
        .map(patient_identifier)
        .transpose()?;
    let demographics = Demographics::from_query(query)?;
    match (&patient, &demographics) {
        (None, None) => {
            return Err(ApiError::bars(
                BarsCode::RecBadRequest,
                IssueType::Required,
                "name the patient: patient:identifier (https://fhir.nhs.uk/Id/nhs-number|<number>), or patient:name, patient:birthdate and patient:address-postalcode",
            )
            .at("patient:identifier"));
        }
        (None, Some(d)) => d.check_complete(state.config.demographics)?,
        (Some(_), _) => {}
    }
    let statuses = statuses(query)?;
    paging::refuse_offset(query)?;
    let count = paging::page_size(query, paging::APPOINTMENT_PAGE)?;
    let matched = searching
        .matching(Matching {
            patient,
            demographics,
            statuses,
        })
        .await?;
    let base = &state.config.base_url;
    let mut entries: Vec<SearchEntry<&RawValue>> = Vec::new();
    for r in matched.appointments.iter().take(count) {
        entries.push(SearchEntry {
            full_url: format!("{base}/Appointment/{}", r.id),
            resource: answer::stored(&r.body, "a stored appointment")?,
            mode: SearchMode::Match,
        });
    }
    let warning;
    if matched.ambiguous {
        // No patient data in it: only that there were several.
        let outcome = operation_outcome(
            None,
            &[Issue::warning(
                IssueType::MultipleMatches,
                "the demographics match more than one patient; search by patient:identifier (NHS number)",
            )],
        );
        warning = answer::text(&outcome)?;
        entries.push(SearchEntry {
            full_url: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            resource: answer::stored(&warning, "a search outcome")?,
            mode: SearchMode::Outcome,
        });
    }
    let self_link = format!("{base}/Appointment?{}", query_text(query));
    let page = Page {
        total: matched.appointments.len() as u64,
        self_link: &self_link,
        next_link: None,
        entries,
    };
    answer::fhir_written(StatusCode::OK, &page)
}

/// `status=booked,cancelled` (repeats are alternatives too); `None` when absent.
fn statuses(query: &Query) -> Result<Option<Vec<AppointmentStatus>>, ApiError> {
    let given = query.all(&["status"]);
    if given.is_empty() {
        return Ok(None);
    }
    given
        .iter()
        .flat_map(|v| v.split(','))
        .map(|code| {
            AppointmentStatus::parse(code.trim()).ok_or_else(|| {
                ApiError::bars(
                    BarsCode::RecBadRequest,
                    IssueType::Value,
                    "status must be appointment statuses (booked, cancelled, ...), comma-separated",
                )
                .at("status")
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The query as it was understood, for the self link.
fn query_text(query: &Query) -> String {
    query
        .pairs()
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                bars_fhir::search::encode_component(k),
                bars_fhir::search::encode_component(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The NHS number `patient:identifier` names: `https://fhir.nhs.uk/Id/nhs-number|<number>`.
pub fn patient_identifier(raw: &str) -> Result<NhsNumber, ApiError> {
    let token = Token::parse_qualified(raw).ok_or_else(|| {
        ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Value,
            "patient:identifier must be system|value",
        )
        .at("patient:identifier")
    })?;
    if token.system.as_deref() != Some(NHS_NUMBER_SYSTEM) {
        return Err(ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Value,
            format!("patient:identifier must use the system {NHS_NUMBER_SYSTEM}"),
        )
        .at("patient:identifier"));
    }
    NhsNumber::parse(&token.code).map_err(|e| {
        ApiError::bars(BarsCode::RecBadRequest, IssueType::Value, e.to_string())
            .at("patient:identifier")
    })
}
