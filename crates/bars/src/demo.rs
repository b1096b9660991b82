//! `bars demo`: the whole local stack with one command, seeded with services and slots.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use bars_receiver::ReceiverConfig;
use bars_receiver::availability::{SlotPlan, Zone};
use serde_json::json;

use crate::roles::receiver::{RunningReceiver, parse_service};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its databases, keys and manifest; reused on the next run.
    #[arg(long, env = "BARS_DEMO_DIR", default_value = "bars-demo")]
    pub data_dir: PathBuf,
    /// The first port the demo uses; it takes a few consecutive ones.
    #[arg(long, env = "BARS_DEMO_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Days of slots to publish from today.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
}

/// A demo receiver: its organisation and services.
struct DemoReceiver {
    ods: &'static str,
    name: &'static str,
    services: [&'static str; 2],
}

const RECEIVERS: [DemoReceiver; 1] = [DemoReceiver {
    ods: "RXR01",
    name: "Riverside Community Health NHS Trust",
    services: [
        "2000011111=Riverside Urgent Treatment Centre",
        "2000011112=Riverside Minor Injuries Unit",
    ],
}];

pub const DEMO_PATIENTS: [&str; 3] = ["9434765919", "4409815415", "9000000009"];

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let mut running = Vec::new();
    let mut manifest_receivers = Vec::new();
    for (i, r) in RECEIVERS.iter().enumerate() {
        let port = args.port + 2 * i as u16;
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        let admin = SocketAddr::from(([127, 0, 0, 1], port + 1));
        let mut config = ReceiverConfig::new(r.ods, format!("http://{listen}"));
        config.organisation_name = r.name.to_string();
        for s in r.services {
            config.services.push(parse_service(s)?);
        }
        let db = args
            .data_dir
            .join(format!("receiver-{}.db", r.ods.to_ascii_lowercase()));
        let url = format!("sqlite://{}", db.display());
        let services = config.services.clone();
        let receiver =
            RunningReceiver::start(config.clone(), &url, listen, admin, None, None, None).await?;
        // Publish 14 days of slots; slot ids are deterministic, so a re-run adds only new days.
        let store = bars_store::open(&url)?;
        let availability = bars_receiver::availability::Availability {
            store,
            config: std::sync::Arc::new(config),
        };
        let today = time::OffsetDateTime::now_utc().date();
        for s in &services {
            let plan = SlotPlan {
                service_id: s.id.clone(),
                schedule_id: None,
                from: today,
                days: args.days,
                every_minutes: 15,
                length_minutes: None,
                day_start: time::macros::time!(09:00),
                day_end: time::macros::time!(17:00),
                weekdays_only: false,
                zone: Zone::EuropeLondon,
            };
            availability
                .generate(&plan)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.diagnostics))?;
        }
        manifest_receivers.push(json!({
            "ods": r.ods, "name": r.name, "baseUrl": format!("http://{listen}"), "adminUrl": format!("http://{admin}"),
            "database": db.display().to_string(),
            "services": services.iter().map(|s| json!({ "system": bars_fhir::headers::DOS_SERVICE_SYSTEM, "value": s.id, "name": s.name })).collect::<Vec<_>>(),
        }));
        running.push(receiver);
    }
    let manifest = json!({ "receivers": manifest_receivers, "patients": DEMO_PATIENTS });
    std::fs::write(
        args.data_dir.join("stack.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    print_walkthrough(&manifest);
    crate::shutdown::signal().await;
    println!("\nStopping...");
    for r in running {
        r.stop().await;
    }
    Ok(())
}

fn print_walkthrough(manifest: &serde_json::Value) {
    let rx = &manifest["receivers"][0];
    let base = rx["baseUrl"].as_str().unwrap_or("");
    let service = rx["services"][0]["value"].as_str().unwrap_or("");
    println!("BaRS demo stack is running. Press Ctrl-C to stop.\n");
    for r in manifest["receivers"].as_array().into_iter().flatten() {
        println!(
            "Receiver {} ({}): {}   admin: {}",
            r["name"].as_str().unwrap_or(""),
            r["ods"].as_str().unwrap_or(""),
            r["baseUrl"].as_str().unwrap_or(""),
            r["adminUrl"].as_str().unwrap_or("")
        );
        for s in r["services"].as_array().into_iter().flatten() {
            println!(
                "  service {}  {}",
                s["value"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or("")
            );
        }
    }
    let h = "-H \"X-Request-ID: $(uuidgen)\" -H \"X-Correlation-ID: $(uuidgen)\" -H 'Accept: application/fhir+json; version=1.1.0'";
    println!("\nTry it:");
    println!("  curl -s {h} {base}/metadata");
    println!(
        "  curl -s {h} '{base}/Slot?Schedule.actor:HealthcareService={service}&status=free&start=ge$(date -u +%Y-%m-%dT00:00:00Z)&start=le$(date -u -d tomorrow +%Y-%m-%dT23:59:59Z)&_include=Slot:schedule&_include=Schedule:actor:HealthcareService'"
    );
}
