//! The read handlers: the CapabilityStatement, slot search, and the appointment reads the
//! booking service answers (views, versions, history, search), each spliced into its answer
//! as stored.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use bars_booking::CoreVersion;
use bars_fhir::IssueType;
use bars_fhir::bundle::{HistoryEntry, Page, PageEntry, SearchEntry, SearchMode};
use bars_fhir::codes::BarsCode;
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use bars_fhir::search::encode_component;
use bars_http::ApiError;
use bars_http::fhir_json::{fhir_json, fhir_response};
use bars_store::{AppointmentCursor, AppointmentVersion};
use http::StatusCode;

use super::headers::with_version_headers;
use super::request::{Addressed, check_id, query_of};
use super::search;
use super::search::patient_identifier;
use crate::access;
use crate::answer;
use crate::messaging;
use crate::paging;
use crate::slots::{SlotSearch, search as slot_search};
use crate::state::AppState;

/// The CapabilityStatement of the version the request selects.
pub async fn metadata(
    State(state): State<AppState>,
    Addressed { ctx, scope }: Addressed,
) -> Result<Response, ApiError> {
    let version = state
        .config
        .version_for(ctx.accept_version.as_deref(), scope.service());
    let statement = state.capability.of(version).ok_or_else(|| {
        ApiError::bars(
            BarsCode::RecServerError,
            IssueType::Exception,
            "this receiver is configured to serve no BaRS version",
        )
    })?;
    Ok(fhir_json(StatusCode::OK, statement))
}

pub async fn search_slots(
    State(state): State<AppState>,
    Addressed { ctx, scope }: Addressed,
    request: Request,
) -> Result<Response, ApiError> {
    let search = SlotSearch::parse(
        &query_of(request.uri())?,
        &scope,
        state.config.max_search_window,
        state.config.max_page_size,
    )?;
    access::check_owner(&state.config, &ctx, Some(&search.service_id))?;
    if search
        .includes
        .iter()
        .any(|i| i.starts_with("Schedule:actor:Practitioner"))
    {
        access::check_practitioner_details(&state.config, &ctx, &search.service_id)?;
    }
    Ok(fhir_response(
        StatusCode::OK,
        slot_search(&state, &search).await?,
    ))
}

pub async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Addressed { ctx, scope }: Addressed,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    Ok(version_response(
        state.bookings.view(&ctx, &scope, &id).await?,
    ))
}

/// One version of an appointment, as stored, with its `ETag` and `Last-Modified`.
fn version_response(v: AppointmentVersion) -> Response {
    with_version_headers(
        fhir_response(StatusCode::OK, v.body),
        v.version,
        v.last_updated,
    )
}

pub async fn read_version(
    State(state): State<AppState>,
    Path((id, vid)): Path<(String, String)>,
    Addressed { ctx, scope }: Addressed,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let version = paging::version_id(&vid)?;
    Ok(version_response(
        state.bookings.version(&ctx, &scope, &id, version).await?,
    ))
}

pub async fn read_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Addressed { ctx, scope }: Addressed,
    request: Request,
) -> Result<Response, ApiError> {
    check_id(&id)?;
    let query = query_of(request.uri())?;
    let count = paging::page_size(&query, paging::HISTORY_PAGE)?;
    let before = paging::history_cursor(&query)?;
    let page = state
        .bookings
        .history(&ctx, &scope, &id, before, count)
        .await?;
    let mut versions = page.versions;
    let next = (versions.len() > count).then(|| {
        versions.truncate(count);
        versions.last().map(|v| paging::history_token(v.version))
    });
    let base = &state.config.base_url;
    let link = |after: Option<&str>| {
        let mut url = format!("{base}/Appointment/{id}/_history?{}={count}", paging::COUNT);
        if let Some(token) = after {
            url.push_str(&format!("&{}={token}", paging::PAGE_AFTER));
        }
        url
    };
    let this = before.map(paging::history_token);
    let next = next.flatten().map(|t| link(Some(&t)));
    let entries = spliced(&versions, |v| {
        Ok(HistoryEntry {
            full_url: format!("{base}/Appointment/{id}/_history/{}", v.version),
            resource: answer::stored(&v.body, "a stored appointment version")?,
        })
    })?;
    answered(page.total, &link(this.as_deref()), next.as_deref(), entries)
}

/// The entries of a page, each with its stored body spliced in as it is.
fn spliced<'r, T, E>(
    rows: &'r [T],
    entry: impl Fn(&'r T) -> Result<E, ApiError>,
) -> Result<Vec<E>, ApiError> {
    rows.iter().map(entry).collect()
}

/// A page of a Bundle, written in one pass.
fn answered<E: PageEntry>(
    total: u64,
    self_link: &str,
    next_link: Option<&str>,
    entries: Vec<E>,
) -> Result<Response, ApiError> {
    let page = Page {
        total,
        self_link,
        next_link,
        entries,
    };
    answer::fhir_written(StatusCode::OK, &page)
}

pub async fn search_appointments(
    State(state): State<AppState>,
    Addressed { ctx, scope }: Addressed,
    request: Request,
) -> Result<Response, ApiError> {
    let searching = state.bookings.searching(&ctx, &scope)?;
    let query = query_of(request.uri())?;
    let version = state
        .config
        .version_for(ctx.accept_version.as_deref(), scope.service());
    if version == CoreVersion::V1_5_0 {
        return search::appointments(&state, searching, &query).await;
    }
    let raw = query.first(&["patient:identifier"]).ok_or_else(|| {
        ApiError::bars(BarsCode::RecBadRequest, IssueType::Required, "the patient:identifier parameter is required (https://fhir.nhs.uk/Id/nhs-number|<number>)")
            .at("patient:identifier")
    })?;
    let nhs = patient_identifier(raw)?;
    paging::refuse_offset(&query)?;
    let count = paging::page_size(&query, paging::APPOINTMENT_PAGE)?;
    let after = paging::appointment_cursor(&query)?;
    let page = searching.patient(&nhs, after.clone(), count).await?;

    let mut records = page.appointments;
    let next = (records.len() > count).then(|| {
        records.truncate(count);
        records.last().map(|r| AppointmentCursor {
            created_nanos: r.created.unix_nanos(),
            id: r.id.clone(),
        })
    });
    let base = &state.config.base_url;
    let link = |after: Option<&AppointmentCursor>| {
        let mut url = format!(
            "{base}/Appointment?patient:identifier={}&{}={count}",
            encode_component(&format!("{NHS_NUMBER_SYSTEM}|{}", nhs.as_str())),
            paging::COUNT,
        );
        if let Some(c) = after {
            url.push_str(&format!(
                "&{}={}",
                paging::PAGE_AFTER,
                paging::appointment_token(c)
            ));
        }
        url
    };
    let next = next.flatten().map(|c| link(Some(&c)));
    let entries = spliced(&records, |r| {
        Ok(SearchEntry {
            full_url: format!("{base}/Appointment/{}", r.id),
            resource: answer::stored(&r.body, "a stored appointment")?,
            mode: SearchMode::Match,
        })
    })?;
    answered(page.total, &link(after.as_ref()), next.as_deref(), entries)
}

/// `GET /MessageDefinition?context=...` (BaRS section 2.2).
pub async fn search_message_definitions(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let bundle = messaging::definitions::search(&state.config, &query_of(request.uri())?)?;
    Ok(fhir_json(StatusCode::OK, &bundle))
}
