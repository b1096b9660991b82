//! The Appointment Management Foundation as a sender does it: discover, check capabilities,
//! find slots, book, list (Registry) and view, update, reschedule, cancel, rebook. Every change
//! is preceded by a read of the current version and sent with `If-Match` (BaRS 1.8).
//!
//! Each change follows the workflow of the Core version the client speaks ([`BarsVersion`]):
//! under 1.5.0 an update sends only `status`/`reasonCode`, a reschedule PATCHes only the slot
//! (the receiver derives the times) and a rebook cancels before it books, without `replaces`.

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
use crate::version::BarsVersion;

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
    /// The appointment this one replaces (rebooking under 1.1.6; 1.5.0 sends no `replaces`).
    pub replaces: Option<String>,
    /// The patient's demographics, carried as a contained Patient so that a 1.5.0 receiver
    /// can find the booking by them (delta §2.3).
    pub demographics: Option<Demographics>,
}

/// A patient's name, birth date and home postcode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demographics {
    pub family: String,
    pub given: Vec<String>,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    pub postcode: String,
}

/// Whose appointments to find at a service: an NHS number, demographics, or both (1.5.0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientQuery {
    pub nhs_number: Option<NhsNumber>,
    /// Words of the patient's name (family, given, ...), matched by the receiver.
    pub name: Option<String>,
    pub birth_date: Option<String>,
    pub postcode: Option<String>,
    /// Appointment statuses, comma separated (default: the receiver's, all but entered-in-error).
    pub status: Option<String>,
}

/// What an appointment search found, and what the receiver said about it (for instance that
/// the demographics fit more than one patient, so nothing is returned).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Found {
    pub appointments: Vec<Value>,
    pub warnings: Vec<String>,
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
                version: BarsVersion::default(),
            },
        }
    }

    /// Tells `recorder` of every exchange this client's calls make (the token source has its
    /// own: [`TokenSource::recorded`]).
    pub fn with_recorder(mut self, recorder: Arc<dyn crate::record::Recorder>) -> BarsClient {
        self.transport.recorder = Some(recorder);
        self
    }

    /// Speaks this BaRS Core version from now on (default 1.5.0).
    pub fn with_version(mut self, version: BarsVersion) -> BarsClient {
        self.transport.version = version;
        self
    }

    pub fn version(&self) -> BarsVersion {
        self.transport.version
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
        let appointment = booking(slot, patient, &self.own(details));
        self.book_with(
            service,
            &Call::new(Method::POST, "/Appointment")
                .to(service)
                .fhir(&appointment),
        )
        .await
    }

    /// The booking details as this client's version sends them: 1.5.0 has no `replaces` (D8).
    pub fn own(&self, details: &BookingDetails) -> BookingDetails {
        let mut details = details.clone();
        if self.version() == BarsVersion::V1_5_0 {
            details.replaces = None;
        }
        details
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
    /// Under 1.1.6 the whole changed resource is sent; under 1.5.0 only `status` and
    /// `reasonCode` (with `cancelationReason` when cancelling) — a change to anything else is
    /// not sent at all ([`BarsError::NotApplicable`]): the receiver would refuse it.
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
        let version = self.version();
        self.guarded(service, id, conversation, |current| {
            let mut resource = current.resource.clone();
            change(&mut resource);
            let body = if version.restricts_edits() {
                status_and_reason(&current.resource, &resource)?
            } else {
                resource
            };
            Ok(Call::new(
                Method::PUT,
                format!("/Appointment/{}", encode_component(id)),
            )
            .fhir(&body))
        })
        .await
    }

    /// Moves a booking to another slot of the same service (PATCH, reschedule). Under 1.1.6
    /// the patch sets the slot and its times (and tests that the booking is still booked);
    /// under 1.5.0 it replaces the slot reference only and the receiver derives `start`/`end`
    /// from the new slot, which the answer (or, lacking them, a read) brings back.
    pub async fn reschedule(
        &self,
        service: &TargetIdentifier,
        id: &str,
        slot: &Slot,
    ) -> Result<Value, BarsError> {
        let patch = reschedule_patch(self.version(), slot);
        let conversation = new_conversation();
        let moved = self
            .guarded(service, id, &conversation, |_| {
                Ok(Call::new(
                    Method::PATCH,
                    format!("/Appointment/{}", encode_component(id)),
                )
                .json_patch(&patch))
            })
            .await?;
        if moved["start"].is_string() && moved["end"].is_string() {
            return Ok(moved);
        }
        Ok(self.view_in(service, id, &conversation).await?.resource)
    }

    /// Appointments of a patient at a service (View by search): by NHS number under either
    /// version; by demographics, alone or with the NHS number, under 1.5.0. Pages are followed.
    pub async fn search(
        &self,
        service: &TargetIdentifier,
        query: &PatientQuery,
    ) -> Result<Found, BarsError> {
        let demographic =
            query.name.is_some() || query.birth_date.is_some() || query.postcode.is_some();
        if query.nhs_number.is_none() && !demographic {
            return Err(BarsError::NotApplicable(
                "Give the patient's NHS number or their name, birth date and postcode.".into(),
            ));
        }
        if demographic && !self.version().searches_by_demographics() {
            return Err(BarsError::NotApplicable(format!(
                "BaRS Core {} finds appointments by NHS number only; searching by name, birth date or postcode needs 1.5.0.",
                self.version()
            )));
        }
        let mut path = format!("/Appointment?{}", search_parameters(query));
        let mut found = Found::default();
        for _ in 0..100 {
            let bundle = self
                .send(&Call::new(Method::GET, path.clone()).to(service))
                .await?
                .json()?;
            for entry in bundle["entry"].as_array().into_iter().flatten() {
                match entry.pointer("/search/mode").and_then(Value::as_str) {
                    Some("outcome") => found.warnings.extend(outcome_warnings(&entry["resource"])),
                    _ if entry["resource"]["resourceType"] == "Appointment" => {
                        found.appointments.push(entry["resource"].clone())
                    }
                    _ => {}
                }
            }
            match next_path(&bundle, "/Appointment?") {
                Some(p) => path = p,
                None => break,
            }
        }
        Ok(found)
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
        write: impl Fn(&Versioned) -> Result<Call, BarsError>,
    ) -> Result<Value, BarsError> {
        let mut last = None;
        for _ in 0..GUARDED_ATTEMPTS {
            let current = self.view_in(service, id, conversation).await?;
            let call = write(&current)?
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

    /// Cancels a booking (or marks it entered in error), only if it is still current: a PUT of
    /// the cancelled status with the reason (under 1.5.0 nothing else is sent, and only a
    /// `booked` appointment is current: placeholders are 1.1.6's).
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
        let current_now = match self.version() {
            BarsVersion::V1_1_6 => matches!(now, "booked" | "waitlist" | "proposed" | "pending"),
            BarsVersion::V1_5_0 => now == "booked",
        };
        if !current_now {
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

    /// Rebooks an appointment in a new slot. Under 1.1.6: books the new slot with `replaces`
    /// pointing at the old appointment, then cancels the old one (two open bookings for a
    /// moment). Under 1.5.0: cancels the old one, then books the new slot, without `replaces`
    /// (delta §2.7); if that booking then fails, the old one stays cancelled and the error says
    /// so. Every request of a rebooking shares one correlation id. Returns (new, cancelled
    /// old).
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
            demographics: demographics_of(&old.resource),
        };
        let booking_call = Call::new(Method::POST, "/Appointment")
            .to(service)
            .fhir(&booking(slot, &patient, &self.own(&details)))
            .in_conversation(&conversation);
        let book = || self.book_with(service, &booking_call);
        match self.version() {
            BarsVersion::V1_1_6 => {
                let new = book().await?;
                let cancelled = self
                    .cancel_in(service, old_id, false, Some("Rebooked"), &conversation)
                    .await?;
                Ok((new, cancelled))
            }
            BarsVersion::V1_5_0 => {
                let cancelled = self
                    .cancel_in(service, old_id, false, Some("Rebooked"), &conversation)
                    .await?;
                let new = book().await.map_err(|e| match e {
                    BarsError::Refused { .. } | BarsError::Unreachable(_) => {
                        BarsError::NotApplicable(format!(
                            "Appointment {old_id} was cancelled, but the new booking failed: {}",
                            e.explanation()
                        ))
                    }
                    other => other,
                })?;
                Ok((new, cancelled))
            }
        }
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
    if let Some(d) = &details.demographics {
        a["contained"] = json!([{
            "resourceType": "Patient",
            "id": "patient",
            "identifier": [{ "system": NHS_NUMBER_SYSTEM, "value": patient.as_str() }],
            "name": [{ "family": d.family, "given": d.given }],
            "birthDate": d.birth_date,
            "address": [{ "use": "home", "postalCode": d.postcode }]
        }]);
        a["participant"][0]["actor"]["reference"] = json!("#patient");
    }
    a
}

/// The demographics an appointment carries in its contained Patient, to carry them over.
fn demographics_of(appointment: &Value) -> Option<Demographics> {
    let p = appointment["contained"]
        .as_array()?
        .iter()
        .find(|r| r["resourceType"] == "Patient")?;
    let name = p.pointer("/name/0")?;
    Some(Demographics {
        family: name["family"].as_str()?.to_string(),
        given: name["given"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        birth_date: p["birthDate"].as_str()?.to_string(),
        postcode: p["address"]
            .as_array()?
            .iter()
            .find_map(|a| a["postalCode"].as_str())?
            .to_string(),
    })
}

/// Elements of an appointment that a 1.5.0 PUT may carry changed.
const UPDATABLE_UNDER_1_5: &[&str] = &["status", "reasonCode", "cancelationReason", "meta"];

/// The body of a 1.5.0 PUT: the changed `status`, `reasonCode` and (cancelling)
/// `cancelationReason`, nothing else — the receiver keeps what is left out. A change to any
/// other element cannot be made by a 1.5.0 update and is refused here, before sending.
fn status_and_reason(current: &Value, changed: &Value) -> Result<Value, BarsError> {
    let names = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut all = names(current);
    all.extend(names(changed));
    if let Some(name) = all
        .iter()
        .find(|n| !UPDATABLE_UNDER_1_5.contains(&n.as_str()) && current.get(*n) != changed.get(*n))
    {
        return Err(BarsError::NotApplicable(format!(
            "Under BaRS Core 1.5.0 an update changes only the status and reasonCode, not {name} \
             (a new slot is a reschedule or a rebook; other elements change only under 1.1.6)."
        )));
    }
    let mut body = json!({ "resourceType": "Appointment", "status": changed["status"] });
    if let Some(id) = changed.get("id") {
        body["id"] = id.clone();
    }
    if let Some(r) = changed.get("reasonCode") {
        body["reasonCode"] = r.clone();
    }
    if let Some(r) = changed.get("cancelationReason")
        && matches!(changed["status"].as_str(), Some("cancelled" | "noshow"))
    {
        body["cancelationReason"] = r.clone();
    }
    Ok(body)
}

/// The PATCH (JSON Patch) that moves a booking to `slot` under `version`.
pub fn reschedule_patch(version: BarsVersion, slot: &Slot) -> Value {
    let reference = json!([{ "reference": format!("Slot/{}", slot.id) }]);
    match version {
        BarsVersion::V1_1_6 => json!([
            { "op": "test", "path": "/status", "value": "booked" },
            { "op": "replace", "path": "/slot", "value": reference },
            { "op": "replace", "path": "/start", "value": slot.start },
            { "op": "replace", "path": "/end", "value": slot.end }
        ]),
        BarsVersion::V1_5_0 => json!([{ "op": "replace", "path": "/slot", "value": reference }]),
    }
}

/// The query string of an appointment search (values trimmed and encoded).
fn search_parameters(query: &PatientQuery) -> String {
    let mut params = Vec::new();
    if let Some(n) = &query.nhs_number {
        params.push((
            "patient:identifier",
            format!("{NHS_NUMBER_SYSTEM}|{}", n.as_str()),
        ));
    }
    for (name, value) in [
        ("patient:name", &query.name),
        ("patient:birthdate", &query.birth_date),
        ("patient:address-postalcode", &query.postcode),
        ("status", &query.status),
    ] {
        if let Some(v) = value {
            params.push((name, v.trim().to_string()));
        }
    }
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The warnings of an OperationOutcome entry in a searchset (code, and diagnostics if any).
fn outcome_warnings(outcome: &Value) -> Vec<String> {
    outcome["issue"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            let code = i["code"].as_str().unwrap_or("warning");
            match i["diagnostics"].as_str() {
                Some(d) => format!("{code}: {d}"),
                None => code.to_string(),
            }
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn booked() -> Value {
        json!({
            "resourceType": "Appointment", "id": "a1", "status": "booked",
            "meta": { "versionId": "1" },
            "slot": [{ "reference": "Slot/s1" }], "start": "2040-01-09T09:00:00Z",
            "participant": [{ "status": "accepted" }]
        })
    }

    #[test]
    fn a_1_5_update_sends_status_and_reason_only_and_refuses_other_changes() {
        let current = booked();
        let mut changed = current.clone();
        changed["status"] = json!("cancelled");
        changed["cancelationReason"] = json!({ "text": "Better" });
        changed["reasonCode"] = json!([{ "text": "r" }]);
        assert_eq!(
            status_and_reason(&current, &changed).unwrap(),
            json!({
                "resourceType": "Appointment", "id": "a1", "status": "cancelled",
                "reasonCode": [{ "text": "r" }], "cancelationReason": { "text": "Better" }
            })
        );
        for (element, value) in [
            ("description", json!("x")),
            ("slot", json!([{ "reference": "Slot/s2" }])),
        ] {
            let mut changed = current.clone();
            changed[element] = value;
            assert!(
                matches!(status_and_reason(&current, &changed), Err(BarsError::NotApplicable(m)) if m.contains(element)),
                "{element}"
            );
        }
        let mut removed = current.clone();
        removed.as_object_mut().unwrap().remove("participant");
        assert!(status_and_reason(&current, &removed).is_err());
    }

    #[test]
    fn each_version_reschedules_with_its_own_patch() {
        let slot = Slot {
            id: "s2".into(),
            start: "2040-01-09T10:00:00Z".into(),
            end: "2040-01-09T10:10:00Z".into(),
            status: "free".into(),
            resource: Value::Null,
        };
        assert_eq!(
            reschedule_patch(BarsVersion::V1_5_0, &slot),
            json!([{ "op": "replace", "path": "/slot", "value": [{ "reference": "Slot/s2" }] }])
        );
        let old = reschedule_patch(BarsVersion::V1_1_6, &slot);
        assert_eq!(old.as_array().unwrap().len(), 4);
        assert_eq!(
            old[2],
            json!({ "op": "replace", "path": "/start", "value": slot.start })
        );
    }

    #[test]
    fn searches_send_each_given_parameter_encoded() {
        let q = PatientQuery {
            nhs_number: Some(NhsNumber::parse("9434765919").unwrap()),
            name: Some(" John Smith\n".into()),
            birth_date: Some("1995-01-20".into()),
            postcode: Some("LS1 4AP".into()),
            status: None,
        };
        assert_eq!(
            search_parameters(&q),
            "patient:identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919&patient:name=John%20Smith&patient:birthdate=1995-01-20&patient:address-postalcode=LS1%204AP"
        );
    }
}
