//! The sender's commands: discover services, check capabilities, find slots, book, list, view,
//! update, reschedule, cancel and rebook — through the proxy, with the BaRS details (tokens,
//! headers, read-before-write, retries) done by the SDK, in the workflow of the BaRS Core
//! version spoken (`--bars-version`, `BARS_VERSION`, the manifest's `sender.barsVersion`;
//! default 1.5.0).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use bars_client::{
    BarsClient, BarsError, BarsVersion, BookingDetails, Credentials, Demographics, PatientQuery,
    SenderIdentity, Slot, TokenFile, TokenSource,
};
use bars_fhir::headers::TargetIdentifier;
use bars_fhir::{Instant, NhsNumber};
use bars_http::client::HttpClient;
use serde_json::{Value, json};

use super::uk_time;

/// How the CLI reaches BaRS: the demo's manifest by default, or explicit settings.
#[derive(Debug, Clone, clap::Args)]
pub struct Connection {
    /// A stack manifest (as `bars demo` writes); supplies everything below that is not given.
    #[arg(
        long,
        visible_alias = "manifest",
        env = "BARS_STACK",
        default_value = "bars-demo/stack.json",
        global = true
    )]
    pub stack: PathBuf,
    /// The proxy's base URL.
    #[arg(long, env = "BARS_PROXY_URL", global = true)]
    pub proxy_url: Option<String>,
    #[arg(long, env = "BARS_CLIENT_ID", global = true)]
    pub client_id: Option<String>,
    #[arg(long, env = "BARS_KEY_ID", global = true)]
    pub key_id: Option<String>,
    /// The application's private signing key (PEM).
    #[arg(long, env = "BARS_PRIVATE_KEY", global = true)]
    pub private_key: Option<PathBuf>,
    /// RS512 or ES256; read from the private key when left out (given, it must match the key).
    #[arg(long, env = "BARS_KEY_ALGORITHM", global = true)]
    pub algorithm: Option<String>,
    #[arg(long, env = "BARS_TOKEN_URL", global = true)]
    pub token_url: Option<String>,
    /// CA certificate (PEM) to trust for the proxy.
    #[arg(long, env = "BARS_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// The sending organisation's ODS code and name.
    #[arg(long, env = "BARS_ODS_CODE", global = true)]
    pub ods_code: Option<String>,
    #[arg(long, env = "BARS_ORGANISATION_NAME", global = true)]
    pub organisation_name: Option<String>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A slot search (what `bars slots` does without a staff subcommand).
#[derive(Debug, Clone, clap::Args)]
pub struct SlotSearch {
    #[arg(long)]
    pub service: Option<String>,
    /// First day (YYYY-MM-DD, default today).
    #[arg(long)]
    pub date: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub days: u32,
    /// free, busy or free,busy.
    #[arg(long, default_value = "free")]
    pub status: String,
}

/// The BaRS Core version a command speaks. Not a global flag: the receiver role's
/// `--bars-version` (the versions it serves) has the same name.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Speak {
    /// BaRS Core version to speak, 1.1.6 or 1.5.0 (sent in Accept; chooses the workflow of
    /// update, reschedule, cancel and rebook) [default: the manifest's sender.barsVersion, else 1.5.0].
    #[arg(long = "bars-version", env = "BARS_VERSION")]
    pub bars_version: Option<String>,
}

/// A patient's demographics on the command line (all or none).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PatientDetails {
    /// Family name.
    #[arg(long)]
    pub family: Option<String>,
    /// Given name(s).
    #[arg(long)]
    pub given: Option<String>,
    /// Birth date, YYYY-MM-DD.
    #[arg(long)]
    pub birth_date: Option<String>,
    /// Home postcode.
    #[arg(long)]
    pub postcode: Option<String>,
}

impl PatientDetails {
    fn name(&self) -> Option<String> {
        let words: Vec<&str> = [self.given.as_deref(), self.family.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        (!words.is_empty()).then(|| words.join(" "))
    }

    /// The demographics to book with: none, or all of family name, birth date and postcode.
    fn for_booking(&self) -> anyhow::Result<Option<Demographics>> {
        match (&self.family, &self.birth_date, &self.postcode) {
            (None, None, None) if self.given.is_none() => Ok(None),
            (Some(family), Some(birth_date), Some(postcode)) => Ok(Some(Demographics {
                family: family.clone(),
                given: self
                    .given
                    .iter()
                    .flat_map(|g| g.split_whitespace())
                    .map(str::to_string)
                    .collect(),
                birth_date: birth_date.clone(),
                postcode: postcode.clone(),
            })),
            _ => bail!("give all of --family, --birth-date and --postcode (and --given), or none"),
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum SenderCommand {
    /// (internal) a slot search, reached through `bars slots`.
    #[command(skip)]
    FindSlots(SlotSearch),
    /// Services you can book with (from the proxy's directory).
    Services {
        /// Only services whose name contains this.
        #[arg(long)]
        name: Option<String>,
    },
    /// A service's BaRS capabilities.
    Capabilities {
        #[command(flatten)]
        speak: Speak,
        #[arg(long)]
        service: String,
    },
    /// Book a slot for a patient.
    Book {
        #[command(flatten)]
        speak: Speak,
        #[arg(long)]
        service: String,
        #[arg(long)]
        slot: String,
        /// The patient's NHS number.
        #[arg(long)]
        patient: String,
        /// Why the appointment is needed.
        #[arg(long)]
        reason: Option<String>,
        /// The patient's demographics, sent in the booking (a 1.5.0 receiver finds it by them).
        #[command(flatten)]
        demographics: PatientDetails,
        /// Fix the request id (to retry a request whose answer was lost).
        #[arg(long)]
        request_id: Option<String>,
        #[arg(long)]
        correlation_id: Option<String>,
    },
    /// A patient's appointments at one service, by NHS number and/or (1.5.0) by name, birth
    /// date and postcode.
    Search {
        #[arg(long)]
        service: String,
        /// The patient's NHS number.
        #[arg(long)]
        patient: Option<String>,
        #[command(flatten)]
        demographics: PatientDetails,
        /// Appointment statuses, comma separated.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        speak: Speak,
    },
    /// A patient's appointments, wherever they were booked (from the Registry).
    List {
        #[arg(long)]
        patient: String,
    },
    /// One appointment, read at the service that holds it.
    View {
        #[command(flatten)]
        speak: Speak,
        #[arg(long)]
        service: String,
        #[arg(long)]
        appointment: String,
    },
    /// Change an appointment's details.
    Update {
        #[command(flatten)]
        speak: Speak,
        #[arg(long)]
        service: String,
        #[arg(long)]
        appointment: String,
        /// New description (1.1.6 only: under 1.5.0 an update changes status and reasonCode).
        #[arg(long)]
        description: Option<String>,
        /// New comment (1.1.6 only).
        #[arg(long)]
        comment: Option<String>,
        /// The reason for the appointment, a SNOMED CT code (replaces reasonCode).
        #[arg(long)]
        reason_code: Option<String>,
        /// The reason's display text.
        #[arg(long, requires = "reason_code")]
        reason_display: Option<String>,
    },
    /// Move an appointment to another slot of the same service.
    Reschedule {
        #[command(flatten)]
        speak: Speak,
        #[arg(long)]
        service: String,
        #[arg(long)]
        appointment: String,
        #[arg(long)]
        slot: String,
    },
    /// Cancel an appointment.
    Cancel {
        #[command(flatten)]
        speak: Speak,
        #[arg(long)]
        service: String,
        #[arg(long)]
        appointment: String,
        /// The booking was a mistake (status entered-in-error).
        #[arg(long)]
        entered_in_error: bool,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Book a new slot in place of an appointment, then cancel the old one.
    Rebook {
        #[command(flatten)]
        speak: Speak,
        #[arg(long)]
        service: String,
        #[arg(long)]
        appointment: String,
        #[arg(long)]
        slot: String,
    },
}

struct Session {
    client: BarsClient,
    json: bool,
}

fn manifest(path: &PathBuf) -> Option<Value> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// What a sender needs to reach BaRS through the proxy, resolved from flags and the manifest.
pub struct SenderParts {
    pub http: HttpClient,
    pub proxy_url: String,
    pub tokens: std::sync::Arc<TokenSource>,
    pub identity: SenderIdentity,
    /// What `tokens` signs with, for a caller that needs a token source of its own.
    pub credentials: Credentials,
}

impl Connection {
    fn session(&self, speak: Option<&Speak>) -> anyhow::Result<Session> {
        let version = self.version(speak)?;
        let p = self.sender()?;
        Ok(Session {
            client: BarsClient::new(p.http, &p.proxy_url, p.tokens, p.identity)
                .with_version(version),
            json: self.json,
        })
    }

    /// The version to speak: the flag (or `BARS_VERSION`), else the manifest's
    /// `sender.barsVersion`, else 1.5.0.
    pub fn version(&self, speak: Option<&Speak>) -> anyhow::Result<BarsVersion> {
        let given = speak.and_then(|s| s.bars_version.clone()).or_else(|| {
            manifest(&self.stack)?
                .pointer("/sender/barsVersion")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        match given {
            Some(v) => v.parse().map_err(|e: String| anyhow::anyhow!("{e}")),
            None => Ok(BarsVersion::default()),
        }
    }

    pub fn sender(&self) -> anyhow::Result<SenderParts> {
        let m = manifest(&self.stack).unwrap_or(Value::Null);
        let from = |given: &Option<String>, pointer: &str| {
            given.clone().or_else(|| {
                m.pointer(pointer)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
        };
        let Some(proxy_url) = from(&self.proxy_url, "/proxy/url") else {
            bail!(
                "no proxy URL: run `bars demo` first (it writes {}), or give --proxy-url and the credentials",
                self.stack.display()
            );
        };
        let client_id = from(&self.client_id, "/sender/clientId").context("no --client-id")?;
        let key_id = from(&self.key_id, "/sender/keyId").context("no --key-id")?;
        let algorithm = from(&self.algorithm, "/sender/algorithm");
        let key_path = self
            .private_key
            .clone()
            .or_else(|| {
                m.pointer("/sender/privateKey")
                    .and_then(Value::as_str)
                    .map(PathBuf::from)
            })
            .context("no --private-key")?;
        let private_pem = std::fs::read_to_string(&key_path)
            .with_context(|| format!("reading {}", key_path.display()))?;
        let token_url = from(&self.token_url, "/sender/tokenUrl")
            .unwrap_or_else(|| format!("{proxy_url}/oauth2/token"));
        let ca = self
            .ca
            .clone()
            .or_else(|| m.pointer("/ca").and_then(Value::as_str).map(PathBuf::from));
        let tls = match ca {
            Some(path) => {
                let pem = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Some(bars_pki::tls::client_config(&pem, None).map_err(|e| anyhow::anyhow!("{e}"))?)
            }
            None => None,
        };
        let http = HttpClient::new(tls, Duration::from_secs(40));
        let ods = from(&self.ods_code, "/sender/odsCode").unwrap_or_else(|| "A1001".into());
        let org = from(&self.organisation_name, "/sender/organisationName")
            .unwrap_or_else(|| "Sending organisation".into());
        let credentials = Credentials::from_key(
            &client_id,
            &key_id,
            private_pem,
            &token_url,
            algorithm.as_deref(),
        )
        .with_context(|| format!("the signing key {}", key_path.display()))?;
        // Each command is a process of its own: the token is kept for the next one (BaRS asks a
        // sender to use a token until it expires).
        let tokens = TokenSource::kept(
            credentials.clone(),
            http.clone(),
            None,
            TokenFile::default_location(),
        );
        Ok(SenderParts {
            http,
            proxy_url,
            tokens,
            identity: SenderIdentity::new(&ods, &org),
            credentials,
        })
    }
}

/// Shows what is happening when a call takes more than a moment (on a terminal only).
async fn with_progress<T>(what: &str, work: impl std::future::Future<Output = T>) -> T {
    let interactive = std::io::stderr().is_terminal();
    let label = what.to_string();
    let notice = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        if interactive {
            eprint!("{label}...");
        }
    });
    let out = work.await;
    if notice.is_finished() && interactive {
        eprintln!(" done");
    }
    notice.abort();
    out
}

fn service(id: &str) -> TargetIdentifier {
    TargetIdentifier::parse_token(id).unwrap_or_else(|| TargetIdentifier::dos(id))
}

fn patient(nhs: &str) -> anyhow::Result<NhsNumber> {
    NhsNumber::parse(nhs.trim()).map_err(|e| anyhow::anyhow!("{e}"))
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn print_appointment(session: &Session, heading: &str, a: &Value) -> anyhow::Result<()> {
    if session.json {
        return print_json(a);
    }
    println!("{heading}");
    println!("  appointment  {}", a["id"].as_str().unwrap_or("?"));
    println!("  status       {}", a["status"].as_str().unwrap_or("?"));
    if let (Some(s), Some(e)) = (a["start"].as_str(), a["end"].as_str()) {
        println!(
            "  when         {} - {} (UK time)",
            uk_time::when(s),
            uk_time::clock(e)
        );
    }
    if let Some(slot) = a.pointer("/slot/0/reference").and_then(Value::as_str) {
        println!("  slot         {}", slot.trim_start_matches("Slot/"));
    }
    if let Some(d) = a["description"].as_str() {
        println!("  reason       {d}");
    }
    println!(
        "  version      {}",
        a.pointer("/meta/versionId")
            .and_then(Value::as_str)
            .unwrap_or("?")
    );
    Ok(())
}

fn find_slot(slots: Vec<Slot>, id: &str) -> anyhow::Result<Slot> {
    slots.into_iter().find(|s| s.id == id).with_context(|| {
        format!("slot {id} is not free at that service (list them with `bars slots`)")
    })
}

/// A slot by id, free or not — the service judges whether it can be booked (and a retry of a
/// booking finds its slot already busy). Its day is in the id (`<schedule>-<yyyymmddhhmm>`),
/// otherwise the next 14 days are searched.
async fn find_slot_by_id(
    session: &Session,
    service: &TargetIdentifier,
    id: &str,
) -> anyhow::Result<Slot> {
    let (from, to) = match id
        .rsplit('-')
        .next()
        .filter(|t| t.len() == 12 && t.chars().all(|c| c.is_ascii_digit()))
    {
        Some(t) => {
            let day = Instant::parse(&format!("{}-{}-{}T00:00:00Z", &t[0..4], &t[4..6], &t[6..8]))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            (day, day.plus_seconds(86_399))
        }
        None => {
            let now = Instant::now();
            (now, now.plus_seconds(14 * 86_400 - 1))
        }
    };
    find_slot(
        session.client.slots(service, from, to, "free,busy").await?,
        id,
    )
}

impl SenderCommand {
    fn speak(&self) -> Option<&Speak> {
        match self {
            SenderCommand::Capabilities { speak, .. }
            | SenderCommand::Book { speak, .. }
            | SenderCommand::Search { speak, .. }
            | SenderCommand::View { speak, .. }
            | SenderCommand::Update { speak, .. }
            | SenderCommand::Reschedule { speak, .. }
            | SenderCommand::Cancel { speak, .. }
            | SenderCommand::Rebook { speak, .. } => Some(speak),
            SenderCommand::FindSlots(_)
            | SenderCommand::Services { .. }
            | SenderCommand::List { .. } => None,
        }
    }
}

pub async fn run(command: SenderCommand, connection: &Connection) -> anyhow::Result<()> {
    let session = connection.session(command.speak())?;
    let outcome = run_with(&session, command).await;
    match outcome {
        Err(e) => match e.downcast_ref::<BarsError>() {
            Some(b) => bail!("{}", b),
            None => Err(e),
        },
        ok => ok,
    }
}

async fn run_with(session: &Session, command: SenderCommand) -> anyhow::Result<()> {
    let client = &session.client;
    match command {
        SenderCommand::Services { name } => {
            let services =
                with_progress("Looking up services", client.services(name.as_deref())).await?;
            if session.json {
                return print_json(&services);
            }
            println!("{:<12} {:<48} ORGANISATION", "SERVICE", "NAME");
            for s in &services {
                println!(
                    "{:<12} {:<48} {}",
                    s.value,
                    s.name,
                    s.ods_code.as_deref().unwrap_or("-")
                );
            }
        }
        SenderCommand::Capabilities { service: id, .. } => {
            let c =
                with_progress("Reading capabilities", client.capabilities(&service(&id))).await?;
            if session.json {
                return print_json(&c);
            }
            println!(
                "{} (BaRS {}), FHIR {}",
                c["title"].as_str().unwrap_or("?"),
                c["version"].as_str().unwrap_or("?"),
                c["fhirVersion"].as_str().unwrap_or("?")
            );
            for r in c
                .pointer("/rest/0/resource")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let interactions: Vec<&str> = r["interaction"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["code"].as_str())
                    .collect();
                println!(
                    "  {:<18} {}",
                    r["type"].as_str().unwrap_or("?"),
                    interactions.join(", ")
                );
            }
        }
        SenderCommand::FindSlots(SlotSearch {
            service: id,
            date,
            days,
            status,
        }) => {
            let Some(id) = id else {
                bail!(
                    "give --service (see `bars services`), or a staff subcommand: generate, add, withdraw"
                )
            };
            let day = match date {
                Some(d) => uk_time::parse_date(&d).context("--date")?,
                None => uk_time::today(),
            };
            let (from, to) = uk_time::days_window(day, days.clamp(1, 14))?;
            let slots = with_progress(
                "Searching for slots",
                client.slots(&service(&id), from, to, &status),
            )
            .await?;
            if session.json {
                return print_json(&slots);
            }
            println!("{:<40} {:<23} {:<12} STATUS", "SLOT", "STARTS (UK)", "ENDS");
            for s in &slots {
                println!(
                    "{:<40} {:<23} {:<12} {}",
                    s.id,
                    uk_time::when(&s.start),
                    uk_time::clock(&s.end),
                    s.status
                );
            }
            println!(
                "{} slot{}",
                slots.len(),
                if slots.len() == 1 { "" } else { "s" }
            );
        }
        SenderCommand::Book {
            service: id,
            slot,
            patient: nhs,
            reason,
            demographics,
            request_id,
            correlation_id,
            ..
        } => {
            let target = service(&id);
            let nhs = patient(&nhs)?;
            let demographics = demographics.for_booking()?;
            let slot = find_slot_by_id(session, &target, &slot).await?;
            let details = BookingDetails {
                description: reason,
                replaces: None,
                demographics,
            };
            let mut call = bars_client::Call::new(http::Method::POST, "/Appointment")
                .to(&target)
                .fhir(&bars_client::workflows::booking(&slot, &nhs, &details));
            if let Some(r) = request_id {
                call.request_id = r;
            }
            if let Some(c) = correlation_id {
                call.correlation_id = c;
            }
            let a = with_progress("Booking", client.book_with(&target, &call)).await?;
            print_appointment(session, "Booked.", &a)?;
        }
        SenderCommand::List { patient: nhs } => {
            let listed =
                with_progress("Searching the registry", client.list(&patient(&nhs)?)).await?;
            if session.json {
                return print_json(&listed);
            }
            println!(
                "{:<38} {:<12} {:<23} CUSTODIAN",
                "APPOINTMENT", "SERVICE", "STARTS (UK)"
            );
            for l in &listed {
                println!(
                    "{:<38} {:<12} {:<23} {}",
                    l.appointment_id,
                    l.service.as_deref().unwrap_or("-"),
                    l.start.as_deref().map(uk_time::when).unwrap_or_default(),
                    l.custodian.as_deref().unwrap_or("-")
                );
            }
            println!(
                "{} appointment{}",
                listed.len(),
                if listed.len() == 1 { "" } else { "s" }
            );
        }
        SenderCommand::Search {
            service: id,
            patient: nhs,
            demographics,
            status,
            ..
        } => {
            let query = PatientQuery {
                nhs_number: nhs.as_deref().map(patient).transpose()?,
                name: demographics.name(),
                birth_date: demographics.birth_date.clone(),
                postcode: demographics.postcode.clone(),
                status,
            };
            let found = with_progress(
                "Searching for appointments",
                client.search(&service(&id), &query),
            )
            .await?;
            if session.json {
                return print_json(&found);
            }
            for w in &found.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{:<38} {:<16} {:<23} SLOT",
                "APPOINTMENT", "STATUS", "STARTS (UK)"
            );
            for a in &found.appointments {
                println!(
                    "{:<38} {:<16} {:<23} {}",
                    a["id"].as_str().unwrap_or("?"),
                    a["status"].as_str().unwrap_or("?"),
                    a["start"].as_str().map(uk_time::when).unwrap_or_default(),
                    a.pointer("/slot/0/reference")
                        .and_then(Value::as_str)
                        .unwrap_or("-")
                        .trim_start_matches("Slot/")
                );
            }
            let n = found.appointments.len();
            println!("{n} appointment{}", if n == 1 { "" } else { "s" });
        }
        SenderCommand::View {
            service: id,
            appointment,
            ..
        } => {
            let v = with_progress(
                "Reading the appointment",
                client.view(&service(&id), &appointment),
            )
            .await?;
            print_appointment(session, "Appointment:", &v.resource)?;
        }
        SenderCommand::Update {
            service: id,
            appointment,
            description,
            comment,
            reason_code,
            reason_display,
            ..
        } => {
            if description.is_none() && comment.is_none() && reason_code.is_none() {
                bail!("nothing to change: give --reason-code, --description and/or --comment");
            }
            let reason = reason_code.map(|code| {
                let mut coding = json!({ "system": "http://snomed.info/sct", "code": code });
                if let Some(d) = &reason_display {
                    coding["display"] = json!(d);
                }
                json!([{ "coding": [coding] }])
            });
            let a = with_progress(
                "Updating",
                client.update(&service(&id), &appointment, |a| {
                    if let Some(d) = &description {
                        a["description"] = json!(d);
                    }
                    if let Some(c) = &comment {
                        a["comment"] = json!(c);
                    }
                    if let Some(r) = &reason {
                        a["reasonCode"] = r.clone();
                    }
                }),
            )
            .await?;
            print_appointment(session, "Updated.", &a)?;
        }
        SenderCommand::Reschedule {
            service: id,
            appointment,
            slot,
            ..
        } => {
            let target = service(&id);
            let slot = find_slot_by_id(session, &target, &slot).await?;
            let a = with_progress(
                "Rescheduling",
                client.reschedule(&target, &appointment, &slot),
            )
            .await?;
            print_appointment(session, "Rescheduled.", &a)?;
        }
        SenderCommand::Cancel {
            service: id,
            appointment,
            entered_in_error,
            reason,
            ..
        } => {
            let a = with_progress(
                "Cancelling",
                client.cancel(
                    &service(&id),
                    &appointment,
                    entered_in_error,
                    reason.as_deref(),
                ),
            )
            .await?;
            print_appointment(session, "Cancelled.", &a)?;
        }
        SenderCommand::Rebook {
            service: id,
            appointment,
            slot,
            ..
        } => {
            let target = service(&id);
            let slot = find_slot_by_id(session, &target, &slot).await?;
            let (new, old) =
                with_progress("Rebooking", client.rebook(&target, &appointment, &slot)).await?;
            if session.json {
                return print_json(&json!({ "booked": new, "cancelled": old }));
            }
            print_appointment(session, "Rebooked: the new appointment", &new)?;
            println!(
                "  in place of  {} (now {})",
                appointment,
                old["status"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}
