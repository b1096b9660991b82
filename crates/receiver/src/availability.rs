//! Publishing availability: hosted services, schedules and slots. Used by the admin API and
//! by the command line; never reachable by senders.

use std::sync::Arc;

use bars_booking::SlotStatus;
use bars_fhir::codes::BarsCode;
use bars_fhir::headers::{DOS_SERVICE_SYSTEM, ODS_SYSTEM};
use bars_fhir::{Instant, IssueType, validate};
use bars_http::ApiError;
use bars_store::{ScheduleRecord, SlotRecord, Store};
use serde_json::{Value, json};
use time::{
    Date, Duration as TimeDuration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset,
    Weekday,
};

use crate::config::{HostedService, ReceiverConfig};
use crate::errors;

pub const HEALTHCARE_SERVICE_PROFILE: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-HealthcareService";
pub const SCHEDULE_PROFILE: &str = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Schedule";
pub const DELIVERY_CHANNEL_EXTENSION: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeliveryChannel";

#[derive(Clone)]
pub struct Availability {
    pub store: Arc<dyn Store>,
    pub config: Arc<ReceiverConfig>,
}

/// The default schedule of a service: every service gets one so slots can be published at once.
pub fn default_schedule_id(service_id: &str) -> String {
    format!("{service_id}-default")
}

/// How slots are laid out in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotPlan {
    pub service_id: String,
    /// `None`: the service's default schedule.
    pub schedule_id: Option<String>,
    pub from: Date,
    pub days: u32,
    pub every_minutes: u32,
    /// Slot length; `None` means back-to-back (`every_minutes`).
    pub length_minutes: Option<u32>,
    pub day_start: Time,
    pub day_end: Time,
    pub weekdays_only: bool,
    pub zone: Zone,
}

/// The clock the opening hours are read in. UK services open at local (London) time, which
/// moves with British Summer Time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Utc,
    EuropeLondon,
}

impl Zone {
    pub fn parse(s: &str) -> Option<Zone> {
        match s.to_ascii_lowercase().as_str() {
            "utc" | "z" => Some(Zone::Utc),
            "europe/london" | "europe-london" | "london" | "uk" => Some(Zone::EuropeLondon),
            _ => None,
        }
    }

    /// This zone's offset from UTC at an instant.
    pub fn offset_at(self, utc: OffsetDateTime) -> UtcOffset {
        match self {
            Zone::EuropeLondon if is_bst(utc) => {
                UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC)
            }
            _ => UtcOffset::UTC,
        }
    }

    /// Converts a wall-clock time in this zone to UTC.
    pub fn to_utc(self, local: PrimitiveDateTime) -> OffsetDateTime {
        match self {
            Zone::Utc => local.assume_utc(),
            Zone::EuropeLondon => {
                // BST runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last
                // Sunday of October; opening hours never fall in the hour the clocks change.
                let as_bst = local
                    .assume_offset(UtcOffset::from_hms(1, 0, 0).unwrap_or(UtcOffset::UTC))
                    .to_offset(UtcOffset::UTC);
                if is_bst(as_bst) {
                    as_bst
                } else {
                    local.assume_utc()
                }
            }
        }
    }
}

fn last_sunday(year: i32, month: Month) -> Date {
    let mut d = Date::from_calendar_date(year, month, month.length(year)).unwrap_or(Date::MIN);
    while d.weekday() != Weekday::Sunday {
        d = d.previous_day().unwrap_or(d);
    }
    d
}

fn is_bst(utc: OffsetDateTime) -> bool {
    let year = utc.year();
    let begins = PrimitiveDateTime::new(
        last_sunday(year, Month::March),
        Time::from_hms(1, 0, 0).unwrap_or(Time::MIDNIGHT),
    )
    .assume_utc();
    let ends = PrimitiveDateTime::new(
        last_sunday(year, Month::October),
        Time::from_hms(1, 0, 0).unwrap_or(Time::MIDNIGHT),
    )
    .assume_utc();
    utc >= begins && utc < ends
}

impl SlotPlan {
    /// The (start, end) of every slot the plan describes.
    pub fn times(&self) -> Vec<(Instant, Instant)> {
        let every = TimeDuration::minutes(i64::from(self.every_minutes.max(1)));
        let length = TimeDuration::minutes(i64::from(
            self.length_minutes.unwrap_or(self.every_minutes).max(1),
        ));
        let mut out = Vec::new();
        let mut day = self.from;
        for _ in 0..self.days {
            if !(self.weekdays_only && matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday))
            {
                let mut t = PrimitiveDateTime::new(day, self.day_start);
                let close = PrimitiveDateTime::new(day, self.day_end);
                while t + length <= close {
                    let start = self.zone.to_utc(t);
                    out.push((
                        Instant::from_offset_date_time(start),
                        Instant::from_offset_date_time(start + length),
                    ));
                    t += every;
                }
            }
            day = match day.next_day() {
                Some(d) => d,
                None => break,
            };
        }
        out
    }
}

impl Availability {
    /// Publishes a hosted service: its HealthcareService, the receiving Organization and a
    /// default schedule. Safe to repeat.
    pub async fn ensure_service(&self, service: &HostedService) -> Result<(), ApiError> {
        let ods = &self.config.ods_code;
        if self
            .store
            .get_resource("Organization", ods)
            .await
            .map_err(errors::store)?
            .is_none()
        {
            let org = json!({
                "resourceType": "Organization",
                "identifier": [{ "system": ODS_SYSTEM, "value": ods }],
                "active": true,
                "name": self.config.organisation_name,
            });
            self.store
                .put_resource("Organization", ods, org)
                .await
                .map_err(errors::store)?;
        }
        let hs = json!({
            "resourceType": "HealthcareService",
            "meta": { "profile": [HEALTHCARE_SERVICE_PROFILE] },
            "identifier": [{ "system": DOS_SERVICE_SYSTEM, "value": service.id }],
            "active": true,
            "providedBy": { "reference": format!("Organization/{ods}"), "identifier": { "system": ODS_SYSTEM, "value": ods } },
            "name": service.name,
        });
        let existing = self
            .store
            .get_resource("HealthcareService", &service.id)
            .await
            .map_err(errors::store)?;
        let unchanged = existing
            .as_ref()
            .and_then(|e| serde_json::from_str::<Value>(&e.body).ok())
            .is_some_and(|e| e.get("name") == hs.get("name"));
        if !unchanged {
            self.store
                .put_resource("HealthcareService", &service.id, hs)
                .await
                .map_err(errors::store)?;
        }
        let schedule_id = default_schedule_id(&service.id);
        if self
            .store
            .get_schedules(std::slice::from_ref(&schedule_id))
            .await
            .map_err(errors::store)?
            .is_empty()
        {
            let schedule = json!({
                "resourceType": "Schedule",
                "meta": { "profile": [SCHEDULE_PROFILE] },
                "active": true,
                "actor": [{ "reference": format!("HealthcareService/{}", service.id), "display": service.name }],
            });
            self.store
                .put_schedule(&schedule_id, &service.id, schedule, json!({}))
                .await
                .map_err(errors::store)?;
        }
        Ok(())
    }

    /// Creates or replaces a schedule. Its HealthcareService actor names the service, which must
    /// be hosted here; `slot_template` holds the elements its slots share.
    pub async fn put_schedule(
        &self,
        id: Option<&str>,
        schedule: Value,
        slot_template: Value,
    ) -> Result<ScheduleRecord, ApiError> {
        let issues = validate::schedule(&schedule);
        if issues.iter().any(|i| i.is_error()) {
            return Err(ApiError::from_issues(BarsCode::RecBadRequest, &issues));
        }
        let service_id = schedule
            .get("actor")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|a| {
                a.get("reference")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("HealthcareService/"))
            })
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::bars(
                    BarsCode::RecBadRequest,
                    IssueType::Required,
                    "the schedule needs an actor HealthcareService/<service id>",
                )
                .at("Schedule.actor")
            })?;
        self.check_hosted(&service_id)?;
        if !slot_template.is_object() {
            return Err(ApiError::bars(
                BarsCode::RecBadRequest,
                IssueType::Structure,
                "the slot template must be a JSON object of Slot elements",
            ));
        }
        let id = id
            .map(str::to_string)
            .or_else(|| {
                schedule
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        self.store
            .put_schedule(&id, &service_id, schedule, slot_template)
            .await
            .map_err(errors::store)
    }

    fn check_hosted(&self, service_id: &str) -> Result<(), ApiError> {
        if self.config.hosts(service_id) {
            Ok(())
        } else {
            Err(ApiError::bars(
                BarsCode::RecNotFound,
                IssueType::NotFound,
                format!("service {service_id} is not hosted by this receiver"),
            ))
        }
    }

    async fn schedule_for(
        &self,
        service_id: &str,
        schedule_id: Option<&str>,
    ) -> Result<ScheduleRecord, ApiError> {
        self.check_hosted(service_id)?;
        let id = schedule_id
            .map(str::to_string)
            .unwrap_or_else(|| default_schedule_id(service_id));
        let schedule = self
            .store
            .get_schedules(std::slice::from_ref(&id))
            .await
            .map_err(errors::store)?
            .pop();
        match schedule {
            Some(s) if s.service_id == service_id => Ok(s),
            Some(_) => Err(ApiError::bars(
                BarsCode::RecBadRequest,
                IssueType::Value,
                format!("schedule {id} belongs to another service"),
            )),
            None => Err(ApiError::bars(
                BarsCode::RecNotFound,
                IssueType::NotFound,
                format!("schedule {id} does not exist"),
            )),
        }
    }

    /// Publishes free slots in bulk. Slot ids are derived from schedule and start time, so
    /// running the same plan twice adds nothing the second time.
    pub async fn generate(&self, plan: &SlotPlan) -> Result<usize, ApiError> {
        let schedule = self
            .schedule_for(&plan.service_id, plan.schedule_id.as_deref())
            .await?;
        let now = Instant::now();
        let slots: Vec<SlotRecord> = plan
            .times()
            .into_iter()
            .map(|(start, end)| SlotRecord {
                id: slot_id(&schedule.id, start),
                schedule_id: schedule.id.clone(),
                service_id: plan.service_id.clone(),
                status: SlotStatus::Free,
                start,
                end,
                version: 1,
                last_updated: now,
                extra: None,
            })
            .collect();
        self.store.insert_slots(slots).await.map_err(errors::store)
    }

    /// Publishes one slot from a UKCore-Slot resource. Elements beyond schedule, status, start
    /// and end are kept with the slot.
    pub async fn create_slot(&self, slot: Value) -> Result<SlotRecord, ApiError> {
        let issues = validate::slot(&slot);
        if issues.iter().any(|i| i.is_error()) {
            return Err(ApiError::from_issues(BarsCode::RecBadRequest, &issues));
        }
        let schedule_id = slot
            .pointer("/schedule/reference")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("Schedule/"))
            .ok_or_else(|| {
                ApiError::bars(
                    BarsCode::RecBadRequest,
                    IssueType::Value,
                    "schedule must reference Schedule/<id>",
                )
                .at("Slot.schedule")
            })?
            .to_string();
        let schedule = self
            .store
            .get_schedules(std::slice::from_ref(&schedule_id))
            .await
            .map_err(errors::store)?
            .pop()
            .ok_or_else(|| {
                ApiError::bars(
                    BarsCode::RecNotFound,
                    IssueType::NotFound,
                    format!("schedule {schedule_id} does not exist"),
                )
            })?;
        let status = slot
            .get("status")
            .and_then(Value::as_str)
            .and_then(SlotStatus::parse)
            .unwrap_or(SlotStatus::Free);
        if status != SlotStatus::Free {
            return Err(ApiError::bars(
                BarsCode::RecBadRequest,
                IssueType::Value,
                "a new slot is published free",
            )
            .at("Slot.status"));
        }
        let instant = |name: &str| {
            slot.get(name)
                .and_then(Value::as_str)
                .and_then(|s| Instant::parse(s).ok())
        };
        let (Some(start), Some(end)) = (instant("start"), instant("end")) else {
            return Err(ApiError::bars(
                BarsCode::RecBadRequest,
                IssueType::Required,
                "start and end are required",
            ));
        };
        let mut extra = slot.as_object().cloned().unwrap_or_default();
        for k in [
            "resourceType",
            "id",
            "meta",
            "schedule",
            "status",
            "start",
            "end",
        ] {
            extra.shift_remove(k);
        }
        let record = SlotRecord {
            id: slot
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| slot_id(&schedule.id, start)),
            schedule_id: schedule.id.clone(),
            service_id: schedule.service_id.clone(),
            status,
            start,
            end,
            version: 1,
            last_updated: Instant::now(),
            extra: (!extra.is_empty()).then(|| Value::Object(extra).to_string()),
        };
        let inserted = self
            .store
            .insert_slots(vec![record.clone()])
            .await
            .map_err(errors::store)?;
        if inserted == 0 {
            return Err(ApiError::bars(
                BarsCode::RecConflict,
                IssueType::Duplicate,
                format!("slot {} already exists", record.id),
            ));
        }
        Ok(record)
    }

    pub async fn withdraw(&self, slot_id: &str) -> Result<SlotRecord, ApiError> {
        self.store
            .withdraw_slot(slot_id)
            .await
            .map_err(errors::withdraw)
    }
}

/// `<schedule>-<yyyymmddhhmm>`: readable, unique per schedule and start, and a valid FHIR id.
pub fn slot_id(schedule_id: &str, start: Instant) -> String {
    let t = start.to_offset_date_time();
    format!(
        "{schedule_id}-{:04}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// Parses `HH:MM-HH:MM`.
pub fn parse_hours(text: &str) -> Option<(Time, Time)> {
    let (a, b) = text.split_once('-')?;
    let parse = |s: &str| {
        let (h, m) = s.trim().split_once(':')?;
        Time::from_hms(h.parse().ok()?, m.parse().ok()?, 0).ok()
    };
    let (start, end) = (parse(a)?, parse(b)?);
    (start < end).then_some((start, end))
}

/// Parses `10m`, `15min`, `1h`, `90` (minutes).
pub fn parse_minutes(text: &str) -> Option<u32> {
    let t = text.trim().to_ascii_lowercase();
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t.as_str(), ""), |i| t.split_at(i));
    let n: u32 = num.parse().ok()?;
    let minutes = match unit {
        "" | "m" | "min" | "mins" | "minutes" => n,
        "h" | "hr" | "hour" | "hours" => n.checked_mul(60)?,
        _ => return None,
    };
    (minutes > 0).then_some(minutes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, time};

    fn plan(from: Date, zone: Zone) -> SlotPlan {
        SlotPlan {
            service_id: "s".into(),
            schedule_id: None,
            from,
            days: 1,
            every_minutes: 10,
            length_minutes: None,
            day_start: time!(09:00),
            day_end: time!(10:00),
            weekdays_only: false,
            zone,
        }
    }

    #[test]
    fn lays_out_back_to_back_slots() {
        let times = plan(date!(2030 - 01 - 07), Zone::Utc).times();
        assert_eq!(times.len(), 6);
        assert_eq!(times[0].0.to_string(), "2030-01-07T09:00:00+00:00");
        assert_eq!(times[5].1.to_string(), "2030-01-07T10:00:00+00:00");
    }

    #[test]
    fn london_hours_follow_summer_time() {
        let winter = plan(date!(2030 - 01 - 07), Zone::EuropeLondon).times();
        assert_eq!(winter[0].0.to_string(), "2030-01-07T09:00:00+00:00");
        let summer = plan(date!(2030 - 07 - 08), Zone::EuropeLondon).times();
        assert_eq!(summer[0].0.to_string(), "2030-07-08T08:00:00+00:00");
    }

    #[test]
    fn weekends_can_be_skipped() {
        let mut p = plan(date!(2030 - 01 - 05), Zone::Utc); // a Saturday
        p.days = 3;
        p.weekdays_only = true;
        assert!(
            p.times()
                .iter()
                .all(|(s, _)| s.to_string().starts_with("2030-01-07"))
        );
    }

    #[test]
    fn parses_hours_and_intervals() {
        assert_eq!(
            parse_hours("09:00-17:30"),
            Some((time!(09:00), time!(17:30)))
        );
        assert_eq!(parse_hours("17:00-09:00"), None);
        assert_eq!(parse_minutes("10m"), Some(10));
        assert_eq!(parse_minutes("1h"), Some(60));
        assert_eq!(parse_minutes("0"), None);
        assert_eq!(parse_minutes("ten"), None);
    }

    #[test]
    fn slot_ids_are_valid_fhir_ids() {
        let id = slot_id(
            "2000099999-default",
            Instant::parse("2030-01-07T09:00:00Z").unwrap(),
        );
        assert_eq!(id, "2000099999-default-203001070900");
        assert!(id.len() <= 64);
    }
}
