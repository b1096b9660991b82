//! `bars demo` as a user runs it, driven through the `bars` commands a sender uses.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::kit::{PATIENT, tomorrow};
use crate::processes::Proc;

/// The ports the demo uses: proxy, proxy admin, registry, registry admin, API and admin of
/// each of its two receivers, then the web workbench.
const DEMO_PORTS: u16 = 9;

/// Consecutive free ports for the demo.
fn free_ports() -> u16 {
    for _ in 0..200 {
        let base = 20_000 + (uuid::Uuid::new_v4().as_u128() % 30_000) as u16;
        let listeners: Vec<_> = (0..DEMO_PORTS)
            .map_while(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if listeners.len() == usize::from(DEMO_PORTS) {
            return base;
        }
    }
    panic!("no {DEMO_PORTS} free consecutive ports");
}

/// Runs a sender command against the demo and returns its JSON output.
pub fn bars(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_bars"))
        .current_dir(dir)
        .args(["--json", "--stack", "demo/stack.json"])
        .args(args)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bars {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bars {args:?}: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn ids(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the Registry lists exactly `expected` for the patient (pointers follow bookings
/// asynchronously).
async fn registry_lists(dir: &Path, expected: &[&str]) -> Value {
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    let mut listed = Value::Null;
    for _ in 0..200 {
        listed = bars(dir, &["list", "--patient", PATIENT]);
        let mut have = ids(&listed, "appointment_id");
        have.sort();
        if have == want {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the registry lists {listed} instead of {want:?}");
}

fn slot_ids(dir: &Path, service: &str, status: &str) -> Vec<String> {
    ids(
        &bars(
            dir,
            &[
                "slots",
                "--service",
                service,
                "--date",
                &tomorrow(),
                "--status",
                status,
            ],
        ),
        "id",
    )
}

/// Whether the demo on ports from `port` has its first receiver's admin listener (plain HTTP)
/// answering.
async fn first_receiver_answers(client: &bars_http::client::HttpClient, port: u16) -> bool {
    client
        .call(
            http::Method::GET,
            &format!("http://127.0.0.1:{}/_ping", port + 5),
            &[],
            None,
        )
        .await
        .is_ok()
}

/// Starts `bars demo` in `dir` on ports from `port` (free ones when `None`), with `global`
/// flags (e.g. the log format) before the command, and waits until its first receiver answers
/// (and, with `manifest`, until `stack.json` is written); its log goes to `dir/demo.log`.
///
/// Free ports are only free when probed: another process may bind one before the demo does.
/// A demo that exits before it is up is therefore started again on other free ports, a
/// bounded number of times.
async fn launch(dir: &Path, port: Option<u16>, global: &[&str], manifest: bool) -> (Proc, u16) {
    let client = bars_http::client::HttpClient::new(None, Duration::from_secs(2));
    for _ in 0..3 {
        let port = port.unwrap_or_else(free_ports);
        let args: Vec<String> = global
            .iter()
            .map(|a| a.to_string())
            .chain(["demo".into()])
            .chain([
                "--data-dir".into(),
                "demo".into(),
                "--port".into(),
                port.to_string(),
            ])
            .collect();
        let mut demo = Proc::start(dir, "demo", &args);
        for _ in 0..800 {
            let stack_ready = !manifest || dir.join("demo/stack.json").exists();
            if stack_ready && first_receiver_answers(&client, port).await {
                return (demo, port);
            }
            if !demo.running() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        if demo.running() {
            break;
        }
    }
    panic!(
        "the demo did not start; see {}",
        dir.join("demo.log").display()
    );
}

/// Starts `bars demo` (see [`launch`]) and waits until it is fully up; returns its first port.
pub async fn start_demo(dir: &Path, port: Option<u16>, global: &[&str]) -> (Proc, u16) {
    launch(dir, port, global, true).await
}

/// Ctrl-C as soon as the demo's first listeners answer, while it is still publishing slots:
/// it stops cleanly (exit 0) once it is up, instead of dying of the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_the_demo_is_starting_stops_it_cleanly() {
    let temp = tempfile::tempdir().unwrap();
    // The first receiver's admin listener is up before the slots are published.
    let (demo, _) = launch(temp.path(), None, &[], false).await;
    demo.interrupt_and_wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_the_four_functions_through_the_cli() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let (demo, port) = start_demo(dir, None, &[]).await;
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("demo/stack.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["receivers"].as_array().unwrap().len(), 2);
    assert_eq!(
        manifest["receivers"][1]["services"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        manifest["sender"]["privateKey"]
            .as_str()
            .unwrap()
            .ends_with("demo-sender.key.pem")
    );
    assert!(
        manifest["patients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == PATIENT)
    );

    // Discover, check capabilities.
    let services = bars(dir, &["services"]);
    assert_eq!(services.as_array().unwrap().len(), 4);
    // The demo also serves the web workbench, as the same sender, at the URL it records.
    let workbench = manifest["workbench"]["url"].as_str().unwrap();
    assert_eq!(workbench, format!("http://127.0.0.1:{}", port + 8));
    let page = bars_http::client::HttpClient::plain(Duration::from_secs(30))
        .call(http::Method::GET, &format!("{workbench}/"), &[], None)
        .await
        .unwrap();
    assert_eq!(page.status, 200);
    let page = String::from_utf8_lossy(&page.body);
    assert!(page.contains("Hillside Medical Practice"), "{page}");
    for s in services.as_array().unwrap() {
        assert!(page.contains(s["name"].as_str().unwrap()), "{page}");
    }
    // Its clinic pages reach every receiver's admin API, from the manifest the demo writes.
    let clinic = bars_http::client::HttpClient::plain(Duration::from_secs(30))
        .call(http::Method::GET, &format!("{workbench}/clinic"), &[], None)
        .await
        .unwrap();
    let clinic = String::from_utf8_lossy(&clinic.body);
    assert!(!clinic.contains("clinic-not-configured"), "{clinic}");
    for r in manifest["receivers"].as_array().unwrap() {
        assert!(clinic.contains(r["adminUrl"].as_str().unwrap()), "{clinic}");
    }
    let service = services[0]["value"].as_str().unwrap().to_string();
    assert_eq!(
        bars(dir, &["capabilities", "--service", &service])["resourceType"],
        "CapabilityStatement"
    );

    // Book.
    let free = slot_ids(dir, &service, "free");
    assert!(free.len() >= 8);
    let booked = bars(
        dir,
        &[
            "book",
            "--service",
            &service,
            "--slot",
            &free[0],
            "--patient",
            PATIENT,
            "--reason",
            "Sprained ankle",
        ],
    );
    let id = booked["id"].as_str().unwrap().to_string();
    assert_eq!(booked["status"], "booked");
    assert_eq!(slot_ids(dir, &service, "busy"), vec![free[0].clone()]);
    let listed = registry_lists(dir, &[&id]).await;
    assert_eq!(listed[0]["service"], service.as_str());

    // View, update.
    assert_eq!(
        bars(dir, &["view", "--service", &service, "--appointment", &id])["id"],
        id.as_str()
    );
    let updated = bars(
        dir,
        &[
            "update",
            "--service",
            &service,
            "--appointment",
            &id,
            "--description",
            "Swelling worse",
            // A description is 1.1.6's to change (1.5.0: status and reasonCode only; both
            // versions' workflows are in sender_versions.rs).
            "--bars-version",
            "1.1.6",
        ],
    );
    assert_eq!(
        (
            updated["description"].as_str(),
            updated["meta"]["versionId"].as_str()
        ),
        (Some("Swelling worse"), Some("2"))
    );

    // Reschedule: the slots swap and the registry follows.
    let moved = bars(
        dir,
        &[
            "reschedule",
            "--service",
            &service,
            "--appointment",
            &id,
            "--slot",
            &free[3],
        ],
    );
    assert_eq!(moved["slot"][0]["reference"], format!("Slot/{}", free[3]));
    assert_eq!(slot_ids(dir, &service, "busy"), vec![free[3].clone()]);
    for _ in 0..200 {
        let l = registry_lists(dir, &[&id]).await;
        if l[0]["start"] == moved["start"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        registry_lists(dir, &[&id]).await[0]["start"],
        moved["start"],
        "the pointer carries the new time"
    );

    // Cancel: the slot is free and the registry forgets it.
    let cancelled = bars(
        dir,
        &["cancel", "--service", &service, "--appointment", &id],
    );
    assert_eq!(cancelled["status"], "cancelled");
    assert!(slot_ids(dir, &service, "busy").is_empty());
    registry_lists(dir, &[]).await;

    // Rebook: a new booking replaces an existing one, which is then cancelled.
    let second = bars(
        dir,
        &[
            "book",
            "--service",
            &service,
            "--slot",
            &free[5],
            "--patient",
            PATIENT,
        ],
    );
    let second_id = second["id"].as_str().unwrap().to_string();
    let rebooked = bars(
        dir,
        &[
            "rebook",
            "--service",
            &service,
            "--appointment",
            &second_id,
            "--slot",
            &free[6],
            // 1.1.6's rebook: book with `replaces`, then cancel (1.5.0 cancels first).
            "--bars-version",
            "1.1.6",
        ],
    );
    let new_id = rebooked["booked"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        rebooked["booked"]["replaces"][0]["reference"],
        format!("Appointment/{second_id}")
    );
    assert_eq!(rebooked["cancelled"]["status"], "cancelled");
    assert_eq!(slot_ids(dir, &service, "busy"), vec![free[6].clone()]);
    registry_lists(dir, &[&new_id]).await;

    // A retried booking (same request ids) is answered with the original booking, not a second.
    let (rid, cid) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let first = bars(
        dir,
        &[
            "book",
            "--service",
            &service,
            "--slot",
            &free[7],
            "--patient",
            PATIENT,
            "--request-id",
            &rid,
            "--correlation-id",
            &cid,
        ],
    );
    let again = bars(
        dir,
        &[
            "book",
            "--service",
            &service,
            "--slot",
            &free[7],
            "--patient",
            PATIENT,
            "--request-id",
            &rid,
            "--correlation-id",
            &cid,
        ],
    );
    assert_eq!(first["id"], again["id"]);
    let first_id = first["id"].as_str().unwrap().to_string();
    registry_lists(dir, &[&new_id, &first_id]).await;

    // Stopping is clean, and the next run carries on with the same data.
    demo.interrupt_and_wait();
    let (demo, _) = start_demo(dir, Some(port), &[]).await;
    assert_eq!(
        bars(
            dir,
            &["view", "--service", &service, "--appointment", &new_id]
        )["status"],
        "booked"
    );
    registry_lists(dir, &[&new_id, &first_id]).await;
    demo.interrupt_and_wait();
}

/// The clinic's side of the demo: a booking made through the sender's CLI reaches the demo's
/// event subscriber (its log file), the day list, and the staff's commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clinic_sees_a_booking_made_through_the_cli() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    let (demo, port) = start_demo(dir, None, &[]).await;
    let admin = format!("http://127.0.0.1:{}", port + 5);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("demo/stack.json")).unwrap())
            .unwrap();
    let service = manifest["receivers"][0]["services"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let free = slot_ids(dir, &service, "free");
    let booked = bars(
        dir,
        &[
            "book",
            "--service",
            &service,
            "--slot",
            &free[0],
            "--patient",
            PATIENT,
            "--reason",
            "Sprained ankle",
        ],
    );
    let id = booked["id"].as_str().unwrap().to_string();

    let log = dir.join("demo/events-RXR01.log");
    let heard = |what: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .any(|l| l.contains(&id) && l.contains(what))
    };
    for _ in 0..400 {
        if heard("appointment.booked") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        heard("appointment.booked"),
        "the demo's subscriber logged the booking"
    );

    let day = bars(
        dir,
        &[
            "appointments",
            "--service",
            &service,
            "--date",
            &tomorrow(),
            "--admin-url",
            &admin,
        ],
    );
    let line = &day["appointments"][0];
    assert_eq!(
        (line["id"].as_str(), line["patient"].as_str()),
        (Some(id.as_str()), Some("*******919"))
    );
    assert_eq!(line["reason"], "Sprained ankle");

    let arrived = bars(dir, &["clinic", "arrived", &id, "--admin-url", &admin]);
    assert_eq!(arrived["status"], "arrived");
    for _ in 0..400 {
        if heard("appointment.arrived") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        heard("appointment.arrived"),
        "the demo's subscriber logged the arrival"
    );
    let deliveries = bars(dir, &["events", "deliveries", "--admin-url", &admin]);
    assert_eq!(deliveries["failed"], 0);
    demo.interrupt_and_wait();
}
