//! Role configuration files: the examples in `config/` are valid, broken ones are refused with
//! the setting named, and flags and environment variables override a file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use http::Method;

use crate::processes::{Proc, free_port, wait_for};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

/// The examples copied into `dir/config`, with the PKI their comments say to make.
pub(crate) fn example_setup(dir: &Path) {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    for role in ["receiver", "proxy", "registry"] {
        std::fs::copy(
            examples().join(format!("{role}.toml")),
            config.join(format!("{role}.toml")),
        )
        .unwrap();
    }
    let made = bars(
        dir,
        &[
            "pki",
            "init",
            "--dir",
            "config/pki",
            "--sender",
            "demo-sender",
            "--sender",
            "receiver-rxr01",
        ],
    );
    assert!(made.status.success());
}

fn bars(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bars"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

pub(crate) fn check(dir: &Path, file: &str) -> (bool, String) {
    let out = bars(dir, &["config", "check", "--strict", file]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// A copy of an example with one edit, as `config/broken.toml`.
pub(crate) fn broken(dir: &Path, role: &str, from: &str, to: &str) -> &'static str {
    let text = std::fs::read_to_string(dir.join(format!("config/{role}.toml"))).unwrap();
    assert!(text.contains(from), "{role}.toml has no {from:?}");
    std::fs::write(dir.join("config/broken.toml"), text.replacen(from, to, 1)).unwrap();
    "config/broken.toml"
}

#[test]
fn config_check_accepts_the_examples_and_names_what_is_wrong() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    example_setup(dir);
    for role in ["receiver", "proxy", "registry"] {
        let (ok, out) = check(dir, &format!("config/{role}.toml"));
        assert!(ok, "{role}: {out}");
        assert!(out.contains(": ok: "), "{out}");
    }

    let cases: &[(&str, &str, &str, &str)] = &[
        // (role, text, replacement, what the message must name)
        (
            "receiver",
            "listen = \"127",
            "lisen = \"127",
            "unknown field `lisen`",
        ),
        (
            "receiver",
            "ods_code = \"RXR01\"",
            "ods_code = \"\"",
            "ods_code: required",
        ),
        (
            "receiver",
            "id = \"2000011112\"",
            "id = \"2000011111\"",
            "services[1].id",
        ),
        (
            "receiver",
            "url_form = \"direct\"",
            "url_form = \"sideways\"",
            "pointers.url_form",
        ),
        (
            "receiver",
            "signing_key_id = \"receiver-rxr01-1\"\n",
            "",
            "pointers.signing_key_id",
        ),
        (
            "receiver",
            "key = \"pki/receiver.key.pem\"",
            "key = \"pki/missing.pem\"",
            "tls.key: cannot read",
        ),
        (
            "registry",
            "max_connections = 1024",
            "max_connections = 0",
            "limits.max_connections: must be at least 1",
        ),
        (
            "receiver",
            "role = \"receiver\"",
            "role = \"proxy\"",
            "unknown field `ods_code`",
        ),
        (
            "receiver",
            "versions = [\"1.1.6\", \"1.5.0\"]",
            "versions = [\"1.1.6\", \"1.7.0\"]",
            "versions[1]",
        ),
        (
            "proxy",
            "receiver_timeout_seconds = 32",
            "receiver_timeout_seconds = \"soon\"",
            "receiver_timeout_seconds",
        ),
        (
            "proxy",
            "receiver_timeout_seconds = 32",
            "receiver_timeout_seconds = 0",
            "receiver_timeout_seconds: must be at least 1",
        ),
        (
            "proxy",
            "url = \"https://127.0.0.1:8443\"",
            "url = \"ftp://rx\"",
            "endpoints[0].url",
        ),
        (
            "proxy",
            "value = \"2000011112\"",
            "value = \"2000011111\"",
            "endpoints[1]: https://fhir.nhs.uk/Id/dos-service-id|2000011111 is listed twice",
        ),
        (
            "proxy",
            "jwks_file = \"pki/demo-sender.jwk.json\"",
            "jwks_file = \"pki/nobody.jwk.json\"",
            "applications[0].jwks_file",
        ),
        (
            "proxy",
            "client_key = \"pki/proxy-client.key.pem\"",
            "",
            "client_key: is required with client_cert",
        ),
        (
            "registry",
            "admin_listen = \"127.0.0.1:9101\"",
            "admin_listen = \"127.0.0.1:9100\"",
            "admin_listen: must differ from listen",
        ),
        (
            "registry",
            "database = \"sqlite://",
            "database = \"mysql://",
            "database:",
        ),
        (
            "registry",
            "require_client_cert = true",
            "require_client_cert = \"yes\"",
            "require_client_cert",
        ),
    ];
    for (role, from, to, named) in cases {
        let file = broken(dir, role, from, to);
        let (ok, out) = check(dir, file);
        assert!(!ok, "{role} with {to:?} was accepted: {out}");
        assert!(out.contains(named), "{role} with {to:?}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_starts_from_its_file_with_environment_and_flags_over_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path();
    example_setup(dir);
    // The file says 8443 and 8081; the environment moves the admin listener and a flag the
    // API, so the test runs beside anything already on those ports.
    let (api, admin) = (free_port(), free_port());
    let out = dir.join("receiver.log");
    let child = Command::new(env!("CARGO_BIN_EXE_bars"))
        .current_dir(dir)
        .env("BARS_ADMIN_LISTEN", format!("127.0.0.1:{admin}"))
        .args(["receiver", "--config", "config/receiver.toml"])
        .args(["--listen", &format!("127.0.0.1:{api}")])
        .stderr(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    let receiver = Proc::adopt(child);
    let plain = bars_http::client::HttpClient::plain(Duration::from_secs(5));
    let status = format!("http://127.0.0.1:{admin}/_status");
    wait_for(&plain, &status).await;
    let answer = plain.call(Method::GET, &status, &[], None).await.unwrap();
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    // The services came from the file, and the database is where the file said, relative to it.
    let services = plain
        .call(
            Method::GET,
            &format!("http://127.0.0.1:{admin}/admin/services"),
            &[],
            None,
        )
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&services.body).to_string();
    assert!(body.contains("Riverside Minor Injuries Unit"), "{body}");
    assert!(dir.join("config/data/receiver.db").exists());
    receiver.interrupt_and_wait();

    // A file that does not hold together stops start-up, naming the setting.
    let file = broken(
        dir,
        "receiver",
        "ods_code = \"RXR01\"",
        "ods_code = \"R X\"",
    );
    let refused = bars(dir, &["receiver", "--config", file]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("ods_code: \"R X\" is not an ODS code"),
        "{message}"
    );
}
