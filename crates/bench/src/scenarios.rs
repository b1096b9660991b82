//! The scenarios: what each one sends, what counts as success, and what is checked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bars_fhir::Instant as FhirInstant;
use bars_fhir::headers::{EndUserOrganisation, TargetIdentifier, encode_base64_json};
use bars_http::client::{ClientError, ClientResponse};
use bars_receiver::ReceiverConfig;
use bars_receiver::availability::Availability;
use bars_store::{
    AppointmentChange, AuditEntry, IdempotencyKey, IdempotencyRecord, RequestOutcome, SlotRecord,
    Store,
};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::cpu::{Role, Watch};
use crate::load::{Outcome, Samples, closed_loop, each_once};
use crate::stack::{ODS, SENDER, SENDER_ODS, SlotRef, Stack};

/// The NHS number the bench books for (a valid test number, not a person).
pub const PATIENT: &str = "9434765919";

/// The scenarios, in the order a run performs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Ceiling: `GET /_ping` on the receiver: the same TLS server and middleware with a handler
    /// that does nothing.
    EmptyHandler,
    /// Ceiling: the storage layer alone committing a booking's writes (appointment, version,
    /// slot claim, request record, outbox row, audit row) through group commit, in-process.
    StorageCommit,
    /// `POST /Appointment` on distinct free slots, straight to the receiver as the proxy sends.
    Booking,
    /// Many clients racing for few slots; exactly one booking per slot must succeed.
    Contention,
    /// `GET /Slot` for one service over one day with the BaRS includes, on the seeded store.
    SlotSearch,
    /// `GET /Appointment/{id}` straight to the receiver.
    Read,
    /// `GET /Appointment/{id}` through the proxy (bearer token, routing, forwarding).
    ReadViaProxy,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::EmptyHandler,
        Scenario::StorageCommit,
        Scenario::Booking,
        Scenario::Contention,
        Scenario::SlotSearch,
        Scenario::Read,
        Scenario::ReadViaProxy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::EmptyHandler => "empty-handler",
            Scenario::StorageCommit => "storage-commit",
            Scenario::Booking => "booking",
            Scenario::Contention => "contention",
            Scenario::SlotSearch => "slot-search",
            Scenario::Read => "read",
            Scenario::ReadViaProxy => "read-via-proxy",
        }
    }
}

/// How hard and how long to push.
#[derive(Debug, Clone)]
pub struct Load {
    pub clients: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Clients racing in the contention scenario.
    pub contention_clients: usize,
    /// Slots they race for, per round.
    pub contention_slots: usize,
}

/// What a scenario run found beyond timings.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Checks {
    /// Contention: bookings that succeeded, and the slots raced for (they must be equal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booked: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contended_slots: Option<u64>,
    /// Reads: the median latency with a single client, when nothing queues: what a request
    /// costs on its own, and so what the proxy adds to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unloaded_p50_ms: Option<f64>,
    /// Slot search: mean size of a response body, in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_body_bytes: Option<u64>,
    /// Every invariant the scenario checks held.
    pub passed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// The state scenarios share across runs: which seeded slots are still free, the
/// appointments created so far, and the in-process store of the storage ceiling.
pub struct Bench {
    pub stack: Stack,
    pub load: Load,
    /// The receiver, the proxy and this process, whose CPU each run reports per request.
    watch: Watch,
    /// Slots are handed out from the end of the layout downwards, so every booking gets a
    /// slot no one has booked.
    next_slot: AtomicUsize,
    /// Booked appointments as (owning service, id): a read addresses the appointment's own
    /// service, as a receiver answers any other with 404.
    appointments: std::sync::Mutex<Vec<(String, String)>>,
    commit_store: tokio::sync::Mutex<Option<CommitStore>>,
}

struct CommitStore {
    store: Arc<dyn Store>,
    slots: Arc<Vec<String>>,
    used: Arc<AtomicUsize>,
    /// Slots created so far, over every run: each run gets slots never claimed before.
    created: usize,
}

fn direct_headers(service: Option<&str>, body: bool) -> Vec<(&'static str, String)> {
    let org = EndUserOrganisation {
        ods_code: Some(SENDER_ODS.into()),
        name: Some("Bench GP Practice".into()),
    };
    let mut headers = vec![
        ("x-request-id", uuid::Uuid::new_v4().to_string()),
        ("x-correlation-id", uuid::Uuid::new_v4().to_string()),
        ("accept", "application/fhir+json; version=1.1.0".to_string()),
        (
            "nhsd-end-user-organisation",
            encode_base64_json(&org.to_json()),
        ),
    ];
    if body {
        headers.push((
            "content-type",
            "application/fhir+json; version=1.1.0".to_string(),
        ));
    }
    if let Some(s) = service {
        headers.push(("nhsd-target-identifier", TargetIdentifier::dos(s).encode()));
    }
    headers
}

/// Headers as the proxy sends them to a receiver: the sender's plus the identity it vouches for.
fn as_proxy(mut headers: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    headers.push(("nhsd-authenticated-application", SENDER.to_string()));
    headers.push(("nhsd-authenticated-organisation", SENDER_ODS.to_string()));
    headers
}

/// A run's samples with the one check every scenario makes: no request failed.
pub(crate) fn checked(samples: Samples) -> (Samples, Checks) {
    let mut checks = Checks {
        passed: samples.errors == 0 && samples.spent_clients == 0,
        ..Checks::default()
    };
    if samples.errors > 0 {
        checks
            .problems
            .push(format!("{} requests failed", samples.errors));
    }
    if samples.spent_clients > 0 {
        checks.problems.push(format!(
            "the seeded slots ran out before the run ended ({} clients stopped early): seed more \
             (--slots) or measure for less (--duration, --runs)",
            samples.spent_clients
        ));
    }
    (samples, checks)
}

/// A read scenario's run: `read` under the load, then one client for a short while, the latency
/// of a request that waits for nothing (what a read costs alone, and what a proxy adds to one).
pub(crate) async fn measured_reads<F, Fut>(load: &Load, watch: &Watch, read: F) -> (Samples, Checks)
where
    F: Fn(usize, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let loaded = closed_loop(
        load.clients,
        load.warmup,
        load.duration,
        watch,
        read.clone(),
    )
    .await;
    let alone = closed_loop(
        1,
        Duration::from_millis(200),
        Duration::from_secs(2),
        &Watch::none(),
        read,
    )
    .await
    .summary();
    let (samples, mut checks) = checked(loaded);
    if alone.errors > 0 {
        checks.passed = false;
        checks
            .problems
            .push(format!("{} single-client reads failed", alone.errors));
    }
    checks.unloaded_p50_ms = Some(alone.p50_ms);
    (samples, checks)
}

/// The Appointment a sender posts to book `slot`.
pub fn appointment_for(slot: &SlotRef) -> serde_json::Value {
    json!({
        "resourceType": "Appointment",
        "meta": { "profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Appointment"] },
        "status": "booked",
        "description": "Sprained ankle",
        "slot": [{ "reference": format!("Slot/{}", slot.id) }],
        "start": slot.start,
        "end": slot.end,
        "created": FhirInstant::now().to_string(),
        "participant": [{
            "actor": { "identifier": { "system": "https://fhir.nhs.uk/Id/nhs-number", "value": PATIENT } },
            "status": "accepted"
        }]
    })
}

/// The id of the appointment a 201 created, from its `Location` (`.../Appointment/{id}...`).
fn created_id(location: Option<&str>, body: &[u8]) -> Option<String> {
    if let Some(rest) = location.and_then(|l| l.split("/Appointment/").nth(1)) {
        return rest.split('/').next().map(str::to_string);
    }
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get("id")?
        .as_str()
        .map(str::to_string)
}

/// A cheap, deterministic spread of (client, n) over `0..m` (no random-number crate needed).
pub(crate) fn spread(client: usize, n: u64, m: usize) -> usize {
    let mut x =
        (client as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x % m.max(1) as u64) as usize
}

impl Bench {
    pub fn new(stack: Stack, load: Load) -> Bench {
        let total = stack.layout.total();
        let watch = Watch::servers([
            (Role::Receiver, stack.receiver.pid()),
            (Role::Proxy, stack.proxy.pid()),
        ]);
        Bench {
            stack,
            load,
            watch,
            next_slot: AtomicUsize::new(total),
            appointments: std::sync::Mutex::new(Vec::new()),
            commit_store: tokio::sync::Mutex::new(None),
        }
    }

    /// A seeded slot never handed out before, or `None` once the layout is used up.
    fn take_slot(&self) -> Option<SlotRef> {
        let k = self
            .next_slot
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| k.checked_sub(1))
            .ok()?;
        Some(self.stack.layout.slot(k - 1))
    }

    fn appointment_ids(&self) -> Vec<(String, String)> {
        self.appointments
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// Keeps a booked appointment for the read scenarios.
    fn remember(&self, slot: &SlotRef, id: Option<String>) {
        if let (Some(id), Ok(mut ids)) = (id, self.appointments.lock()) {
            ids.push((slot.service.clone(), id));
        }
    }

    /// Runs one scenario once.
    pub async fn run(self: &Arc<Self>, scenario: Scenario) -> (Samples, Checks) {
        match scenario {
            Scenario::EmptyHandler => self.empty_handler().await,
            Scenario::StorageCommit => self.storage_commit().await,
            Scenario::Booking => self.booking().await,
            Scenario::Contention => self.contention().await,
            Scenario::SlotSearch => self.slot_search().await,
            Scenario::Read => self.read(false).await,
            Scenario::ReadViaProxy => self.read(true).await,
        }
    }

    async fn empty_handler(self: &Arc<Self>) -> (Samples, Checks) {
        let bench = self.clone();
        let url = Arc::new(format!("{}/_ping", self.stack.receiver_url));
        let samples = closed_loop(
            self.load.clients,
            self.load.warmup,
            self.load.duration,
            &self.watch,
            move |_, _| {
                let (bench, url) = (bench.clone(), url.clone());
                async move {
                    match bench.stack.direct.call(Method::GET, &url, &[], None).await {
                        Ok(r) if r.status == StatusCode::OK => Outcome::Ok,
                        _ => Outcome::Error,
                    }
                }
            },
        )
        .await;
        checked(samples)
    }

    /// Books one slot straight at the receiver; the id of what was created, if anything.
    async fn book(&self, slot: &SlotRef) -> (Outcome, Option<String>) {
        let url = format!("{}/Appointment", self.stack.receiver_url);
        let body = Bytes::from(appointment_for(slot).to_string());
        let headers = as_proxy(direct_headers(Some(&slot.service), true));
        match self
            .stack
            .direct
            .call(Method::POST, &url, &headers, Some(body))
            .await
        {
            Ok(r) if r.status == StatusCode::CREATED => {
                (Outcome::Ok, created_id(r.header("location"), &r.body))
            }
            Ok(r) if r.status == StatusCode::CONFLICT => (Outcome::Refused, None),
            Ok(r) => {
                tracing_like_warn(&format!(
                    "booking answered {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                        .chars()
                        .take(300)
                        .collect::<String>()
                ));
                (Outcome::Error, None)
            }
            Err(e) => {
                tracing_like_warn(&format!("booking failed: {e}"));
                (Outcome::Error, None)
            }
        }
    }

    async fn booking(self: &Arc<Self>) -> (Samples, Checks) {
        let bench = self.clone();
        let samples = closed_loop(
            self.load.clients,
            self.load.warmup,
            self.load.duration,
            &self.watch,
            move |_, _| {
                let bench = bench.clone();
                async move {
                    let Some(slot) = bench.take_slot() else {
                        return Outcome::Spent;
                    };
                    let (outcome, id) = bench.book(&slot).await;
                    bench.remember(&slot, id);
                    // A fresh slot must never be refused: a 409 here is a failure.
                    if outcome == Outcome::Refused {
                        Outcome::Error
                    } else {
                        outcome
                    }
                }
            },
        )
        .await;
        checked(samples)
    }

    async fn contention(self: &Arc<Self>) -> (Samples, Checks) {
        let (clients, per_round) = (
            self.load.contention_clients,
            self.load.contention_slots.max(1),
        );
        let started = Instant::now();
        let cpu_before = self.watch.snapshot();
        let mut all = Samples::default();
        let mut checks = Checks {
            passed: true,
            booked: Some(0),
            contended_slots: Some(0),
            ..Checks::default()
        };
        // Rounds until the measured duration is used: each round, `clients` clients each try
        // every one of `per_round` fresh slots.
        while started.elapsed() < self.load.duration {
            let slots: Vec<SlotRef> = (0..per_round).filter_map(|_| self.take_slot()).collect();
            if slots.len() < per_round {
                checks.passed = false;
                checks.problems.push("the seeded slots ran out".into());
                break;
            }
            let wins: Arc<Vec<AtomicU32>> =
                Arc::new((0..per_round).map(|_| AtomicU32::new(0)).collect());
            let slots = Arc::new(slots);
            let (bench, w, sl) = (self.clone(), wins.clone(), slots.clone());
            let round = each_once(clients, clients * per_round, move |job| {
                let (bench, wins, slots) = (bench.clone(), w.clone(), sl.clone());
                async move {
                    // Consecutive attempts go to different slots, so every slot is raced for
                    // by many clients at once.
                    let i = job % slots.len();
                    let (outcome, id) = bench.book(&slots[i]).await;
                    if outcome == Outcome::Ok {
                        wins[i].fetch_add(1, Ordering::Relaxed);
                        bench.remember(&slots[i], id);
                    }
                    outcome
                }
            })
            .await;
            let booked: u64 = wins
                .iter()
                .map(|w| u64::from(w.load(Ordering::Relaxed)))
                .sum();
            let exactly_once = wins.iter().all(|w| w.load(Ordering::Relaxed) == 1);
            if !exactly_once {
                checks.passed = false;
                checks.problems.push(format!(
                    "a round booked {booked} of {per_round} slots; every slot must be booked exactly once"
                ));
            }
            checks.booked = checks.booked.map(|b| b + booked);
            checks.contended_slots = checks.contended_slots.map(|c| c + per_round as u64);
            let elapsed = all.elapsed + round.elapsed;
            all.latencies.extend(round.latencies);
            all.ok += round.ok;
            all.refused += round.refused;
            all.errors += round.errors;
            all.elapsed = elapsed;
        }
        all.cpu = cpu_before.until(&self.watch.snapshot());
        if all.errors > 0 {
            checks.passed = false;
            checks.problems.push(format!(
                "{} attempts failed (neither 201 nor 409)",
                all.errors
            ));
        }
        (all, checks)
    }

    /// One slot search of ours: `service`'s free slots on `day` with the BaRS includes.
    pub async fn search_once(
        &self,
        service: &str,
        day: jiff::civil::Date,
    ) -> Result<ClientResponse, ClientError> {
        let url = format!(
            "{}/Slot?Schedule.actor:HealthcareService={service}&status=free&start=ge{day}T00:00:00Z&start=le{day}T23:59:59Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService",
            self.stack.receiver_url
        );
        let headers = as_proxy(direct_headers(Some(service), false));
        self.stack
            .direct
            .call(Method::GET, &url, &headers, None)
            .await
    }

    async fn slot_search(self: &Arc<Self>) -> (Samples, Checks) {
        let bench = self.clone();
        // (bytes, responses), warm-up included, for the mean size of a response.
        let bytes = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
        let b = bytes.clone();
        let layout = &self.stack.layout;
        let services = layout.services.len();
        let samples = closed_loop(
            self.load.clients,
            self.load.warmup,
            self.load.duration,
            &self.watch,
            move |client, n| {
                let (bench, bytes) = (bench.clone(), b.clone());
                async move {
                    let layout = &bench.stack.layout;
                    let service = &layout.services[spread(client, n, services)];
                    let days = layout.untouched_days(bench.next_slot.load(Ordering::Relaxed));
                    let day = layout.day(spread(client, n.wrapping_add(7), days));
                    match bench.search_once(service, day).await {
                        Ok(r) if r.status == StatusCode::OK => {
                            bytes.0.fetch_add(r.body.len(), Ordering::Relaxed);
                            bytes.1.fetch_add(1, Ordering::Relaxed);
                            Outcome::Ok
                        }
                        Ok(r) => {
                            tracing_like_warn(&format!("slot search answered {}", r.status));
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

    /// Makes sure there are appointments to read: books some when no scenario has yet.
    async fn ensure_appointments(self: &Arc<Self>) {
        if self.appointment_ids().len() >= 100 {
            return;
        }
        let bench = self.clone();
        each_once(self.load.clients, 1_000, move |_| {
            let bench = bench.clone();
            async move {
                let Some(slot) = bench.take_slot() else {
                    return Outcome::Error;
                };
                let (outcome, id) = bench.book(&slot).await;
                bench.remember(&slot, id);
                outcome
            }
        })
        .await;
    }

    async fn read(self: &Arc<Self>, via_proxy: bool) -> (Samples, Checks) {
        self.ensure_appointments().await;
        let ids = Arc::new(self.appointment_ids());
        let bench = self.clone();
        let read = move |client: usize, n: u64| {
            let (bench, ids) = (bench.clone(), ids.clone());
            async move {
                let (service, id) = &ids[spread(client, n, ids.len())];
                let result = if via_proxy {
                    let token = match bench.stack.tokens.token().await {
                        Ok(t) => t,
                        Err(_) => return Outcome::Error,
                    };
                    let mut headers = direct_headers(Some(service), false);
                    headers.push(("authorization", format!("Bearer {token}")));
                    let url = format!("{}/Appointment/{id}", bench.stack.proxy_url);
                    bench
                        .stack
                        .sender
                        .call(Method::GET, &url, &headers, None)
                        .await
                } else {
                    let headers = as_proxy(direct_headers(Some(service), false));
                    let url = format!("{}/Appointment/{id}", bench.stack.receiver_url);
                    bench
                        .stack
                        .direct
                        .call(Method::GET, &url, &headers, None)
                        .await
                };
                match result {
                    Ok(r) if r.status == StatusCode::OK => Outcome::Ok,
                    Ok(r) => {
                        tracing_like_warn(&format!("read answered {}", r.status));
                        Outcome::Error
                    }
                    Err(_) => Outcome::Error,
                }
            }
        };
        measured_reads(&self.load, &self.watch, read).await
    }

    /// The store this process opens itself for the storage ceiling, with enough free slots for
    /// the next run.
    async fn commit_store(
        &self,
    ) -> anyhow::Result<(Arc<dyn Store>, Arc<Vec<String>>, Arc<AtomicUsize>)> {
        let mut guard = self.commit_store.lock().await;
        if guard.is_none() {
            let path = self.stack.dir.join("storage-ceiling.db");
            let store = bars_store::open(&format!("sqlite://{}", path.display())).await?;
            let config =
                ReceiverConfig::new(ODS, "https://127.0.0.1").with_service("ceiling", "Ceiling");
            let availability = Availability {
                store: store.clone(),
                config: Arc::new(config),
            };
            availability
                .put_schedule(
                    Some("ceiling"),
                    json!({"resourceType": "Schedule", "actor": [{"reference": "HealthcareService/ceiling"}]}),
                    json!({}),
                )
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.diagnostics))?;
            *guard = Some(CommitStore {
                store,
                slots: Arc::new(Vec::new()),
                used: Arc::new(AtomicUsize::new(0)),
                created: 0,
            });
        }
        let cs = guard.as_mut().ok_or_else(|| anyhow::anyhow!("no store"))?;
        // Enough fresh slots for 40,000 commits a second over the run: three times the fastest
        // rate measured yet (14,400/s; at 15,000 a second that machine ran out within a 5 s run).
        // More would only give the checkpointer a larger backlog to copy before the run starts.
        let want = (40_000.0 * (self.load.duration + self.load.warmup).as_secs_f64()) as usize;
        let base = cs.created;
        cs.created += want;
        let now = FhirInstant::now();
        let new: Vec<SlotRecord> = (base..base + want)
            .map(|k| {
                let start = FhirInstant::from_unix_nanos_trimmed(
                    4_000_000_000_000_000_000 + k as i64 * 600_000_000_000,
                );
                SlotRecord {
                    id: format!("ceiling-{k}"),
                    schedule_id: "ceiling".into(),
                    service_id: "ceiling".into(),
                    status: bars_booking::SlotStatus::Free,
                    start,
                    end: FhirInstant::from_unix_nanos_trimmed(start.unix_nanos() + 600_000_000_000),
                    version: 1,
                    last_updated: now,
                    extra: None,
                }
            })
            .collect();
        let ids: Vec<String> = new.iter().map(|s| s.id.clone()).collect();
        cs.store.insert_slots(new).await?;
        // Let the checkpointer copy the inserted slots back before the clock starts.
        tokio::time::sleep(Duration::from_secs(2)).await;
        cs.slots = Arc::new(ids);
        cs.used = Arc::new(AtomicUsize::new(0));
        Ok((cs.store.clone(), cs.slots.clone(), cs.used.clone()))
    }

    async fn storage_commit(self: &Arc<Self>) -> (Samples, Checks) {
        let (store, slots, used) = match self.commit_store().await {
            Ok(s) => s,
            Err(e) => {
                return (
                    Samples::default(),
                    Checks {
                        passed: false,
                        problems: vec![format!("cannot open the ceiling's store: {e}")],
                        ..Checks::default()
                    },
                );
            }
        };
        let body = Arc::new(
            appointment_for(&SlotRef {
                service: "ceiling".into(),
                id: "ceiling-0".into(),
                start: "2030-01-07T09:00:00Z".into(),
                end: "2030-01-07T09:10:00Z".into(),
            })
            .to_string(),
        );
        let samples = closed_loop(
            self.load.clients,
            self.load.warmup,
            self.load.duration,
            &self.watch,
            move |_, _| {
                let (store, slots, used, body) =
                    (store.clone(), slots.clone(), used.clone(), body.clone());
                async move {
                    let k = used.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = slots.get(k) else {
                        return Outcome::Spent;
                    };
                    // Ids as the receiver makes them, so the ceiling writes what a booking does.
                    let id = bars_receiver::service::new_appointment_id();
                    let now = FhirInstant::now();
                    let (request_id, correlation_id) = (
                        uuid::Uuid::new_v4().to_string(),
                        uuid::Uuid::new_v4().to_string(),
                    );
                    let change = AppointmentChange {
                        id: id.clone(),
                        version: 1,
                        expected_version: None,
                        status: bars_booking::AppointmentStatus::Booked,
                        service_id: Some("ceiling".into()),
                        patient: Some(PATIENT.into()),
                        start: Some(now),
                        end: Some(now),
                        created: now,
                        last_updated: now,
                        body: body.to_string(),
                        claim: vec![slot.clone()],
                        release: vec![],
                        pointer: Some(bars_booking::PointerAction::Create),
                        idempotency: Some(IdempotencyRecord {
                            key: IdempotencyKey {
                                request_id: request_id.clone(),
                                correlation_id: correlation_id.clone(),
                                sender: SENDER.into(),
                            },
                            outcome: RequestOutcome::Succeeded {
                                location: Some(format!(
                                    "https://127.0.0.1/Appointment/{id}/_history/1"
                                )),
                            },
                            recorded: now,
                        }),
                        audit: AuditEntry {
                            at: Some(now),
                            request_id,
                            correlation_id,
                            sender_ods: Some(ODS.into()),
                            sender_software: None,
                            sender_app: Some(SENDER.into()),
                            action: "book".into(),
                            resource_type: "Appointment".into(),
                            resource_id: Some(id),
                            version: Some(1),
                            outcome: 201,
                            patient: Some(PATIENT.into()),
                        },
                    };
                    match store.commit_appointment(change).await {
                        Ok(()) => Outcome::Ok,
                        Err(_) => Outcome::Error,
                    }
                }
            },
        )
        .await;
        checked(samples)
    }
}

/// Scenario failures go to stderr (the table goes to stdout); at most a few, so a broken run
/// does not drown the terminal.
pub(crate) fn tracing_like_warn(message: &str) {
    static SHOWN: AtomicUsize = AtomicUsize::new(0);
    if SHOWN.fetch_add(1, Ordering::Relaxed) < 5 {
        eprintln!("warning: {message}");
    }
}

impl Bench {
    /// The stack, to stop it when the bench is over.
    pub fn into_stack(self) -> Stack {
        self.stack
    }
}
