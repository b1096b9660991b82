//! What every check shares: the wire, the services and test patients the user named, the
//! receiver's CapabilityStatement, the slots the kit has used and the appointments it booked
//! (cancelled at the end).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::wire::{Request, Response, Wire};

/// Why a check did not pass. Declared beside the context the checks run in (which raises
/// `Skip` when it has no free slot or patient), so the context needs nothing from `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Fail(String),
    /// The check could not be run (no free slot, no test patient); never used to hide a failure.
    Skip(String),
}

/// The days searched for slots: `first` (YYYY-MM-DD) and the `days` after it.
#[derive(Debug, Clone)]
pub struct Window {
    pub first: time::Date,
    pub days: u32,
}

impl Window {
    /// Tomorrow (UTC) for one day: slots a receiver publishes ahead are there.
    pub fn tomorrow() -> Window {
        let today = time::OffsetDateTime::now_utc().date();
        Window {
            first: today.next_day().unwrap_or(today),
            days: 1,
        }
    }

    /// `days` days from `first` (YYYY-MM-DD).
    pub fn starting(first: &str, days: u32) -> Result<Window, String> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let first = time::Date::parse(first, format)
            .map_err(|_| format!("{first} is not a date (YYYY-MM-DD)"))?;
        Ok(Window {
            first,
            days: days.max(1),
        })
    }

    fn last(&self) -> time::Date {
        let mut d = self.first;
        for _ in 1..self.days.max(1) {
            d = d.next_day().unwrap_or(d);
        }
        d
    }

    pub fn lower(&self) -> String {
        format!("{}T00:00:00Z", date(self.first))
    }

    pub fn upper(&self) -> String {
        format!("{}T23:59:59Z", date(self.last()))
    }
}

/// Whether a CapabilityStatement declares the operation `name` (given without the `$`).
/// FHIR R4 contradicts itself on `rest.operation.name`: its definition says the name is
/// "prefixed with $ and used in the URL", its comment that it "does not include the $". Both
/// spellings occur (the official BaRS sandbox's statement says `$process-message`), so both
/// count as declaring the operation.
pub fn declares_operation(capability: &Value, name: &str) -> bool {
    capability
        .pointer("/rest/0/operation")
        .and_then(Value::as_array)
        .is_some_and(|ops| {
            ops.iter().any(|o| {
                o["name"]
                    .as_str()
                    .is_some_and(|n| n.strip_prefix('$').unwrap_or(n) == name)
            })
        })
}

pub fn date(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// A booking the kit made and still holds.
#[derive(Debug, Clone)]
pub struct Booked {
    pub service: String,
    pub id: String,
    pub slot: Value,
    pub appointment: Value,
    pub etag: Option<String>,
}

pub struct Ctx {
    pub wire: Arc<Wire>,
    pub services: Vec<String>,
    pub patients: Vec<String>,
    pub window: Window,
    pub capability: Value,
    /// An organisation (ODS code) the receiver's access policy refuses, for the 401 row.
    pub refused_organisation: Option<String>,
    used_slots: Mutex<HashSet<String>>,
    booked: Mutex<Vec<Booked>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctx {
    /// Reads the receiver's CapabilityStatement first: what it declares decides what is checked.
    /// The read itself is the first check's evidence.
    pub async fn connect(
        wire: Wire,
        services: Vec<String>,
        patients: Vec<String>,
        window: Window,
    ) -> Ctx {
        let wire = Arc::new(wire);
        let first = services.first().cloned().unwrap_or_default();
        let capability = match wire.send(&Request::get("/metadata").to(&first)).await {
            Ok(r) if r.status == 200 => r.json().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        Ctx {
            wire,
            services,
            patients,
            window,
            capability,
            refused_organisation: None,
            used_slots: Mutex::new(HashSet::new()),
            booked: Mutex::new(Vec::new()),
        }
    }

    /// Names an organisation the receiver refuses (the 401 row is skipped without one).
    pub fn with_refused_organisation(mut self, ods: Option<String>) -> Ctx {
        self.refused_organisation = ods;
        self
    }

    pub fn direct(&self) -> bool {
        self.wire.is_direct()
    }

    fn resource(&self, kind: &str) -> Option<&Value> {
        self.capability
            .pointer("/rest/0/resource")?
            .as_array()?
            .iter()
            .find(|r| r["type"] == kind)
    }

    pub fn declares(&self, kind: &str, interaction: &str) -> bool {
        self.resource(kind)
            .and_then(|r| r["interaction"].as_array())
            .is_some_and(|i| i.iter().any(|x| x["code"] == interaction))
    }

    pub fn declares_operation(&self, name: &str) -> bool {
        declares_operation(&self.capability, name)
    }

    pub fn declares_versioned_update(&self) -> bool {
        self.resource("Appointment")
            .is_some_and(|r| r["versioning"] == "versioned-update")
    }

    pub fn service(&self) -> Result<&str, Problem> {
        self.services
            .first()
            .map(String::as_str)
            .ok_or_else(|| Problem::Skip("no --service given".into()))
    }

    pub fn patient(&self) -> Result<&str, Problem> {
        self.patients
            .first()
            .map(String::as_str)
            .ok_or_else(|| Problem::Skip("no --patient given".into()))
    }

    pub async fn send(&self, request: Request) -> Result<Response, Problem> {
        self.wire.send(&request).await.map_err(|e| {
            Problem::Fail(format!(
                "no answer to {} {}: {e}",
                request.method, request.path
            ))
        })
    }

    /// A slot search with every parameter the IG requires.
    pub fn slot_query(&self, service: &str, status: &str) -> String {
        format!(
            "/Slot?Schedule.actor:HealthcareService={service}&status={status}&start=ge{}&start=le{}&_include=Slot:schedule&_include=Schedule:actor:HealthcareService",
            self.window.lower(),
            self.window.upper()
        )
    }

    /// The matching Slots of a search answer.
    pub fn matches(bundle: &Value, kind: &str) -> Vec<Value> {
        bundle["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["resource"]["resourceType"] == kind)
                    .filter(|e| e["search"]["mode"] != "include")
                    .map(|e| e["resource"].clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn free_slots(&self, service: &str) -> Result<Vec<Value>, Problem> {
        let r = self
            .send(Request::get(self.slot_query(service, "free")).to(service))
            .await?;
        if r.status != 200 {
            return Err(Problem::Fail(format!(
                "the slot search answered {}",
                r.summary()
            )));
        }
        Ok(Ctx::matches(&r.json().unwrap_or(Value::Null), "Slot"))
    }

    /// Free slots the kit has not used yet, `n` of them, marked used.
    pub async fn take_slots(&self, service: &str, n: usize) -> Result<Vec<Value>, Problem> {
        let free = self.free_slots(service).await?;
        let mut used = lock(&self.used_slots);
        let fresh: Vec<Value> = free
            .into_iter()
            .filter(|s| s["id"].as_str().is_some_and(|id| !used.contains(id)))
            .take(n)
            .collect();
        if fresh.len() < n {
            return Err(Problem::Skip(format!(
                "fewer than {n} free slots the kit has not used at service {service} between {} and {}: publish more or widen --days",
                self.window.lower(),
                self.window.upper()
            )));
        }
        for s in &fresh {
            if let Some(id) = s["id"].as_str() {
                used.insert(id.to_string());
            }
        }
        Ok(fresh)
    }

    pub async fn take_slot(&self, service: &str) -> Result<Value, Problem> {
        let mut slots = self.take_slots(service, 1).await?;
        slots
            .pop()
            .ok_or_else(|| Problem::Skip("no free slot".into()))
    }

    /// The booking request a sender makes for `slot`.
    pub fn appointment_for(slot: &Value, nhs: &str) -> Value {
        json!({
            "resourceType": "Appointment",
            "meta": { "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"] },
            "status": "booked",
            "slot": [{ "reference": format!("Slot/{}", slot["id"].as_str().unwrap_or_default()) }],
            "description": "BaRS conformance kit booking",
            "start": slot["start"],
            "end": slot["end"],
            "participant": [{
                "actor": { "type": "Patient", "identifier": { "system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs } },
                "status": "accepted"
            }]
        })
    }

    /// Remembers a booking answered 201, so that cleanup cancels it.
    pub fn remember(&self, service: &str, slot: &Value, r: &Response) -> Option<Booked> {
        if r.status != 201 {
            return None;
        }
        let appointment = r.json()?;
        let booked = Booked {
            service: service.to_string(),
            id: appointment["id"].as_str()?.to_string(),
            slot: slot.clone(),
            etag: r.header("etag").map(str::to_string),
            appointment,
        };
        lock(&self.booked).push(booked.clone());
        Some(booked)
    }

    /// Books a fresh slot; anything but a 201 with an Appointment fails the check.
    pub async fn book_fresh(&self) -> Result<Booked, Problem> {
        let service = self.service()?.to_string();
        let patient = self.patient()?.to_string();
        let slot = self.take_slot(&service).await?;
        let r = self
            .send(
                Request::post("/Appointment")
                    .to(&service)
                    .json(&Ctx::appointment_for(&slot, &patient)),
            )
            .await?;
        self.remember(&service, &slot, &r).ok_or_else(|| {
            Problem::Fail(format!(
                "booking a free slot answered {}, not 201 with an Appointment",
                r.summary()
            ))
        })
    }

    /// Reads an appointment: its body and ETag.
    pub async fn read(&self, service: &str, id: &str) -> Result<(Value, Option<String>), Problem> {
        let r = self
            .send(Request::get(format!("/Appointment/{id}")).to(service))
            .await?;
        if r.status != 200 {
            return Err(Problem::Fail(format!(
                "reading Appointment/{id} answered {}",
                r.summary()
            )));
        }
        Ok((
            r.json().unwrap_or(Value::Null),
            r.header("etag").map(str::to_string),
        ))
    }

    pub fn booked(&self) -> Vec<Booked> {
        lock(&self.booked).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::declares_operation;
    use serde_json::json;

    fn statement(names: &[&str]) -> serde_json::Value {
        let ops: Vec<_> = names.iter().map(|n| json!({ "name": n })).collect();
        json!({ "rest": [{ "mode": "server", "operation": ops }] })
    }

    #[test]
    fn an_operation_is_declared_with_or_without_its_dollar() {
        assert!(declares_operation(
            &statement(&["process-message"]),
            "process-message"
        ));
        assert!(declares_operation(
            &statement(&["$process-message"]),
            "process-message"
        ));
    }

    #[test]
    fn another_operation_or_none_does_not_declare_it() {
        assert!(!declares_operation(
            &statement(&["$validate"]),
            "process-message"
        ));
        assert!(!declares_operation(
            &statement(&["$$process-message"]),
            "process-message"
        ));
        assert!(!declares_operation(&statement(&[]), "process-message"));
        assert!(!declares_operation(&json!({}), "process-message"));
    }
}
