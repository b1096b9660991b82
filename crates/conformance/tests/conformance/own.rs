//! Our receiver, the kit's first customer: 100% of SHALL checks, on both databases, both routes.

use bars_store::on_both;
use bars_store::testing::Backend;

use crate::support::{self, OwnReceiver};

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_passes_every_shall_check(backend: Backend) {
        let receiver = OwnReceiver::start(backend).await;
        let report = support::run(support::direct(&receiver.base)).await;
        receiver.stop().await;
        assert!(report.conformant(), "{}\n{}", report.summary(), support::failures(&report));
        // Only the pointer checks wait for a proxy (the Registry is reached through it).
        // Only the pointer checks wait for a proxy (the Registry is reached through it), and
        // over plain HTTP there is no TLS-MA to check.
        assert_eq!(
            support::skipped(&report),
            ["REC-PTR-001", "REC-PTR-002", "ERR-TLS-001"],
            "{}",
            support::failures(&report)
        );
    }
}

/// Directly over mutual TLS (as the proxy reaches it): every SHALL check, the TLS-MA row and the
/// copy held in flight over TLS included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_over_mutual_tls_passes_every_shall_check() {
    let (receiver, wire, _pki) = support::over_tls(Backend::Sqlite, true).await;
    let report = support::run(wire).await;
    receiver.stop().await;
    assert!(
        report.conformant(),
        "{}\n{}",
        report.summary(),
        support::failures(&report)
    );
    assert_eq!(
        support::skipped(&report),
        ["REC-PTR-001", "REC-PTR-002"],
        "{}",
        support::failures(&report)
    );
}

on_both! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn through_the_proxy_passes_every_shall_check(backend: Backend) {
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                bars_store::testing::TestDatabase::new(backend, "receiver.db")
                    .await
                    .expect("a PostgreSQL schema"),
            ),
        };
        let (stack, _dir) = support::stack(db.as_ref().map(|d| d.url())).await;
        let report = support::run(support::through_proxy(&stack)).await;
        stack.stop().await;
        assert!(report.conformant(), "{}\n{}", report.summary(), support::failures(&report));
        // Only the rows the proxy answers before the receiver are skipped (and the copy held
        // in flight: the proxy reads a body whole before forwarding it), and the 401 row (the
        // stack's receivers admit every organisation).
        assert_eq!(
            support::skipped(&report),
            [
                "REC-IDEM-003",
                "ERR-COM-001",
                "ERR-COM-003",
                "ERR-COM-005",
                "ERR-AUTH-001",
                "ERR-TLS-001"
            ],
            "{}",
            support::failures(&report)
        );
        // Through the proxy the route's own checks run too, and the evidence never shows a token.
        let json = report.json();
        assert!(!json.contains("Bearer ey"), "a token leaked into the evidence");
        assert!(json.contains("[redacted]"), "the Authorization header is not in the evidence at all");
    }
}
