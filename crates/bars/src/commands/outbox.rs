//! `bars outbox`: the Registry pointer jobs a receiver has not yet delivered.

use http::Method;

use super::admin_client::AdminTarget;

#[derive(Debug, clap::Args)]
pub struct OutboxArgs {
    /// Put this failed job back in the queue.
    #[arg(long)]
    pub retry: Option<i64>,
    #[command(flatten)]
    pub admin: AdminTarget,
}

pub async fn run(args: OutboxArgs, json: bool) -> anyhow::Result<()> {
    if let Some(seq) = args.retry {
        args.admin
            .call(Method::POST, &format!("/admin/outbox/{seq}/retry"), None)
            .await?;
        println!("Pointer job {seq} is queued again.");
        return Ok(());
    }
    let r = args.admin.call(Method::GET, "/admin/outbox", None).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let oldest = r["oldestUndeliveredSeconds"]
        .as_i64()
        .map_or("-".to_string(), |s| format!("{s}s"));
    println!(
        "pending {}  failed {}  oldest undelivered {oldest}",
        r["pending"], r["failed"]
    );
    for j in r["jobs"].as_array().into_iter().flatten() {
        println!(
            "{:>6}  {:<7} {:<6} {:<36} v{:<3} attempts {:<3} {}",
            j["seq"],
            j["state"].as_str().unwrap_or(""),
            j["action"].as_str().unwrap_or(""),
            j["appointment"].as_str().unwrap_or(""),
            j["version"],
            j["attempts"],
            j["lastError"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
