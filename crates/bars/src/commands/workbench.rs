//! `bars workbench`: the web workbench, acting as the sender the other sender commands use (the
//! same flags, environment variables or stack manifest).

use std::net::SocketAddr;

use anyhow::Context;

use bars_workbench::{AccessSecret, RunningWorkbench, Sender};

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
    let running = RunningWorkbench::start(args.listen, secret, sender(connection)?)
        .await
        .context("starting the workbench (a running `bars demo` already serves one on 127.0.0.1:8088; choose another address with --listen)")?;
    println!("BaRS workbench on {} (press Ctrl-C to stop)", running.url);
    stop.await;
    running.stop().await;
    Ok(())
}
