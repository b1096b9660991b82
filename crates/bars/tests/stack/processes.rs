//! The real `bars` binary, one process per role, with the PKI `bars pki init` makes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use std::sync::Arc;

use bars_client::{Credentials, TokenSource};
use bars_http::client::{ClientResponse, HttpClient};
use bytes::Bytes;
use http::Method;
use serde_json::{Value, json};

use crate::kit::{PATIENT, appointment_for, bars_headers, tomorrow};
use crate::relay::Relay;

/// A role running as its own process; killed (SIGKILL) when dropped.
pub struct Proc {
    child: Child,
    /// Its stderr, for saying why it stopped.
    log: Option<PathBuf>,
}

impl Proc {
    pub fn start(dir: &Path, log: &str, args: &[String]) -> Proc {
        Self::spawn(dir, log, args)
    }

    /// A process the test started itself (with its own environment).
    pub fn adopt(child: Child) -> Proc {
        Proc { child, log: None }
    }

    fn spawn(dir: &Path, log: &str, args: &[String]) -> Proc {
        // The log (stderr) and what the command prints for its user (stdout) apart, so a
        // JSON log stays all JSON; both end in .log, so `ProcessStack::logs` reads both.
        let out = std::fs::File::create(dir.join(format!("{log}.stdout.log"))).unwrap();
        let log = dir.join(format!("{log}.log"));
        let err = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_bars"))
            .args(args)
            .current_dir(dir)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("the bars binary starts");
        Proc {
            child,
            log: Some(log),
        }
    }

    /// Waits until `url` answers anything at all; an error saying why (with the process's log)
    /// if the process exits first (a port another test took between its probe and the bind,
    /// say) or `url` never answers.
    pub async fn answers(&mut self, client: &HttpClient, url: &str) -> Result<(), String> {
        match poll_until_up(client, url, || !self.running()).await {
            Ok(()) => Ok(()),
            Err(Unanswered::Gone) => Err(format!(
                "{url}: the process exited first\n{}",
                self.log_text()
            )),
            Err(Unanswered::TimedOut) => Err(format!("{url} never came up\n{}", self.log_text())),
        }
    }

    fn log_text(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
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

    /// True while the process has not exited.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
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
    if poll_until_up(client, url, || false).await.is_err() {
        panic!("{url} never came up");
    }
}

/// Why [`poll_until_up`] stopped waiting.
enum Unanswered {
    /// What should answer is gone (its process exited).
    Gone,
    TimedOut,
}

/// Asks `url` every 50 ms, for 15 s at most, until it answers anything; `gone` is asked
/// between tries and ends the wait early.
async fn poll_until_up(
    client: &HttpClient,
    url: &str,
    mut gone: impl FnMut() -> bool,
) -> Result<(), Unanswered> {
    for _ in 0..300 {
        if client.call(Method::GET, url, &[], None).await.is_ok() {
            return Ok(());
        }
        if gone() {
            return Err(Unanswered::Gone);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(Unanswered::TimedOut)
}

/// Owned arguments for a command line.
pub fn s(v: &[&str]) -> Vec<String> {
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

/// How a [`ProcessStack`]'s roles are run.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// The receiver's database URL (`sqlite://receiver.db`, relative to the stack's directory,
    /// or a PostgreSQL URL).
    pub receiver_database: String,
    /// `human` or `json`, for every role.
    pub log_format: &'static str,
    /// The bearer token every role's admin listener asks for, if any.
    pub admin_token: Option<String>,
    /// The proxy reaches the registry through a [`Relay`] the test can hold.
    pub registry_relay: bool,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            receiver_database: "sqlite://receiver.db".into(),
            log_format: "human",
            admin_token: None,
            registry_relay: false,
        }
    }
}

/// The development PKI every process test uses: `bars pki init` in `dir/pki` with the demo
/// sender (ES256) and the receiver's own sender identity (RS512).
pub fn pki_init(dir: &Path) {
    bars(
        dir,
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
}

/// A registry's flags (without the role): its ports, database and mutual TLS with the proxy.
pub fn registry_args(port: u16, admin: u16, database: &str) -> Vec<String> {
    s(&[
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--admin-listen",
        &format!("127.0.0.1:{admin}"),
        "--database",
        database,
        "--tls-cert",
        "pki/registry.pem",
        "--tls-key",
        "pki/registry.key.pem",
        "--client-ca",
        "pki/ca.pem",
        "--require-client-cert",
    ])
}

/// A proxy's flags (without the role): its ports, `proxy.toml`, the registry, and its TLS
/// identities towards senders and upstreams.
pub fn proxy_args(port: u16, admin: u16, registry: u16) -> Vec<String> {
    s(&[
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--admin-listen",
        &format!("127.0.0.1:{admin}"),
        "--config",
        "proxy.toml",
        "--registry-url",
        &format!("https://127.0.0.1:{registry}"),
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
    ])
}

/// A receiver's flags for writing its pointers through the proxy at `proxy` as the sender
/// `receiver-rxr01`, retrying within a second.
pub fn pointer_args(proxy: &str) -> Vec<String> {
    s(&[
        "--pointer-url",
        proxy,
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

/// A registry, a proxy and one receiver (serving 2000011111 as RXR01, over mutual TLS behind
/// the proxy, writing its pointers through it) as real `bars` processes in a temporary
/// directory with the PKI `bars pki init` makes. Each process's log (stderr) goes to
/// `<name>.log` there, and what it prints (stdout) to `<name>.stdout.log`.
pub struct ProcessStack {
    temp: tempfile::TempDir,
    ports: Ports,
    pub options: ProcessOptions,
    pub registry: Option<Proc>,
    /// Between the proxy and the registry, with [`ProcessOptions::registry_relay`].
    pub registry_relay: Option<Relay>,
    pub proxy: Option<Proc>,
    pub receiver: Option<Proc>,
    starts: usize,
    /// Trusts the stack's CA.
    pub https: HttpClient,
    pub plain: HttpClient,
    /// The demo sender's tokens.
    pub sender: Arc<TokenSource>,
    pub proxy_url: String,
    pub proxy_admin_url: String,
    pub registry_url: String,
    pub registry_admin_url: String,
    pub receiver_url: String,
    pub receiver_admin_url: String,
}

impl ProcessStack {
    /// Starts every role and waits until the registry, the proxy and the receiver answer. The
    /// ports are probed free before the roles bind them, so another test may take one in
    /// between: a stack whose role stops before answering is started again on new ports (three
    /// tries, each failure's log printed).
    pub async fn start(options: ProcessOptions) -> ProcessStack {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start(options.clone()).await {
                Ok(stack) => return stack,
                Err(why) => {
                    eprintln!("the process stack did not start; again on new ports: {why}");
                    failures.push(why);
                }
            }
        }
        panic!(
            "the process stack did not start:\n{}",
            failures.join("\n---\n")
        );
    }

    async fn try_start(options: ProcessOptions) -> Result<ProcessStack, String> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        pki_init(dir);
        let ports = Ports {
            registry: free_port(),
            registry_admin: free_port(),
            proxy: free_port(),
            proxy_admin: free_port(),
            receiver: free_port(),
            receiver_admin: free_port(),
        };
        write_proxy_config(dir, &format!("https://127.0.0.1:{}", ports.receiver));
        let ca = std::fs::read_to_string(dir.join("pki/ca.pem")).unwrap();
        let https = HttpClient::new(
            Some(bars_pki::tls::client_config(&ca, None).unwrap()),
            Duration::from_secs(10),
        );
        let proxy_url = format!("https://127.0.0.1:{}", ports.proxy);
        let sender = TokenSource::new(
            Credentials {
                client_id: "demo-sender".into(),
                kid: "demo-sender-1".into(),
                algorithm: "ES256".into(),
                private_pem: std::fs::read_to_string(dir.join("pki/demo-sender.key.pem")).unwrap(),
                token_url: format!("{proxy_url}/oauth2/token"),
            },
            https.clone(),
        );
        let registry_relay = match options.registry_relay {
            true => Some(Relay::start(format!("127.0.0.1:{}", ports.registry)).await),
            false => None,
        };
        let mut stack = ProcessStack {
            registry_relay,
            proxy_admin_url: format!("http://127.0.0.1:{}", ports.proxy_admin),
            registry_url: format!("https://127.0.0.1:{}", ports.registry),
            registry_admin_url: format!("http://127.0.0.1:{}", ports.registry_admin),
            receiver_url: format!("https://127.0.0.1:{}", ports.receiver),
            receiver_admin_url: format!("http://127.0.0.1:{}", ports.receiver_admin),
            proxy_url,
            temp,
            ports,
            options,
            registry: None,
            proxy: None,
            receiver: None,
            starts: 0,
            https,
            plain: HttpClient::plain(Duration::from_secs(10)),
            sender,
        };
        stack.start_registry();
        stack.start_proxy();
        let registry_ping = format!("{}/_ping", stack.registry_admin_url);
        let proxy_ping = format!("{}/_ping", stack.proxy_url);
        let (plain, https) = (stack.plain.clone(), stack.https.clone());
        let registry = stack.registry.as_mut().expect("started just now");
        registry.answers(&plain, &registry_ping).await?;
        let proxy = stack.proxy.as_mut().expect("started just now");
        proxy.answers(&https, &proxy_ping).await?;
        stack.launch_receiver().await?;
        Ok(stack)
    }

    pub fn dir(&self) -> &Path {
        self.temp.path()
    }

    fn log_name(&mut self, role: &str) -> String {
        self.starts += 1;
        format!("{role}-{}", self.starts)
    }

    /// The flags every role shares: the log format and the admin token.
    fn common(&self, role: &str, mut args: Vec<String>) -> Vec<String> {
        let mut all = s(&["--log-format", self.options.log_format, role]);
        all.append(&mut args);
        if let Some(token) = &self.options.admin_token {
            all.extend(s(&["--admin-token", token]));
        }
        all
    }

    /// (Re)starts the registry on its ports and database.
    pub fn start_registry(&mut self) {
        let args = self.common(
            "registry",
            registry_args(
                self.ports.registry,
                self.ports.registry_admin,
                "sqlite://registry.db",
            ),
        );
        let log = self.log_name("registry");
        self.registry = Some(Proc::start(self.temp.path(), &log, &args));
    }

    pub fn start_proxy(&mut self) {
        let args = self.common(
            "proxy",
            proxy_args(
                self.ports.proxy,
                self.ports.proxy_admin,
                match &self.registry_relay {
                    Some(relay) => relay.port(),
                    None => self.ports.registry,
                },
            ),
        );
        let log = self.log_name("proxy");
        self.proxy = Some(Proc::start(self.temp.path(), &log, &args));
    }

    /// (Re)starts the receiver on its ports and database, and waits until its admin listener
    /// answers.
    pub async fn start_receiver(&mut self) {
        if let Err(why) = self.launch_receiver().await {
            panic!("the receiver did not start again: {why}");
        }
    }

    async fn launch_receiver(&mut self) -> Result<(), String> {
        let args = self.common(
            "receiver",
            s(&[
                "--ods-code",
                "RXR01",
                "--service",
                "2000011111=Riverside Urgent Treatment Centre",
                "--database",
                &self.options.receiver_database,
                "--listen",
                &format!("127.0.0.1:{}", self.ports.receiver),
                "--admin-listen",
                &format!("127.0.0.1:{}", self.ports.receiver_admin),
                "--tls-cert",
                "pki/receiver.pem",
                "--tls-key",
                "pki/receiver.key.pem",
                "--client-ca",
                "pki/ca.pem",
                "--require-client-cert",
            ]),
        );
        let args = [args, pointer_args(&self.proxy_url)].concat();
        let log = self.log_name("receiver");
        let mut receiver = Proc::start(self.temp.path(), &log, &args);
        let up = receiver
            .answers(&self.plain, &format!("{}/_ping", self.receiver_admin_url))
            .await;
        self.receiver = Some(receiver);
        up
    }

    /// A sender's request through the proxy to 2000011111 (with fresh ids).
    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> ClientResponse {
        self.call_with(method, path, &bars_headers(None, Some("2000011111")), body)
            .await
            .expect("the proxy answers")
    }

    /// A sender's request through the proxy with these headers (and the sender's token).
    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&'static str, String)],
        body: Option<&Value>,
    ) -> Result<ClientResponse, bars_http::client::ClientError> {
        let mut headers = headers.to_vec();
        headers.push((
            "authorization",
            format!("Bearer {}", self.sender.token().await.unwrap()),
        ));
        self.https
            .call(
                method,
                &format!("{}{path}", self.proxy_url),
                &headers,
                body.map(|b| Bytes::from(b.to_string())),
            )
            .await
    }

    /// A call to the receiver's admin API (with the admin token, if there is one).
    pub async fn admin(&self, method: Method, path: &str, body: Option<&Value>) -> ClientResponse {
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(token) = &self.options.admin_token {
            headers.push(("authorization", format!("Bearer {token}")));
        }
        self.plain
            .call(
                method,
                &format!("{}{path}", self.receiver_admin_url),
                &headers,
                body.map(|b| Bytes::from(b.to_string())),
            )
            .await
            .unwrap()
    }

    /// Publishes tomorrow's slots of 2000011111: one every `every` between `between` (UTC).
    pub async fn publish(&self, every: &str, between: &str) {
        let plan = json!({ "service": "2000011111", "from": tomorrow(), "days": 1, "every": every, "between": between, "zone": "UTC" });
        let r = self
            .admin(Method::POST, "/admin/slots/generate", Some(&plan))
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    /// Tomorrow's slots of 2000011111 with this status, through the proxy.
    pub async fn slots(&self, status: &str) -> Vec<Value> {
        let day = tomorrow();
        let r = self.call(Method::GET, &format!("/Slot?Schedule.actor:HealthcareService=2000011111&status={status}&start=ge{day}T00:00:00Z&start=le{day}T23:59:59Z&_include=Slot:schedule&_include=Schedule:actor:HealthcareService"), None).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()["entry"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["search"]["mode"] == "match")
            .map(|e| e["resource"].clone())
            .collect()
    }

    /// The receiver's outbox, from its admin API.
    pub async fn outbox(&self) -> Value {
        self.admin(Method::GET, "/admin/outbox", None)
            .await
            .json()
            .unwrap()
    }

    /// Waits until the receiver has delivered every pointer job. A receiver restarted after a
    /// kill takes back the leases it held (same instance name), so this never waits for a
    /// lease to expire.
    pub async fn outbox_settled(&self) {
        for _ in 0..1200 {
            let outbox = self.outbox().await;
            if outbox["pending"] == 0 && outbox["failed"] == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pointer jobs did not settle: {}", self.outbox().await);
    }

    /// Every pointer the registry holds for the patient (all pages), through the proxy.
    pub async fn pointers(&self, nhs: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!(
                "/DocumentReference?subject:identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}"
            );
            if let Some(t) = &token {
                path.push_str(&format!("&next-page-token={t}"));
            }
            let r = self
                .call_with(Method::GET, &path, &bars_headers(None, None), None)
                .await
                .unwrap();
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let bundle = r.json().unwrap();
            all.extend(
                bundle["entry"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|e| e["resource"].clone()),
            );
            token = bundle["meta"]["tag"][0]["code"]
                .as_str()
                .map(str::to_string);
            if token.is_none() {
                assert_eq!(bundle["total"], all.len(), "every page read");
                return all;
            }
        }
    }

    /// Every appointment of the patient at the receiver (all pages, following each page's
    /// next link), through the proxy.
    pub async fn appointments(&self, nhs: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path =
                format!("/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}");
            if let Some(t) = &token {
                path.push_str(&format!("&_page_after={t}"));
            }
            let r = self.call(Method::GET, &path, None).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let bundle = r.json().unwrap();
            let page = bundle["entry"].as_array().cloned().unwrap_or_default();
            all.extend(page.into_iter().map(|e| e["resource"].clone()));
            token = bundle["link"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str()?.split("_page_after=").nth(1))
                .map(str::to_string);
            if token.is_none() {
                assert_eq!(bundle["total"], all.len(), "every page read");
                return all;
            }
        }
    }

    /// Every log the stack's processes have written so far.
    pub fn logs(&self) -> String {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.temp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Runs `bars` with these arguments in the stack's directory; (success, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_bars"))
            .args(args)
            .current_dir(self.temp.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// The appointment id in the registry pointer's identifier.
pub fn pointed_at(pointer: &Value) -> String {
    pointer["identifier"][0]["value"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_during_delivery_resumes_and_converges_without_duplicates() {
    let mut stack = ProcessStack::start(ProcessOptions {
        registry_relay: true,
        ..ProcessOptions::default()
    })
    .await;
    stack.publish("10m", "08:00-12:00").await;

    // The registry goes away; bookings go on and their pointer jobs pile up.
    stack.registry.take().unwrap().kill();
    let slots = stack.slots("free").await;
    let mut ids = Vec::new();
    for slot in &slots[..8] {
        let r = stack
            .call(
                Method::POST,
                "/Appointment",
                Some(&appointment_for(slot, PATIENT)),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        ids.push(r.json().unwrap()["id"].as_str().unwrap().to_string());
    }
    let mut attempted = false;
    for _ in 0..200 {
        let outbox = stack.outbox().await;
        attempted = outbox["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["attempts"].as_u64().unwrap_or(0) > 0);
        if attempted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        attempted,
        "no pointer job was attempted while the registry was down"
    );

    // The registry comes back, but the proxy's way to it is held: deliveries are under way
    // and cannot land. The receiver dies with them in flight (the relay counts them), the way
    // opens, and the restarted receiver takes its leased jobs back and delivers each once.
    stack.registry_relay.as_ref().unwrap().hold();
    stack.start_registry();
    wait_for(&stack.plain, &format!("{}/_ping", stack.registry_admin_url)).await;
    let relay = stack.registry_relay.as_ref().unwrap();
    let mut in_flight = false;
    for _ in 0..1000 {
        in_flight = relay.held() > 0;
        if in_flight {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_flight, "no pointer delivery was under way");
    stack.receiver.take().unwrap().kill();
    stack.registry_relay.as_ref().unwrap().release();
    stack.start_receiver().await;

    stack.outbox_settled().await;
    let mut named: Vec<String> = stack
        .pointers(PATIENT)
        .await
        .iter()
        .map(pointed_at)
        .collect();
    named.sort();
    ids.sort();
    assert_eq!(named, ids, "one pointer per booking, none twice");
}
