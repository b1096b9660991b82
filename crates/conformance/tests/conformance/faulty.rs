//! Deliberately faulty receivers: each fault fails the checks that test for it, and across all
//! faults every check fails at least once (a check that cannot fail proves nothing).

use std::collections::BTreeSet;

use crate::support::{self, ALL_FAULTS, Fault, Faulty};

async fn failed_under(fault: Fault) -> (BTreeSet<&'static str>, String) {
    let faulty = Faulty::start(fault).await;
    let report = support::run(support::direct(&faulty.base)).await;
    faulty.stop().await;
    assert!(!report.conformant(), "{fault:?} passed every SHALL check");
    (
        report.failed().into_iter().collect(),
        support::failures(&report),
    )
}

async fn expect(fault: Fault, ids: &[&str]) {
    let (failed, why) = failed_under(fault).await;
    for id in ids {
        assert!(
            failed.contains(id),
            "{fault:?} did not fail {id}; failures:\n{why}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_double_booking_receiver_fails_the_booking_checks() {
    expect(Fault::DoubleBooks, &["REC-BOOK-002", "REC-BOOK-003"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_ignoring_if_match_fails_read_before_write() {
    expect(Fault::NoConcurrencyControl, &["REC-RBW-001", "REC-RBW-002"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_echoing_no_ids_fails_transport() {
    expect(
        Fault::BareHeaders,
        &["REC-TRN-001", "REC-TRN-002", "REC-TRN-003"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answering_500_to_bad_json_fails_hostile_input() {
    expect(
        Fault::FallsOverOnBadJson,
        &["REC-HOST-001", "ERR-WRITE-001"],
    )
    .await;
}

/// Through the proxy, with the Registry down: no pointer can be found.
async fn failed_without_registry() -> BTreeSet<&'static str> {
    let (mut stack, _dir) = support::stack(None).await;
    stack.stop_registry().await;
    let report = support::run(support::through_proxy(&stack)).await;
    stack.stop().await;
    report.failed().into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pointers_that_never_appear_fail_the_pointer_check() {
    let failed = failed_without_registry().await;
    assert!(failed.contains("REC-PTR-001"), "{failed:?}");
}

/// Our receiver over TLS letting in connections without a client certificate.
async fn failed_without_tls_ma() -> BTreeSet<&'static str> {
    let (receiver, wire, _pki) =
        support::over_tls(bars_store::testing::Backend::Sqlite, false).await;
    let report = support::run(wire).await;
    receiver.stop().await;
    report.failed().into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_without_tls_ma_fails_the_403_row() {
    let failed = failed_without_tls_ma().await;
    assert!(failed.contains("ERR-TLS-001"), "{failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_fails_under_some_fault() {
    let mut failed = failed_without_registry().await;
    failed.extend(failed_without_tls_ma().await);
    for fault in ALL_FAULTS {
        failed.extend(failed_under(*fault).await.0);
    }
    let never: Vec<&str> = bars_conformance::checks::all()
        .iter()
        .map(|c| c.id)
        .filter(|id| !failed.contains(id))
        .collect();
    assert!(
        never.is_empty(),
        "checks no faulty receiver fails: {never:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_without_idempotency_fails_the_replays() {
    expect(
        Fault::NoIdempotency,
        &["REC-IDEM-001", "REC-IDEM-002", "REC-IDEM-003"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_acknowledging_messages_unprocessed_fails_the_message_checks() {
    expect(
        Fault::IgnoresWrites,
        &[
            "REC-MSG-006",
            "REC-MSG-007",
            "REC-MSG-008",
            "REC-MSG-009",
            "REC-MSG-010",
            "REC-MSG-011",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answering_every_error_400_fails_the_401_row() {
    expect(
        Fault::SloppyErrors,
        &["ERR-AUTH-001", "REC-MSG-007", "REC-MSG-010", "REC-MSG-011"],
    )
    .await;
}
