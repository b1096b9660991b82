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
    // Through the proxy: three error rows the proxy answers first, the copy held in flight (the
    // proxy reads bodies whole), the 401 row (no --refused-organisation) and the TLS-MA row.
    assert!(
        results.iter().filter(|r| r["result"] == "passed").count() >= results.len() - 6,
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

/// `bars conformance sender` from the command line: the CLI, pointed at the recording stack
/// through the stack.json it writes, books; once the sender is quiet the run grades it, writes
/// the report and exits 0 (every SHALL check passed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_mode_grades_our_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("run");
    let report = dir.path().join("grade.json");
    let mut run = tokio::process::Command::new(env!("CARGO_BIN_EXE_bars"))
        .args(["conformance", "sender", "--port", "0", "--until-idle", "8"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--report")
        .arg(&report)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let manifest = data.join("stack.json");
    // The manifest is written once the stack is up.
    for _ in 0..600 {
        if std::fs::read_to_string(&manifest).is_ok_and(|m| m.ends_with('}')) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let tokens = dir.path().join("tokens");
    let bars = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_bars"))
            .env("BARS_TOKEN_CACHE", &tokens)
            .arg("--manifest")
            .arg(&manifest)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "bars {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let tomorrow = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .tomorrow()
        .unwrap()
        .to_string();
    let slots: Value = serde_json::from_str(&bars(&[
        "--json",
        "slots",
        "--service",
        "2000011111",
        "--date",
        &tomorrow,
    ]))
    .unwrap();
    let slot = slots[0]["id"].as_str().unwrap().to_string();
    let booked: Value = serde_json::from_str(&bars(&[
        "--json",
        "book",
        "--service",
        "2000011111",
        "--slot",
        &slot,
        "--patient",
        PATIENT,
    ]))
    .unwrap();
    let id = booked["id"].as_str().unwrap().to_string();
    bars(&["cancel", "--service", "2000011111", "--appointment", &id]);

    let out = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        let status = run.wait().await.unwrap();
        let mut stdout = String::new();
        if let Some(mut s) = run.stdout.take() {
            use tokio::io::AsyncReadExt;
            s.read_to_string(&mut stdout).await.unwrap();
        }
        (status, stdout)
    })
    .await
    .expect("the run did not end once the sender was quiet");
    assert!(out.0.success(), "the CLI failed a SHALL check: {}", out.1);
    assert!(out.1.contains("BaRS sender conformance"), "{}", out.1);
    let grade: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(grade["mode"], "sender");
    let result = |id: &str| {
        grade["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["result"].as_str().unwrap_or("").to_string())
    };
    // The booking's slot came from the search, and the cancel read the booking first.
    assert_eq!(result("SND-SLOT-001").as_deref(), Some("passed"), "{grade}");
    assert_eq!(result("SND-RBW-001").as_deref(), Some("passed"), "{grade}");
    assert_eq!(result("SND-ID-004").as_deref(), Some("passed"), "{grade}");
    // Each command is a process of its own, and they share one token until it expires.
    assert_eq!(result("SND-TOK-001").as_deref(), Some("passed"), "{grade}");
}
