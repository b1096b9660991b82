//! The booking state machine under random concurrent use (proptest): several senders at once
//! book, reschedule (PATCH or PUT to another slot), cancel, rebook (a new appointment that
//! `replaces` the old, then the old cancelled), view, resend their last request with the same
//! ids, and send a booking twice at once with the same ids, through the proxy of the
//! in-process stack. Each step is sent as a BaRS Core 1.1.6 or 1.5.0 sender, chosen per step
//! (issue 16): under 1.5.0 a reschedule is a PATCH of the slot alone (its times follow the
//! slot) or a PUT that tries to move the booking and must be refused, and a rebook is cancel
//! then book without `replaces`. After each case:
//!
//! - a busy slot is held by exactly one booking, a free slot by none (so never two);
//! - versions only grow: every read a sender makes shows a `versionId` no lower than the last
//!   it saw, and every version anyone saw is in the appointment's `_history`;
//! - once the outbox has drained, the registry holds exactly one pointer per active booking,
//!   with its period, and none for a cancelled one;
//! - nothing answered with a server error.
//!
//! Each case books on a day of its own, for a patient of its own, so cases do not see each
//! other. On a failure proptest shrinks the case to a minimal sequence of operations.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use bars_http::client::ClientResponse;
use bars_receiver::availability::SlotPlan;
use bars_store::testing::{PgTestSchema, note_skipped};
use http::Method;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::invariants::{check_pointers, check_slots};
use crate::kit::{SenderRequest, Stack, appointment_for};

/// Slots per case: few, so that senders contend for them.
const SLOTS: usize = 4;
/// Indexes into the appointments booked so far in a case (taken modulo their number).
const PICK: usize = 8;

/// Which BaRS Core version a step is sent under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Core {
    V116,
    V150,
}

impl Core {
    fn accept(self) -> &'static str {
        match self {
            Core::V116 => "application/fhir+json; version=1.1.0",
            Core::V150 => "application/fhir+json; version=1.5.0",
        }
    }
}

fn core() -> impl Strategy<Value = Core> {
    prop_oneof![Just(Core::V116), Just(Core::V150)]
}

#[derive(Debug, Clone)]
enum Op {
    Book {
        slot: usize,
        core: Core,
    },
    Reschedule {
        pick: usize,
        slot: usize,
        patch: bool,
        core: Core,
    },
    Cancel {
        pick: usize,
        delete: bool,
        core: Core,
    },
    Rebook {
        pick: usize,
        slot: usize,
        core: Core,
    },
    View {
        pick: usize,
    },
    /// The sender's last request again, with the same X-Request-ID and X-Correlation-ID.
    Retry,
    /// A booking sent twice at once with the same ids (a retry racing the original).
    BookTwiceAtOnce {
        slot: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..SLOTS, core()).prop_map(|(slot, core)| Op::Book { slot, core }),
        2 => (0..PICK, 0..SLOTS, any::<bool>(), core())
            .prop_map(|(pick, slot, patch, core)| Op::Reschedule { pick, slot, patch, core }),
        2 => (0..PICK, any::<bool>(), core())
            .prop_map(|(pick, delete, core)| Op::Cancel { pick, delete, core }),
        2 => (0..PICK, 0..SLOTS, core()).prop_map(|(pick, slot, core)| Op::Rebook { pick, slot, core }),
        1 => (0..PICK).prop_map(|pick| Op::View { pick }),
        2 => Just(Op::Retry),
        1 => (0..SLOTS).prop_map(|slot| Op::BookTwiceAtOnce { slot }),
    ]
}

/// Two to five senders, each with up to eight operations.
fn senders() -> impl Strategy<Value = Vec<Vec<Op>>> {
    prop::collection::vec(prop::collection::vec(op(), 1..=8), 2..=5)
}

/// A valid NHS number (modulus 11 check digit) of its own for each case.
fn patient(n: u32) -> String {
    let mut base = 900_000_000 + u64::from(n) * 13;
    loop {
        let digits: Vec<u64> = base
            .to_string()
            .bytes()
            .map(|b| u64::from(b - b'0'))
            .collect();
        let sum: u64 = digits.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
        let check = (11 - sum % 11) % 11;
        if check != 10 {
            return format!("{base}{check}");
        }
        base += 1;
    }
}

/// One case's world: its service, day, patient, slots and what its senders have seen.
struct Case<'a> {
    stack: &'a Stack,
    service: String,
    patient: String,
    slots: Vec<Value>,
    /// Appointments booked so far (by anyone), in order.
    booked: Mutex<Vec<String>>,
    /// Every (appointment, version) any sender saw.
    seen: Mutex<BTreeSet<(String, u64)>>,
    /// Answers by request kind and status, for the figures printed at the end.
    answers: &'a Mutex<BTreeMap<String, usize>>,
}

/// One sender: its last request (for retries) and the last version it saw of each
/// appointment.
struct Sender {
    last: Option<SenderRequest>,
    versions: BTreeMap<String, u64>,
}

impl Case<'_> {
    fn pick(&self, pick: usize) -> Option<String> {
        let booked = self.booked.lock().unwrap();
        (!booked.is_empty()).then(|| booked[pick % booked.len()].clone())
    }

    /// Sends, remembers the request for a retry, and checks the answer: never a server error,
    /// and an Appointment no older than the sender last saw.
    async fn send(
        &self,
        sender: &mut Sender,
        request: SenderRequest,
    ) -> Result<ClientResponse, String> {
        let r = request.send().await;
        let what = format!("{} {}", request.method, request.url);
        let kind = if request.url.ends_with("/Appointment") {
            "/Appointment"
        } else {
            "/Appointment/{id}"
        };
        *self
            .answers
            .lock()
            .unwrap()
            .entry(format!("{} {kind} {}", request.method, r.status.as_u16()))
            .or_default() += 1;
        sender.last = Some(request);
        self.observe(sender, &what, &r)?;
        Ok(r)
    }

    fn observe(&self, sender: &mut Sender, what: &str, r: &ClientResponse) -> Result<(), String> {
        if r.status.is_server_error() {
            return Err(format!(
                "{what} answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        let body = r.json().unwrap_or(Value::Null);
        if body["resourceType"] == "Appointment"
            && let (Some(id), Some(version)) = (
                body["id"].as_str(),
                body["meta"]["versionId"]
                    .as_str()
                    .and_then(|v| v.parse::<u64>().ok()),
            )
        {
            let last = sender.versions.entry(id.to_string()).or_insert(0);
            if version < *last {
                return Err(format!(
                    "{what}: version {version} of {id} after the sender had seen {last}"
                ));
            }
            *last = version;
            self.seen.lock().unwrap().insert((id.to_string(), version));
        }
        Ok(())
    }

    fn request(&self, method: Method, path: &str) -> SenderRequest {
        self.stack.request(method, path, Some(&self.service))
    }

    /// A request of a sender speaking `core`.
    fn request_as(&self, core: Core, method: Method, path: &str) -> SenderRequest {
        self.request(method, path).header("accept", core.accept())
    }

    /// Reads an appointment: (its body, its ETag) when it is there.
    async fn read(&self, sender: &mut Sender, id: &str) -> Result<Option<(Value, String)>, String> {
        let r = self
            .send(
                sender,
                self.request(Method::GET, &format!("/Appointment/{id}")),
            )
            .await?;
        Ok((r.status == 200).then(|| {
            (
                r.json().unwrap(),
                r.header("etag").unwrap_or_default().to_string(),
            )
        }))
    }

    async fn book(
        &self,
        sender: &mut Sender,
        core: Core,
        slot: usize,
        replaces: Option<&str>,
    ) -> Result<(), String> {
        let mut body = appointment_for(&self.slots[slot], &self.patient);
        if let Some(old) = replaces {
            body["replaces"] = json!([{ "reference": format!("Appointment/{old}") }]);
        }
        let r = self
            .send(
                sender,
                self.request_as(core, Method::POST, "/Appointment")
                    .json(&body),
            )
            .await?;
        if r.status == 201 {
            let id = r.json().unwrap()["id"].as_str().unwrap().to_string();
            self.booked.lock().unwrap().push(id);
        }
        Ok(())
    }

    async fn cancel(
        &self,
        sender: &mut Sender,
        core: Core,
        id: &str,
        delete: bool,
    ) -> Result<(), String> {
        let Some((mut current, etag)) = self.read(sender, id).await? else {
            return Ok(());
        };
        let path = format!("/Appointment/{id}");
        let request = if delete {
            self.request_as(core, Method::DELETE, &path)
        } else {
            current["status"] = json!("cancelled");
            self.request_as(core, Method::PUT, &path).json(&current)
        };
        self.send(sender, request.header("if-match", &etag)).await?;
        Ok(())
    }

    async fn run(&self, sender: &mut Sender, op: &Op) -> Result<(), String> {
        match *op {
            Op::Book { slot, core } => self.book(sender, core, slot, None).await,
            Op::Reschedule {
                pick,
                slot,
                patch,
                core,
            } => {
                let Some(id) = self.pick(pick) else {
                    return Ok(());
                };
                let Some((mut current, etag)) = self.read(sender, &id).await? else {
                    return Ok(());
                };
                let target = &self.slots[slot];
                let reference = format!("Slot/{}", target["id"].as_str().unwrap());
                let path = format!("/Appointment/{id}");
                let moves = current_slot(&current) != Some(reference.as_str());
                let request = match (patch, core) {
                    (true, Core::V116) => {
                        let ops = json!([
                            { "op": "replace", "path": "/slot", "value": [{ "reference": reference }] },
                            { "op": "replace", "path": "/start", "value": target["start"] },
                            { "op": "replace", "path": "/end", "value": target["end"] }
                        ]);
                        self.request_as(core, Method::PATCH, &path)
                            .body_as("application/json-patch+json", ops.to_string())
                    }
                    // 1.5.0: the slot alone; the receiver derives the times.
                    (true, Core::V150) => {
                        let ops = json!([
                            { "op": "replace", "path": "/slot", "value": [{ "reference": reference }] }
                        ]);
                        self.request_as(core, Method::PATCH, &path)
                            .body_as("application/json-patch+json", ops.to_string())
                    }
                    (false, _) => {
                        current["slot"] = json!([{ "reference": reference }]);
                        current["start"] = target["start"].clone();
                        current["end"] = target["end"].clone();
                        self.request_as(core, Method::PUT, &path).json(&current)
                    }
                };
                let r = self.send(sender, request.header("if-match", &etag)).await?;
                // A 1.5.0 PUT may not move a booking: refused whenever it would.
                if core == Core::V150 && !patch && moves && r.status.is_success() {
                    return Err(format!("a 1.5.0 PUT moved {id}: {}", r.status));
                }
                Ok(())
            }
            Op::Cancel { pick, delete, core } => match self.pick(pick) {
                Some(id) => self.cancel(sender, core, &id, delete).await,
                None => Ok(()),
            },
            Op::Rebook {
                pick,
                slot,
                core: Core::V116,
            } => {
                let Some(old) = self.pick(pick) else {
                    return Ok(());
                };
                let before = self.booked.lock().unwrap().len();
                self.book(sender, Core::V116, slot, Some(&old)).await?;
                if self.booked.lock().unwrap().len() > before {
                    self.cancel(sender, Core::V116, &old, true).await?;
                }
                Ok(())
            }
            // 1.5.0: cancel the old booking (PUT), then book, without `replaces`.
            Op::Rebook {
                pick,
                slot,
                core: Core::V150,
            } => {
                let Some(old) = self.pick(pick) else {
                    return Ok(());
                };
                self.cancel(sender, Core::V150, &old, false).await?;
                self.book(sender, Core::V150, slot, None).await
            }
            Op::View { pick } => {
                if let Some(id) = self.pick(pick) {
                    self.read(sender, &id).await?;
                }
                Ok(())
            }
            Op::BookTwiceAtOnce { slot } => {
                let body = appointment_for(&self.slots[slot], &self.patient);
                let request = self.request(Method::POST, "/Appointment").json(&body);
                let (a, b) = tokio::join!(request.send(), request.send());
                let mut created = Vec::new();
                for r in [&a, &b] {
                    self.observe(sender, "POST /Appointment (twice at once)", r)?;
                    *self
                        .answers
                        .lock()
                        .unwrap()
                        .entry(format!("twice at once {}", r.status.as_u16()))
                        .or_default() += 1;
                    if r.status == 201 {
                        created.push(r.json().unwrap()["id"].as_str().unwrap().to_string());
                    }
                }
                if created.len() > 1 {
                    return Err(format!("one request's ids booked twice: {created:?}"));
                }
                self.booked.lock().unwrap().extend(created);
                sender.last = Some(request);
                Ok(())
            }
            Op::Retry => {
                if let Some(last) = sender.last.clone() {
                    let r = last.send().await;
                    *self
                        .answers
                        .lock()
                        .unwrap()
                        .entry(format!("retry {}", r.status.as_u16()))
                        .or_default() += 1;
                    self.observe(
                        sender,
                        &format!("retry of {} {}", last.method, last.url),
                        &r,
                    )?;
                }
                Ok(())
            }
        }
    }

    /// The invariants, once every sender has finished.
    async fn check(&self) -> Result<(), String> {
        let day = self.slots[0]["start"].as_str().unwrap()[..10].to_string();
        let mut slots = self.stack.slots_on(&self.service, &day, "busy").await;
        slots.extend(self.stack.slots_on(&self.service, &day, "free").await);
        if slots.len() != SLOTS {
            return Err(format!("{} of {SLOTS} slots are busy or free", slots.len()));
        }
        let search = self
            .request(
                Method::GET,
                &format!(
                    "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{}",
                    self.patient
                ),
            )
            .send()
            .await;
        if search.status != 200 {
            return Err(format!("the patient search answered {}", search.status));
        }
        let appointments: Vec<Value> = search.json().unwrap()["entry"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e["resource"].clone())
            .collect();
        if appointments.len() != self.booked.lock().unwrap().len() {
            return Err(format!(
                "{} appointments stored, {} acknowledged",
                appointments.len(),
                self.booked.lock().unwrap().len()
            ));
        }
        check_slots(&slots, &appointments)?;

        let seen = self.seen.lock().unwrap().clone();
        for a in &appointments {
            let id = a["id"].as_str().unwrap();
            let current: u64 = a["meta"]["versionId"].as_str().unwrap().parse().unwrap();
            let r = self
                .request(Method::GET, &format!("/Appointment/{id}/_history"))
                .send()
                .await;
            let history: BTreeSet<u64> = r.json().unwrap()["entry"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e["resource"]["meta"]["versionId"].as_str()?.parse().ok())
                .collect();
            if history != (1..=current).collect::<BTreeSet<u64>>() {
                return Err(format!(
                    "{id} is at version {current}; its history has {history:?}"
                ));
            }
            for (_, v) in seen.iter().filter(|(s, _)| s == id) {
                if !history.contains(v) {
                    return Err(format!(
                        "version {v} of {id} was seen but is not in its history"
                    ));
                }
            }
        }

        self.stack.pointers_settled().await;
        let pointers = self.stack.pointers(&self.patient).await;
        check_pointers(&appointments, &pointers)
    }
}

/// The slot id an appointment's first slot reference names.
fn current_slot(appointment: &Value) -> Option<&str> {
    appointment["slot"][0]["reference"].as_str()
}

async fn run_case(
    stack: &Stack,
    n: u32,
    senders: &[Vec<Op>],
    answers: &Mutex<BTreeMap<String, usize>>,
) -> Result<(), String> {
    let service = stack.service(0, 0);
    let day = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(2 + i64::from(n)))
        .map_err(|e| e.to_string())?;
    stack
        .inner
        .publish(|s| SlotPlan {
            service_id: s.to_string(),
            schedule_id: None,
            from: day,
            days: 1,
            every_minutes: 15,
            length_minutes: None,
            day_start: jiff::civil::time(9, 0, 0, 0),
            day_end: jiff::civil::time(10, 0, 0, 0),
            weekdays_only: false,
            zone: jiff::tz::TimeZone::UTC,
        })
        .await
        .map_err(|e| e.to_string())?;
    let day = day.to_string();
    let slots = stack.slots_on(&service, &day, "free").await;
    if slots.len() != SLOTS {
        return Err(format!("{} slots published", slots.len()));
    }
    let case = Case {
        stack,
        service,
        patient: patient(n),
        slots,
        booked: Mutex::new(Vec::new()),
        seen: Mutex::new(BTreeSet::new()),
        answers,
    };
    let runs = senders.iter().map(|ops| {
        let case = &case;
        async move {
            let mut sender = Sender {
                last: None,
                versions: BTreeMap::new(),
            };
            for op in ops {
                case.run(&mut sender, op)
                    .await
                    .map_err(|e| format!("{op:?}: {e}"))?;
            }
            Ok::<(), String>(())
        }
    });
    for result in futures_util::future::join_all(runs).await {
        result?;
    }
    case.check().await
}

/// Runs the cases on a stack whose receiver keeps its data in `database` (SQLite when `None`).
fn check_the_state_machine(database: Option<String>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let stack = runtime.block_on(Stack::start_on(1, database));
    let cases = AtomicU32::new(0);
    let answers = Mutex::new(BTreeMap::new());
    let mut runner = TestRunner::new(Config {
        cases: 48,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&senders(), |senders| {
        let n = cases.fetch_add(1, Ordering::SeqCst);
        runtime
            .block_on(run_case(&stack, n, &senders, &answers))
            .map_err(TestCaseError::fail)
    });
    eprintln!(
        "state machine: {} cases run (including any shrinking); answers: {:?}",
        cases.load(Ordering::SeqCst),
        answers.lock().unwrap()
    );
    runtime.block_on(stack.stop());
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn concurrent_senders_keep_the_booking_invariants() {
    check_the_state_machine(None);
}

#[test]
fn concurrent_senders_keep_the_booking_invariants_on_postgres() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(schema) = runtime.block_on(PgTestSchema::create()) else {
        note_skipped("concurrent_senders_keep_the_booking_invariants_on_postgres");
        return;
    };
    check_the_state_machine(Some(schema.url.clone()));
    drop(schema);
}
