//! The day list: a service's appointments for a day or a range of days, on the service's
//! wall clock, for the staff who run it. The patient's NHS number is masked but for its last
//! digits unless the caller asks for it; every such request is audited either way.

use bars_booking::AppointmentStatus;
use bars_fhir::codes::BarsCode;
use bars_fhir::search::Query;
use bars_fhir::{Instant, IssueType};
use bars_http::ApiError;
use bars_store::{DayCursor, DayQuery, DayRow};
use jiff::civil::Date;
use serde_json::{Value, json};

use crate::opening_hours::parse_zone;
use crate::paging;

/// Appointments per page, and the most `_count` may ask for.
pub const DAY_PAGE: usize = 200;
/// The widest range one request may cover.
const MAX_DAYS: i32 = 31;
/// How many trailing digits of an NHS number a masked list shows.
const SHOWN_DIGITS: usize = 3;
const DAY_TOKEN: &str = "d1";

fn bad(field: &str, why: impl Into<String>) -> ApiError {
    ApiError::bars(BarsCode::RecBadRequest, IssueType::Value, why.into()).at(field)
}

/// A day-list request, as parsed from the admin query string.
#[derive(Debug, Clone)]
pub struct DayRequest {
    pub query: DayQuery,
    pub show_nhs_number: bool,
}

/// `?service=ID&date=YYYY-MM-DD[&to=YYYY-MM-DD][&status=a,b][&zone=Europe/London]
/// [&show-nhs-number=true][&_count=n][&_page_after=token]`
pub fn parse(q: &Query) -> Result<DayRequest, ApiError> {
    let service_id = q
        .first(&["service"])
        .ok_or_else(|| {
            ApiError::bars(
                BarsCode::RecBadRequest,
                IssueType::Required,
                "service is required",
            )
            .at("service")
        })?
        .to_string();
    let zone = parse_zone(q.first(&["zone"]).unwrap_or("Europe/London")).ok_or_else(|| {
        bad(
            "zone",
            "must be an IANA time-zone name such as Europe/London",
        )
    })?;
    let date = |field: &str| -> Result<Option<Date>, ApiError> {
        q.first(&[field])
            .map(|text| {
                jiff::fmt::strtime::parse("%Y-%m-%d", text)
                    .and_then(|t| t.to_date())
                    .map_err(|_| bad(field, format!("{field} must be YYYY-MM-DD")))
            })
            .transpose()
    };
    let first = date("date")?.ok_or_else(|| {
        ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Required,
            "date is required (YYYY-MM-DD)",
        )
        .at("date")
    })?;
    let last = date("to")?.unwrap_or(first);
    let days = (last - first).get_days();
    if !(0..MAX_DAYS).contains(&days) {
        return Err(bad(
            "to",
            format!("to must be on or after date, and at most {MAX_DAYS} days in all"),
        ));
    }
    let midnight = |d: Date| -> Result<Instant, ApiError> {
        d.to_zoned(zone.clone())
            .ok()
            .and_then(|z| Instant::from_timestamp(z.timestamp()))
            .ok_or_else(|| bad("date", "the date is out of range"))
    };
    let end_date = last
        .tomorrow()
        .map_err(|_| bad("to", "the date is out of range"))?;
    let statuses = q
        .all(&["status"])
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
        .map(|s| {
            AppointmentStatus::parse(s)
                .ok_or_else(|| bad("status", format!("{s} is not an appointment status")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let show_nhs_number = match q.first(&["show-nhs-number"]) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(bad("show-nhs-number", "must be true or false")),
    };
    Ok(DayRequest {
        query: DayQuery {
            service_id,
            from: midnight(first)?,
            to: midnight(end_date)?,
            statuses,
            after: cursor(q)?,
            limit: paging::page_size(q, DAY_PAGE)?,
        },
        show_nhs_number,
    })
}

fn cursor(q: &Query) -> Result<Option<DayCursor>, ApiError> {
    let Some(token) = paging::single_token(q)? else {
        return Ok(None);
    };
    let cursor = paging::decode(token, DAY_TOKEN).and_then(|fields| match fields.as_slice() {
        [start, id] => Some(DayCursor {
            start_nanos: start.parse().ok()?,
            id: id.clone(),
        }),
        _ => None,
    });
    cursor.map(Some).ok_or_else(paging::not_ours)
}

/// The page token that resumes after `row`.
pub fn token(row: &DayRow) -> Option<String> {
    let start = row.record.start?;
    Some(paging::encode(
        DAY_TOKEN,
        &[&start.unix_nanos().to_string(), &row.record.id],
    ))
}

/// `*******919`: the last digits, enough for staff to tell patients apart on one list.
pub fn mask(nhs_number: &str) -> String {
    let keep = nhs_number.len().saturating_sub(SHOWN_DIGITS);
    nhs_number
        .char_indices()
        .map(|(i, c)| if i < keep { '*' } else { c })
        .collect()
}

/// The reason for the appointment: its `description`, else the text of its first `reasonCode`.
fn reason(body: &Value) -> Option<String> {
    body.get("description")
        .and_then(Value::as_str)
        .or_else(|| {
            body.pointer("/reasonCode/0/text")
                .or_else(|| body.pointer("/reasonCode/0/coding/0/display"))
                .and_then(Value::as_str)
        })
        .map(str::to_string)
}

/// One line of the list.
pub fn line(row: &DayRow, show_nhs_number: bool) -> Value {
    let r = &row.record;
    let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    let patient = r.patient.as_deref().map(|p| {
        if show_nhs_number {
            p.to_string()
        } else {
            mask(p)
        }
    });
    json!({
        "id": r.id,
        "version": r.version,
        "start": r.start.map(|i| i.to_string()),
        "end": r.end.map(|i| i.to_string()),
        "status": r.status.as_str(),
        "patient": patient,
        "bookedBy": row.booked_by,
        "reason": reason(&body),
        "cancellationReason": body.pointer("/cancelationReason/text").cloned(),
        "slots": r.held_slots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Query {
        Query::parse(Some(q)).unwrap()
    }

    #[test]
    fn numbers_are_masked_but_for_the_last_digits() {
        assert_eq!(mask("9434765919"), "*******919");
        assert_eq!(mask("12"), "12");
    }

    #[test]
    fn a_day_is_the_service_s_wall_clock_day() {
        // 29 March 2026: the clocks go forward in London, so the day has 23 hours.
        let r = parse(&query("service=1&date=2026-03-29")).unwrap();
        assert_eq!(r.query.from.to_string(), "2026-03-29T00:00:00+00:00");
        assert_eq!(r.query.to.to_string(), "2026-03-29T23:00:00+00:00");
        let r = parse(&query(
            "service=1&date=2026-07-01&to=2026-07-02&status=booked,arrived&zone=UTC",
        ))
        .unwrap();
        assert_eq!(r.query.to.to_string(), "2026-07-03T00:00:00+00:00");
        assert_eq!(
            r.query.statuses,
            [AppointmentStatus::Booked, AppointmentStatus::Arrived]
        );
        assert!(!r.show_nhs_number);
        for refused in [
            "date=2026-07-01",
            "service=1",
            "service=1&date=07/01/2026",
            "service=1&date=2026-07-02&to=2026-07-01",
            "service=1&date=2026-01-01&to=2026-03-01",
            "service=1&date=2026-07-01&status=attended",
            "service=1&date=2026-07-01&show-nhs-number=yes",
            "service=1&date=2026-07-01&_page_after=garbage",
        ] {
            let e = parse(&query(refused)).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code()),
                (400, "REC_BAD_REQUEST"),
                "{refused}"
            );
        }
    }
}
