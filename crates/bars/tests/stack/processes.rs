//! The real `bars` binary, one process per role, with the PKI `bars pki init` makes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bars_client::{Credentials, TokenSource};
use bars_http::client::HttpClient;
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::kit::{PATIENT, appointment_for, bars_headers, tomorrow};

/// A role running as its own process; killed (SIGKILL) when dropped.
pub struct Proc {
    child: Child,
}

impl Proc {
    pub fn start(dir: &Path, log: &str, args: &[String]) -> Proc {
        Self::spawn(dir, log, args)
    }

    /// A process the test started itself (with its own environment).
    pub fn adopt(child: Child) -> Proc {
        Proc { child }
    }

    fn spawn(dir: &Path, log: &str, args: &[String]) -> Proc {
        let out = std::fs::File::create(dir.join(format!("{log}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bars"))
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("the bars binary starts");
        Proc { child }
    }

    /// Ctrl-C (SIGINT), then waits for a clean exit.
    pub fn interrupt_and_wait(mut self) {
        // SAFETY: sending a signal to our own child process by its id.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGINT);
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "stopped cleanly: {status}");
    }

    /// SIGTERM, as an orchestrator stops a service; [`Proc::wait`] then sees it exit.
    pub fn terminate(&self) {
        // SAFETY: sending a signal to our own child process by its id.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
    }

    /// Waits for the process to exit; true when it exited cleanly.
    pub fn wait(mut self) -> bool {
        self.child.wait().unwrap().success()
    }

    /// SIGKILL: no shutdown, no draining, like a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn bars(dir: &Path, args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_bars"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "bars {args:?}");
}

/// The proxy's file for one receiver serving 2000011111, the demo sender and the receiver's own
/// application (for its Registry pointers), with the keys `bars pki init` made in `dir/pki`.
pub fn write_proxy_config(dir: &Path, receiver_url: &str) {
    std::fs::write(
        dir.join("proxy.toml"),
        format!(
            r#"
[[endpoints]]
system = "https://fhir.nhs.uk/Id/dos-service-id"
value = "2000011111"
name = "Riverside Urgent Treatment Centre"
url = "{receiver_url}"
ods_code = "RXR01"

[[applications]]
client_id = "demo-sender"
name = "Demo sender"
ods_code = "A1001"
jwks_file = "pki/demo-sender.jwk.json"

[[applications]]
client_id = "receiver-rxr01"
name = "Riverside receiver"
ods_code = "RXR01"
jwks_file = "pki/receiver-rxr01.jwk.json"
"#
        ),
    )
    .unwrap();
}

/// Waits until `url` answers anything at all.
pub async fn wait_for(client: &HttpClient, url: &str) {
    for _ in 0..300 {
        if client.call(Method::GET, url, &[], None).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never came up");
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

struct Ports {
    registry: u16,
    registry_admin: u16,
    proxy: u16,
    proxy_admin: u16,
    receiver: u16,
    receiver_admin: u16,
}

fn registry_args(ports: &Ports) -> Vec<String> {
    s(&[
        "registry",
        "--listen",
        &format!("127.0.0.1:{}", ports.registry),
        "--admin-listen",
        &format!("127.0.0.1:{}", ports.registry_admin),
        "--database",
        "sqlite://registry.db",
        "--tls-cert",
        "pki/registry.pem",
        "--tls-key",
        "pki/registry.key.pem",
        "--client-ca",
        "pki/ca.pem",
        "--require-client-cert",
    ])
}

fn receiver_args(ports: &Ports) -> Vec<String> {
    s(&[
        "receiver",
        "--ods-code",
        "RXR01",
        "--service",
        "2000011111=Riverside Urgent Treatment Centre",
        "--database",
        "sqlite://receiver.db",
        "--listen",
        &format!("127.0.0.1:{}", ports.receiver),
        "--admin-listen",
        &format!("127.0.0.1:{}", ports.receiver_admin),
        "--tls-cert",
        "pki/receiver.pem",
        "--tls-key",
        "pki/receiver.key.pem",
        "--client-ca",
        "pki/ca.pem",
        "--require-client-cert",
        "--pointer-url",
        &format!("https://127.0.0.1:{}", ports.proxy),
        "--pointer-ca",
        "pki/ca.pem",
        "--client-id",
        "receiver-rxr01",
        "--signing-key",
        "pki/receiver-rxr01.key.pem",
        "--signing-key-id",
        "receiver-rxr01-1",
        "--pointer-max-backoff",
        "1",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_during_delivery_resumes_and_converges_without_duplicates() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let temp = tempfile::tempdir().unwrap();
    let dir: PathBuf = temp.path().to_path_buf();
    bars(
        &dir,
        &[
            "pki",
            "init",
            "--dir",
            "pki",
            "--sender",
            "demo-sender:ES256",
            "--sender",
            "receiver-rxr01:RS512",
        ],
    );
    let ports = Ports {
        registry: free_port(),
        registry_admin: free_port(),
        proxy: free_port(),
        proxy_admin: free_port(),
        receiver: free_port(),
        receiver_admin: free_port(),
    };
    write_proxy_config(&dir, &format!("https://127.0.0.1:{}", ports.receiver));

    let mut registry = Some(Proc::start(&dir, "registry", &registry_args(&ports)));
    let _proxy = Proc::start(
        &dir,
        "proxy",
        &s(&[
            "proxy",
            "--listen",
            &format!("127.0.0.1:{}", ports.proxy),
            "--admin-listen",
            &format!("127.0.0.1:{}", ports.proxy_admin),
            "--config",
            "proxy.toml",
            "--registry-url",
            &format!("https://127.0.0.1:{}", ports.registry),
            "--upstream-ca",
            "pki/ca.pem",
            "--client-cert",
            "pki/proxy-client.pem",
            "--client-key",
            "pki/proxy-client.key.pem",
            "--tls-cert",
            "pki/proxy.pem",
            "--tls-key",
            "pki/proxy.key.pem",
        ]),
    );
    let mut receiver = Some(Proc::start(&dir, "receiver-1", &receiver_args(&ports)));

    let ca = std::fs::read_to_string(dir.join("pki/ca.pem")).unwrap();
    let https = HttpClient::new(
        Some(bars_pki::tls::client_config(&ca, None).unwrap()),
        Duration::from_secs(10),
    );
    let plain = HttpClient::plain(Duration::from_secs(10));
    let proxy = format!("https://127.0.0.1:{}", ports.proxy);
    let admin = format!("http://127.0.0.1:{}", ports.receiver_admin);
    wait_for(&https, &format!("{proxy}/_ping")).await;
    wait_for(&plain, &format!("{admin}/admin/services")).await;

    let generate = json!({ "service": "2000011111", "from": tomorrow(), "days": 1, "every": "10m", "between": "08:00-12:00", "zone": "UTC" });
    plain
        .call(
            Method::POST,
            &format!("{admin}/admin/slots/generate"),
            &[("content-type", "application/json".into())],
            Some(Bytes::from(generate.to_string())),
        )
        .await
        .unwrap();

    let sender = TokenSource::new(
        Credentials {
            client_id: "demo-sender".into(),
            kid: "demo-sender-1".into(),
            algorithm: "ES256".into(),
            private_pem: std::fs::read_to_string(dir.join("pki/demo-sender.key.pem")).unwrap(),
            token_url: format!("{proxy}/oauth2/token"),
        },
        https.clone(),
    );
    let call = |method: Method, path: String, body: Option<Value>| {
        let (https, sender, proxy) = (https.clone(), sender.clone(), proxy.clone());
        async move {
            let headers = bars_headers(Some(&sender.token().await.unwrap()), Some("2000011111"));
            https
                .call(
                    method,
                    &format!("{proxy}{path}"),
                    &headers,
                    body.map(|b| Bytes::from(b.to_string())),
                )
                .await
                .unwrap()
        }
    };

    // The registry goes away; bookings go on and their pointer jobs pile up.
    registry.take().unwrap().kill();
    let day = tomorrow();
    let slots = call(Method::GET, format!("/Slot?Schedule.actor:HealthcareService=2000011111&status=free&start=ge{day}T00:00:00Z&start=le{day}T23:59:59Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"), None).await;
    let slots: Vec<Value> = slots.json().unwrap()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"].clone())
        .collect();
    let mut ids = Vec::new();
    for slot in &slots[..8] {
        let r = call(
            Method::POST,
            "/Appointment".into(),
            Some(appointment_for(slot, PATIENT)),
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        ids.push(r.json().unwrap()["id"].as_str().unwrap().to_string());
    }
    for _ in 0..200 {
        let outbox = plain
            .call(Method::GET, &format!("{admin}/admin/outbox"), &[], None)
            .await
            .unwrap()
            .json()
            .unwrap();
        if outbox["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["attempts"].as_u64().unwrap_or(0) > 0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // The registry comes back and the receiver dies while it is delivering.
    registry = Some(Proc::start(&dir, "registry-2", &registry_args(&ports)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    receiver.take().unwrap().kill();
    receiver = Some(Proc::start(&dir, "receiver-2", &receiver_args(&ports)));
    wait_for(&plain, &format!("{admin}/admin/services")).await;

    let mut settled = false;
    for _ in 0..600 {
        let outbox = plain
            .call(Method::GET, &format!("{admin}/admin/outbox"), &[], None)
            .await
            .unwrap()
            .json()
            .unwrap();
        if outbox["pending"] == 0 && outbox["failed"] == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(settled, "the restarted receiver delivered every job");
    let r = call(
        Method::GET,
        format!(
            "/DocumentReference?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{PATIENT}"
        ),
        None,
    )
    .await;
    let bundle = r.json().unwrap();
    let mut named: Vec<String> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["resource"]["identifier"][0]["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    named.sort();
    ids.sort();
    assert_eq!(named, ids, "one pointer per booking, none twice");
    drop((registry, receiver));
}
