//! Paging of appointment search and `_history`: the page size a sender may ask for and the
//! opaque tokens that `next` links carry.
//!
//! A page starts after a position in an order no write changes (see
//! [`bars_store::AppointmentQuery`] and [`bars_store::HistoryQuery`]), never at an offset: an
//! offset counts rows that come and go while a sender pages, so records were skipped or
//! repeated, and a sender could ask for any number at all. Every number here is parsed
//! against stated bounds and anything outside them is 400 `REC_BAD_REQUEST`, never clamped.

use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::search::{Query, whole_number};
use bars_http::ApiError;
use bars_store::AppointmentCursor;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const COUNT: &str = "_count";
pub const PAGE_AFTER: &str = "_page_after";
/// Offset paging, which appointment search once read; see [`refuse_offset`].
pub const OFFSET: &str = "_offset";
/// Appointments per search page, and the most `_count` may ask for.
pub const APPOINTMENT_PAGE: usize = 100;
/// Versions per `_history` page, and the most `_count` may ask for.
pub const HISTORY_PAGE: usize = 100;
/// Slots per search page unless configured otherwise ([`crate::ReceiverConfig::max_page_size`]).
pub const SLOT_PAGE: usize = 1000;
/// The longest page token looked at; those this server issues are well under it.
const MAX_TOKEN_LEN: usize = 256;
/// Versions are numbered from 1 and stored as signed 64-bit integers.
pub const MAX_VERSION: u64 = i64::MAX as u64;

const APPOINTMENT_TOKEN: &str = "a1";
const HISTORY_TOKEN: &str = "h1";

/// The most entries a page of `interaction` on `resource` holds, for the API's documents;
/// `None` where there are no pages.
pub fn max_page(resource: &str, interaction: &str) -> Option<u64> {
    let max = match (resource, interaction) {
        ("Appointment", "search-type") => APPOINTMENT_PAGE,
        ("Appointment", "history-instance") => HISTORY_PAGE,
        ("Slot", "search-type") => SLOT_PAGE,
        _ => return None,
    };
    u64::try_from(max).ok()
}

fn bad(issue: IssueType, diagnostics: impl Into<String>) -> ApiError {
    ApiError::bars(BarsCode::RecBadRequest, issue, diagnostics)
}

/// `_count`: from 0 (FHIR: the total only, no entries) to `max`; `max` when absent.
pub fn page_size(query: &Query, max: usize) -> Result<usize, ApiError> {
    let bound = u64::try_from(max).unwrap_or(u64::MAX);
    let asked = query
        .whole_number(COUNT, 0..=bound)
        .map_err(|e| bad(IssueType::Value, e.to_string()).at(COUNT))?;
    Ok(asked.map_or(max, |n| usize::try_from(n).unwrap_or(max)))
}

/// `_offset` is refused, whatever its value: a client still paging by offset would otherwise
/// read the first page again and again, believing it was moving on.
pub fn refuse_offset(query: &Query) -> Result<(), ApiError> {
    if query.has(OFFSET) {
        return Err(bad(
            IssueType::NotSupported,
            format!("{OFFSET} is not supported: follow the Bundle's next link, which carries {PAGE_AFTER}"),
        )
        .at(OFFSET));
    }
    Ok(())
}

/// A version id from a path (`/_history/{vid}`): 1 to [`MAX_VERSION`].
pub fn version_id(text: &str) -> Result<u64, ApiError> {
    whole_number(text, 1..=MAX_VERSION).ok_or_else(|| {
        bad(
            IssueType::Value,
            format!("the version id must be a whole number from 1 to {MAX_VERSION}"),
        )
    })
}

pub fn appointment_token(cursor: &AppointmentCursor) -> String {
    encode(
        APPOINTMENT_TOKEN,
        &[&cursor.created_nanos.to_string(), &cursor.id],
    )
}

/// The `_page_after` of an appointment search, if given.
pub fn appointment_cursor(query: &Query) -> Result<Option<AppointmentCursor>, ApiError> {
    let Some(token) = single_token(query)? else {
        return Ok(None);
    };
    let cursor = decode(token, APPOINTMENT_TOKEN).and_then(|fields| match fields.as_slice() {
        [created, id] if uuid::Uuid::try_parse(id).is_ok() => Some(AppointmentCursor {
            created_nanos: created.parse().ok()?,
            id: id.clone(),
        }),
        _ => None,
    });
    cursor.map(Some).ok_or_else(not_ours)
}

pub fn history_token(version: u64) -> String {
    encode(HISTORY_TOKEN, &[&version.to_string()])
}

/// The `_page_after` of a `_history` read: the version the previous page ended at.
pub fn history_cursor(query: &Query) -> Result<Option<u64>, ApiError> {
    let Some(token) = single_token(query)? else {
        return Ok(None);
    };
    let version = decode(token, HISTORY_TOKEN).and_then(|fields| match fields.as_slice() {
        [v] => whole_number(v, 1..=MAX_VERSION),
        _ => None,
    });
    version.map(Some).ok_or_else(not_ours)
}

pub(crate) fn not_ours() -> ApiError {
    bad(
        IssueType::Value,
        format!("{PAGE_AFTER} is not a page token this server issued for this search; start again without it"),
    )
    .at(PAGE_AFTER)
}

pub(crate) fn single_token(query: &Query) -> Result<Option<&str>, ApiError> {
    match query.all(&[PAGE_AFTER]).as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(bad(
            IssueType::Value,
            format!("{PAGE_AFTER} may be given only once"),
        )
        .at(PAGE_AFTER)),
    }
}

/// `kind|field|field` as unpadded base64url: opaque to senders and safe in a query string.
pub(crate) fn encode(kind: &str, fields: &[&str]) -> String {
    let mut text = kind.to_string();
    for f in fields {
        text.push('|');
        text.push_str(f);
    }
    URL_SAFE_NO_PAD.encode(text)
}

/// The fields of a token of `kind`; `None` for anything this server did not issue.
pub(crate) fn decode(token: &str, kind: &str) -> Option<Vec<String>> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let mut parts = text.split('|');
    (parts.next()? == kind).then(|| parts.map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Query {
        Query::parse(Some(q)).unwrap()
    }

    #[test]
    fn page_sizes_are_bounded_not_clamped() {
        assert_eq!(page_size(&query(""), 100).unwrap(), 100);
        assert_eq!(page_size(&query("_count=0"), 100).unwrap(), 0);
        assert_eq!(page_size(&query("_count=100"), 100).unwrap(), 100);
        for refused in [
            "_count=101",
            "_count=-1",
            "_count=abc",
            "_count=",
            "_count=18446744073709551616",
            "_count=1&_count=2",
        ] {
            let e = page_size(&query(refused), 100).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code()),
                (400, "REC_BAD_REQUEST"),
                "{refused}"
            );
            assert_eq!(e.expression, [COUNT], "{refused}");
        }
    }

    #[test]
    fn tokens_round_trip_and_strangers_are_refused() {
        let c = AppointmentCursor {
            created_nanos: 1_900_000_000_000_000_000,
            id: uuid::Uuid::new_v4().to_string(),
        };
        let q = query(&format!("{PAGE_AFTER}={}", appointment_token(&c)));
        assert_eq!(appointment_cursor(&q).unwrap(), Some(c.clone()));
        let q = query(&format!("{PAGE_AFTER}={}", history_token(7)));
        assert_eq!(history_cursor(&q).unwrap(), Some(7));
        // A history token is not an appointment token, and the reverse.
        assert!(appointment_cursor(&q).is_err());
        let q = query(&format!("{PAGE_AFTER}={}", appointment_token(&c)));
        assert!(history_cursor(&q).is_err());
        for garbage in [
            "!!".to_string(),
            "garbage".to_string(),
            encode(APPOINTMENT_TOKEN, &["12", "not-a-uuid"]),
            encode(APPOINTMENT_TOKEN, &["9223372036854775808", &c.id]),
            encode(HISTORY_TOKEN, &["0"]),
            encode(HISTORY_TOKEN, &["-1"]),
            encode(HISTORY_TOKEN, &["9223372036854775808"]),
            encode(HISTORY_TOKEN, &["1", "2"]),
            "A".repeat(MAX_TOKEN_LEN + 1),
        ] {
            let q = query(&format!("{PAGE_AFTER}={garbage}"));
            for e in [
                appointment_cursor(&q).unwrap_err(),
                history_cursor(&q).unwrap_err(),
            ] {
                assert_eq!((e.status.as_u16(), e.code()), (400, "REC_BAD_REQUEST"));
                assert_eq!(e.expression, [PAGE_AFTER]);
            }
        }
    }

    #[test]
    fn version_ids_are_bounded() {
        assert_eq!(version_id("1").unwrap(), 1);
        assert_eq!(version_id("9223372036854775807").unwrap(), MAX_VERSION);
        for refused in [
            "0",
            "-1",
            "9223372036854775808",
            "18446744073709551615",
            "1.0",
            "x",
        ] {
            assert!(version_id(refused).is_err(), "{refused}");
        }
    }
}
