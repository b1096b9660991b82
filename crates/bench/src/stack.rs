//! The system under test: a receiver and a proxy started as real processes of the `bars`
//! binary on loopback, with the development PKI, a seeded store and the clients that talk to
//! them as the proxy and as a sender would.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bars_client::{Credentials, TokenSource};
use bars_fhir::Instant as FhirInstant;
use bars_http::client::HttpClient;
use bars_receiver::availability::{Availability, SlotPlan, default_schedule_id, slot_id};
use bars_receiver::{HostedService, ReceiverConfig};
use bars_stack::DevPki;
use http::Method;

/// The receiving organisation the bench runs.
pub const ODS: &str = "RXB01";
/// The sender application registered at the proxy.
pub const SENDER: &str = "bench-sender";
/// The sending organisation.
pub const SENDER_ODS: &str = "A1001";
/// Slots per service per day: every 10 minutes, 09:00 to 17:00 (UTC), a clinic's day.
pub const SLOTS_PER_DAY: usize = 48;
const FIRST_SLOT_MINUTE: usize = 9 * 60;
const SLOT_MINUTES: usize = 10;

/// Where every seeded slot is, so scenarios can name slots without asking the server:
/// slot `k` is service `k % services`, day `k / (services * 48)`, start `(k / services) % 48`.
#[derive(Debug, Clone)]
pub struct Layout {
    pub services: Vec<String>,
    pub from: jiff::civil::Date,
    pub days: usize,
}

/// One seeded slot.
#[derive(Debug, Clone)]
pub struct SlotRef {
    pub service: String,
    pub id: String,
    pub start: String,
    pub end: String,
}

impl Layout {
    /// `slots` slots spread over `services` services, starting tomorrow.
    pub fn new(services: usize, slots: usize) -> Layout {
        let services: Vec<String> = (0..services.max(1))
            .map(|i| format!("{}", 2_000_100_000u64 + i as u64))
            .collect();
        let per_day = services.len() * SLOTS_PER_DAY;
        let days = slots.div_ceil(per_day).max(1);
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let from = today.tomorrow().unwrap_or(today);
        Layout {
            services,
            from,
            days,
        }
    }

    pub fn total(&self) -> usize {
        self.days * self.services.len() * SLOTS_PER_DAY
    }

    pub fn day(&self, d: usize) -> jiff::civil::Date {
        self.from
            .checked_add(jiff::Span::new().days(d as i64))
            .unwrap_or(self.from)
    }

    /// Days none of whose slots has been handed out while slots `next..` have been (they are
    /// handed out from the end of the layout down), at least one. Slot search picks its days
    /// among these, so that every search answers a full day's free slots however many the
    /// bookings before it took: a search of a day bookings emptied answers a few hundred
    /// bytes instead of ~23 KB, and a faster build's bookings would otherwise shrink its own
    /// searches' work.
    pub fn untouched_days(&self, next: usize) -> usize {
        (next / (self.services.len() * SLOTS_PER_DAY)).clamp(1, self.days)
    }

    pub fn slot(&self, k: usize) -> SlotRef {
        let n = self.services.len();
        let service = &self.services[k % n];
        let day = self.day(k / (n * SLOTS_PER_DAY));
        let minute = FIRST_SLOT_MINUTE + ((k / n) % SLOTS_PER_DAY) * SLOT_MINUTES;
        // The bench's clinic keeps UTC hours (its plan's zone), so no slot moves with BST.
        let at = |m: usize| {
            day.to_datetime(jiff::civil::Time::MIN)
                .checked_add(jiff::SignedDuration::from_mins(m as i64))
                .and_then(|t| t.to_zoned(jiff::tz::TimeZone::UTC))
                .ok()
                .and_then(|t| FhirInstant::from_timestamp(t.timestamp()))
                .unwrap_or_else(|| FhirInstant::from_unix_nanos(0, 0))
        };
        let (start, end) = (at(minute), at(minute + SLOT_MINUTES));
        SlotRef {
            service: service.clone(),
            id: slot_id(&default_schedule_id(service), start),
            start: start.to_string(),
            end: end.to_string(),
        }
    }

    fn plan(&self, service: &str) -> SlotPlan {
        SlotPlan {
            service_id: service.to_string(),
            schedule_id: None,
            from: self.from,
            days: self.days as u32,
            every_minutes: SLOT_MINUTES as u32,
            length_minutes: None,
            day_start: jiff::civil::time(9, 0, 0, 0),
            day_end: jiff::civil::time(17, 0, 0, 0),
            weekdays_only: false,
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    fn hosted(&self) -> Vec<HostedService> {
        self.services
            .iter()
            .map(|s| HostedService {
                id: s.clone(),
                name: format!("Bench service {s}"),
                use_cases: vec![],
            })
            .collect()
    }
}

/// Writes the layout's services and slots straight into the receiver's database (in batches
/// of the store's bulk insert), before the receiver starts: a million HTTP calls would measure
/// the seeding, not the system.
pub async fn seed(database: &Path, layout: &Layout) -> anyhow::Result<usize> {
    let url = format!("sqlite://{}", database.display());
    let store = bars_store::open(&url)
        .await
        .with_context(|| format!("opening {url}"))?;
    let mut config = ReceiverConfig::new(ODS, "https://127.0.0.1");
    config.services = layout.hosted();
    let availability = Availability {
        store,
        config: Arc::new(config.clone()),
    };
    let mut created = 0;
    for service in &config.services {
        availability
            .ensure_service(service)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        created += availability
            .generate(&layout.plan(&service.id))
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.diagnostics))?;
    }
    Ok(created)
}

/// A role running as a child process; killed when dropped.
pub struct Proc {
    child: Child,
    pub name: &'static str,
}

impl Proc {
    fn spawn(exe: &Path, dir: &Path, name: &'static str, args: &[String]) -> anyhow::Result<Proc> {
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        let child = Command::new(exe)
            .args(args)
            .current_dir(dir)
            .env(
                "RUST_LOG",
                std::env::var("BARS_BENCH_LOG").unwrap_or("info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} {name}", exe.display()))?;
        Ok(Proc { child, name })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now and at its peak, from `/proc/<pid>/status` (Linux), in KiB.
    pub fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }

    /// SIGTERM and a wait for the clean exit (the receiver drains and flushes its audit queue).
    pub fn stop(mut self) {
        // SAFETY: a signal to our own child, by its id.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..200 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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

/// Resident set size of a process, in KiB.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// How the receiver's API listener is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// As in production: TLS, and only the proxy's client certificate accepted.
    MutualTls,
    /// Plain HTTP, for a like-for-like comparison with a peer that has no TLS. The receiver
    /// then believes no identity header the bench sends as the proxy (they need a verified
    /// client certificate): a booking's request record is scoped to the sending organisation's
    /// ODS code instead of the application, and its audit row names no application. Nothing
    /// else of a booking, search or read changes; the open access policy needs no more.
    PlainHttp,
}

impl Transport {
    pub fn describe(self) -> &'static str {
        match self {
            Transport::MutualTls => "mutual TLS",
            Transport::PlainHttp => "plain HTTP",
        }
    }
}

/// The running stack and the clients the scenarios use.
pub struct Stack {
    pub dir: PathBuf,
    pub layout: Layout,
    pub transport: Transport,
    pub receiver: Proc,
    pub proxy: Proc,
    /// The receiver's API, reached as the proxy reaches it (mutual TLS).
    pub receiver_url: String,
    pub proxy_url: String,
    /// Mutual TLS with the proxy's client certificate: the receiver believes its identity
    /// headers only on such connections (the same client speaks plain HTTP to an `http://` URL).
    pub direct: HttpClient,
    /// A sender's client: trusts the CA, no client certificate.
    pub sender: HttpClient,
    pub tokens: Arc<TokenSource>,
}

impl Stack {
    /// Creates the PKI, seeds the store, starts the receiver and the proxy and waits for both.
    pub async fn start(
        exe: &Path,
        dir: &Path,
        layout: Layout,
        transport: Transport,
    ) -> anyhow::Result<Stack> {
        let pki_dir = dir.join("pki");
        let pki = DevPki::ensure(&pki_dir, SENDER, &[])?;
        let database = dir.join("receiver.db");
        let started = Instant::now();
        let seeded = seed(&database, &layout).await?;
        eprintln!(
            "seeded {seeded} slots ({} services x {} days x {SLOTS_PER_DAY}) in {:.1} s",
            layout.services.len(),
            layout.days,
            started.elapsed().as_secs_f64()
        );

        let (rx, rx_admin, px, px_admin, registry) = (
            free_port()?,
            free_port()?,
            free_port()?,
            free_port()?,
            free_port()?,
        );
        let receiver_url = match transport {
            Transport::MutualTls => format!("https://127.0.0.1:{rx}"),
            Transport::PlainHttp => format!("http://127.0.0.1:{rx}"),
        };
        let proxy_url = format!("https://127.0.0.1:{px}");

        let mut args = s(&[
            "receiver",
            "--ods-code",
            ODS,
            "--database",
            &format!("sqlite://{}", database.display()),
            "--listen",
            &format!("127.0.0.1:{rx}"),
            "--admin-listen",
            &format!("127.0.0.1:{rx_admin}"),
        ]);
        if transport == Transport::MutualTls {
            args.extend(s(&[
                "--tls-cert",
                "pki/servers.pem",
                "--tls-key",
                "pki/servers.key.pem",
                "--client-ca",
                "pki/ca.pem",
                "--require-client-cert",
            ]));
        }
        for service in layout.hosted() {
            args.push("--service".into());
            args.push(format!("{}={}", service.id, service.name));
        }
        let receiver = Proc::spawn(exe, dir, "receiver", &args)?;

        let mut proxy_toml = String::new();
        for service in &layout.services {
            proxy_toml.push_str(&format!(
                "[[endpoints]]\nsystem = \"https://fhir.nhs.uk/Id/dos-service-id\"\nvalue = \"{service}\"\nname = \"Bench service {service}\"\nurl = \"{receiver_url}\"\nods_code = \"{ODS}\"\n\n"
            ));
        }
        proxy_toml.push_str(&format!(
            "[[applications]]\nclient_id = \"{SENDER}\"\nname = \"Bench sender\"\nods_code = \"{SENDER_ODS}\"\njwks_file = \"pki/{SENDER}.jwk.json\"\n"
        ));
        std::fs::write(dir.join("proxy.toml"), proxy_toml)?;
        let proxy = Proc::spawn(
            exe,
            dir,
            "proxy",
            &s(&[
                "proxy",
                "--config",
                "proxy.toml",
                "--listen",
                &format!("127.0.0.1:{px}"),
                "--admin-listen",
                &format!("127.0.0.1:{px_admin}"),
                // No registry runs: the scenarios never reach it.
                "--registry-url",
                &format!("https://127.0.0.1:{registry}"),
                "--upstream-ca",
                "pki/ca.pem",
                "--client-cert",
                "pki/proxy-client.pem",
                "--client-key",
                "pki/proxy-client.key.pem",
                "--tls-cert",
                "pki/servers.pem",
                "--tls-key",
                "pki/servers.key.pem",
            ]),
        )?;

        let timeout = Duration::from_secs(30);
        let direct = HttpClient::new(
            Some(bars_pki::tls::client_config(
                &pki.ca_pem,
                Some(&pki.proxy_client),
            )?),
            timeout,
        );
        let sender = HttpClient::new(
            Some(bars_pki::tls::client_config(&pki.ca_pem, None)?),
            timeout,
        );
        let tokens = TokenSource::new(
            Credentials {
                client_id: SENDER.into(),
                kid: pki.sender_key.kid.clone(),
                algorithm: "ES256".into(),
                private_pem: pki.sender_key.private_pem.clone(),
                token_url: format!("{proxy_url}/oauth2/token"),
            },
            sender.clone(),
        );
        let stack = Stack {
            dir: dir.to_path_buf(),
            layout,
            transport,
            receiver,
            proxy,
            receiver_url,
            proxy_url,
            direct,
            sender,
            tokens,
        };
        stack
            .wait_for(&stack.direct, &format!("{}/_ping", stack.receiver_url))
            .await?;
        stack
            .wait_for(&stack.sender, &format!("{}/_ping", stack.proxy_url))
            .await?;
        stack
            .tokens
            .token()
            .await
            .map_err(|e| anyhow::anyhow!("no access token from the proxy: {e}"))?;
        Ok(stack)
    }

    async fn wait_for(&self, client: &HttpClient, url: &str) -> anyhow::Result<()> {
        for _ in 0..600 {
            if let Ok(r) = client.call(Method::GET, url, &[], None).await
                && r.status.is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "{url} never answered; see the logs in {}",
            self.dir.display()
        )
    }

    /// Stops both processes cleanly.
    pub fn stop(self) {
        self.proxy.stop();
        self.receiver.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The days slot search picks from hold no slot handed out, and they are every such day:
    /// the first day a handed-out slot falls on is the first one left out.
    #[test]
    fn untouched_days_are_the_days_no_booking_has_reached() {
        let layout = Layout::new(3, 5 * 3 * SLOTS_PER_DAY);
        let total = layout.days * layout.services.len() * SLOTS_PER_DAY;
        let day_of = |k: usize| layout.slot(k).start[..10].to_string();
        for next in (0..=total).rev() {
            let untouched = layout.untouched_days(next);
            assert!((1..=layout.days).contains(&untouched), "next {next}");
            let first_reached = (next..total).map(day_of).min();
            if let Some(first_reached) = first_reached
                && next >= layout.services.len() * SLOTS_PER_DAY
            {
                assert_eq!(
                    layout.day(untouched).to_string(),
                    first_reached,
                    "next {next}"
                );
            }
        }
        assert_eq!(layout.untouched_days(total), layout.days);
        assert_eq!(layout.untouched_days(0), 1);
    }
}
