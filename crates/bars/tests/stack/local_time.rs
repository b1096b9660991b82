//! The CLI lists slots in UK local time with their offset: on the night the clocks go back,
//! the two 01:30 slots are told apart, and `--date` means the UK day.

use std::process::{Command, Stdio};

use bars_receiver::availability::{SlotPlan, uk_time_zone};
use jiff::civil::{date, time};

use crate::kit::{PATIENT, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_both_slots_of_the_repeated_hour_with_their_offsets() {
    let stack = Stack::start(1).await;
    let service = stack.service(0, 0);
    stack
        .inner
        .publish(|s| SlotPlan {
            service_id: s.to_string(),
            schedule_id: None,
            from: date(2027, 10, 31),
            days: 1,
            every_minutes: 30,
            length_minutes: None,
            day_start: time(0, 0, 0, 0),
            day_end: time(4, 0, 0, 0),
            weekdays_only: false,
            zone: uk_time_zone(),
        })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("stack.json");
    std::fs::write(&manifest, stack.inner.manifest(&[PATIENT]).to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bars"))
        .arg("--stack")
        .arg(&manifest)
        .args(["slots", "--service", &service, "--date", "2027-10-31"])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `<start> <end>` of each listed slot, in the listed order.
    let rows: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with(&service))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(7)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        rows,
        [
            "Sun 31 Oct 00:00 +01:00 00:30 +01:00",
            "Sun 31 Oct 00:30 +01:00 01:00 +01:00",
            "Sun 31 Oct 01:00 +01:00 01:30 +01:00",
            "Sun 31 Oct 01:30 +01:00 01:00 +00:00",
            "Sun 31 Oct 01:00 +00:00 01:30 +00:00",
            "Sun 31 Oct 01:30 +00:00 02:00 +00:00",
            "Sun 31 Oct 02:00 +00:00 02:30 +00:00",
            "Sun 31 Oct 02:30 +00:00 03:00 +00:00",
            "Sun 31 Oct 03:00 +00:00 03:30 +00:00",
            "Sun 31 Oct 03:30 +00:00 04:00 +00:00",
        ],
        "{stdout}"
    );
    assert!(stdout.contains("10 slots"), "{stdout}");
    stack.stop().await;
}
