//! `bars receiver`: serve one or more healthcare services from one database.

use std::net::SocketAddr;
use std::time::Duration;

use std::path::PathBuf;

use anyhow::{Context, bail};
use bars_client::{Credentials, TokenSource};
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::TransportRules;
use bars_receiver::access::AccessPolicy;
use bars_receiver::pointers::{RegistryTarget, UrlForm};
use bars_receiver::{HostedService, Receiver, ReceiverConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct ReceiverArgs {
    /// Address the sender-facing API listens on.
    #[arg(long, env = "BARS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the staff admin API (publishing slots, audit). Keep it private.
    #[arg(long, env = "BARS_ADMIN_LISTEN", default_value = "127.0.0.1:8081")]
    pub admin_listen: SocketAddr,
    /// Database URL: sqlite://path/to/file.db (or a bare path), or
    /// postgres://user@host:5432/db with optional pool_size, pool_timeout, statement_timeout
    /// (see docs/DEPLOYMENT.md). Several receivers may share one PostgreSQL database.
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
    #[command(flatten)]
    pub pointers: PointerArgs,
}

/// Where and how the receiver keeps its Registry pointers.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PointerArgs {
    /// Base URL pointers are written to: normally the proxy's (it forwards /DocumentReference).
    /// Without it, pointer jobs wait in the outbox.
    #[arg(long, env = "BARS_POINTER_URL")]
    pub pointer_url: Option<String>,
    /// CA (PEM) to trust for that URL.
    #[arg(long, env = "BARS_POINTER_CA")]
    pub pointer_ca: Option<PathBuf>,
    /// The receiver's client id at the proxy.
    #[arg(long, env = "BARS_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The private key (PKCS#8 PEM) the receiver signs its client assertions with.
    #[arg(long, env = "BARS_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// The key's id, as registered at the proxy.
    #[arg(long, env = "BARS_SIGNING_KEY_ID")]
    pub signing_key_id: Option<String>,
    #[arg(long, env = "BARS_SIGNING_ALG", default_value = "RS512")]
    pub signing_alg: String,
    /// The proxy's token endpoint (default: <pointer-url>/oauth2/token).
    #[arg(long, env = "BARS_TOKEN_URL")]
    pub token_url: Option<String>,
    /// How pointers say where the appointment is: direct (its URL) or target (the service's
    /// target identifier).
    #[arg(long, env = "BARS_POINTER_URL_FORM", default_value = "direct")]
    pub pointer_url_form: String,
    /// Product id to put on pointers (agreed at onboarding).
    #[arg(long, env = "BARS_PRODUCT_ID")]
    pub product_id: Option<String>,
    /// The pointer type agreed at onboarding, as system|code|display.
    #[arg(
        long,
        env = "BARS_POINTER_TYPE",
        default_value = "http://snomed.info/sct|749001000000101|Appointment (record artifact)"
    )]
    pub pointer_type: String,
    /// The pointer category agreed at onboarding, as system|code|display.
    #[arg(
        long,
        env = "BARS_POINTER_CATEGORY",
        default_value = "http://snomed.info/sct|419891008|Record artifact"
    )]
    pub pointer_category: String,
    /// The longest wait, in seconds, between attempts to deliver one pointer job.
    #[arg(long, env = "BARS_POINTER_MAX_BACKOFF", default_value_t = 300)]
    pub pointer_max_backoff: u64,
}

/// Parses `system|code|display`.
fn code_of(text: &str, flag: &str) -> anyhow::Result<bars_receiver::pointers::content::Code> {
    let mut parts = text.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(system), Some(code), display) if !system.is_empty() && !code.is_empty() => Ok(
            bars_receiver::pointers::content::Code::new(system, code, display.unwrap_or(code)),
        ),
        _ => bail!("{flag} is system|code|display"),
    }
}

impl PointerArgs {
    pub fn target(&self) -> anyhow::Result<Option<RegistryTarget>> {
        let Some(url) = &self.pointer_url else {
            return Ok(None);
        };
        let mut target = RegistryTarget::new(url.trim_end_matches('/'));
        target.settings.url_form = match self.pointer_url_form.as_str() {
            "direct" => UrlForm::Direct,
            "target" | "target-identifier" => UrlForm::TargetIdentifier,
            other => bail!("--pointer-url-form is direct or target, not {other}"),
        };
        target.settings.product_id = self.product_id.clone();
        target.settings.type_code = code_of(&self.pointer_type, "--pointer-type")?;
        target.settings.category = code_of(&self.pointer_category, "--pointer-category")?;
        target.backoff.max = std::time::Duration::from_secs(self.pointer_max_backoff.max(1));
        let trust = self
            .pointer_ca
            .as_ref()
            .map(std::fs::read_to_string)
            .transpose()
            .context("reading --pointer-ca")?;
        if let Some(ca) = &trust {
            target.tls =
                Some(bars_pki::tls::client_config(ca, None).map_err(|e| anyhow::anyhow!("{e}"))?);
        }
        match (&self.client_id, &self.signing_key, &self.signing_key_id) {
            (Some(client_id), Some(key), Some(kid)) => {
                let credentials = Credentials {
                    client_id: client_id.clone(),
                    kid: kid.clone(),
                    algorithm: self.signing_alg.clone(),
                    private_pem: std::fs::read_to_string(key)
                        .with_context(|| format!("reading {}", key.display()))?,
                    token_url: self
                        .token_url
                        .clone()
                        .unwrap_or_else(|| format!("{}/oauth2/token", url.trim_end_matches('/'))),
                };
                target.auth = Some(TokenSource::new(credentials, target.client()));
            }
            (None, None, None) => {}
            _ => bail!("--client-id, --signing-key and --signing-key-id go together"),
        }
        Ok(Some(target))
    }
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
        pointers: Option<RegistryTarget>,
    ) -> anyhow::Result<Self> {
        let store = bars_store::open(database).await.with_context(|| {
            format!(
                "opening the database {}",
                bars_store::postgres::redact(database)
            )
        })?;
        let mut receiver = Receiver::new(config, store)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(target) = pointers {
            receiver
                .start_pointer_worker(target)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
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
        args.pointers.target()?,
    )
    .await?;
    tracing::info!(api = %running.api.addr, admin = %running.admin.addr, database = %bars_store::postgres::redact(&args.database), services = ?services, "receiver ready");
    crate::shutdown::signal().await;
    tracing::info!("stopping: draining in-flight requests");
    running.stop().await;
    tracing::info!("stopped");
    Ok(())
}
