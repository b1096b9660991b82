//! Publishing availability: hosted services, schedules and slots. Used by the admin API and
//! by the command line; never reachable by senders.

use std::sync::Arc;

use bars_booking::SlotStatus;
use std::future::Future;

use bars_fhir::codes::BarsCode;
use bars_fhir::headers::{DOS_SERVICE_SYSTEM, ODS_SYSTEM};
use bars_fhir::resource::stamp;
use bars_fhir::{Instant, IssueType, validate};
use bars_http::ApiError;
use bars_store::{PutError, ScheduleRecord, SlotRecord, Store, StoreError, StoredResource};
use serde_json::{Value, json};

use crate::config::{HostedService, ReceiverConfig};
use crate::errors;
pub use crate::opening_hours::{SlotPlan, parse_hours, parse_minutes, parse_zone, uk_time_zone};

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

/// How often a write of a resource or schedule that lost a race to another writer of it reads
/// the stored version again. Each round one of the writers wins, so this many writing one
/// resource at once all get through.
const REWRITE_ROUNDS: usize = 8;

/// The version a write stamps and the stored one it follows: one more than the stored version
/// (1 for a new resource), at a time that never goes backwards.
#[derive(Debug, Clone, Copy)]
struct NextVersion {
    version: u64,
    last_updated: Instant,
    follows: Option<u64>,
}

impl NextVersion {
    fn after(stored: Option<(u64, Instant)>) -> NextVersion {
        let now = Instant::now();
        match stored {
            None => NextVersion {
                version: 1,
                last_updated: now,
                follows: None,
            },
            Some((version, last_updated)) => NextVersion {
                version: version + 1,
                last_updated: now.after(last_updated),
                follows: Some(version),
            },
        }
    }

    /// `body` stamped as this version of `resource_type/id`: its `id`, `meta.versionId` and
    /// `meta.lastUpdated` set, as the text the store keeps.
    fn stamp(self, resource_type: &str, id: &str, body: &mut Value) -> StoredResource {
        stamp(body, id, self.version, self.last_updated);
        StoredResource {
            resource_type: resource_type.to_string(),
            id: id.to_string(),
            version: self.version,
            last_updated: self.last_updated,
            body: body.to_string(),
        }
    }
}

/// Writes the next version of `kind/id`: `stored` reads the stored version, `write` stamps the
/// body after it and stores it guarded by it; a write that lost a race reads again. Stamping
/// `id`, `meta.versionId` and `meta.lastUpdated` happens here for every resource the
/// receiver publishes, as it does in the booking service for appointments: the store keeps
/// the text it is given.
async fn rewrite<T, R, RF, W, WF>(
    kind: &str,
    id: &str,
    mut stored: R,
    mut write: W,
) -> Result<T, StoreError>
where
    R: FnMut() -> RF,
    RF: Future<Output = Result<Option<(u64, Instant)>, StoreError>>,
    W: FnMut(NextVersion) -> WF,
    WF: Future<Output = Result<T, PutError>>,
{
    for _ in 0..REWRITE_ROUNDS {
        let next = NextVersion::after(stored().await?);
        match write(next).await {
            Ok(written) => return Ok(written),
            Err(PutError::VersionConflict) => continue,
            Err(PutError::Store(e)) => return Err(e),
        }
    }
    Err(StoreError::Unavailable(format!(
        "{kind}/{id} kept changing while it was written"
    )))
}

/// The default schedule of a service: every service gets one so slots can be published at once.
pub fn default_schedule_id(service_id: &str) -> String {
    format!("{service_id}-default")
}

impl Availability {
    /// Publishes a hosted service: its HealthcareService, the receiving Organization and a
    /// default schedule. Safe to repeat.
    pub async fn ensure_service(&self, service: &HostedService) -> Result<(), StoreError> {
        let ods = &self.config.ods_code;
        if self
            .store
            .get_resource("Organization", ods)
            .await?
            .is_none()
        {
            let org = json!({
                "resourceType": "Organization",
                "identifier": [{ "system": ODS_SYSTEM, "value": ods }],
                "active": true,
                "name": self.config.organisation_name,
            });
            self.put_resource("Organization", ods, org).await?;
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
            .await?;
        let unchanged = existing
            .as_ref()
            .and_then(|e| serde_json::from_str::<Value>(&e.body).ok())
            .is_some_and(|e| e.get("name") == hs.get("name"));
        if !unchanged {
            self.put_resource("HealthcareService", &service.id, hs)
                .await?;
        }
        let schedule_id = default_schedule_id(&service.id);
        if self
            .store
            .get_schedules(std::slice::from_ref(&schedule_id))
            .await?
            .is_empty()
        {
            let schedule = json!({
                "resourceType": "Schedule",
                "meta": { "profile": [SCHEDULE_PROFILE] },
                "active": true,
                "actor": [{ "reference": format!("HealthcareService/{}", service.id), "display": service.name }],
            });
            self.write_schedule(&schedule_id, &service.id, schedule, &json!({}))
                .await?;
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
        self.write_schedule(&id, &service_id, schedule, &slot_template)
            .await
            .map_err(errors::store)
    }

    /// Creates or replaces a reference resource (Organization, HealthcareService, ...): the
    /// next version of it, stamped here.
    pub async fn put_resource(
        &self,
        resource_type: &str,
        id: &str,
        mut body: Value,
    ) -> Result<StoredResource, StoreError> {
        let store = self.store.as_ref();
        rewrite(
            resource_type,
            id,
            move || async move {
                let stored = store.get_resource(resource_type, id).await?;
                Ok(stored.map(|r| (r.version, r.last_updated)))
            },
            |next| store.put_resource(next.stamp(resource_type, id, &mut body), next.follows),
        )
        .await
    }

    /// Writes the next version of a schedule, stamped here, with the slot template its slots
    /// share.
    async fn write_schedule(
        &self,
        id: &str,
        service_id: &str,
        mut body: Value,
        slot_template: &Value,
    ) -> Result<ScheduleRecord, StoreError> {
        let store = self.store.as_ref();
        let ids = [id.to_string()];
        rewrite(
            "Schedule",
            id,
            || async {
                let stored = store.get_schedules(&ids).await?;
                Ok(stored.first().map(|s| (s.version, s.last_updated)))
            },
            |next| {
                let StoredResource {
                    id,
                    version,
                    last_updated,
                    body,
                    ..
                } = next.stamp("Schedule", id, &mut body);
                let schedule = ScheduleRecord {
                    id,
                    service_id: service_id.to_string(),
                    version,
                    last_updated,
                    body,
                    slot_template: slot_template.to_string(),
                };
                store.put_schedule(schedule, next.follows)
            },
        )
        .await
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
    format!(
        "{schedule_id}-{}",
        start.to_timestamp().strftime("%Y%m%d%H%M")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
