//! A PostgreSQL variant that cannot reach a server says it was skipped, unless the run
//! requires PostgreSQL (`BARS_REQUIRE_POSTGRES=1`, as CI sets it): then it fails, so a run
//! cannot pass on tests it did not run. Checked by running this binary's own probe in a child
//! process with the environment each way.

use std::process::Command;

bars_store::on_both! {
    #[tokio::test]
    async fn probe(backend: Backend) {
        let db = bars_store::testing::TestDatabase::new(backend, "probe.db").await.unwrap();
        // COUNT(*) is a 64-bit integer on both backends.
        assert_eq!(db.scalar("SELECT COUNT(*) FROM (SELECT 1) AS one").await, 1);
    }
}

/// Runs `required::probe::postgres` alone without a server URL; its exit status and output.
fn probe_without_a_server(require: Option<&str>) -> (bool, String) {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "required::probe::postgres",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("BARS_TEST_POSTGRES_URL")
        .env_remove("BARS_REQUIRE_POSTGRES");
    if let Some(value) = require {
        child.env("BARS_REQUIRE_POSTGRES", value);
    }
    let out = child.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("1 passed") || text.contains("1 failed"),
        "the probe ran: {text}"
    );
    (out.status.success(), text)
}

#[test]
fn a_postgres_variant_without_a_server_fails_when_postgres_is_required() {
    let (passed, text) = probe_without_a_server(Some("1"));
    assert!(
        !passed,
        "a required variant passed without a server: {text}"
    );
    assert!(text.contains("BARS_REQUIRE_POSTGRES=1"), "{text}");

    let (passed, text) = probe_without_a_server(None);
    assert!(passed, "{text}");
    assert!(
        text.contains("skipped: BARS_TEST_POSTGRES_URL not set"),
        "{text}"
    );
}
