//! Availability from the provider's own scheduling system: an idempotent bulk upsert of slots
//! keyed on that system's ids. Each slot is applied on its own and answered on its own (a bad
//! or refused slot does not stop the others); sending the same call again changes nothing.

use bars_fhir::codes::BarsCode;
use bars_fhir::{Instant, IssueType};
use bars_http::ApiError;
use bars_store::{SlotSync, SlotSyncOutcome, Store};
use serde_json::{Value, json};

use crate::errors;

/// The most slots one call may carry.
pub const MAX_SLOTS: usize = 5_000;
const MAX_EXTERNAL_ID: usize = 200;

fn bad(why: impl Into<String>) -> ApiError {
    ApiError::bars(BarsCode::RecBadRequest, IssueType::Value, why.into())
}

/// One slot of the call, read from its JSON: what to apply, or why it cannot be.
fn item(v: &Value, default_schedule: Option<&str>) -> (String, Result<SlotSync, String>) {
    let external_id = v
        .get("externalId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let parsed = (|| {
        if external_id.is_empty() || external_id.len() > MAX_EXTERNAL_ID {
            return Err(format!(
                "externalId is required, at most {MAX_EXTERNAL_ID} characters"
            ));
        }
        if v.get("withdraw").and_then(Value::as_bool) == Some(true) {
            return Ok(SlotSync::Withdraw {
                external_id: external_id.clone(),
            });
        }
        let time = |field: &str| {
            v.get(field)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{field} is required"))
                .and_then(|t| {
                    Instant::parse(t)
                        .map_err(|_| format!("{field} must be an instant with an offset"))
                })
        };
        let (start, end) = (time("start")?, time("end")?);
        if start >= end {
            return Err("start must be before end".to_string());
        }
        let schedule_id = v
            .get("schedule")
            .and_then(Value::as_str)
            .or(default_schedule)
            .ok_or("schedule is required: the service has no schedule to default to")?
            .to_string();
        Ok(SlotSync::Upsert {
            external_id: external_id.clone(),
            schedule_id,
            start,
            end,
        })
    })();
    (external_id, parsed)
}

/// Applies a call's body: `{"service": id, "slots": [{"externalId", "schedule"?, "start",
/// "end"} | {"externalId", "withdraw": true}]}`. Answers one result per slot, in order.
pub async fn apply(store: &dyn Store, body: &Value) -> Result<Value, ApiError> {
    let service = body
        .get("service")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("service is required").at("service"))?;
    let slots = body
        .get("slots")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("slots must be an array").at("slots"))?;
    if slots.len() > MAX_SLOTS {
        return Err(bad(format!("at most {MAX_SLOTS} slots per call")).at("slots"));
    }
    let schedules = store
        .schedules_for_service(service)
        .await
        .map_err(errors::store)?;
    let default_schedule = schedules.iter().map(|s| s.id.as_str()).min();
    let parsed: Vec<(String, Result<SlotSync, String>)> =
        slots.iter().map(|v| item(v, default_schedule)).collect();
    let valid: Vec<SlotSync> = parsed
        .iter()
        .filter_map(|(_, p)| p.as_ref().ok().cloned())
        .collect();
    let mut applied = store
        .sync_slots(service, valid, Instant::now())
        .await
        .map_err(errors::store)?
        .into_iter();
    let mut results = Vec::with_capacity(parsed.len());
    let mut counts = std::collections::BTreeMap::<&'static str, u64>::new();
    for (external_id, p) in &parsed {
        let line = match p {
            Err(why) => json!({ "externalId": external_id, "outcome": "invalid", "reason": why }),
            Ok(_) => match applied.next() {
                Some(outcome) => result(external_id, &outcome),
                None => {
                    json!({ "externalId": external_id, "outcome": "invalid", "reason": "not applied" })
                }
            },
        };
        let outcome = match line["outcome"].as_str() {
            Some("created") => "created",
            Some("moved") => "moved",
            Some("reinstated") => "reinstated",
            Some("withdrawn") => "withdrawn",
            Some("unchanged") => "unchanged",
            _ => "refused",
        };
        *counts.entry(outcome).or_default() += 1;
        results.push(line);
    }
    Ok(json!({ "service": service, "summary": counts, "results": results }))
}

fn result(external_id: &str, outcome: &SlotSyncOutcome) -> Value {
    match outcome {
        SlotSyncOutcome::Created { slot_id } => {
            json!({ "externalId": external_id, "outcome": "created", "slot": slot_id })
        }
        SlotSyncOutcome::Moved { slot_id } => {
            json!({ "externalId": external_id, "outcome": "moved", "slot": slot_id })
        }
        SlotSyncOutcome::Reinstated { slot_id } => {
            json!({ "externalId": external_id, "outcome": "reinstated", "slot": slot_id })
        }
        SlotSyncOutcome::Withdrawn { slot_id } => {
            json!({ "externalId": external_id, "outcome": "withdrawn", "slot": slot_id })
        }
        SlotSyncOutcome::Unchanged { slot_id } => {
            json!({ "externalId": external_id, "outcome": "unchanged", "slot": slot_id })
        }
        SlotSyncOutcome::Booked {
            slot_id,
            appointment_id,
        } => json!({
            "externalId": external_id, "outcome": "booked", "slot": slot_id, "appointment": appointment_id,
            "reason": match appointment_id {
                Some(a) => format!("the slot is booked by Appointment/{a}; cancel or move that appointment first"),
                None => "the slot is booked".to_string(),
            },
        }),
        SlotSyncOutcome::Unknown => json!({
            "externalId": external_id, "outcome": "unknown", "reason": "no slot has this external id",
        }),
        SlotSyncOutcome::WrongSchedule => json!({
            "externalId": external_id, "outcome": "invalid", "reason": "the schedule is not one of this service's",
        }),
    }
}
