//! `bars workbench`: the web workbench, acting as the sender the other sender commands use (the
//! same flags, environment variables or stack manifest).

use std::net::SocketAddr;

use anyhow::Context;

use bars_workbench::{AccessSecret, ClinicAccess, RunningWorkbench, Sender};

use super::sender::Connection;

#[derive(Debug, Clone, clap::Args)]
pub struct WorkbenchArgs {
    /// Where to serve it. Loopback by default; any other address needs --access-secret.
    #[arg(long, env = "BARS_WORKBENCH_LISTEN", default_value = "127.0.0.1:8088")]
    pub listen: SocketAddr,
    /// A secret every request must carry (as the HTTP Basic password, any user name); required
    /// to listen on a non-loopback address.
    #[arg(long, env = "BARS_WORKBENCH_SECRET", hide_env_values = true)]
    pub access_secret: Option<String>,
    /// A receiver's admin API for the clinic pages, as ODS=URL (repeatable); adds to, or
    /// replaces, the stack manifest's `receivers[].adminUrl`.
    #[arg(long, value_name = "ODS=URL")]
    pub receiver_admin: Vec<String>,
    /// The bearer token of a receiver's admin API, as ODS=TOKEN (repeatable).
    #[arg(long, value_name = "ODS=TOKEN", hide_env_values = true)]
    pub receiver_admin_token: Vec<String>,
}

/// Where the clinic pages read from: the manifest's receivers, then the flags.
pub fn clinic(args: &WorkbenchArgs, connection: &Connection) -> anyhow::Result<ClinicAccess> {
    let manifest = std::fs::read_to_string(&connection.stack)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    let mut access = ClinicAccess::from_manifest(&manifest);
    for flag in &args.receiver_admin {
        access.admin_url(flag)?;
    }
    for flag in &args.receiver_admin_token {
        access.admin_token(flag)?;
    }
    Ok(access)
}

/// Turns the CLI's resolved sender into the workbench's.
pub fn sender(connection: &Connection) -> anyhow::Result<Sender> {
    let p = connection.sender()?;
    Ok(Sender {
        http: p.http,
        proxy_url: p.proxy_url,
        credentials: p.credentials,
        identity: p.identity,
    })
}

pub async fn run(args: WorkbenchArgs, connection: &Connection) -> anyhow::Result<()> {
    let stop = crate::shutdown::listen();
    let secret = args
        .access_secret
        .as_deref()
        .map(AccessSecret::new)
        .transpose()?;
    // Refused before anything else is read: the address alone decides it.
    bars_workbench::access::check_bind(args.listen, secret.as_ref())?;
    let clinic = clinic(&args, connection)?;
    if clinic.is_empty() {
        println!(
            "No receiver's admin API is known, so the clinic pages say what to configure (--receiver-admin ODS=URL)."
        );
    }
    let running = RunningWorkbench::start(args.listen, secret, sender(connection)?, clinic)
        .await
        .context("starting the workbench (a running `bars demo` already serves one on 127.0.0.1:8088; choose another address with --listen)")?;
    println!("BaRS workbench on {} (press Ctrl-C to stop)", running.url);
    stop.await;
    running.stop().await;
    Ok(())
}
