//! `bars pki init`: everything TLS and token signing need for a local stack, with no extra tools.

use std::path::PathBuf;

use anyhow::Context;
use bars_pki::{Algorithm, Ca, SigningKey};

use bars_pki::DEV_CA_NAME as CA_NAME;

#[derive(Debug, clap::Args)]
pub struct PkiInitArgs {
    /// Directory to write into.
    #[arg(long, default_value = "pki")]
    pub dir: PathBuf,
    /// Server certificates to issue, as name=dns-or-ip,dns-or-ip (e.g. receiver=localhost,127.0.0.1).
    #[arg(long = "server", default_values_t = ["receiver=localhost,127.0.0.1".to_string(), "registry=localhost,127.0.0.1".to_string(), "proxy=localhost,127.0.0.1".to_string()])]
    pub servers: Vec<String>,
    /// Client certificates to issue (the proxy's, for mutual TLS to receivers).
    #[arg(long = "client", default_values_t = ["proxy-client".to_string()])]
    pub clients: Vec<String>,
    /// Sender applications to make signing keys for, as name[:RS512|ES256].
    #[arg(long = "sender", default_values_t = ["demo-sender:RS512".to_string()])]
    pub senders: Vec<String>,
}

pub fn run(args: PkiInitArgs) -> anyhow::Result<()> {
    let dir = &args.dir;
    let ca = match bars_pki::Identity::read(dir, "ca") {
        Ok(existing) => Ca::load(existing, CA_NAME).map_err(|e| anyhow::anyhow!("{e}"))?,
        Err(_) => {
            let ca = Ca::generate(CA_NAME).map_err(|e| anyhow::anyhow!("{e}"))?;
            ca.identity()
                .write(dir, "ca")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            ca
        }
    };
    for spec in &args.servers {
        let (name, hosts) = spec.split_once('=').context("a server is name=host,host")?;
        let hosts: Vec<&str> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        ca.issue_server(name, &hosts)
            .and_then(|id| id.write(dir, name))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "server certificate  {}",
            dir.join(format!("{name}.pem")).display()
        );
    }
    for name in &args.clients {
        ca.issue_client(name)
            .and_then(|id| id.write(dir, name))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "client certificate  {}",
            dir.join(format!("{name}.pem")).display()
        );
    }
    for spec in &args.senders {
        let (name, alg) = spec.split_once(':').unwrap_or((spec, "RS512"));
        let algorithm = Algorithm::parse(alg).context("a sender key is RS512 or ES256")?;
        SigningKey::generate(algorithm, &format!("{name}-1"))
            .and_then(|k| k.write(dir, name))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "sender signing key  {} (public: {})",
            dir.join(format!("{name}.key.pem")).display(),
            dir.join(format!("{name}.jwk.json")).display()
        );
    }
    println!("CA certificate      {}", dir.join("ca.pem").display());
    Ok(())
}
