//! Two receiver processes (real `bars` binaries) on one PostgreSQL database, as a service that
//! outgrew one machine runs them behind a load balancer. Bookings go straight to each instance,
//! as the load balancer would send them; pointers go through a real proxy to a real registry
//! (itself on PostgreSQL).
//!
//! PostgreSQL only: without `BARS_TEST_POSTGRES_URL` these say they were skipped and pass.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bars_fhir::headers::{EndUserOrganisation, encode_base64_json};
use bars_http::client::{ClientResponse, HttpClient};
use bars_store::testing::{PgTestSchema, note_skipped};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::kit::{PATIENT, appointment_for, tomorrow};
use crate::processes::{
    Proc, free_port, pki_init, pointer_args, proxy_args, registry_args, s, wait_for,
    write_proxy_config,
};
use crate::relay::Relay;

const SERVICE: &str = "2000011111";

/// One receiver process and where it listens.
struct Instance {
    _proc: Proc,
    api: String,
    admin: String,
}

/// A registry, a proxy and two receivers sharing `database`.
struct Cluster {
    dir: tempfile::TempDir,
    _registry: Proc,
    _proxy: Proc,
    proxy: String,
    receivers: Vec<Instance>,
    http: HttpClient,
    https: HttpClient,
}

impl Cluster {
    async fn start(database: &str, registry_database: &str) -> Cluster {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        pki_init(dir);
        let (registry_port, registry_admin, proxy_port, proxy_admin) =
            (free_port(), free_port(), free_port(), free_port());
        let ports: Vec<(u16, u16)> = (0..2).map(|_| (free_port(), free_port())).collect();
        write_proxy_config(dir, &format!("http://127.0.0.1:{}", ports[0].0));
        let mut args = s(&["registry"]);
        args.extend(registry_args(
            registry_port,
            registry_admin,
            registry_database,
        ));
        let registry = Proc::start(dir, "registry", &args);
        let mut args = s(&["proxy"]);
        args.extend(proxy_args(proxy_port, proxy_admin, registry_port));
        let proxy_proc = Proc::start(dir, "proxy", &args);
        let proxy = format!("https://127.0.0.1:{proxy_port}");
        let receivers: Vec<Instance> = ports
            .iter()
            .enumerate()
            .map(|(i, (api, admin))| Instance {
                _proc: Proc::start(
                    dir,
                    &format!("receiver-{}", i + 1),
                    &receiver_args(database, *api, *admin, &proxy),
                ),
                api: format!("http://127.0.0.1:{api}"),
                admin: format!("http://127.0.0.1:{admin}"),
            })
            .collect();
        let ca = std::fs::read_to_string(dir.join("pki/ca.pem")).unwrap();
        let https = HttpClient::new(
            Some(bars_pki::tls::client_config(&ca, None).unwrap()),
            Duration::from_secs(30),
        );
        let http = HttpClient::plain(Duration::from_secs(30));
        wait_for(&https, &format!("{proxy}/_ping")).await;
        for r in &receivers {
            wait_for(&http, &format!("{}/admin/services", r.admin)).await;
        }
        Cluster {
            dir: temp,
            _registry: registry,
            _proxy: proxy_proc,
            proxy,
            receivers,
            http,
            https,
        }
    }

    /// Publishes 120 five-minute slots for tomorrow (through the first instance; the second
    /// sees them in the shared database) and returns them.
    async fn publish(&self) -> Vec<Value> {
        let plan = json!({ "service": SERVICE, "from": tomorrow(), "days": 1, "every": "5m", "between": "08:00-18:00", "zone": "UTC" });
        let r = self
            .http
            .call(
                Method::POST,
                &format!("{}/admin/slots/generate", self.receivers[0].admin),
                &[("content-type", "application/json".into())],
                Some(Bytes::from(plan.to_string())),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let day = tomorrow();
        let path = format!(
            "/Slot?Schedule.actor:HealthcareService={SERVICE}&status=free&start=ge{day}T00:00:00Z&start=le{day}T23:59:59Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"
        );
        let r = self.send(1, Method::GET, &path, &fresh_ids(), None).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let slots: Vec<Value> = r.json().unwrap()["entry"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["search"]["mode"] == "match")
            .map(|e| e["resource"].clone())
            .collect();
        assert_eq!(
            slots.len(),
            120,
            "the second instance sees the first's slots"
        );
        slots
    }

    /// A sender's request, as the proxy forwards it, to instance `i`.
    async fn send(
        &self,
        i: usize,
        method: Method,
        path: &str,
        ids: &(String, String),
        body: Option<&Value>,
    ) -> ClientResponse {
        send(&self.http, &self.receivers[i].api, method, path, ids, body).await
    }

    /// Waits until the shared outbox has nothing left to deliver.
    async fn pointers_settled(&self) -> Value {
        for _ in 0..1200 {
            let outbox = self
                .http
                .call(
                    Method::GET,
                    &format!("{}/admin/outbox", self.receivers[1].admin),
                    &[],
                    None,
                )
                .await
                .unwrap()
                .json()
                .unwrap();
            if outbox["pending"] == 0 && outbox["failed"] == 0 {
                return outbox;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pointer jobs did not settle");
    }

    /// The registry's answer to a search for the patient's pointers, through the proxy.
    async fn registry_total(&self) -> Value {
        let sender = bars_client::TokenSource::new(
            bars_client::Credentials {
                client_id: "demo-sender".into(),
                kid: "demo-sender-1".into(),
                algorithm: "ES256".into(),
                private_pem: std::fs::read_to_string(
                    self.dir.path().join("pki/demo-sender.key.pem"),
                )
                .unwrap(),
                token_url: format!("{}/oauth2/token", self.proxy),
            },
            self.https.clone(),
        );
        let r = self
            .https
            .call(
                Method::GET,
                &format!(
                    "{}/DocumentReference?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}",
                    self.proxy
                ),
                &[
                    ("authorization", format!("Bearer {}", sender.token().await.unwrap())),
                    ("x-request-id", uuid::Uuid::new_v4().to_string()),
                    ("x-correlation-id", uuid::Uuid::new_v4().to_string()),
                    ("accept", "application/fhir+json; version=1.1.0".to_string()),
                    (
                        "nhsd-end-user-organisation",
                        encode_base64_json(
                            &EndUserOrganisation {
                                ods_code: Some("A1001".into()),
                                name: Some("Hillside Medical Practice".into()),
                            }
                            .to_json(),
                        ),
                    ),
                ],
                None,
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()["total"].clone()
    }
}

/// Both instances are the same receiver (same ODS code, service, signing key); only their
/// listeners differ. Plain HTTP: the load balancer in front would terminate TLS.
fn receiver_args(database: &str, api: u16, admin: u16, proxy: &str) -> Vec<String> {
    s(&[
        "receiver",
        "--ods-code",
        "RXR01",
        "--service",
        &format!("{SERVICE}=Riverside Urgent Treatment Centre"),
        "--database",
        database,
        "--listen",
        &format!("127.0.0.1:{api}"),
        "--admin-listen",
        &format!("127.0.0.1:{admin}"),
    ])
    .into_iter()
    .chain(pointer_args(proxy))
    .collect()
}

fn fresh_ids() -> (String, String) {
    (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    )
}

async fn send(
    http: &HttpClient,
    base: &str,
    method: Method,
    path: &str,
    ids: &(String, String),
    body: Option<&Value>,
) -> ClientResponse {
    let org = EndUserOrganisation {
        ods_code: Some("A1001".into()),
        name: Some("Hillside Medical Practice".into()),
    };
    let mut headers = vec![
        ("x-request-id", ids.0.clone()),
        ("x-correlation-id", ids.1.clone()),
        ("accept", "application/fhir+json; version=1.1.0".to_string()),
        (
            "nhsd-end-user-organisation",
            encode_base64_json(&org.to_json()),
        ),
    ];
    if body.is_some() {
        headers.push(("content-type", "application/fhir+json".to_string()));
    }
    http.call(
        method,
        &format!("{base}{path}"),
        &headers,
        body.map(|b| Bytes::from(b.to_string())),
    )
    .await
    .unwrap()
}

fn code(r: &ClientResponse) -> String {
    r.json().map_or(String::new(), |b| {
        b["issue"][0]["details"]["coding"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    })
}

async fn schemas(test: &str) -> Option<(PgTestSchema, PgTestSchema)> {
    let receivers = PgTestSchema::create().await;
    let registry = PgTestSchema::create().await;
    match (receivers, registry) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => {
            note_skipped(test);
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_receivers_on_one_database_book_each_slot_once_and_deliver_each_pointer_once() {
    let Some((db, registry_db)) =
        schemas("two_receivers_on_one_database_book_each_slot_once_and_deliver_each_pointer_once")
            .await
    else {
        return;
    };
    let cluster = Cluster::start(
        &db.url_with("pool_size=10&pool_timeout=4s"),
        &registry_db.url,
    )
    .await;
    let slots = cluster.publish().await;
    let slots: Arc<Vec<Value>> = Arc::new(slots.into_iter().take(40).collect());

    // 200 requests over 40 slots, each sent to both instances at once with the same ids.
    let began = Instant::now();
    let mut tasks = Vec::new();
    for l in 0..200 {
        let ids = fresh_ids();
        for i in 0..2 {
            let (http, base, slots, ids) = (
                cluster.http.clone(),
                cluster.receivers[i].api.clone(),
                slots.clone(),
                ids.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let body = appointment_for(&slots[l % 40], PATIENT);
                let r = send(
                    &http,
                    &base,
                    Method::POST,
                    "/Appointment",
                    &ids,
                    Some(&body),
                )
                .await;
                (l, r)
            }));
        }
    }
    let mut booked: HashMap<usize, Vec<String>> = HashMap::new();
    let mut statuses: HashMap<(u16, String), usize> = HashMap::new();
    for t in tasks {
        let (l, r) = t.await.unwrap();
        *statuses.entry((r.status.as_u16(), code(&r))).or_default() += 1;
        match r.status.as_u16() {
            201 => booked
                .entry(l)
                .or_default()
                .push(r.json().unwrap()["id"].as_str().unwrap().to_string()),
            409 => assert_eq!(code(&r), "REC_CONFLICT"),
            other => panic!("{other}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    let booking_time = began.elapsed();
    let created: usize = booked.values().map(Vec::len).sum();
    assert_eq!(created, 40, "exactly one booking per slot: {statuses:?}");
    assert!(
        booked.values().all(|b| b.len() == 1),
        "the same request ids book once, whichever instances they reach"
    );
    let slots_booked: HashSet<usize> = booked.keys().map(|l| l % 40).collect();
    assert_eq!(slots_booked.len(), 40);

    // Every booking's pointer job is delivered once, by one instance or the other.
    let outbox = cluster.pointers_settled().await;
    let settle_time = began.elapsed();
    assert_eq!(outbox["jobs"].as_array().map(Vec::len), Some(0));
    let client = db.connect().await;
    let row = client
        .query_one(
            "SELECT COUNT(*), COUNT(DISTINCT appointment_id), COUNT(*) FILTER (WHERE state = 'done') FROM outbox",
            &[],
        )
        .await
        .unwrap();
    let (jobs, appointments, done): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((jobs, appointments, done), (40, 40, 40));
    let registry = registry_db.connect().await;
    let row = registry
        .query_one(
            "SELECT COUNT(*), COUNT(DISTINCT appointment_id), MAX(version) FROM registry_pointer",
            &[],
        )
        .await
        .unwrap();
    let (pointers, distinct, max_version): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        (pointers, distinct, max_version),
        (40, 40, 1),
        "one pointer per booking, each written once"
    );
    let with_pointer: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM appointment WHERE pointer_id IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(with_pointer, 40);
    assert_eq!(cluster.registry_total().await, 40);
    eprintln!(
        "two instances: 400 requests -> {statuses:?}; 40 pointers; bookings took {booking_time:?}, all pointers delivered after {settle_time:?}"
    );
}

/// What one booking attempt during the outage test got.
struct Attempt {
    instance: usize,
    phase: Phase,
    status: u16,
    code: String,
    took: Duration,
    finished: Instant,
    id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Phase {
    Before,
    Outage,
    After,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn losing_the_database_mid_load_gives_clean_503s_and_both_receivers_recover() {
    let Some((db, registry_db)) =
        schemas("losing_the_database_mid_load_gives_clean_503s_and_both_receivers_recover").await
    else {
        return;
    };
    let relay = Relay::start(db.server_addr()).await;
    let through_relay = db.url_via(&relay.addr());
    let cluster = Arc::new(Cluster::start(&through_relay, &registry_db.url).await);
    let slots = Arc::new(Mutex::new(cluster.publish().await));
    let phase = Arc::new(Mutex::new(Phase::Before));
    let attempts: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // One stream of bookings per instance, each on a fresh slot, until told to stop.
    let mut load = Vec::new();
    for instance in 0..2 {
        let (cluster, slots, phase, attempts, stop) = (
            cluster.clone(),
            slots.clone(),
            phase.clone(),
            attempts.clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let Some(slot) = slots.lock().unwrap().pop() else {
                    break;
                };
                let now = *phase.lock().unwrap();
                let started = Instant::now();
                let body = appointment_for(&slot, PATIENT);
                let r = cluster
                    .send(
                        instance,
                        Method::POST,
                        "/Appointment",
                        &fresh_ids(),
                        Some(&body),
                    )
                    .await;
                let id = (r.status == 201)
                    .then(|| r.json().unwrap()["id"].as_str().unwrap().to_string());
                attempts.lock().unwrap().push(Attempt {
                    instance,
                    phase: now,
                    status: r.status.as_u16(),
                    code: code(&r),
                    took: started.elapsed(),
                    finished: Instant::now(),
                    id,
                });
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }));
    }
    let count = |p: Phase, status: u16, instance: usize| {
        attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| a.phase == p && a.status == status && a.instance == instance)
            .count()
    };
    let wait_until = |what: &'static str, done: &dyn Fn() -> bool| {
        let ok = (0..1200).any(|_| {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(25));
            false
        });
        assert!(ok, "{what}");
    };
    tokio::task::block_in_place(|| {
        wait_until("bookings before the outage", &|| {
            count(Phase::Before, 201, 0) >= 5 && count(Phase::Before, 201, 1) >= 5
        })
    });

    relay.cut().await;
    *phase.lock().unwrap() = Phase::Outage;
    let cut_at = Instant::now();
    tokio::task::block_in_place(|| {
        wait_until("both instances answer during the outage", &|| {
            count(Phase::Outage, 503, 0) >= 5 && count(Phase::Outage, 503, 1) >= 5
        })
    });
    for r in &cluster.receivers {
        let health = cluster
            .http
            .call(Method::GET, &format!("{}/_status", r.admin), &[], None)
            .await
            .unwrap();
        assert_eq!(health.status, 503, "health reports the lost database");
    }

    relay.restore().await;
    let restored_at = Instant::now();
    *phase.lock().unwrap() = Phase::After;
    tokio::task::block_in_place(|| {
        wait_until("both instances book again without a restart", &|| {
            count(Phase::After, 201, 0) >= 5 && count(Phase::After, 201, 1) >= 5
        })
    });
    let first_booking_after = attempts
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.phase == Phase::After && a.status == 201)
        .map(|a| a.finished.saturating_duration_since(restored_at))
        .min()
        .unwrap_or_default();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for l in load {
        l.await.unwrap();
    }
    for r in &cluster.receivers {
        let health = cluster
            .http
            .call(Method::GET, &format!("{}/_status", r.admin), &[], None)
            .await
            .unwrap();
        assert_eq!(health.status, 200);
    }

    let attempts = std::mem::take(&mut *attempts.lock().unwrap());
    let mut seen: HashMap<(Phase, u16, String), usize> = HashMap::new();
    for a in attempts.iter() {
        *seen.entry((a.phase, a.status, a.code.clone())).or_default() += 1;
        // Clean errors only: the booking either happened or the store was unavailable - never
        // a hang (408 from the request guard), never another failure.
        match (a.status, a.code.as_str()) {
            (201, _) | (503, "REC_SERVICE_UNAVAILABLE") | (500, "REC_SERVER_ERROR") => {}
            _ => panic!("{:?} attempt got {} {}", a.phase, a.status, a.code),
        }
    }
    let slowest_refusal = attempts
        .iter()
        .filter(|a| a.status >= 500)
        .map(|a| a.took)
        .max()
        .unwrap_or_default();

    // Every acknowledged booking is in the database, and every booking gets its pointer.
    let acknowledged: Vec<String> = attempts.iter().filter_map(|a| a.id.clone()).collect();
    let client = db.connect().await;
    let present: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM appointment WHERE id = ANY($1)",
            &[&acknowledged],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(present as usize, acknowledged.len());
    cluster.pointers_settled().await;
    let appointments: i64 = client
        .query_one("SELECT COUNT(*) FROM appointment", &[])
        .await
        .unwrap()
        .get(0);
    let registry = registry_db.connect().await;
    let pointers: i64 = registry
        .query_one(
            "SELECT COUNT(DISTINCT appointment_id) FROM registry_pointer",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pointers, appointments);
    eprintln!(
        "outage: {seen:?}; slowest refusal {slowest_refusal:?}; outage lasted {:?}; first booking {first_booking_after:?} after the database returned",
        restored_at - cut_at
    );
}
