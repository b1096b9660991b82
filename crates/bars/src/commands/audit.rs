//! `bars audit`: who read or changed a booking, from the receiver's append-only audit log.

use http::Method;
use serde_json::Value;

use super::admin_client::AdminTarget;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Entries about this appointment id.
    #[arg(long)]
    pub appointment: Option<String>,
    /// Entries about this patient (NHS number).
    #[arg(long)]
    pub patient: Option<String>,
    /// Entries of this X-Request-ID.
    #[arg(long)]
    pub request: Option<String>,
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
    #[command(flatten)]
    pub admin: AdminTarget,
}

pub async fn run(args: AuditArgs, json: bool) -> anyhow::Result<()> {
    let mut query = vec![format!("limit={}", args.limit)];
    for (k, v) in [
        ("appointment", &args.appointment),
        ("patient", &args.patient),
        ("request", &args.request),
    ] {
        if let Some(v) = v {
            query.push(format!("{k}={}", bars_fhir::search::encode_component(v)));
        }
    }
    let r = args
        .admin
        .call(
            Method::GET,
            &format!("/admin/audit?{}", query.join("&")),
            None,
        )
        .await?;
    let entries = r["entries"].as_array().cloned().unwrap_or_default();
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(());
    }
    println!(
        "{:<32}  {:<10} {:>6}  {:<36}  {:>3}  {:<8}  REQUEST-ID",
        "TIME", "ACTION", "STATUS", "RESOURCE", "VER", "SENDER"
    );
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    for e in &entries {
        println!(
            "{:<32}  {:<10} {:>6}  {:<36}  {:>3}  {:<8}  {}",
            text(&e["at"]),
            text(&e["action"]),
            e["outcome"],
            text(&e["resourceId"]),
            e["version"]
                .as_u64()
                .map_or("-".to_string(), |v| v.to_string()),
            text(&e["senderOds"]),
            text(&e["requestId"])
        );
    }
    println!("{} entries", entries.len());
    Ok(())
}
