//! `GET /Slot` (and `/Slots`): free and busy slots of one service within a window, with the
//! Schedule, HealthcareService and other resources a sender needs to book.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bars_booking::{Scope, SlotStatus};
use bars_fhir::bundle::{Page, SearchEntry, SearchMode};
use bars_fhir::codes::BarsCode;
use bars_fhir::headers::DOS_SERVICE_SYSTEM;
use bars_fhir::search::{DateParam, Prefix, Query, Token, encode_component};
use bars_fhir::{Instant, IssueType};
use bars_http::ApiError;
use bars_store::{SlotCursor, SlotQuery, StoredResource};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::answer;
use crate::catalog::{INCLUDES, REQUIRED_INCLUDES, SERVICE_PARAM};
use crate::errors;
use crate::slot_resource::{SlotResource, Template, extra_of};
use crate::state::AppState;

/// A parsed, checked slot search.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotSearch {
    pub service_id: String,
    pub statuses: Vec<SlotStatus>,
    pub from: Instant,
    pub to: Instant,
    pub includes: BTreeSet<&'static str>,
    pub count: usize,
    pub after: Option<SlotCursor>,
    lower: String,
    upper: String,
}

fn bad(issue: IssueType, msg: impl Into<String>) -> ApiError {
    ApiError::bars(BarsCode::RecBadRequest, issue, msg)
}

/// Matches every spelling of the service parameter seen in BaRS documents and FHIR practice.
fn is_service_param(name: &str) -> bool {
    name.to_ascii_lowercase().replace(':', ".") == "schedule.actor.healthcareservice"
}

/// `_include` values name the same thing with `.` or `:`, with or without `:iterate`.
fn canonical_include(value: &str) -> Option<&'static str> {
    let norm = value.replace('.', ":").to_ascii_lowercase();
    if norm == "slot:*" {
        return Some("Slot:schedule");
    }
    INCLUDES
        .iter()
        .copied()
        .find(|i| i.to_ascii_lowercase() == norm)
}

/// True for an offset of zero: BaRS requires slot search times in UTC.
fn is_utc(text: &str) -> bool {
    text.ends_with('Z')
        || text.ends_with("+00:00")
        || text.ends_with("-00:00")
        || text.ends_with(" 00:00")
}

impl SlotSearch {
    /// Parses a search addressed to `scope`, which must admit the service it names.
    pub fn parse(
        query: &Query,
        scope: &Scope,
        max_window: std::time::Duration,
        max_page: usize,
    ) -> Result<SlotSearch, ApiError> {
        let service_values: Vec<&str> = query
            .pairs()
            .iter()
            .filter(|(k, _)| is_service_param(k))
            .map(|(_, v)| v.as_str())
            .collect();
        let service_id = match service_values.as_slice() {
            [] => {
                return Err(bad(
                    IssueType::Required,
                    format!("the {SERVICE_PARAM} parameter is required"),
                )
                .at(SERVICE_PARAM));
            }
            [one] => parse_service(one)?,
            _ => {
                return Err(bad(
                    IssueType::Value,
                    format!("{SERVICE_PARAM} may be given only once"),
                )
                .at(SERVICE_PARAM));
            }
        };
        if !scope.admits(Some(&service_id)) {
            return Err(bad(
                IssueType::Invariant,
                format!("{SERVICE_PARAM} names a different service from NHSD-Target-Identifier"),
            )
            .at(SERVICE_PARAM));
        }

        let status_values = query.all(&["status"]);
        if status_values.is_empty() {
            return Err(bad(
                IssueType::Required,
                "the status parameter is required (free, busy or free,busy)",
            )
            .at("status"));
        }
        let mut statuses = Vec::new();
        for code in status_values
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
        {
            match code {
                "free" => statuses.push(SlotStatus::Free),
                "busy" => statuses.push(SlotStatus::Busy),
                _ => {
                    return Err(
                        bad(IssueType::Value, "status must be free, busy or free,busy")
                            .at("status"),
                    );
                }
            }
        }
        statuses.sort_by_key(|s| s.as_str());
        statuses.dedup();

        let (from, to, lower, upper) = parse_window(&query.all(&["start"]))?;
        let window = to.unix_nanos().saturating_sub(from.unix_nanos());
        if window > max_window.as_nanos() as i64 {
            return Err(ApiError::bars(
                BarsCode::RecUnprocessableEntity,
                IssueType::TooCostly,
                format!(
                    "the start window is wider than the {} days this receiver searches at once",
                    max_window.as_secs() / 86_400
                ),
            )
            .at("start"));
        }

        let mut includes = BTreeSet::new();
        for (k, v) in query.pairs() {
            if (k == "_include" || k == "_include:iterate")
                && let Some(c) = canonical_include(v)
            {
                includes.insert(c);
            }
        }
        if let Some(missing) = REQUIRED_INCLUDES.iter().find(|r| !includes.contains(*r)) {
            return Err(bad(IssueType::Required, format!("_include={missing} is required (and _include=Slot:schedule, _include=Schedule:actor:HealthcareService at least)")).at("_include"));
        }

        let count = crate::paging::page_size(query, max_page)?;
        let after = query
            .first(&["_page_after"])
            .map(parse_cursor)
            .transpose()?;
        Ok(SlotSearch {
            service_id,
            statuses,
            from,
            to,
            includes,
            count,
            after,
            lower,
            upper,
        })
    }

    /// The search as it was understood: the parameters actually used, in canonical form.
    pub fn link(&self, base: &str, after: Option<&SlotCursor>) -> String {
        let mut parts = vec![
            format!("{}={}", SERVICE_PARAM, encode_component(&self.service_id)),
            format!(
                "status={}",
                self.statuses
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            format!("start={}", encode_component(&self.lower)),
            format!("start={}", encode_component(&self.upper)),
        ];
        parts.extend(self.includes.iter().map(|i| format!("_include={i}")));
        parts.push(format!("_count={}", self.count));
        if let Some(c) = after {
            parts.push(format!("_page_after={}", cursor_token(c)));
        }
        format!("{base}/Slot?{}", parts.join("&"))
    }
}

fn parse_service(value: &str) -> Result<String, ApiError> {
    let token = Token::parse(value).ok_or_else(|| {
        bad(
            IssueType::Value,
            format!("{SERVICE_PARAM} must be a service id or {DOS_SERVICE_SYSTEM}|id"),
        )
        .at(SERVICE_PARAM)
    })?;
    match token.system.as_deref() {
        None | Some(DOS_SERVICE_SYSTEM) => Ok(token.code),
        Some(_) => Err(bad(
            IssueType::Value,
            format!("{SERVICE_PARAM} must use the system {DOS_SERVICE_SYSTEM}"),
        )
        .at(SERVICE_PARAM)),
    }
}

/// Exactly one lower bound (ge/gt) and one upper bound (le/lt) on `start`, both UTC instants.
fn parse_window(values: &[&str]) -> Result<(Instant, Instant, String, String), ApiError> {
    let required = || {
        bad(IssueType::Required, "start needs one lower bound (ge) and one upper bound (le), e.g. start=ge2030-01-01T09:00:00Z&start=le2030-01-01T17:00:00Z").at("start")
    };
    if values.len() != 2 {
        return Err(required());
    }
    let mut lower = None;
    let mut upper = None;
    for raw in values {
        let p = DateParam::parse(raw).map_err(|e| {
            bad(
                IssueType::Value,
                format!("start is not a valid instant with an offset: {e}"),
            )
            .at("start")
        })?;
        if !is_utc(raw) {
            return Err(bad(
                IssueType::Value,
                "start values must be in UTC (Z or +00:00)",
            )
            .at("start"));
        }
        let canonical = format!("{}{}", p.prefix.as_str(), p.value);
        match p.prefix {
            Prefix::Ge => lower = Some((p.value, canonical)),
            Prefix::Gt => lower = Some((p.value.plus_nanos(1), canonical)),
            Prefix::Le => upper = Some((p.value, canonical)),
            Prefix::Lt => upper = Some((p.value.plus_nanos(-1), canonical)),
            _ => {
                return Err(bad(
                    IssueType::Value,
                    "start bounds must use the ge, gt, le or lt prefixes",
                )
                .at("start"));
            }
        }
    }
    let ((from, lo), (to, hi)) = lower.zip(upper).ok_or_else(required)?;
    if from > to {
        return Err(bad(
            IssueType::Value,
            "the lower start bound is after the upper one",
        )
        .at("start"));
    }
    Ok((from, to, lo, hi))
}

fn cursor_token(c: &SlotCursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}|{}", c.start_nanos, c.id))
}

fn parse_cursor(token: &str) -> Result<SlotCursor, ApiError> {
    let invalid = || {
        bad(
            IssueType::Value,
            "_page_after is not a page token this server issued",
        )
        .at("_page_after")
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (ns, id) = text.split_once('|').ok_or_else(invalid)?;
    Ok(SlotCursor {
        start_nanos: ns.parse().map_err(|_| invalid())?,
        id: id.to_string(),
    })
}

/// A searchset entry's resource: a slot written from its columns, or a stored resource
/// included as it is stored.
#[derive(Serialize)]
#[serde(untagged)]
enum Resource<'a> {
    Slot(SlotResource<'a>),
    Stored(&'a RawValue),
}

/// Runs a search and writes the searchset.
pub async fn search(state: &AppState, search: &SlotSearch) -> Result<String, ApiError> {
    let store = &state.store;
    if !state.config.hosts(&search.service_id) {
        return Err(ApiError::bars(
            BarsCode::RecNotFound,
            IssueType::NotFound,
            format!(
                "service {} is not provided by this receiver",
                search.service_id
            ),
        )
        .at(SERVICE_PARAM));
    }
    let page = store
        .search_slots(SlotQuery {
            service_id: search.service_id.clone(),
            statuses: search.statuses.clone(),
            start_from: search.from,
            start_to: search.to,
            after: search.after.clone(),
            limit: search.count,
        })
        .await
        .map_err(errors::store)?;
    let mut slots = page.slots;
    let next = if slots.len() > search.count {
        slots.truncate(search.count);
        slots.last().map(|s| SlotCursor {
            start_nanos: s.start.unix_nanos(),
            id: s.id.clone(),
        })
    } else {
        None
    };

    let schedule_ids: Vec<String> = slots
        .iter()
        .map(|s| s.schedule_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let schedules = store
        .get_schedules(&schedule_ids)
        .await
        .map_err(errors::store)?;
    let templates: HashMap<&str, Template> = schedules
        .iter()
        .map(|s| (s.id.as_str(), Template::parse(&s.slot_template)))
        .collect();
    let empty = Template::default();
    let base = &state.config.base_url;
    let extras: Vec<Option<Map<String, Value>>> = slots.iter().map(extra_of).collect();
    let mut entries: Vec<SearchEntry<Resource>> = slots
        .iter()
        .zip(&extras)
        .map(|(s, extra)| SearchEntry {
            full_url: format!("{base}/Slot/{}", s.id),
            resource: Resource::Slot(SlotResource::new(
                s,
                templates.get(s.schedule_id.as_str()).unwrap_or(&empty),
                extra.as_ref(),
            )),
            mode: SearchMode::Match,
        })
        .collect();
    let included = included(state, search, &schedules).await?;
    if search.includes.contains("Slot:schedule") {
        for schedule in &schedules {
            entries.push(SearchEntry {
                full_url: format!("{base}/Schedule/{}", schedule.id),
                resource: Resource::Stored(answer::stored(&schedule.body, "a stored schedule")?),
                mode: SearchMode::Include,
            });
        }
    }
    for r in &included {
        entries.push(SearchEntry {
            full_url: format!("{base}/{}/{}", r.resource_type, r.id),
            resource: Resource::Stored(answer::stored(&r.body, "a stored resource")?),
            mode: SearchMode::Include,
        });
    }
    let self_link = search.link(base, search.after.as_ref());
    let next_link = next.as_ref().map(|c| search.link(base, Some(c)));
    answer::text(&Page {
        total: page.total,
        self_link: &self_link,
        next_link: next_link.as_deref(),
        entries,
    })
}

/// The elements of a stored Schedule or HealthcareService that the includes follow. Only these
/// are built as trees; the rest of the body is skipped as it is read (a profile put building
/// both whole at a tenth of a search's CPU; the measured gain was within the machine's spread).
#[derive(Deserialize)]
struct Followed {
    #[serde(default)]
    actor: Value,
    #[serde(default, rename = "providedBy")]
    provided_by: Value,
    #[serde(default)]
    location: Value,
}

/// The resources the requested includes name, from the matched slots' schedules and then from
/// the HealthcareServices among them.
async fn included(
    state: &AppState,
    search: &SlotSearch,
    schedules: &[bars_store::ScheduleRecord],
) -> Result<Vec<StoredResource>, ApiError> {
    // (type, id) -> resource, ordered so a response is deterministic.
    let mut wanted: BTreeMap<(String, String), ()> = BTreeMap::new();
    for schedule in schedules {
        let body: Followed = answer::parsed(&schedule.body, "a stored schedule")?;
        for actor in body.actor.as_array().into_iter().flatten() {
            let Some((ty, id)) = actor
                .get("reference")
                .and_then(Value::as_str)
                .and_then(|r| r.split_once('/'))
            else {
                continue;
            };
            let include = format!("Schedule:actor:{ty}");
            if search.includes.contains(include.as_str()) {
                wanted.insert((ty.to_string(), id.to_string()), ());
            }
        }
    }
    let mut resolved = Vec::new();
    for (ty, id) in wanted.keys() {
        if let Some(r) = state
            .store
            .get_resource(ty, id)
            .await
            .map_err(errors::store)?
        {
            resolved.push(r);
        }
    }
    // HealthcareService -> providedBy (Organization) and location (Location).
    let mut second: BTreeMap<(String, String), ()> = BTreeMap::new();
    for r in resolved
        .iter()
        .filter(|r| r.resource_type == "HealthcareService")
    {
        let body: Followed = answer::parsed(&r.body, "a stored resource")?;
        if search.includes.contains("HealthcareService:providedBy")
            && let Some(org) = body
                .provided_by
                .pointer("/reference")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("Organization/"))
        {
            second.insert(("Organization".into(), org.into()), ());
        }
        if search.includes.contains("HealthcareService:location") {
            for loc in body.location.as_array().into_iter().flatten() {
                if let Some(id) = loc
                    .get("reference")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("Location/"))
                {
                    second.insert(("Location".into(), id.into()), ());
                }
            }
        }
    }
    for (ty, id) in second.keys() {
        if let Some(r) = state
            .store
            .get_resource(ty, id)
            .await
            .map_err(errors::store)?
        {
            resolved.push(r);
        }
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// The references the includes follow are read from a stored body whatever else it holds
    /// (decimals, extensions, nested arrays are skipped), and a body without them follows none.
    #[test]
    fn the_followed_references_are_read_and_the_rest_skipped() {
        let service = r#"{"resourceType":"HealthcareService","id":"s1",
            "extension":[{"url":"u","valueDecimal":1.50}],"name":"Clinic",
            "providedBy":{"reference":"Organization/o1","display":"Trust"},
            "location":[{"reference":"Location/l1"},{"display":"no reference"}],
            "availableTime":[{"daysOfWeek":["mon"],"allDay":true}]}"#;
        let f: Followed = answer::parsed(service, "a stored resource").unwrap();
        assert_eq!(f.provided_by["reference"], "Organization/o1");
        assert_eq!(f.location[0]["reference"], "Location/l1");
        assert_eq!(f.location.as_array().unwrap().len(), 2);
        assert!(f.actor.is_null());

        let schedule = r#"{"resourceType":"Schedule","id":"sc1","active":true,
            "actor":[{"reference":"HealthcareService/s1"},{"reference":"Practitioner/p1"}]}"#;
        let f: Followed = answer::parsed(schedule, "a stored schedule").unwrap();
        assert_eq!(f.actor[1]["reference"], "Practitioner/p1");
        assert!(f.provided_by.is_null() && f.location.is_null());

        assert!(answer::parsed::<Followed>("{not json", "a stored schedule").is_err());
    }

    fn parse(q: &str) -> Result<SlotSearch, ApiError> {
        SlotSearch::parse(
            &Query::parse(Some(q)).unwrap(),
            &Scope::Receiver,
            Duration::from_secs(14 * 86_400),
            100,
        )
    }

    const OK: &str = "Schedule.actor:HealthcareService=2000099999&status=free&start=ge2030-01-01T09:00:00Z&start=le2030-01-01T17:00:00Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService";

    #[test]
    fn accepts_the_documented_request() {
        let s = parse(OK).unwrap();
        assert_eq!(s.service_id, "2000099999");
        assert_eq!(s.statuses, vec![SlotStatus::Free]);
    }

    #[test]
    fn accepts_every_spelling_of_service_and_includes() {
        for name in [
            "Schedule.actor:HealthcareService",
            "schedule.actor:HealthcareService",
            "Schedule:actor:HealthcareService",
            "schedule.actor:healthcareservice",
        ] {
            let q = OK.replace("Schedule.actor:HealthcareService=", &format!("{name}="));
            assert_eq!(parse(&q).unwrap().service_id, "2000099999", "{name}");
        }
        let q = OK
            .replace(
                "2000099999",
                "https://fhir.nhs.uk/Id/dos-service-id|2000099999",
            )
            .replace("_include=Slot:schedule", "_include:iterate=Slot.schedule");
        assert_eq!(parse(&q).unwrap().service_id, "2000099999");
    }

    #[test]
    fn refusals_carry_the_documented_codes() {
        let cases: [(&str, u16, IssueType); 9] = [
            (
                "status=free&start=ge2030-01-01T09:00:00Z&start=le2030-01-01T17:00:00Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService",
                400,
                IssueType::Required,
            ),
            (
                &OK.replace("status=free", "status=maybe"),
                400,
                IssueType::Value,
            ),
            (&OK.replace("status=free&", ""), 400, IssueType::Required),
            (
                &OK.replace("&start=le2030-01-01T17:00:00Z", ""),
                400,
                IssueType::Required,
            ),
            (
                &OK.replace("ge2030-01-01T09:00:00Z", "ge2030-01-01T09:00:00"),
                400,
                IssueType::Value,
            ),
            (
                &OK.replace("ge2030-01-01T09:00:00Z", "ge2030-01-01T09:00:00%2B01:00"),
                400,
                IssueType::Value,
            ),
            (
                &OK.replace("le2030-01-01T17:00:00Z", "le2030-01-20T17:00:00Z"),
                422,
                IssueType::TooCostly,
            ),
            (
                &OK.replace("&_include=Schedule:actor:HealthcareService", ""),
                400,
                IssueType::Required,
            ),
            (
                &OK.replace("2000099999", "http://example.org|2000099999"),
                400,
                IssueType::Value,
            ),
        ];
        for (q, status, issue) in cases {
            let e = parse(q).unwrap_err();
            assert_eq!((e.status.as_u16(), e.issue), (status, issue), "{q}");
        }
    }

    #[test]
    fn cursors_round_trip() {
        let c = SlotCursor {
            start_nanos: 123,
            id: "a|b".into(),
        };
        assert_eq!(parse_cursor(&cursor_token(&c)).unwrap(), c);
        assert!(parse_cursor("!!").is_err());
    }
}
