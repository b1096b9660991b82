//! The provider's side from the command line: the day list (`bars appointments`), running
//! the day (`bars clinic`), the event feed, subscribers and deliveries (`bars events`), and
//! slots from the provider's scheduling system (`bars slots sync`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use bars_fhir::search::encode_component;
use http::Method;
use serde_json::{Value, json};

use super::admin_client::AdminTarget;

/// `bars appointments`: a service's appointments for a day (or a range of days).
#[derive(Debug, clap::Args)]
pub struct AppointmentsArgs {
    /// The DoS service id.
    #[arg(long)]
    pub service: String,
    /// The day, YYYY-MM-DD, on the zone's wall clock.
    #[arg(long)]
    pub date: String,
    /// The last day of a range, YYYY-MM-DD (at most 31 days in all).
    #[arg(long)]
    pub to: Option<String>,
    /// Only these statuses (booked, arrived, fulfilled, noshow, cancelled, ...), comma-separated.
    #[arg(long)]
    pub status: Option<String>,
    /// Show patients' NHS numbers in full (the request is audited either way).
    #[arg(long)]
    pub show_nhs_number: bool,
    #[arg(long, default_value = "Europe/London")]
    pub zone: String,
    #[command(flatten)]
    pub admin: AdminTarget,
}

pub async fn appointments(args: AppointmentsArgs, json_out: bool) -> anyhow::Result<()> {
    let mut query = format!(
        "service={}&date={}&zone={}",
        encode_component(&args.service),
        encode_component(&args.date),
        encode_component(&args.zone)
    );
    for (k, v) in [("to", &args.to), ("status", &args.status)] {
        if let Some(v) = v {
            query.push_str(&format!("&{k}={}", encode_component(v)));
        }
    }
    if args.show_nhs_number {
        query.push_str("&show-nhs-number=true");
    }
    // Every page, following the cursor.
    let mut lines = Vec::new();
    let mut page_query = query.clone();
    loop {
        let r = args
            .admin
            .call(
                Method::GET,
                &format!("/admin/appointments?{page_query}"),
                None,
            )
            .await?;
        lines.extend(r["appointments"].as_array().cloned().unwrap_or_default());
        match r["next"].as_str() {
            Some(token) => page_query = format!("{query}&_page_after={}", encode_component(token)),
            None => break,
        }
    }
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "appointments": lines }))?
        );
        return Ok(());
    }
    if lines.is_empty() {
        println!(
            "No appointments for service {} on {}.",
            args.service, args.date
        );
        return Ok(());
    }
    println!(
        "{:<25} {:<16} {:<12} {:<8} {:<36} reason",
        "start", "status", "patient", "sender", "appointment"
    );
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    for l in &lines {
        let reason = match l["cancellationReason"].as_str() {
            Some(why) => format!("{} (cancelled: {why})", text(&l["reason"])),
            None => text(&l["reason"]),
        };
        println!(
            "{:<25} {:<16} {:<12} {:<8} {:<36} {}",
            text(&l["start"]),
            text(&l["status"]),
            text(&l["patient"]),
            text(&l["bookedBy"]),
            text(&l["id"]),
            reason
        );
    }
    Ok(())
}

/// `bars clinic`: record what happened to an appointment, or cancel it for the provider.
#[derive(Debug, clap::Subcommand)]
pub enum ClinicCommand {
    /// The patient has arrived.
    Arrived(ClinicArgs),
    /// The patient was seen.
    Fulfilled(ClinicArgs),
    /// The patient did not come.
    Noshow(ClinicArgs),
    /// The appointment (or its last status) was recorded in error.
    EnteredInError(ClinicArgs),
    /// Cancel on the provider's side; the slot is freed and the sender sees the reason.
    Cancel(ClinicArgs),
}

#[derive(Debug, clap::Args)]
pub struct ClinicArgs {
    /// The appointment id.
    pub id: String,
    /// Why (required to cancel).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who records it, for the audit log.
    #[arg(long)]
    pub staff: Option<String>,
    /// Act only if the appointment is this service's.
    #[arg(long)]
    pub service: Option<String>,
    #[command(flatten)]
    pub admin: AdminTarget,
}

pub async fn clinic(command: ClinicCommand, json_out: bool) -> anyhow::Result<()> {
    let (action, args) = match command {
        ClinicCommand::Arrived(a) => ("arrived", a),
        ClinicCommand::Fulfilled(a) => ("fulfilled", a),
        ClinicCommand::Noshow(a) => ("noshow", a),
        ClinicCommand::EnteredInError(a) => ("entered-in-error", a),
        ClinicCommand::Cancel(a) => ("cancel", a),
    };
    let body = json!({ "reason": args.reason, "staff": args.staff, "service": args.service });
    let r = args
        .admin
        .call(
            Method::POST,
            &format!(
                "/admin/appointments/{}/{action}",
                encode_component(&args.id)
            ),
            Some(&body),
        )
        .await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "Appointment {} is now {} (version {}).",
            args.id,
            r["status"].as_str().unwrap_or("?"),
            r["meta"]["versionId"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

/// `bars events`: the receiver's event feed, or with a subcommand, its subscribers and
/// their deliveries.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: Option<EventsCommand>,
    /// Events after this sequence number.
    #[arg(long, default_value_t = 0)]
    pub after: i64,
    /// One service's events only.
    #[arg(long)]
    pub service: Option<String>,
    /// Keep waiting for new events (long-poll), printing each as it comes.
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub admin: AdminTarget,
}

#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// Webhook subscribers.
    Subscribers {
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Add (or replace) a webhook subscriber for a service.
    Subscribe {
        #[arg(long)]
        service: String,
        #[arg(long)]
        url: String,
        /// The subscriber's id (default: a new one).
        #[arg(long)]
        id: Option<String>,
        /// whsec_<base64> (default: a new secret, printed once).
        #[arg(long)]
        secret: Option<String>,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Remove a subscriber and the deliveries owed to it.
    Unsubscribe {
        id: String,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Deliveries not yet made: pending, and failed ones waiting for an operator.
    Deliveries {
        #[arg(long)]
        subscriber: Option<String>,
        #[command(flatten)]
        admin: AdminTarget,
    },
    /// Put a subscriber's failed deliveries (or one of them) back in the queue.
    Retry {
        subscriber: String,
        /// Only this event's delivery.
        #[arg(long)]
        sequence: Option<i64>,
        #[command(flatten)]
        admin: AdminTarget,
    },
}

pub async fn events(args: EventsArgs, json_out: bool) -> anyhow::Result<()> {
    match args.command {
        None => feed(args, json_out).await,
        Some(command) => manage(command, json_out).await,
    }
}

async fn feed(args: EventsArgs, json_out: bool) -> anyhow::Result<()> {
    let mut after = args.after;
    loop {
        let mut query = format!("after={after}");
        if let Some(s) = &args.service {
            query.push_str(&format!("&service={}", encode_component(s)));
        }
        if args.follow {
            query.push_str("&wait=30");
        }
        let r = args
            .admin
            .call(Method::GET, &format!("/admin/events?{query}"), None)
            .await?;
        for e in r["events"].as_array().into_iter().flatten() {
            if json_out {
                println!("{e}");
            } else {
                println!("{}", describe(e));
            }
        }
        after = r["last"].as_i64().unwrap_or(after);
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One line about an event, for people.
pub fn describe(e: &Value) -> String {
    let d = &e["data"];
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    format!(
        "#{:<5} {} {:<26} {} v{} by {} ({}) start {}",
        d["sequence"],
        text(&e["timestamp"]),
        text(&e["type"]),
        text(&d["appointmentId"]),
        d["version"],
        text(&d["by"]),
        text(&d["actorOds"]),
        text(&d["appointment"]["start"]),
    )
}

async fn manage(command: EventsCommand, json_out: bool) -> anyhow::Result<()> {
    let (admin, method, path, body) = match &command {
        EventsCommand::Subscribers { admin } => {
            (admin, Method::GET, "/admin/subscribers".to_string(), None)
        }
        EventsCommand::Subscribe {
            service,
            url,
            id,
            secret,
            admin,
        } => (
            admin,
            Method::POST,
            "/admin/subscribers".to_string(),
            Some(json!({ "service": service, "url": url, "id": id, "secret": secret })),
        ),
        EventsCommand::Unsubscribe { id, admin } => (
            admin,
            Method::DELETE,
            format!("/admin/subscribers/{}", encode_component(id)),
            None,
        ),
        EventsCommand::Deliveries { subscriber, admin } => (
            admin,
            Method::GET,
            match subscriber {
                Some(s) => format!("/admin/deliveries?subscriber={}", encode_component(s)),
                None => "/admin/deliveries".to_string(),
            },
            None,
        ),
        EventsCommand::Retry {
            subscriber,
            sequence,
            admin,
        } => (
            admin,
            Method::POST,
            match sequence {
                Some(n) => format!(
                    "/admin/deliveries/{}/retry?sequence={n}",
                    encode_component(subscriber)
                ),
                None => format!("/admin/deliveries/{}/retry", encode_component(subscriber)),
            },
            None,
        ),
    };
    let body = body.map(|mut b: Value| {
        if let Some(o) = b.as_object_mut() {
            o.retain(|_, v| !v.is_null());
        }
        b
    });
    let r = admin.call(method, &path, body.as_ref()).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    match command {
        EventsCommand::Subscribers { .. } => {
            for s in r["subscribers"].as_array().into_iter().flatten() {
                println!(
                    "{:<36} service {:<12} {}",
                    s["id"].as_str().unwrap_or(""),
                    s["service"].as_str().unwrap_or(""),
                    s["url"].as_str().unwrap_or("")
                );
            }
        }
        EventsCommand::Subscribe { .. } => {
            println!(
                "Subscriber {} added. Signing secret (shown once): {}",
                r["id"].as_str().unwrap_or(""),
                r["secret"].as_str().unwrap_or("")
            );
        }
        EventsCommand::Unsubscribe { id, .. } => println!("Subscriber {id} removed."),
        EventsCommand::Deliveries { .. } => {
            println!("undelivered {}  failed {}", r["undelivered"], r["failed"]);
            for d in r["deliveries"].as_array().into_iter().flatten() {
                println!(
                    "#{:<5} {:<8} {:<20} {:<24} attempts {:<3} {}",
                    d["sequence"],
                    d["state"].as_str().unwrap_or(""),
                    d["subscriber"].as_str().unwrap_or(""),
                    d["type"].as_str().unwrap_or(""),
                    d["attempts"],
                    d["lastError"].as_str().unwrap_or("")
                );
            }
        }
        EventsCommand::Retry { subscriber, .. } => {
            println!(
                "{} failed deliveries to {subscriber} are queued again.",
                r["requeued"]
            );
        }
    }
    Ok(())
}

/// `bars slots sync`: apply the provider's scheduling system's slots, keyed by its own ids.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// The DoS service id.
    #[arg(long)]
    pub service: String,
    /// A JSON array of slots: `{"externalId", "start", "end", "schedule"?}` to create or move,
    /// `{"externalId", "withdraw": true}` to withdraw.
    #[arg(long)]
    pub file: PathBuf,
    #[command(flatten)]
    pub admin: AdminTarget,
}

pub async fn sync(args: SyncArgs, json_out: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let slots: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", args.file.display()))?;
    if !slots.is_array() {
        bail!("{} must hold a JSON array of slots", args.file.display());
    }
    let r = args
        .admin
        .call(
            Method::POST,
            "/admin/slots/sync",
            Some(&json!({ "service": args.service, "slots": slots })),
        )
        .await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    for line in r["results"].as_array().into_iter().flatten() {
        println!(
            "{:<24} {:<11} {:<36} {}",
            line["externalId"].as_str().unwrap_or(""),
            line["outcome"].as_str().unwrap_or(""),
            line["slot"].as_str().unwrap_or(""),
            line["reason"].as_str().unwrap_or("")
        );
    }
    println!("{}", r["summary"]);
    Ok(())
}
