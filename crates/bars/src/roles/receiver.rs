//! `bars receiver`: serve one or more healthcare services from one database.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::TransportRules;
use bars_receiver::access::AccessPolicy;
use bars_receiver::{HostedService, Receiver, ReceiverConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct ReceiverArgs {
    /// Address the sender-facing API listens on.
    #[arg(long, env = "BARS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the staff admin API (publishing slots, audit). Keep it private.
    #[arg(long, env = "BARS_ADMIN_LISTEN", default_value = "127.0.0.1:8081")]
    pub admin_listen: SocketAddr,
    /// Database URL: sqlite://path/to/file.db (or a bare path).
    #[arg(
        long,
        env = "BARS_DATABASE",
        default_value = "sqlite://data/receiver.db"
    )]
    pub database: String,
    /// The receiving organisation's ODS code.
    #[arg(long, env = "BARS_ODS_CODE")]
    pub ods_code: String,
    /// The receiving organisation's name.
    #[arg(long, env = "BARS_ORGANISATION_NAME")]
    pub organisation_name: Option<String>,
    /// A hosted service as ID=Name, optionally with use cases: ID=Name=a1t1,a2t1. Repeatable.
    #[arg(
        long = "service",
        env = "BARS_SERVICES",
        value_delimiter = ';',
        required = true
    )]
    pub services: Vec<String>,
    /// The public base URL senders reach this receiver at (default: http://<listen>).
    #[arg(long, env = "BARS_BASE_URL")]
    pub base_url: Option<String>,
    /// Bearer token the admin API requires.
    #[arg(long, env = "BARS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Only these sending organisations (ODS codes) may use the receiver. Repeatable.
    #[arg(
        long = "allow-organisation",
        env = "BARS_ALLOW_ORGANISATIONS",
        value_delimiter = ','
    )]
    pub allow_organisations: Vec<String>,
    /// Only this sending software may use the receiver. Repeatable.
    #[arg(
        long = "allow-software",
        env = "BARS_ALLOW_SOFTWARE",
        value_delimiter = ','
    )]
    pub allow_software: Vec<String>,
    /// Only these organisations may see practitioners' details in slot searches. Repeatable.
    #[arg(
        long = "practitioner-details-for",
        env = "BARS_PRACTITIONER_DETAILS_FOR",
        value_delimiter = ','
    )]
    pub practitioner_details_for: Vec<String>,
    /// Refuse requests without NHSD-End-User-Organisation.
    #[arg(long, env = "BARS_REQUIRE_ORGANISATION")]
    pub require_organisation: bool,
    /// Accept appointments whose times fall outside their slot.
    #[arg(long, env = "BARS_LENIENT_SLOT_TIMES")]
    pub lenient_slot_times: bool,
    #[command(flatten)]
    pub tls: crate::tls_args::TlsArgs,
}

pub fn parse_service(text: &str) -> anyhow::Result<HostedService> {
    let mut parts = text.splitn(3, '=');
    let id = parts.next().unwrap_or("").trim();
    let name = parts.next().map(str::trim).unwrap_or("");
    if id.is_empty() || name.is_empty() {
        bail!("a service is ID=Name (optionally ID=Name=usecase,usecase), not {text:?}");
    }
    let use_cases = parts
        .next()
        .map(|u| {
            u.split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(HostedService {
        id: id.to_string(),
        name: name.to_string(),
        use_cases,
    })
}

impl ReceiverArgs {
    pub fn config(&self) -> anyhow::Result<ReceiverConfig> {
        let base = self.base_url.clone().unwrap_or_else(|| {
            let scheme = if self.tls.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}", self.listen)
        });
        let mut config = ReceiverConfig::new(&self.ods_code, base);
        if let Some(name) = &self.organisation_name {
            config.organisation_name = name.clone();
        }
        for s in &self.services {
            config.services.push(parse_service(s)?);
        }
        config.access = AccessPolicy {
            organisations: self.allow_organisations.clone(),
            software: self.allow_software.clone(),
            require_organisation: self.require_organisation,
            practitioner_details_for: self.practitioner_details_for.clone(),
        };
        config.rules.appointment_within_slot = !self.lenient_slot_times;
        Ok(config)
    }
}

/// A receiver serving its two listeners.
pub struct RunningReceiver {
    pub api: RunningServer,
    pub admin: RunningServer,
    receiver: Receiver,
}

impl RunningReceiver {
    pub async fn start(
        config: ReceiverConfig,
        database: &str,
        listen: SocketAddr,
        admin_listen: SocketAddr,
        admin_token: Option<String>,
        tls: Option<crate::tls_args::Listener>,
    ) -> anyhow::Result<Self> {
        let store = bars_store::open(database)
            .with_context(|| format!("opening the database {database}"))?;
        let receiver = Receiver::new(config, store)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let (options, rules) = match &tls {
            Some(l) => (
                ServerOptions {
                    tls: Some(l.server_config.clone()),
                    ..ServerOptions::default()
                },
                TransportRules {
                    require_client_certificate: l.require_client_certificate,
                    ..TransportRules::receiver()
                },
            ),
            None => (ServerOptions::default(), TransportRules::receiver()),
        };
        let api = RunningServer::start(listen, receiver.router(rules), options)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let admin = RunningServer::start(
            admin_listen,
            receiver.admin_router(admin_token),
            ServerOptions {
                drain_timeout: Duration::from_secs(5),
                ..ServerOptions::default()
            },
        )
        .await
        .with_context(|| format!("listening on {admin_listen}"))?;
        Ok(RunningReceiver {
            api,
            admin,
            receiver,
        })
    }

    /// Stops accepting, lets in-flight requests finish, writes queued audit entries.
    pub async fn stop(self) {
        self.api.shutdown().await;
        self.admin.shutdown().await;
        self.receiver.close().await;
    }
}

pub async fn run(args: ReceiverArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let services: Vec<String> = config
        .services
        .iter()
        .map(|s| format!("{} ({})", s.id, s.name))
        .collect();
    let running = RunningReceiver::start(
        config,
        &args.database,
        args.listen,
        args.admin_listen,
        args.admin_token.clone(),
        args.tls.listener()?,
    )
    .await?;
    tracing::info!(api = %running.api.addr, admin = %running.admin.addr, database = %args.database, services = ?services, "receiver ready");
    crate::shutdown::signal().await;
    tracing::info!("stopping: draining in-flight requests");
    running.stop().await;
    tracing::info!("stopped");
    Ok(())
}
