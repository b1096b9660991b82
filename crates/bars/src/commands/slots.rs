//! `bars slots ...` and `bars schedules ...`: publishing availability.

use std::sync::Arc;

use anyhow::{Context, bail};
use bars_receiver::availability::{Availability, parse_zone, uk_time_zone};
use bars_receiver::{HostedService, ReceiverConfig};
use http::Method;
use serde_json::{Value, json};

use super::admin_client::AdminTarget;

/// `bars slots`: a sender's search for slots, or with a subcommand, staff publishing them.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SlotsArgs {
    #[command(subcommand)]
    pub staff: Option<SlotsCommand>,
    #[command(flatten)]
    pub search: super::sender::SlotSearch,
}

#[derive(Debug, clap::Subcommand)]
pub enum SlotsCommand {
    /// Publish free slots in bulk.
    Generate(GenerateArgs),
    /// Publish one free slot.
    Add(AddArgs),
    /// Apply the provider's scheduling system's slots by its own ids (create, move, withdraw).
    Sync(super::provider::SyncArgs),
    /// Take a free slot out of availability.
    Withdraw {
        /// The slot id.
        id: String,
        #[command(flatten)]
        admin: AdminTarget,
    },
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// The DoS service id.
    #[arg(long)]
    pub service: String,
    /// First day, YYYY-MM-DD (default: today).
    #[arg(long)]
    pub from: Option<String>,
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Interval between slot starts, e.g. 10m or 1h.
    #[arg(long, default_value = "10m")]
    pub every: String,
    /// Slot length (default: the interval).
    #[arg(long)]
    pub length: Option<String>,
    /// Opening hours, HH:MM-HH:MM on the zone's wall clock; 22:00-06:00 closes the next day.
    #[arg(long, default_value = "09:00-17:00")]
    pub between: String,
    /// The clock the opening hours are in: Europe/London, UTC or another IANA zone name.
    #[arg(long, default_value = "Europe/London")]
    pub zone: String,
    /// Skip Saturdays and Sundays.
    #[arg(long)]
    pub weekdays_only: bool,
    /// Schedule to publish into (default: the service's default schedule).
    #[arg(long)]
    pub schedule: Option<String>,
    /// Write straight into this database (sqlite://... or postgres://...) instead of calling
    /// the admin API (e.g. before the receiver first starts).
    #[arg(long, conflicts_with = "admin_url")]
    pub database: Option<String>,
    #[command(flatten)]
    pub admin: AdminTarget,
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The DoS service id.
    #[arg(long)]
    pub service: String,
    /// Start instant, e.g. 2030-01-07T09:00:00Z.
    #[arg(long)]
    pub start: String,
    /// End instant.
    #[arg(long)]
    pub end: String,
    #[arg(long)]
    pub schedule: Option<String>,
    #[command(flatten)]
    pub admin: AdminTarget,
}

#[derive(Debug, clap::Subcommand)]
pub enum SchedulesCommand {
    /// Create a schedule for a service, e.g. one clinician's diary.
    Create {
        #[arg(long)]
        service: String,
        /// The schedule id (default: generated).
        #[arg(long)]
        id: Option<String>,
        /// Practitioner whose diary this is (display name).
        #[arg(long)]
        practitioner: Option<String>,
        /// How appointments are delivered: In-person, Telephone or Video.
        #[arg(long)]
        delivery_channel: Option<String>,
        #[command(flatten)]
        admin: AdminTarget,
    },
}

fn plan_body(a: &GenerateArgs) -> Value {
    // Today on the clock the hours are read on (an unknown zone is refused by the receiver).
    let from = a.from.clone().unwrap_or_else(|| {
        let zone = parse_zone(&a.zone).unwrap_or_else(uk_time_zone);
        jiff::Timestamp::now().to_zoned(zone).date().to_string()
    });
    let mut body = json!({
        "service": a.service, "from": from, "days": a.days, "every": a.every, "between": a.between,
        "zone": a.zone, "weekdaysOnly": a.weekdays_only,
    });
    if let Some(l) = &a.length {
        body["length"] = json!(l);
    }
    if let Some(s) = &a.schedule {
        body["schedule"] = json!(s);
    }
    body
}

/// Publishes slots straight into a database, for services already recorded there.
async fn generate_in_database(url: &str, body: &Value) -> anyhow::Result<(usize, usize)> {
    let store = bars_store::open(url)
        .await
        .with_context(|| format!("opening {}", bars_store::postgres::redact(url)))?;
    let services = store.list_resources("HealthcareService").await?;
    let mut config = ReceiverConfig::new("local", "http://localhost");
    for s in services {
        let v: Value = serde_json::from_str(&s.body).unwrap_or(Value::Null);
        config.services.push(HostedService {
            id: s.id,
            name: v["name"].as_str().unwrap_or("").to_string(),
            use_cases: vec![],
        });
    }
    let plan =
        bars_receiver::admin::slot_plan(body).map_err(|e| anyhow::anyhow!("{}", e.diagnostics))?;
    let availability = Availability {
        store,
        config: Arc::new(config),
    };
    let created = availability
        .generate(&plan)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.diagnostics))?;
    Ok((created, plan.times().len()))
}

pub async fn run(command: SlotsCommand, json: bool) -> anyhow::Result<()> {
    match command {
        SlotsCommand::Sync(args) => super::provider::sync(args, json).await?,
        SlotsCommand::Generate(args) => {
            let body = plan_body(&args);
            let (created, planned) = match &args.database {
                Some(db) => generate_in_database(db, &body).await?,
                None => {
                    let r = args
                        .admin
                        .call(Method::POST, "/admin/slots/generate", Some(&body))
                        .await?;
                    (
                        r["created"].as_u64().unwrap_or(0) as usize,
                        r["planned"].as_u64().unwrap_or(0) as usize,
                    )
                }
            };
            if json {
                println!(
                    "{}",
                    json!({ "service": args.service, "created": created, "planned": planned })
                );
            } else {
                println!(
                    "Published {created} new slots for service {} ({} already existed).",
                    args.service,
                    planned - created
                );
            }
        }
        SlotsCommand::Add(args) => {
            let schedule = args
                .schedule
                .clone()
                .unwrap_or_else(|| bars_receiver::availability::default_schedule_id(&args.service));
            let slot = json!({
                "resourceType": "Slot",
                "schedule": { "reference": format!("Schedule/{schedule}") },
                "status": "free", "start": args.start, "end": args.end,
            });
            let r = args
                .admin
                .call(Method::POST, "/admin/slots", Some(&slot))
                .await?;
            println!(
                "Published slot {} ({} to {}).",
                r["id"].as_str().unwrap_or("?"),
                r["start"].as_str().unwrap_or("?"),
                r["end"].as_str().unwrap_or("?")
            );
        }
        SlotsCommand::Withdraw { id, admin } => {
            let r = admin
                .call(Method::POST, &format!("/admin/slots/{id}/withdraw"), None)
                .await?;
            println!(
                "Slot {} is now {}.",
                r["id"].as_str().unwrap_or(&id),
                r["status"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}

pub async fn run_schedules(command: SchedulesCommand) -> anyhow::Result<()> {
    match command {
        SchedulesCommand::Create {
            service,
            id,
            practitioner,
            delivery_channel,
            admin,
        } => {
            let mut schedule = json!({
                "resourceType": "Schedule",
                "meta": { "profile": [bars_receiver::availability::SCHEDULE_PROFILE] },
                "active": true,
                "actor": [{ "reference": format!("HealthcareService/{service}") }],
            });
            if let Some(id) = &id {
                schedule["id"] = json!(id);
            }
            if let Some(p) = &practitioner {
                if let Some(actors) = schedule["actor"].as_array_mut() {
                    actors.push(json!({ "display": p }));
                }
                schedule["comment"] = json!(format!("Diary of {p}"));
            }
            let mut template = json!({});
            if let Some(channel) = &delivery_channel {
                if !["In-person", "Telephone", "Video"].contains(&channel.as_str()) {
                    bail!("the delivery channel is In-person, Telephone or Video");
                }
                template["extension"] = json!([{ "url": bars_receiver::availability::DELIVERY_CHANNEL_EXTENSION, "valueCode": channel }]);
            }
            let r = admin
                .call(
                    Method::POST,
                    "/admin/schedules",
                    Some(&json!({ "schedule": schedule, "slotTemplate": template })),
                )
                .await?;
            println!(
                "Created schedule {} for service {service}.",
                r["id"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(())
}
