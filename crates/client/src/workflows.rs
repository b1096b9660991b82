//! The Appointment Management Foundation as a sender does it: discover, check capabilities,
//! find slots, book, list (Registry) and view, update, reschedule, cancel, rebook. Every change
//! is preceded by a read of the current version and sent with `If-Match` (BaRS 1.8).

use std::sync::Arc;

use bars_fhir::headers::{DOS_SERVICE_SYSTEM, TargetIdentifier};
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use bars_fhir::search::encode_component;
use bars_fhir::{Instant, NhsNumber};
use bars_http::client::HttpClient;
use http::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::BarsError;
use crate::identity::SenderIdentity;
use crate::token::TokenSource;
use crate::transport::{Call, Reply, RetryPolicy, Transport};

pub const APPOINTMENT_PROFILE: &str =
    "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment";
const BARS_IDENTIFIER: &str = "https://fhir.nhs.uk/Id/BaRS-Identifier";
/// Attempts at a read-modify-write that keeps meeting a newer version.
const GUARDED_ATTEMPTS: usize = 3;

/// A service a sender can book with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub system: String,
    pub value: String,
    pub name: String,
    pub ods_code: Option<String>,
}

impl Service {
    pub fn target(&self) -> TargetIdentifier {
        TargetIdentifier::new(&self.system, &self.value)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Slot {
    pub id: String,
    pub start: String,
    pub end: String,
    pub status: String,
    #[serde(skip)]
    pub resource: Value,
}

/// A pointer from the Registry: where one of the patient's appointments is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub appointment_id: String,
    pub service: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub custodian: Option<String>,
    pub pointer_id: String,
}

/// An appointment as read, with the version it is at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    pub resource: Value,
    pub etag: Option<String>,
}

/// What to book besides the slot and the patient.
#[derive(Debug, Clone, Default)]
pub struct BookingDetails {
    pub description: Option<String>,
    /// The appointment this one replaces (rebooking).
    pub replaces: Option<String>,
}

/// A sender's client of BaRS through the proxy.
pub struct BarsClient {
    transport: Transport,
}

impl BarsClient {
    pub fn new(
        http: HttpClient,
        proxy_url: &str,
        tokens: Arc<TokenSource>,
        identity: SenderIdentity,
    ) -> BarsClient {
        BarsClient {
            transport: Transport {
                http,
                base: proxy_url.trim_end_matches('/').to_string(),
                tokens,
                identity,
                retry: RetryPolicy::default(),
                recorder: None,
            },
        }
    }

    /// Tells `recorder` of every exchange this client's calls make (the token source has its
    /// own: [`TokenSource::recorded`]).
    pub fn with_recorder(mut self, recorder: Arc<dyn crate::record::Recorder>) -> BarsClient {
        self.transport.recorder = Some(recorder);
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> BarsClient {
        self.transport.retry = retry;
        self
    }

    pub async fn send(&self, call: &Call) -> Result<Reply, BarsError> {
        self.transport.send(call).await
    }

    /// Active services in the proxy's Endpoint Catalogue, optionally those whose name contains
    /// `name`. (The catalogue refuses a search without parameters, so "all" is `active=true`.)
    pub async fn services(&self, name: Option<&str>) -> Result<Vec<Service>, BarsError> {
        let path = match name {
            Some(n) => format!(
                "/HealthcareService?active=true&name={}",
                encode_component(n)
            ),
            None => "/HealthcareService?active=true".to_string(),
        };
        let bundle = self.send(&Call::new(Method::GET, path)).await?.json()?;
        Ok(resources(&bundle)
            .filter_map(|hs| {
                let id = hs["identifier"].as_array()?.first()?;
                Some(Service {
                    system: id["system"].as_str()?.to_string(),
                    value: id["value"].as_str()?.to_string(),
                    name: hs["name"].as_str().unwrap_or("").to_string(),
                    // OAS14 sends providedBy as an array, base R4 as one reference.
                    ods_code: hs
                        .pointer("/providedBy/0/identifier/value")
                        .or_else(|| hs.pointer("/providedBy/identifier/value"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
            })
            .collect())
    }

    /// The receiver's CapabilityStatement.
    pub async fn capabilities(&self, service: &TargetIdentifier) -> Result<Value, BarsError> {
        self.send(&Call::new(Method::GET, "/metadata").to(service))
            .await?
            .json()
    }

    /// Slots of a service starting within `[from, to]` (at most 14 days), following pages.
    pub async fn slots(
        &self,
        service: &TargetIdentifier,
        from: Instant,
        to: Instant,
        status: &str,
    ) -> Result<Vec<Slot>, BarsError> {
        let mut path = format!(
            "/Slot?Schedule.actor:HealthcareService={}&status={status}&start=ge{}&start=le{}&_include=Slot:schedule&_include=Schedule:actor:HealthcareService",
            encode_component(&service.token()),
            encode_component(&utc(from)),
            encode_component(&utc(to))
        );
        let mut slots = Vec::new();
        for _ in 0..100 {
            let bundle = self
                .send(&Call::new(Method::GET, path.clone()).to(service))
                .await?
                .json()?;
            for entry in bundle["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["search"]["mode"] == "match")
            {
                let r = &entry["resource"];
                slots.push(Slot {
                    id: r["id"].as_str().unwrap_or("").to_string(),
                    start: r["start"].as_str().unwrap_or("").to_string(),
                    end: r["end"].as_str().unwrap_or("").to_string(),
                    status: r["status"].as_str().unwrap_or("").to_string(),
                    resource: r.clone(),
                });
            }
            match next_path(&bundle, "/Slot?") {
                Some(p) => path = p,
                None => break,
            }
        }
        Ok(slots)
    }

    /// Books `slot` for the patient. A booking whose answer was lost and whose retry meets
    /// 409 `duplicate` is not booked again: the original booking is fetched and returned.
    pub async fn book(
        &self,
        service: &TargetIdentifier,
        slot: &Slot,
        patient: &NhsNumber,
        details: &BookingDetails,
    ) -> Result<Value, BarsError> {
        let appointment = booking(slot, patient, details);
        self.book_with(
            service,
            &Call::new(Method::POST, "/Appointment")
                .to(service)
                .fhir(&appointment),
        )
        .await
    }

    /// Sends a prepared booking call (its ids fixed by the caller).
    pub async fn book_with(
        &self,
        service: &TargetIdentifier,
        call: &Call,
    ) -> Result<Value, BarsError> {
        match self.send(call).await {
            Ok(reply) => reply.json(),
            Err(e) if e.is_duplicate() => self.already_done(service, &e).await,
            Err(e) => Err(e),
        }
    }

    /// Fetches what a request that was already processed produced.
    async fn already_done(
        &self,
        service: &TargetIdentifier,
        duplicate: &BarsError,
    ) -> Result<Value, BarsError> {
        let BarsError::Refused {
            content_location: Some(location),
            ..
        } = duplicate
        else {
            return Err(duplicate.clone());
        };
        let Some(path) = location
            .find("/Appointment/")
            .map(|i| location[i..].to_string())
        else {
            return Err(duplicate.clone());
        };
        self.send(&Call::new(Method::GET, path).to(service))
            .await?
            .json()
    }

    /// The patient's appointments according to the Registry (List).
    pub async fn list(&self, patient: &NhsNumber) -> Result<Vec<Listed>, BarsError> {
        let mut path = format!(
            "/DocumentReference?subject:identifier={}",
            encode_component(&format!("{NHS_NUMBER_SYSTEM}|{}", patient.as_str()))
        );
        let mut listed = Vec::new();
        for _ in 0..100 {
            let bundle = self
                .send(&Call::new(Method::GET, path.clone()))
                .await?
                .json()?;
            for p in resources(&bundle) {
                let identifier = |system: &str| {
                    p["identifier"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|i| i["system"] == system)
                        .and_then(|i| i["value"].as_str())
                        .map(str::to_string)
                };
                let Some(appointment_id) = identifier(BARS_IDENTIFIER) else {
                    continue;
                };
                listed.push(Listed {
                    appointment_id,
                    service: identifier(DOS_SERVICE_SYSTEM),
                    start: p
                        .pointer("/context/period/start")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    end: p
                        .pointer("/context/period/end")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    custodian: p
                        .pointer("/custodian/identifier/value")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    pointer_id: p["id"].as_str().unwrap_or("").to_string(),
                });
            }
            match next_path(&bundle, "/DocumentReference?") {
                Some(p) => path = p,
                None => break,
            }
        }
        listed.sort_by(|a, b| a.start.cmp(&b.start));
        Ok(listed)
    }

    /// Reads an appointment at the service that holds it (View).
    pub async fn view(&self, service: &TargetIdentifier, id: &str) -> Result<Versioned, BarsError> {
        self.view_in(service, id, &new_conversation()).await
    }

    /// [`BarsClient::view`] as a step of a workflow: under the workflow's correlation id.
    async fn view_in(
        &self,
        service: &TargetIdentifier,
        id: &str,
        conversation: &str,
    ) -> Result<Versioned, BarsError> {
        let reply = self
            .send(
                &Call::new(
                    Method::GET,
                    format!("/Appointment/{}", encode_component(id)),
                )
                .to(service)
                .in_conversation(conversation),
            )
            .await?;
        Ok(Versioned {
            etag: reply.etag(),
            resource: reply.json()?,
        })
    }

    /// Every version of an appointment, oldest first (`_history`), following pages.
    pub async fn history(
        &self,
        service: &TargetIdentifier,
        id: &str,
    ) -> Result<Vec<Value>, BarsError> {
        let mut path = format!("/Appointment/{}/_history", encode_component(id));
        let mut versions = Vec::new();
        for _ in 0..100 {
            let bundle = self
                .send(&Call::new(Method::GET, path.clone()).to(service))
                .await?
                .json()?;
            versions.extend(resources(&bundle).cloned());
            match next_path(&bundle, "/Appointment/") {
                Some(p) => path = p,
                None => break,
            }
        }
        let version = |v: &Value| {
            v.pointer("/meta/versionId")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        };
        versions.sort_by_key(version);
        Ok(versions)
    }

    /// Read, change, write with `If-Match`; on a newer version, read again and redo the change.
    pub async fn update(
        &self,
        service: &TargetIdentifier,
        id: &str,
        change: impl Fn(&mut Value),
    ) -> Result<Value, BarsError> {
        self.update_in(service, id, &new_conversation(), change)
            .await
    }

    async fn update_in(
        &self,
        service: &TargetIdentifier,
        id: &str,
        conversation: &str,
        change: impl Fn(&mut Value),
    ) -> Result<Value, BarsError> {
        self.guarded(service, id, conversation, |current| {
            let mut resource = current.resource.clone();
            change(&mut resource);
            Call::new(
                Method::PUT,
                format!("/Appointment/{}", encode_component(id)),
            )
            .fhir(&resource)
        })
        .await
    }

    /// Moves a booking to another slot of the same service (PATCH, reschedule).
    pub async fn reschedule(
        &self,
        service: &TargetIdentifier,
        id: &str,
        slot: &Slot,
    ) -> Result<Value, BarsError> {
        let patch = json!([
            { "op": "test", "path": "/status", "value": "booked" },
            { "op": "replace", "path": "/slot", "value": [{ "reference": format!("Slot/{}", slot.id) }] },
            { "op": "replace", "path": "/start", "value": slot.start },
            { "op": "replace", "path": "/end", "value": slot.end }
        ]);
        self.guarded(service, id, &new_conversation(), |_| {
            Call::new(
                Method::PATCH,
                format!("/Appointment/{}", encode_component(id)),
            )
            .json_patch(&patch)
        })
        .await
    }

    /// The read-before-write loop every change shares: read the appointment, send the write
    /// `write` builds from it with `If-Match`, and on 412 (someone else wrote first) read again
    /// and rebuild; a duplicate answer means an earlier attempt already took effect. The reads
    /// and the write are one conversation: they share `conversation` as their correlation id
    /// (BaRS 5.10).
    async fn guarded(
        &self,
        service: &TargetIdentifier,
        id: &str,
        conversation: &str,
        write: impl Fn(&Versioned) -> Call,
    ) -> Result<Value, BarsError> {
        let mut last = None;
        for _ in 0..GUARDED_ATTEMPTS {
            let current = self.view_in(service, id, conversation).await?;
            let call = write(&current)
                .to(service)
                .if_match(current.etag.clone())
                .in_conversation(conversation);
            match self.send(&call).await {
                Ok(reply) => return reply.json(),
                Err(e) if e.status() == Some(412) => last = Some(e),
                Err(e) if e.is_duplicate() => return self.already_done(service, &e).await,
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| BarsError::Unexpected("the appointment kept changing".into())))
    }

    /// Cancels a booking (or marks it entered in error), only if it is still booked.
    pub async fn cancel(
        &self,
        service: &TargetIdentifier,
        id: &str,
        entered_in_error: bool,
        reason: Option<&str>,
    ) -> Result<Value, BarsError> {
        self.cancel_in(service, id, entered_in_error, reason, &new_conversation())
            .await
    }

    async fn cancel_in(
        &self,
        service: &TargetIdentifier,
        id: &str,
        entered_in_error: bool,
        reason: Option<&str>,
        conversation: &str,
    ) -> Result<Value, BarsError> {
        let current = self.view_in(service, id, conversation).await?;
        let now = current.resource["status"].as_str().unwrap_or("");
        if !matches!(now, "booked" | "waitlist" | "proposed" | "pending") {
            return Err(BarsError::NotApplicable(format!(
                "The appointment is {now}; only a current appointment can be cancelled."
            )));
        }
        let status = if entered_in_error {
            "entered-in-error"
        } else {
            "cancelled"
        };
        let reason = reason.map(str::to_string);
        self.update_in(service, id, conversation, |a| {
            a["status"] = json!(status);
            if let Some(r) = &reason
                && status == "cancelled"
            {
                a["cancelationReason"] = json!({ "text": r });
            }
        })
        .await
    }

    /// Rebooks: books the new slot with `replaces` pointing at the old appointment, then cancels
    /// the old one, all under one correlation id. Returns (new, cancelled old).
    pub async fn rebook(
        &self,
        service: &TargetIdentifier,
        old_id: &str,
        slot: &Slot,
    ) -> Result<(Value, Value), BarsError> {
        let conversation = new_conversation();
        let old = self.view_in(service, old_id, &conversation).await?;
        let patient = crate::workflows::patient_of(&old.resource)
            .ok_or_else(|| BarsError::Unexpected("the appointment has no NHS number".into()))?;
        let details = BookingDetails {
            description: old.resource["description"].as_str().map(str::to_string),
            replaces: Some(old_id.to_string()),
        };
        let new = self
            .book_with(
                service,
                &Call::new(Method::POST, "/Appointment")
                    .to(service)
                    .fhir(&booking(slot, &patient, &details))
                    .in_conversation(&conversation),
            )
            .await?;
        let cancelled = self
            .cancel_in(service, old_id, false, Some("Rebooked"), &conversation)
            .await?;
        Ok((new, cancelled))
    }
}

/// A new conversation's correlation id (BaRS 5.10: one per workflow, kept by its every request).
fn new_conversation() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The Appointment a booking sends.
pub fn booking(slot: &Slot, patient: &NhsNumber, details: &BookingDetails) -> Value {
    let mut a = json!({
        "resourceType": "Appointment",
        "meta": { "lastUpdated": Instant::now().to_string(), "profile": [APPOINTMENT_PROFILE] },
        "status": "booked",
        "slot": [{ "reference": format!("Slot/{}", slot.id) }],
        "start": slot.start,
        "end": slot.end,
        "participant": [{
            "actor": { "type": "Patient", "identifier": { "system": NHS_NUMBER_SYSTEM, "value": patient.as_str() } },
            "status": "accepted"
        }]
    });
    if let Some(d) = &details.description {
        a["description"] = json!(d);
    }
    if let Some(old) = &details.replaces {
        a["replaces"] = json!([{ "reference": format!("Appointment/{old}") }]);
    }
    a
}

/// The patient's NHS number on an appointment.
pub fn patient_of(appointment: &Value) -> Option<NhsNumber> {
    appointment["participant"].as_array()?.iter().find_map(|p| {
        let id = p.pointer("/actor/identifier")?;
        (id["system"] == NHS_NUMBER_SYSTEM)
            .then(|| id["value"].as_str().and_then(|v| NhsNumber::parse(v).ok()))
            .flatten()
    })
}

fn resources(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
}

/// The path (from the proxy's base) of a Bundle's next page.
fn next_path(bundle: &Value, marker: &str) -> Option<String> {
    let url = bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")?["url"]
        .as_str()?;
    url.find(marker).map(|i| url[i..].to_string())
}

/// Slot searches must be in UTC with an explicit offset.
fn utc(i: Instant) -> String {
    i.with_fraction_digits(0).to_string()
}
