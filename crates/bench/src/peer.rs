//! The peer of `bars bench --against URL`: a generic FHIR R4 server driven with the same data,
//! the same load and the same scenarios as our receiver, so the two can be set side by side.
//!
//! Only what any R4 server is asked for by the specification is used, so the comparison says
//! something about the kind of server and not about one product's extensions: PUT with
//! client-assigned ids inside `transaction` Bundles (seeding), read, search, and a `transaction`
//! for a booking. A booking there is what the issue measured: one atomic Bundle that creates the
//! Appointment and updates its Slot to busy, guarded by `ifMatch` on the Slot's version as seeded,
//! so two bookings of one slot cannot both succeed. Whether the peer honours that guard is
//! checked once before measuring ([`GuardCheck`]), not assumed.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bars_http::client::{ClientResponse, HttpClient};
use bars_receiver::availability::default_schedule_id;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cpu::{Role, Watch};
use crate::load::{Outcome, Samples, closed_loop, each_once};
use crate::scenarios::{
    Checks, Load, Scenario, appointment_for, checked, measured_reads, spread, tracing_like_warn,
};
use crate::stack::{Layout, ODS, SLOTS_PER_DAY, SlotRef};

/// The scenarios the peer runs: those any FHIR server can serve. The ceilings are ours alone
/// (the peer's handlers and storage cannot be reached without its code), and the proxy and
/// contention scenarios are BaRS's, not a generic server's.
pub const SCENARIOS: [Scenario; 3] = [Scenario::Booking, Scenario::SlotSearch, Scenario::Read];

const FHIR_JSON: &str = "application/fhir+json";
const DOS_SYSTEM: &str = "https://fhir.nhs.uk/Id/dos-service-id";
const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
/// Seeding requests in flight at once: a SQLite server has one writer, so more would queue
/// there, and two keep it busy while the next Bundle crosses the wire.
const SEED_WORKERS: usize = 2;
const SEED_ATTEMPTS: usize = 3;

/// How to reach the peer and seed it.
#[derive(Debug, Clone)]
pub struct Against {
    /// The FHIR base URL (no trailing slash needed).
    pub url: String,
    /// Entries per seeding `transaction` Bundle.
    pub seed_batch: usize,
    /// The peer's server process, when it runs on this machine: its CPU per request is then
    /// reported beside our receiver's.
    pub pid: Option<u32>,
}

/// The `W/"v"` form `ifMatch` and `ETag` carry a version in.
pub fn weak_etag(version: &str) -> String {
    format!("W/\"{version}\"")
}

/// The Slot as the peer keeps it: the id, times and schedule of the same slot of ours.
pub fn slot_resource(slot: &SlotRef, status: &str) -> Value {
    json!({
        "resourceType": "Slot",
        "id": slot.id,
        "schedule": { "reference": format!("Schedule/{}", default_schedule_id(&slot.service)) },
        "status": status,
        "start": slot.start,
        "end": slot.end,
    })
}

/// A `transaction` entry writing `resource` under its client-assigned id.
fn put_entry(
    base: &str,
    resource_type: &str,
    id: &str,
    resource: Value,
    if_match: Option<&str>,
) -> Value {
    let mut request = serde_json::Map::new();
    request.insert("method".into(), json!("PUT"));
    request.insert("url".into(), json!(format!("{resource_type}/{id}")));
    if let Some(version) = if_match {
        request.insert("ifMatch".into(), json!(weak_etag(version)));
    }
    json!({
        "fullUrl": format!("{base}/{resource_type}/{id}"),
        "resource": resource,
        "request": request,
    })
}

fn transaction(entries: Vec<Value>) -> Value {
    json!({ "resourceType": "Bundle", "type": "transaction", "entry": entries })
}

/// Each service's HealthcareService and default Schedule, with the ids ours has: the Schedule
/// is what every Slot references and what the slot search names.
pub fn services_bundle(base: &str, layout: &Layout) -> Value {
    let mut entries = Vec::with_capacity(layout.services.len() * 2);
    for service in &layout.services {
        entries.push(put_entry(
            base,
            "HealthcareService",
            service,
            json!({
                "resourceType": "HealthcareService",
                "id": service,
                "identifier": [{ "system": DOS_SYSTEM, "value": service }],
                "active": true,
                "providedBy": { "identifier": { "system": ODS_SYSTEM, "value": ODS } },
                "name": format!("Bench service {service}"),
            }),
            None,
        ));
        let schedule = default_schedule_id(service);
        entries.push(put_entry(
            base,
            "Schedule",
            &schedule,
            json!({
                "resourceType": "Schedule",
                "id": schedule,
                "active": true,
                "actor": [{ "reference": format!("HealthcareService/{service}") }],
            }),
            None,
        ));
    }
    transaction(entries)
}

/// The layout's slots `0..total` cut into seeding Bundles of at most `size` entries.
pub fn seed_chunks(total: usize, size: usize) -> Vec<Range<usize>> {
    let size = size.max(1);
    (0..total.div_ceil(size))
        .map(|i| i * size..((i + 1) * size).min(total))
        .collect()
}

/// One seeding Bundle: every slot of `range`, free, written with its own id.
pub fn seed_bundle(base: &str, layout: &Layout, range: Range<usize>) -> Value {
    transaction(
        range
            .map(|k| {
                let slot = layout.slot(k);
                put_entry(base, "Slot", &slot.id, slot_resource(&slot, "free"), None)
            })
            .collect(),
    )
}

/// A booking as one atomic Bundle: the same Appointment ours is sent, and the Slot set busy
/// only if it is still at `version`.
pub fn booking_bundle(base: &str, slot: &SlotRef, version: &str) -> Value {
    transaction(vec![
        json!({
            "fullUrl": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            "resource": appointment_for(slot),
            "request": { "method": "POST", "url": "Appointment" },
        }),
        put_entry(
            base,
            "Slot",
            &slot.id,
            slot_resource(slot, "busy"),
            Some(version),
        ),
    ])
}

/// What a `transaction-response` says of one entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryResponse {
    pub status: u16,
    pub location: Option<String>,
    pub etag: Option<String>,
    /// The resource's own id and version, when the server returned the resource.
    pub resource_id: Option<String>,
    pub version_id: Option<String>,
}

fn text_at(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The entries of a `transaction-response` (or `batch-response`) Bundle, in request order as the
/// specification requires; `None` when the body is not such a Bundle.
pub fn transaction_response(body: &[u8]) -> Option<Vec<EntryResponse>> {
    let bundle: Value = serde_json::from_slice(body).ok()?;
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return None;
    }
    let entries = match bundle.get("entry") {
        Some(e) => e.as_array()?,
        None => return Some(Vec::new()),
    };
    entries
        .iter()
        .map(|e| {
            // "201 Created", or a bare "201".
            let status = text_at(e, "/response/status")?
                .get(..3)?
                .parse::<u16>()
                .ok()?;
            Some(EntryResponse {
                status,
                location: text_at(e, "/response/location"),
                etag: text_at(e, "/response/etag"),
                resource_id: text_at(e, "/resource/id"),
                version_id: text_at(e, "/resource/meta/versionId"),
            })
        })
        .collect()
}

impl EntryResponse {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The version written: from the ETag, else the location's `_history/{v}`, else the
    /// returned resource's `meta.versionId`.
    pub fn version(&self) -> Option<String> {
        let from_etag = self.etag.as_deref().map(|e| {
            e.trim_start_matches("W/")
                .trim_matches('"')
                .trim()
                .to_string()
        });
        let from_location = self.location.as_deref().and_then(|l| {
            l.split("/_history/")
                .nth(1)
                .and_then(|v| v.split(['/', '?']).next())
                .map(str::to_string)
        });
        from_etag
            .into_iter()
            .chain(from_location)
            .chain(self.version_id.clone())
            .find(|v| !v.is_empty())
    }

    /// The id of the `resource_type` resource written: from the location, else the resource.
    pub fn id(&self, resource_type: &str) -> Option<String> {
        self.location
            .as_deref()
            .and_then(|l| l.split(&format!("{resource_type}/")).nth(1))
            .and_then(|rest| rest.split(['/', '?']).next())
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .or_else(|| self.resource_id.clone())
    }
}

/// How a booking Bundle came out, and the Appointment's id when it succeeded: success is 200
/// with both entries 2xx; a refusal is 409 or 412, or another 4xx whose OperationOutcome names
/// the failed precondition (Helios 0.2.7 answers a stale `ifMatch` with 400 "Transaction failed
/// at entry 1: Entry failed with status 412"); anything else is an error.
pub fn booking_outcome(status: StatusCode, body: &[u8]) -> (Outcome, Option<String>) {
    match status.as_u16() {
        200 => match transaction_response(body) {
            Some(entries) if entries.len() == 2 && entries.iter().all(|e| e.succeeded()) => (
                Outcome::Ok,
                entries.first().and_then(|e| e.id("Appointment")),
            ),
            _ => (Outcome::Error, None),
        },
        409 | 412 => (Outcome::Refused, None),
        400..=499 if names_failed_precondition(body) => (Outcome::Refused, None),
        _ => (Outcome::Error, None),
    }
}

/// Whether an OperationOutcome says an entry failed its precondition (a 412).
fn names_failed_precondition(body: &[u8]) -> bool {
    let Ok(outcome) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    if outcome.get("resourceType").and_then(Value::as_str) != Some("OperationOutcome") {
        return false;
    }
    outcome
        .get("issue")
        .and_then(Value::as_array)
        .is_some_and(|issues| {
            issues.iter().any(|i| {
                // Servers put the reason in either (Helios: `details.text`).
                ["/diagnostics", "/details/text"].iter().any(|at| {
                    text_at(i, at).is_some_and(|d| {
                        let d = d.to_ascii_lowercase();
                        d.contains("412") || d.contains("precondition failed")
                    })
                })
            })
        })
}

/// Which of the optional slot-search parameters the peer is sent (the schedule and the day
/// are never dropped: without them it would be a different search).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SearchForm {
    pub status: bool,
    pub include: bool,
    pub count: bool,
}

impl SearchForm {
    /// Every form, from all parameters sent to none; dropping `_count` costs least, then
    /// `_include`, and `status` last (without it the search also returns busy slots).
    pub fn candidates() -> Vec<SearchForm> {
        (0u8..8)
            .map(|drop| SearchForm {
                count: drop & 1 == 0,
                include: drop & 2 == 0,
                status: drop & 4 == 0,
            })
            .collect()
    }

    /// The parameters left out, by name.
    pub fn dropped(&self) -> Vec<&'static str> {
        [
            (!self.status).then_some("status"),
            (!self.include).then_some("_include"),
            (!self.count).then_some("_count"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A page size that holds a day of one service's slots: servers page search results (often
/// 20 or 50 to a page), and a first page of fewer slots than ours returns is a cheaper request.
const SEARCH_COUNT: usize = 100;

/// The peer's slot search: one service's schedule over one UTC day, free slots, with the
/// Schedule included.
pub fn slot_search_url(
    base: &str,
    service: &str,
    day: jiff::civil::Date,
    form: SearchForm,
) -> String {
    let next = day.tomorrow().unwrap_or(day);
    let mut url = format!(
        "{base}/Slot?schedule=Schedule/{}&start=ge{day}T00:00:00Z&start=lt{next}T00:00:00Z",
        default_schedule_id(service)
    );
    if form.status {
        url.push_str("&status=free");
    }
    if form.include {
        url.push_str("&_include=Slot:schedule");
    }
    if form.count {
        url.push_str(&format!("&_count={SEARCH_COUNT}"));
    }
    url
}

/// What one search response held: Slots, other resources (the includes), and Slots that do not
/// belong to the asked schedule and day (a filter the server ignored).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SearchCounts {
    pub slots: usize,
    pub included: usize,
    pub outside: usize,
    /// The Bundle links to a next page.
    pub paged: bool,
}

/// Counts a searchset Bundle's entries for `schedule` on `day` (`YYYY-MM-DD`).
pub fn search_counts(body: &[u8], schedule: &str, day: &str) -> Option<SearchCounts> {
    let bundle: Value = serde_json::from_slice(body).ok()?;
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return None;
    }
    let mut counts = SearchCounts {
        paged: bundle
            .get("link")
            .and_then(Value::as_array)
            .is_some_and(|links| {
                links
                    .iter()
                    .any(|l| l.get("relation").and_then(Value::as_str) == Some("next"))
            }),
        ..SearchCounts::default()
    };
    let schedule_ref = format!("Schedule/{schedule}");
    for entry in bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let Some(resource) = entry.get("resource") else {
            continue;
        };
        if resource.get("resourceType").and_then(Value::as_str) == Some("Slot") {
            counts.slots += 1;
            let ours = text_at(resource, "/schedule/reference")
                .is_some_and(|r| r == schedule_ref || r.ends_with(&format!("/{schedule_ref}")));
            let on_day = text_at(resource, "/start").is_some_and(|s| s.starts_with(day));
            if !(ours && on_day) {
                counts.outside += 1;
            }
        } else {
            counts.included += 1;
        }
    }
    Some(counts)
}

/// What the peer's slot search was found to accept, before measuring.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchProbe {
    /// The query measured, for the first service and day (the others differ only in ids).
    pub url: String,
    /// Parameters the peer refused, left out of every measured search.
    pub dropped: Vec<&'static str>,
    /// Forms tried and refused, with the status the peer answered.
    pub refused: Vec<String>,
    /// What the peer's and ours' answers to the same search held, against the
    /// `SLOTS_PER_DAY` free slots seeded for that day.
    pub peer: SearchCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ours: Option<SearchCounts>,
    pub expected_slots: usize,
}

/// Whether the peer keeps two bookings of one slot from both succeeding, tried once on a fresh
/// slot: the same guarded Bundle twice, with the version read at seeding.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct GuardCheck {
    /// HTTP status of the first and the second booking.
    pub first: u16,
    pub second: u16,
    /// The peer's count of Appointments for the slot (`Appointment?slot=`) before and after;
    /// `None` when it does not answer that search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appointments_added: Option<i64>,
    /// The first succeeded, the second was refused, and (when countable) one Appointment
    /// was added: the guard holds and the refused Bundle left nothing behind.
    pub held: bool,
}

/// The peer, seeded, and the state its scenarios share across runs (as [`crate::scenarios::Bench`]
/// keeps for ours): slots handed out downwards, each with the version seeding wrote, and the
/// appointments booked.
pub struct Peer {
    pub base: String,
    client: HttpClient,
    layout: Layout,
    load: Load,
    /// The peer's server (as the receiver of its runs), when its process is known, and this
    /// process's clients.
    watch: Watch,
    versions: Vec<String>,
    next_slot: AtomicUsize,
    appointments: std::sync::Mutex<Vec<String>>,
    form: SearchForm,
    pub seeded: usize,
    pub seed_seconds: f64,
    pub search: Option<SearchProbe>,
    pub guard: GuardCheck,
}

fn peer_headers(body: bool) -> Vec<(&'static str, String)> {
    let mut h = vec![("accept", FHIR_JSON.to_string())];
    if body {
        h.push(("content-type", FHIR_JSON.to_string()));
    }
    h
}

/// HTTPS verified against the platform's trust store (the peer is nobody's development CA);
/// plain HTTP as it comes.
fn peer_client(timeout: Duration) -> HttpClient {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    HttpClient::new(Some(tls), timeout)
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(300).collect()
}

impl Peer {
    /// Waits for the peer's CapabilityStatement, seeds it with the layout (every slot free at a
    /// known version) and checks what its search and its transaction guard do.
    pub async fn prepare(against: &Against, layout: Layout, load: Load) -> anyhow::Result<Peer> {
        let base = against.url.trim_end_matches('/').to_string();
        let client = peer_client(Duration::from_secs(30));
        let metadata = format!("{base}/metadata");
        let mut answered = None;
        for _ in 0..100 {
            match client
                .call(Method::GET, &metadata, &peer_headers(false), None)
                .await
            {
                Ok(r) if r.status.is_success() => {
                    answered = Some(r);
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let Some(metadata) = answered else {
            bail!("the peer never answered GET {base}/metadata with a success");
        };
        let fhir_version = metadata
            .json()
            .and_then(|m| text_at(&m, "/fhirVersion"))
            .unwrap_or_else(|| "unknown".into());
        eprintln!("peer {base}: FHIR {fhir_version}");

        let started = Instant::now();
        let versions = seed(&base, &layout, against.seed_batch).await?;
        let seed_seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "peer seeded {} slots ({} services) in {seed_seconds:.1} s ({:.0} slots/s)",
            versions.len(),
            layout.services.len(),
            versions.len() as f64 / seed_seconds.max(1e-9)
        );
        let total = versions.len();
        let mut peer = Peer {
            base,
            client,
            layout,
            load,
            watch: Watch::servers(against.pid.map(|pid| (Role::Receiver, pid))),
            versions,
            next_slot: AtomicUsize::new(total),
            appointments: std::sync::Mutex::new(Vec::new()),
            form: SearchForm {
                status: true,
                include: true,
                count: true,
            },
            seeded: total,
            seed_seconds,
            search: None,
            guard: GuardCheck::default(),
        };
        peer.probe_search().await?;
        peer.guard = peer.check_guard().await;
        Ok(peer)
    }

    /// Finds the fullest search form the peer answers (the first day of the first service,
    /// before any booking) and what it returns.
    async fn probe_search(&mut self) -> anyhow::Result<()> {
        let service = self.layout.services.first().cloned().unwrap_or_default();
        let day = self.layout.day(0);
        let mut refused = Vec::new();
        for form in SearchForm::candidates() {
            let url = slot_search_url(&self.base, &service, day, form);
            let r = self
                .client
                .call(Method::GET, &url, &peer_headers(false), None)
                .await
                .with_context(|| format!("searching the peer: {url}"))?;
            let counts = if r.status == StatusCode::OK {
                search_counts(&r.body, &default_schedule_id(&service), &day.to_string())
            } else {
                None
            };
            match counts {
                Some(counts) => {
                    self.form = form;
                    self.search = Some(SearchProbe {
                        url,
                        dropped: form.dropped(),
                        refused,
                        peer: counts,
                        ours: None,
                        expected_slots: SLOTS_PER_DAY,
                    });
                    return Ok(());
                }
                None => refused.push(format!(
                    "{} -> {}",
                    if form.dropped().is_empty() {
                        "every parameter".to_string()
                    } else {
                        format!("without {}", form.dropped().join(", "))
                    },
                    r.status.as_u16()
                )),
            }
        }
        bail!(
            "the peer answered no form of the slot search with a Bundle: {}",
            refused.join("; ")
        )
    }

    /// Records what ours returned for the probe's search, beside the peer's.
    pub fn set_ours_search(&mut self, body: &[u8]) {
        let service = self.layout.services.first().cloned().unwrap_or_default();
        let counts = search_counts(
            body,
            &default_schedule_id(&service),
            &self.layout.day(0).to_string(),
        );
        if let Some(probe) = &mut self.search {
            probe.ours = counts;
        }
    }

    /// The first slot and day of the probe's search, for asking ours the same.
    pub fn probe_target(&self) -> (String, jiff::civil::Date) {
        (
            self.layout.services.first().cloned().unwrap_or_default(),
            self.layout.day(0),
        )
    }

    async fn count_appointments(&self, slot: &SlotRef) -> Option<i64> {
        let url = format!(
            "{}/Appointment?slot=Slot/{}&_count={SEARCH_COUNT}",
            self.base, slot.id
        );
        let r = self
            .client
            .call(Method::GET, &url, &peer_headers(false), None)
            .await
            .ok()?;
        if r.status != StatusCode::OK {
            return None;
        }
        let bundle = r.json()?;
        let n = bundle
            .get("entry")
            .and_then(Value::as_array)
            .map(|e| {
                e.iter()
                    .filter(|x| {
                        x.pointer("/resource/resourceType").and_then(Value::as_str)
                            == Some("Appointment")
                    })
                    .count()
            })
            .unwrap_or(0);
        Some(n as i64)
    }

    async fn check_guard(&self) -> GuardCheck {
        let Some((slot, version)) = self.take_slot() else {
            return GuardCheck::default();
        };
        let before = self.count_appointments(&slot).await;
        let (first, first_outcome, _) = self.book_at(&slot, &version).await;
        let (second, second_outcome, _) = self.book_at(&slot, &version).await;
        let after = self.count_appointments(&slot).await;
        let added = before.zip(after).map(|(b, a)| a - b);
        GuardCheck {
            first,
            second,
            appointments_added: added,
            held: first_outcome == Outcome::Ok
                && second_outcome == Outcome::Refused
                && added.is_none_or(|n| n == 1),
        }
    }

    /// A seeded slot never handed out before, with its version, or `None` once used up.
    fn take_slot(&self) -> Option<(SlotRef, String)> {
        let k = self
            .next_slot
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| k.checked_sub(1))
            .ok()?
            - 1;
        Some((self.layout.slot(k), self.versions.get(k)?.clone()))
    }

    async fn book_at(&self, slot: &SlotRef, version: &str) -> (u16, Outcome, Option<String>) {
        let body = Bytes::from(booking_bundle(&self.base, slot, version).to_string());
        match self
            .client
            .call(Method::POST, &self.base, &peer_headers(true), Some(body))
            .await
        {
            Ok(r) => {
                let (outcome, id) = booking_outcome(r.status, &r.body);
                if outcome == Outcome::Error {
                    tracing_like_warn(&format!(
                        "peer booking answered {}: {}",
                        r.status,
                        snippet(&r.body)
                    ));
                }
                (r.status.as_u16(), outcome, id)
            }
            Err(e) => {
                tracing_like_warn(&format!("peer booking failed: {e}"));
                (0, Outcome::Error, None)
            }
        }
    }

    fn remember(&self, id: Option<String>) {
        if let (Some(id), Ok(mut ids)) = (id, self.appointments.lock()) {
            ids.push(id);
        }
    }

    fn appointment_ids(&self) -> Vec<String> {
        self.appointments
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// Runs one of [`SCENARIOS`] once; any other is not the peer's to run.
    pub async fn run(self: &Arc<Self>, scenario: Scenario) -> (Samples, Checks) {
        match scenario {
            Scenario::Booking => self.booking().await,
            Scenario::SlotSearch => self.slot_search().await,
            Scenario::Read => self.read().await,
            other => (
                Samples::default(),
                Checks {
                    passed: false,
                    problems: vec![format!("{} is not run on the peer", other.name())],
                    ..Checks::default()
                },
            ),
        }
    }

    /// One fresh slot per booking, as ours: a refusal of a fresh slot is an error.
    async fn book_fresh(&self) -> Outcome {
        let Some((slot, version)) = self.take_slot() else {
            return Outcome::Spent;
        };
        let (_, outcome, id) = self.book_at(&slot, &version).await;
        self.remember(id);
        if outcome == Outcome::Refused {
            Outcome::Error
        } else {
            outcome
        }
    }

    async fn booking(self: &Arc<Self>) -> (Samples, Checks) {
        let peer = self.clone();
        let samples = closed_loop(
            self.load.clients,
            self.load.warmup,
            self.load.duration,
            &self.watch,
            move |_, _| {
                let peer = peer.clone();
                async move { peer.book_fresh().await }
            },
        )
        .await;
        checked(samples)
    }

    async fn slot_search(self: &Arc<Self>) -> (Samples, Checks) {
        let peer = self.clone();
        let bytes = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let b = bytes.clone();
        let services = self.layout.services.len();
        let samples = closed_loop(
            self.load.clients,
            self.load.warmup,
            self.load.duration,
            &self.watch,
            move |client, n| {
                let (peer, bytes) = (peer.clone(), b.clone());
                async move {
                    // The same spread of services and days as ours.
                    let service = &peer.layout.services[spread(client, n, services)];
                    let days = peer
                        .layout
                        .untouched_days(peer.next_slot.load(Ordering::Relaxed));
                    let day = peer.layout.day(spread(client, n.wrapping_add(7), days));
                    let url = slot_search_url(&peer.base, service, day, peer.form);
                    match peer
                        .client
                        .call(Method::GET, &url, &peer_headers(false), None)
                        .await
                    {
                        Ok(r) if r.status == StatusCode::OK => {
                            bytes.0.fetch_add(r.body.len(), Ordering::Relaxed);
                            bytes.1.fetch_add(1, Ordering::Relaxed);
                            Outcome::Ok
                        }
                        Ok(r) => {
                            tracing_like_warn(&format!("peer slot search answered {}", r.status));
                            Outcome::Error
                        }
                        Err(_) => Outcome::Error,
                    }
                }
            },
        )
        .await;
        let (samples, mut checks) = checked(samples);
        checks.mean_body_bytes =
            Some((bytes.0.load(Ordering::Relaxed) / bytes.1.load(Ordering::Relaxed).max(1)) as u64);
        (samples, checks)
    }

    /// Books some appointments to read when no booking run has.
    async fn ensure_appointments(self: &Arc<Self>) {
        if self.appointment_ids().len() >= 100 {
            return;
        }
        let peer = self.clone();
        each_once(self.load.clients, 1_000, move |_| {
            let peer = peer.clone();
            async move { peer.book_fresh().await }
        })
        .await;
    }

    async fn read(self: &Arc<Self>) -> (Samples, Checks) {
        self.ensure_appointments().await;
        let ids = Arc::new(self.appointment_ids());
        if ids.is_empty() {
            return (
                Samples::default(),
                Checks {
                    passed: false,
                    problems: vec!["the peer's bookings returned no Appointment ids".into()],
                    ..Checks::default()
                },
            );
        }
        let peer = self.clone();
        let read = move |client: usize, n: u64| {
            let (peer, ids) = (peer.clone(), ids.clone());
            async move {
                let id = &ids[spread(client, n, ids.len())];
                let url = format!("{}/Appointment/{id}", peer.base);
                match peer
                    .client
                    .call(Method::GET, &url, &peer_headers(false), None)
                    .await
                {
                    Ok(r) if r.status == StatusCode::OK => Outcome::Ok,
                    Ok(r) => {
                        tracing_like_warn(&format!("peer read answered {}", r.status));
                        Outcome::Error
                    }
                    Err(_) => Outcome::Error,
                }
            }
        };
        measured_reads(&self.load, &self.watch, read).await
    }
}

/// Posts one seeding Bundle, retried a few times on a transport error or a 5xx/429 (a server
/// busy with the previous one); the versions written, in slot order.
async fn post_seed(
    client: &HttpClient,
    base: &str,
    body: &Bytes,
    expected: usize,
) -> anyhow::Result<Vec<String>> {
    let mut last = String::new();
    for attempt in 0..SEED_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(attempt as u64)).await;
        }
        let r: ClientResponse = match client
            .call(Method::POST, base, &peer_headers(true), Some(body.clone()))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        if r.status.is_server_error() || r.status == StatusCode::TOO_MANY_REQUESTS {
            last = format!("{}: {}", r.status, snippet(&r.body));
            continue;
        }
        if r.status != StatusCode::OK {
            bail!(
                "the peer refused a seeding transaction: {}: {}",
                r.status,
                snippet(&r.body)
            );
        }
        let entries = transaction_response(&r.body)
            .context("the peer's answer to a seeding transaction is not a Bundle")?;
        if entries.len() != expected {
            bail!(
                "the peer answered {} entries to a seeding transaction of {expected}",
                entries.len()
            );
        }
        return entries
            .iter()
            .map(|e| {
                if !e.succeeded() {
                    bail!("the peer answered {} to a seeding entry", e.status);
                }
                e.version()
                    .context("the peer's answer to a seeding PUT names no version (ETag, location or meta.versionId): a booking could not be guarded")
            })
            .collect();
    }
    bail!("a seeding transaction failed {SEED_ATTEMPTS} times: {last}")
}

/// Writes the services, schedules and every slot of `layout` to the peer and returns each
/// slot's version. Every write is a PUT of a client-assigned id, so seeding again (after an
/// interrupted run, or before the next) writes the same resources free again, at a new version
/// it records: nothing is duplicated.
async fn seed(base: &str, layout: &Layout, batch: usize) -> anyhow::Result<Vec<String>> {
    // Large Bundles take a while on one SQLite writer.
    let client = peer_client(Duration::from_secs(300));
    let services = services_bundle(base, layout);
    let n = layout.services.len() * 2;
    post_seed(&client, base, &Bytes::from(services.to_string()), n).await?;

    let total = layout.total();
    let chunks = Arc::new(seed_chunks(total, batch));
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..SEED_WORKERS {
        let (client, chunks, next, done) =
            (client.clone(), chunks.clone(), next.clone(), done.clone());
        let (base, layout) = (base.to_string(), layout.clone());
        workers.spawn(async move {
            let mut written: Vec<(usize, Vec<String>)> = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(range) = chunks.get(i).cloned() else {
                    return Ok::<_, anyhow::Error>(written);
                };
                let body = Bytes::from(seed_bundle(&base, &layout, range.clone()).to_string());
                let versions = post_seed(&client, &base, &body, range.len())
                    .await
                    .with_context(|| format!("seeding slots {}..{}", range.start, range.end))?;
                let before = done.fetch_add(range.len(), Ordering::Relaxed);
                let tenth = (total / 10).max(1);
                if (before + range.len()) / tenth > before / tenth {
                    eprintln!(
                        "peer seeding: {} of {total} slots, {:.0} s",
                        before + range.len(),
                        started.elapsed().as_secs_f64()
                    );
                }
                written.push((range.start, versions));
            }
        });
    }
    let mut parts = Vec::new();
    while let Some(joined) = workers.join_next().await {
        parts.extend(joined.context("a seeding worker panicked")??);
    }
    parts.sort_by_key(|(start, _)| *start);
    let versions: Vec<String> = parts.into_iter().flat_map(|(_, v)| v).collect();
    if versions.len() != total {
        bail!("seeded {} of {total} slots", versions.len());
    }
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::new(2, 200)
    }

    #[test]
    fn seed_chunks_cover_every_slot_once() {
        let chunks = seed_chunks(1_001, 250);
        assert_eq!(chunks.len(), 5);
        assert_eq!(chunks.first(), Some(&(0..250)));
        assert_eq!(chunks.last(), Some(&(1_000..1_001)));
        let covered: Vec<usize> = chunks.into_iter().flatten().collect();
        assert_eq!(covered, (0..1_001).collect::<Vec<_>>());
        assert!(seed_chunks(0, 250).is_empty());
    }

    #[test]
    fn a_seed_bundle_puts_each_slot_with_ours_id_and_schedule() {
        let layout = layout();
        let bundle = seed_bundle("http://peer/fhir", &layout, 3..5);
        assert_eq!(bundle["type"], "transaction");
        let entries = bundle["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        let slot = layout.slot(3);
        let e = &entries[0];
        assert_eq!(e["request"]["method"], "PUT");
        assert_eq!(e["request"]["url"], format!("Slot/{}", slot.id));
        assert!(e["request"].get("ifMatch").is_none());
        assert_eq!(e["fullUrl"], format!("http://peer/fhir/Slot/{}", slot.id));
        assert_eq!(e["resource"]["id"], slot.id.as_str());
        assert_eq!(e["resource"]["status"], "free");
        assert_eq!(e["resource"]["start"], slot.start.as_str());
        assert_eq!(e["resource"]["end"], slot.end.as_str());
        assert_eq!(
            e["resource"]["schedule"]["reference"],
            format!("Schedule/{}-default", slot.service)
        );
    }

    #[test]
    fn the_services_bundle_has_each_service_and_its_schedule() {
        let layout = layout();
        let bundle = services_bundle("http://peer", &layout);
        let entries = bundle["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 4);
        let service = &layout.services[1];
        assert_eq!(
            entries[2]["request"]["url"],
            format!("HealthcareService/{service}")
        );
        assert_eq!(
            entries[3]["request"]["url"],
            format!("Schedule/{service}-default")
        );
        assert_eq!(
            entries[3]["resource"]["actor"][0]["reference"],
            format!("HealthcareService/{service}")
        );
    }

    #[test]
    fn a_booking_creates_the_appointment_and_guards_the_slot_by_version() {
        let slot = layout().slot(7);
        let bundle = booking_bundle("http://peer", &slot, "3");
        assert_eq!(bundle["type"], "transaction");
        let entries = bundle["entry"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        let (appointment, put) = (&entries[0], &entries[1]);
        assert_eq!(appointment["request"]["method"], "POST");
        assert_eq!(appointment["request"]["url"], "Appointment");
        assert!(
            appointment["fullUrl"]
                .as_str()
                .unwrap()
                .starts_with("urn:uuid:")
        );
        assert_eq!(appointment["resource"]["status"], "booked");
        assert_eq!(
            appointment["resource"]["slot"][0]["reference"],
            format!("Slot/{}", slot.id)
        );
        assert_eq!(
            appointment["resource"]["participant"][0]["actor"]["identifier"]["value"],
            crate::scenarios::PATIENT
        );
        assert_eq!(put["request"]["method"], "PUT");
        assert_eq!(put["request"]["url"], format!("Slot/{}", slot.id));
        assert_eq!(put["request"]["ifMatch"], "W/\"3\"");
        assert_eq!(put["resource"]["status"], "busy");
        assert_eq!(put["resource"]["start"], slot.start.as_str());
    }

    fn response(entries: Value) -> Vec<u8> {
        json!({ "resourceType": "Bundle", "type": "transaction-response", "entry": entries })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_booking_succeeds_only_with_both_entries_written() {
        let ok = response(json!([
            { "response": { "status": "201 Created", "location": "Appointment/a1/_history/1", "etag": "W/\"1\"" } },
            { "response": { "status": "200 OK", "location": "http://peer/Slot/s1/_history/2", "etag": "W/\"2\"" } }
        ]));
        assert_eq!(
            booking_outcome(StatusCode::OK, &ok),
            (Outcome::Ok, Some("a1".to_string()))
        );
        let half = response(json!([
            { "response": { "status": "201 Created", "location": "Appointment/a1/_history/1" } },
            { "response": { "status": "412 Precondition Failed" } }
        ]));
        assert_eq!(booking_outcome(StatusCode::OK, &half).0, Outcome::Error);
        let one = response(json!([{ "response": { "status": "201" } }]));
        assert_eq!(booking_outcome(StatusCode::OK, &one).0, Outcome::Error);
        assert_eq!(
            booking_outcome(StatusCode::PRECONDITION_FAILED, b"{}").0,
            Outcome::Refused
        );
        assert_eq!(
            booking_outcome(StatusCode::CONFLICT, b"").0,
            Outcome::Refused
        );
        assert_eq!(
            booking_outcome(StatusCode::INTERNAL_SERVER_ERROR, &ok).0,
            Outcome::Error
        );
        assert_eq!(
            booking_outcome(StatusCode::OK, b"not json").0,
            Outcome::Error
        );
        // A whole-transaction refusal that names the entry's failed precondition, where servers
        // put it (Helios FHIR Server 0.2.7, as it answers: in `details.text`); any other 400 is
        // an error.
        let outcome = |issue: Value| {
            json!({ "resourceType": "OperationOutcome", "issue": [issue] }).to_string()
        };
        let failed = "Transaction failed at entry 1: Entry failed with status 412";
        let stale =
            outcome(json!({ "severity": "error", "code": "processing", "diagnostics": failed }));
        for (body, expected) in [
            (stale.clone(), Outcome::Refused),
            (
                outcome(
                    json!({ "severity": "error", "code": "processing", "details": { "text": failed } }),
                ),
                Outcome::Refused,
            ),
            (
                outcome(
                    json!({ "severity": "error", "code": "invalid", "diagnostics": "Unknown element" }),
                ),
                Outcome::Error,
            ),
        ] {
            assert_eq!(
                booking_outcome(StatusCode::BAD_REQUEST, body.as_bytes()).0,
                expected,
                "{body}"
            );
        }
        assert_eq!(
            booking_outcome(StatusCode::INTERNAL_SERVER_ERROR, stale.as_bytes()).0,
            Outcome::Error
        );
    }

    #[test]
    fn versions_come_from_the_etag_else_the_location_else_the_resource() {
        let parse = |entry: Value| {
            transaction_response(&response(json!([entry])))
                .unwrap()
                .remove(0)
        };
        let e = parse(
            json!({ "response": { "status": "200 OK", "etag": "W/\"7\"", "location": "Slot/x/_history/6" } }),
        );
        assert_eq!(e.version().as_deref(), Some("7"));
        let e = parse(
            json!({ "response": { "status": "201 Created", "location": "http://h/fhir/Slot/x/_history/6" } }),
        );
        assert_eq!(e.version().as_deref(), Some("6"));
        assert_eq!(e.id("Slot").as_deref(), Some("x"));
        let e = parse(json!({
            "response": { "status": "201" },
            "resource": { "resourceType": "Appointment", "id": "r9", "meta": { "versionId": "1" } }
        }));
        assert_eq!(e.version().as_deref(), Some("1"));
        assert_eq!(e.id("Appointment").as_deref(), Some("r9"));
        let e = parse(json!({ "response": { "status": "200 OK" } }));
        assert_eq!(e.version(), None);
        assert!(transaction_response(br#"{"resourceType":"OperationOutcome"}"#).is_none());
        assert!(
            transaction_response(&response(json!([{ "response": { "status": "OK" } }]))).is_none()
        );
    }

    #[test]
    fn search_forms_drop_count_first_and_status_last() {
        let forms = SearchForm::candidates();
        assert_eq!(forms.len(), 8);
        assert!(forms[0].dropped().is_empty());
        assert_eq!(forms[1].dropped(), vec!["_count"]);
        assert_eq!(forms[2].dropped(), vec!["_include"]);
        assert_eq!(forms[7].dropped(), vec!["status", "_include", "_count"]);
        let day = jiff::civil::date(2030, 1, 31);
        let url = slot_search_url("http://peer", "2000100000", day, forms[0]);
        assert_eq!(
            url,
            "http://peer/Slot?schedule=Schedule/2000100000-default&start=ge2030-01-31T00:00:00Z&start=lt2030-02-01T00:00:00Z&status=free&_include=Slot:schedule&_count=100"
        );
        let bare = slot_search_url("http://peer", "2000100000", day, forms[7]);
        assert!(
            !bare.contains("status=") && !bare.contains("_include") && !bare.contains("_count")
        );
    }

    #[test]
    fn search_counts_tell_matches_includes_and_ignored_filters() {
        let body = json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{ "relation": "next", "url": "http://peer/Slot?page=2" }],
            "entry": [
                { "resource": { "resourceType": "Slot", "schedule": { "reference": "Schedule/s-default" }, "start": "2030-01-31T09:00:00Z" } },
                { "resource": { "resourceType": "Slot", "schedule": { "reference": "http://peer/Schedule/s-default" }, "start": "2030-01-31T09:10:00+00:00" } },
                { "resource": { "resourceType": "Slot", "schedule": { "reference": "Schedule/t-default" }, "start": "2030-01-31T09:00:00Z" } },
                { "resource": { "resourceType": "Slot", "schedule": { "reference": "Schedule/s-default" }, "start": "2030-02-01T09:00:00Z" } },
                { "resource": { "resourceType": "Schedule", "id": "s-default" } }
            ]
        })
        .to_string();
        let counts = search_counts(body.as_bytes(), "s-default", "2030-01-31").unwrap();
        assert_eq!(
            counts,
            SearchCounts {
                slots: 4,
                included: 1,
                outside: 2,
                paged: true
            }
        );
        assert!(search_counts(b"[]", "s-default", "2030-01-31").is_none());
    }
}
