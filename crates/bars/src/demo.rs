//! `bars demo`: the whole Appointment Management Foundation on one machine with one command —
//! a proxy, a registry and two receivers with two services each, 14 days of slots, real TLS
//! and tokens, and a registered demo sender — all on loopback, on SQLite files that are reused.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bars_receiver::availability::{SlotPlan, uk_time_zone};
use bars_receiver::pointers::worker::Backoff;
use bars_stack::{LocalStack, ReceiverSpec, SenderSpec, StackSpec};
use serde_json::Value;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its databases, keys and `stack.json`; reused on the next run.
    #[arg(long, env = "BARS_DEMO_DIR", default_value = "bars-demo")]
    pub data_dir: PathBuf,
    /// The first of the nine consecutive ports the demo uses (proxy, proxy admin, registry,
    /// registry admin, API and admin of each receiver, then the web workbench).
    #[arg(long, env = "BARS_DEMO_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Days of slots to publish from today.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
}

/// Patients the demo's walkthrough books for (valid NHS numbers, not real people).
pub const DEMO_PATIENTS: [&str; 3] = ["9434765919", "4409815415", "9000000009"];

fn receivers() -> Vec<ReceiverSpec> {
    let spec = |ods: &str, name: &str, services: [(&str, &str); 2]| ReceiverSpec {
        ods: ods.into(),
        name: name.into(),
        services: services
            .iter()
            .map(|(id, n)| (id.to_string(), n.to_string()))
            .collect(),
    };
    vec![
        spec(
            "RXR01",
            "Riverside Community Health NHS Trust",
            [
                ("2000011111", "Riverside Urgent Treatment Centre"),
                ("2000011112", "Riverside Minor Injuries Unit"),
            ],
        ),
        spec(
            "RXN02",
            "Northgate Hospitals NHS Foundation Trust",
            [
                ("2000022221", "Northgate Same Day Emergency Care"),
                ("2000022222", "Northgate Physiotherapy Clinic"),
            ],
        ),
    ]
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // Ctrl-C while the stack is still starting (publishing slots) stops it cleanly once it is up.
    let stop = crate::shutdown::listen();
    let spec = StackSpec {
        dir: args.data_dir.clone(),
        base_port: Some(args.port),
        receivers: receivers(),
        sender: SenderSpec {
            client_id: "demo-sender".into(),
            ods: "A1001".into(),
            name: "Hillside Medical Practice".into(),
        },
        pointer_backoff: Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        },
        receiver_timeout: Duration::from_secs(32),
        receiver_database: None,
    };
    let stack = LocalStack::start(spec).await?;
    let today = crate::commands::uk_time::today();
    let days = args.days.clamp(1, 90);
    let created = stack
        .publish(|service| SlotPlan {
            service_id: service.to_string(),
            schedule_id: None,
            from: today,
            days,
            every_minutes: 15,
            length_minutes: None,
            day_start: jiff::civil::time(9, 0, 0, 0),
            day_end: jiff::civil::time(17, 0, 0, 0),
            weekdays_only: false,
            zone: uk_time_zone(),
        })
        .await?;
    let mut event_logs = Vec::new();
    for receiver in &stack.receivers {
        event_logs.push(crate::demo_events::EventLog::start(&args.data_dir, receiver).await?);
    }
    let mut manifest = stack.manifest(&DEMO_PATIENTS);
    let clinic = bars_workbench::ClinicAccess::from_manifest(&manifest);
    let workbench = start_workbench(&stack, args.port, clinic).await?;
    manifest["workbench"] = serde_json::json!({ "url": workbench.url });
    let manifest_path = args.data_dir.join("stack.json");
    std::fs::write(&manifest_path, serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    print_walkthrough(&manifest, &manifest_path, created);
    print_clinic_side(&manifest, &event_logs);
    stop.await;
    println!("\nStopping: finishing requests in flight...");
    for log in event_logs {
        log.stop().await;
    }
    workbench.stop().await;
    stack.stop().await;
    println!(
        "Stopped. The data stays in {}; run `bars demo` again to carry on.",
        args.data_dir.display()
    );
    Ok(())
}

/// The web workbench on the port after the stack's, acting as the demo sender (loopback only),
/// with the receivers' admin APIs for its clinic pages.
async fn start_workbench(
    stack: &LocalStack,
    port: u16,
    clinic: bars_workbench::ClinicAccess,
) -> anyhow::Result<bars_workbench::RunningWorkbench> {
    let sender = bars_workbench::Sender {
        http: stack.http(Duration::from_secs(40))?,
        proxy_url: stack.proxy_url.clone(),
        credentials: stack.sender.credentials()?,
        identity: stack.sender.identity(),
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port.saturating_add(8)));
    bars_workbench::RunningWorkbench::start(addr, None, sender, clinic)
        .await
        .with_context(|| {
            format!("starting the workbench on {addr} (choose other ports with --port)")
        })
}

fn print_walkthrough(m: &Value, manifest: &std::path::Path, created: usize) {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    println!("BaRS demo stack is running (press Ctrl-C to stop). Published {created} new slots.\n");
    println!(
        "  proxy      {}   (admin {})",
        s(&m["proxy"]["url"]),
        s(&m["proxy"]["adminUrl"])
    );
    println!(
        "  registry   {}   (admin {})",
        s(&m["registry"]["url"]),
        s(&m["registry"]["adminUrl"])
    );
    for r in m["receivers"].as_array().into_iter().flatten() {
        println!(
            "  receiver   {}   {} ({}), admin {}",
            s(&r["url"]),
            s(&r["name"]),
            s(&r["ods"]),
            s(&r["adminUrl"])
        );
        for svc in r["services"].as_array().into_iter().flatten() {
            println!(
                "               service {}  {}",
                s(&svc["value"]),
                s(&svc["name"])
            );
        }
    }
    println!(
        "  sender     {} ({}) — {}",
        s(&m["sender"]["clientId"]),
        s(&m["sender"]["organisationName"]),
        manifest.display()
    );
    println!("  operators  every admin URL serves /metrics (Prometheus), /_ping and /_status");
    println!(
        "\n  workbench  {}   open it in a browser: book as {} and see every exchange",
        s(&m["workbench"]["url"]),
        s(&m["sender"]["organisationName"])
    );
    println!(
        "             {}/clinic   the clinic's side: the day list, the events and staff actions",
        s(&m["workbench"]["url"])
    );
    let service = s(&m["receivers"][0]["services"][0]["value"]);
    let patient = s(&m["patients"][0]);
    let today = crate::commands::uk_time::today();
    let tomorrow = today.tomorrow().unwrap_or(today).to_string();
    println!(
        "\nIn another terminal, from this directory (commands read {}):\n",
        manifest.display()
    );
    println!("  bars services                                              # where can I book?");
    println!("  bars capabilities --service {service}");
    println!("  bars slots --service {service} --date {tomorrow}             # pick a SLOT id");
    println!(
        "  bars book --service {service} --slot SLOT --patient {patient} --reason \"Sprained ankle\""
    );
    println!(
        "  bars list --patient {patient}                              # the Registry: APPOINTMENT ids"
    );
    println!("  bars view --service {service} --appointment APPOINTMENT");
    println!(
        "  bars update --service {service} --appointment APPOINTMENT --reason-code 165332000   # 1.5.0 changes status and reason only"
    );
    println!("  bars reschedule --service {service} --appointment APPOINTMENT --slot OTHER_SLOT");
    println!("  bars cancel --service {service} --appointment APPOINTMENT");
    println!("  bars rebook --service {service} --appointment APPOINTMENT --slot OTHER_SLOT");
    println!("\nAdd --json to any of them for machine-readable output.");
}

/// How to watch the clinic's side: the event logs the demo's subscribers write, the feed,
/// the day list and the staff actions.
fn print_clinic_side(m: &Value, logs: &[crate::demo_events::EventLog]) {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let admin = s(&m["receivers"][0]["adminUrl"]);
    let service = s(&m["receivers"][0]["services"][0]["value"]);
    let today = crate::commands::uk_time::today();
    let tomorrow = today.tomorrow().unwrap_or(today).to_string();
    println!(
        "\nThe clinic's side: each receiver's events go to a small subscriber that logs them.\n"
    );
    for log in logs {
        println!("  tail -f {}", log.log.display());
    }
    println!(
        "  bars events --follow --admin-url {admin}                 # the same events, as a feed"
    );
    println!("  bars appointments --service {service} --date {tomorrow} --admin-url {admin}");
    println!(
        "  bars clinic arrived APPOINTMENT --admin-url {admin}      # also fulfilled, noshow, cancel --reason"
    );
    println!(
        "  bars events deliveries --admin-url {admin}               # anything not yet delivered"
    );
}
