//! The whole BaRS stack in one process, over real sockets and real TLS: a registry and
//! receivers that accept only the proxy's client certificate, a proxy that authenticates
//! senders with signed JWTs, receivers that keep their pointers through the proxy with their own
//! credentials, and a development PKI kept in a data directory (reused when it is there).
//!
//! Each role is started by [`roles`], the start-up `bars receiver|proxy|registry` runs: the stack
//! only builds each role's settings (the development PKI's certificates, loopback addresses, a
//! database file per role in the data directory) and hands them over.
//!
//! `bars demo` runs it on fixed ports; the cross-role tests run it on random ones.

mod pki;
pub mod roles;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bars_client::{Credentials, SenderIdentity, TokenSource};
use bars_fhir::headers::DOS_SERVICE_SYSTEM;
use bars_http::client::HttpClient;
use bars_http::server::ServerOptions;
use bars_pki::SigningKey;
use bars_pki::tls::{ClientAuth, client_config, server_config};
use bars_proxy::auth::{Application, BARS_PRODUCT, ProxySigningKey, TOKEN_PATH};
use bars_proxy::{Endpoint, Proxy, ProxyConfig, Seed};
use bars_receiver::ReceiverConfig;
use bars_receiver::availability::SlotPlan;
use bars_receiver::pointers::RegistryTarget;
use bars_receiver::pointers::worker::Backoff;
use bars_registry::RegistryConfig;
use bars_store::Store;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use bars_receiver::availability::SlotPlan as StackSlotPlan;
pub use bars_receiver::pointers::worker::Backoff as PointerBackoff;
pub use pki::DevPki;
use pki::pki_error;

use roles::proxy::{ProxySettings, RunningProxy};
use roles::receiver::{ReceiverSettings, RunningReceiver};
use roles::registry::{RegistrySettings, RunningRegistry};
use roles::{Listeners, ServerTls};

/// How often the stack's proxy reads its database for changes: it is the only proxy on it, so
/// this only paces the purge of used client assertions.
const PROXY_REFRESH: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct ReceiverSpec {
    pub ods: String,
    pub name: String,
    /// (DoS service id, name)
    pub services: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct SenderSpec {
    pub client_id: String,
    pub ods: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct StackSpec {
    /// Where the PKI and the databases live.
    pub dir: PathBuf,
    /// The first of the consecutive ports to use; `None` for free random ports.
    pub base_port: Option<u16>,
    pub receivers: Vec<ReceiverSpec>,
    pub sender: SenderSpec,
    pub pointer_backoff: Backoff,
    pub receiver_timeout: Duration,
    /// The receivers' database (a `postgres://` URL, shared by every receiver); `None` for a
    /// SQLite file per receiver in `dir`.
    pub receiver_database: Option<String>,
}

pub struct StackReceiver {
    pub ods: String,
    /// The application the receiver is registered as at the proxy (it writes pointers with it).
    pub client_id: String,
    pub name: String,
    pub url: String,
    pub admin_url: String,
    pub services: Vec<(String, String)>,
    pub store: Arc<dyn Store>,
    pub db: PathBuf,
    running: Option<RunningReceiver>,
}

/// The demo sender's credentials, as a sender's configuration would hold them.
#[derive(Debug, Clone)]
pub struct SenderCredentials {
    pub client_id: String,
    pub key_id: String,
    pub algorithm: String,
    pub private_key_path: PathBuf,
    pub private_pem: String,
    pub token_url: String,
    pub ods: String,
    pub name: String,
}

impl SenderCredentials {
    /// The credentials a sender's SDK signs its client assertions with.
    pub fn credentials(&self) -> anyhow::Result<Credentials> {
        Credentials::from_key(
            &self.client_id,
            &self.key_id,
            self.private_pem.clone(),
            &self.token_url,
            Some(&self.algorithm),
        )
        .map_err(|e| anyhow::anyhow!("the demo sender's key: {e}"))
    }

    /// The access-control headers' organisation: the registered sender's.
    pub fn identity(&self) -> SenderIdentity {
        SenderIdentity::new(&self.ods, &self.name)
    }
}

pub struct LocalStack {
    pub proxy_url: String,
    pub proxy_admin_url: String,
    pub registry_url: String,
    /// The registry's operators' listener (metrics, health).
    pub registry_admin_url: String,
    pub registry_addr: SocketAddr,
    pub receivers: Vec<StackReceiver>,
    pub sender: SenderCredentials,
    pub pki: DevPki,
    pub proxy: Arc<Proxy>,
    running_proxy: Option<RunningProxy>,
    registry: Option<RunningRegistry>,
    registry_admin_addr: SocketAddr,
    registry_db: PathBuf,
}

async fn listener(spec: &StackSpec, offset: u16) -> anyhow::Result<TcpListener> {
    let port = spec.base_port.map_or(0, |p| p + offset);
    TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("port {port} is in use (choose another with --port)"))
}

/// A file in the data directory as a database URL.
fn sqlite_url(path: &Path) -> anyhow::Result<String> {
    let path = path
        .to_str()
        .with_context(|| format!("{} is not a UTF-8 path", path.display()))?;
    Ok(format!("sqlite://{path}"))
}

/// Listeners as the stack's roles have them: the API over TLS with the development
/// certificate, the admin listener plain and without a token (everything is on loopback).
fn stack_listeners(
    api: TcpListener,
    admin: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    require_client_certificate: bool,
) -> Listeners {
    Listeners {
        api,
        admin,
        tls: Some(ServerTls {
            config: tls,
            require_client_certificate,
        }),
        admin_tls: None,
        admin_token: None,
        options: ServerOptions::default(),
    }
}

/// The registry as the stack runs it: mutual TLS with the proxy, its database in the data
/// directory.
fn registry_settings(
    api: TcpListener,
    admin: TcpListener,
    db: &Path,
    pki: &DevPki,
) -> anyhow::Result<RegistrySettings> {
    let base = format!("https://{}", api.local_addr()?);
    let mtls =
        server_config(&pki.servers, Some(&pki.ca_pem), ClientAuth::Optional).map_err(pki_error)?;
    Ok(RegistrySettings {
        config: RegistryConfig::new(base),
        database: sqlite_url(db)?,
        trust_plain_proxy: false,
        listeners: stack_listeners(api, admin, mtls, true),
    })
}

fn application(client_id: &str, name: &str, ods: &str, key: &SigningKey) -> Application {
    Application {
        client_id: client_id.into(),
        name: name.into(),
        ods_code: ods.into(),
        keys: vec![key.public_jwk.clone()],
        products: vec![BARS_PRODUCT.into()],
        rate_limit_per_minute: None,
    }
}

/// Wraps a role's API router before it is served: a layer in front of the role.
pub type RouterWrap = Arc<dyn Fn(axum::Router) -> axum::Router + Send + Sync>;

/// Layers put in front of the stack's roles, their code unchanged (the conformance kit's sender
/// mode records at the proxy and answers the toolkit's sentinel values in front of receivers).
#[derive(Clone, Default)]
pub struct StackLayers {
    /// In front of the proxy's API (everything a sender sends passes it).
    pub proxy: Option<RouterWrap>,
    /// In front of every receiver's API.
    pub receivers: Option<RouterWrap>,
}

fn wrap_with(layer: &Option<RouterWrap>) -> impl FnOnce(axum::Router) -> axum::Router + '_ {
    move |api| match layer {
        Some(wrap) => wrap(api),
        None => api,
    }
}

impl LocalStack {
    pub async fn start(spec: StackSpec) -> anyhow::Result<LocalStack> {
        LocalStack::start_with(spec, StackLayers::default()).await
    }

    /// [`LocalStack::start`], with `layers` in front of the proxy and the receivers.
    pub async fn start_with(spec: StackSpec, layers: StackLayers) -> anyhow::Result<LocalStack> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        std::fs::create_dir_all(&spec.dir)
            .with_context(|| format!("creating {}", spec.dir.display()))?;
        let receiver_ods: Vec<&str> = spec.receivers.iter().map(|r| r.ods.as_str()).collect();
        let pki = DevPki::ensure(&spec.dir.join("pki"), &spec.sender.client_id, &receiver_ods)?;
        let trusting = client_config(&pki.ca_pem, None).map_err(pki_error)?;
        let mtls = server_config(&pki.servers, Some(&pki.ca_pem), ClientAuth::Optional)
            .map_err(pki_error)?;

        // Listeners first, so every URL is known before anything starts.
        let proxy_listener = listener(&spec, 0).await?;
        let proxy_admin_listener = listener(&spec, 1).await?;
        let registry_listener = listener(&spec, 2).await?;
        let registry_admin_listener = listener(&spec, 3).await?;
        let proxy_url = format!("https://{}", proxy_listener.local_addr()?);
        let proxy_admin_url = format!("http://{}", proxy_admin_listener.local_addr()?);
        let token_url = format!("{proxy_url}{TOKEN_PATH}");
        let registry_addr = registry_listener.local_addr()?;
        let registry_admin_addr = registry_admin_listener.local_addr()?;
        let registry_db = spec.dir.join("registry.db");
        let registry = roles::registry::start(registry_settings(
            registry_listener,
            registry_admin_listener,
            &registry_db,
            &pki,
        )?)
        .await?;

        let sender_key = pki.sender_key.clone();
        let mut seed = Seed {
            endpoints: Vec::new(),
            applications: vec![application(
                &spec.sender.client_id,
                &spec.sender.name,
                &spec.sender.ods,
                &sender_key,
            )],
        };
        let mut receivers = Vec::new();
        for (i, r) in spec.receivers.iter().enumerate() {
            let api = listener(&spec, 4 + 2 * i as u16).await?;
            let admin = listener(&spec, 5 + 2 * i as u16).await?;
            let url = format!("https://{}", api.local_addr()?);
            let admin_url = format!("http://{}", admin.local_addr()?);
            let key = pki
                .receiver_keys
                .get(&r.ods)
                .context("receiver key")?
                .clone();
            let client_id = format!("receiver-{}", r.ods.to_ascii_lowercase());
            seed.applications
                .push(application(&client_id, &r.name, &r.ods, &key));
            for (id, name) in &r.services {
                seed.endpoints.push(Endpoint {
                    system: DOS_SERVICE_SYSTEM.into(),
                    value: id.clone(),
                    name: name.clone(),
                    url: url.clone(),
                    ods_code: Some(r.ods.clone()),
                });
            }
            let mut target = RegistryTarget::new(&proxy_url);
            target.tls = Some(trusting.clone());
            target.backoff = spec.pointer_backoff;
            let credentials = Credentials {
                client_id: client_id.clone(),
                kid: key.kid.clone(),
                algorithm: key.algorithm.as_str().into(),
                private_pem: key.private_pem.clone(),
                token_url: token_url.clone(),
            };
            target.auth = Some(TokenSource::new(credentials, target.client()));
            let db = spec
                .dir
                .join(format!("receiver-{}.db", r.ods.to_ascii_lowercase()));
            let mut config = ReceiverConfig::new(&r.ods, &url);
            config.organisation_name = r.name.clone();
            // One process owns each database; a restart of the stack resumes its deliveries.
            config.instance = Some(url.clone());
            for (id, name) in &r.services {
                config = config.with_service(id, name);
            }
            let running = roles::receiver::start_wrapped(
                ReceiverSettings {
                    config,
                    database: match &spec.receiver_database {
                        Some(url) => url.clone(),
                        None => sqlite_url(&db)?,
                    },
                    pointers: Some(target),
                    listeners: stack_listeners(api, admin, mtls.clone(), true),
                },
                wrap_with(&layers.receivers),
            )
            .await?;
            receivers.push(StackReceiver {
                ods: r.ods.clone(),
                client_id: client_id.clone(),
                name: r.name.clone(),
                url,
                admin_url,
                services: r.services.clone(),
                store: running.store().clone(),
                db,
                running: Some(running),
            });
        }

        let mut config = ProxyConfig::new(&proxy_url, format!("https://{registry_addr}"));
        config.receiver_timeout = spec.receiver_timeout;
        let upstream = client_config(&pki.ca_pem, Some(&pki.proxy_client)).map_err(pki_error)?;
        let tls = server_config(&pki.servers, None, ClientAuth::None).map_err(pki_error)?;
        let running_proxy = roles::proxy::start_wrapped(
            ProxySettings {
                config,
                database: sqlite_url(&spec.dir.join("proxy.db"))?,
                refresh: PROXY_REFRESH,
                seed,
                signing_key: ProxySigningKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?,
                upstream_tls: Some(upstream),
                listeners: stack_listeners(proxy_listener, proxy_admin_listener, tls, false),
            },
            wrap_with(&layers.proxy),
        )
        .await?;
        let sender = SenderCredentials {
            client_id: spec.sender.client_id.clone(),
            key_id: sender_key.kid.clone(),
            algorithm: sender_key.algorithm.as_str().into(),
            private_key_path: pki.sender_key_path.clone(),
            private_pem: sender_key.private_pem.clone(),
            token_url,
            ods: spec.sender.ods.clone(),
            name: spec.sender.name.clone(),
        };
        Ok(LocalStack {
            proxy_url,
            proxy_admin_url,
            registry_url: format!("https://{registry_addr}"),
            registry_admin_url: format!("http://{registry_admin_addr}"),
            registry_addr,
            receivers,
            sender,
            pki,
            proxy: running_proxy.role.clone(),
            running_proxy: Some(running_proxy),
            registry: Some(registry),
            registry_admin_addr,
            registry_db,
        })
    }

    /// Publishes free slots at every service of every receiver (ids are deterministic, so
    /// publishing twice adds only what is new).
    pub async fn publish(&self, plan: impl Fn(&str) -> SlotPlan) -> anyhow::Result<usize> {
        let mut created = 0;
        for r in &self.receivers {
            let running = r.running.as_ref().context("receiver stopped")?;
            for (id, _) in &r.services {
                created += running
                    .role
                    .state
                    .availability
                    .generate(&plan(id))
                    .await
                    .map_err(|e| anyhow::anyhow!("{}", e.diagnostics))?;
            }
        }
        Ok(created)
    }

    /// A client that trusts the stack's CA, as a sender's would.
    pub fn http(&self, timeout: Duration) -> anyhow::Result<HttpClient> {
        Ok(HttpClient::new(
            Some(client_config(&self.pki.ca_pem, None).map_err(|e| anyhow::anyhow!("{e}"))?),
            timeout,
        ))
    }

    /// Stops the registry (its data stays on disk).
    pub async fn stop_registry(&mut self) {
        if let Some(registry) = self.registry.take() {
            registry.stop().await;
        }
    }

    /// Starts the registry again on its addresses and database.
    pub async fn restart_registry(&mut self) -> anyhow::Result<()> {
        let api = TcpListener::bind(self.registry_addr).await?;
        let admin = TcpListener::bind(self.registry_admin_addr).await?;
        let settings = registry_settings(api, admin, &self.registry_db, &self.pki)?;
        self.registry = Some(roles::registry::start(settings).await?);
        Ok(())
    }

    /// What a sender (or a person) needs to use the stack: `stack.json`.
    pub fn manifest(&self, patients: &[&str]) -> Value {
        json!({
            "proxy": { "url": self.proxy_url, "adminUrl": self.proxy_admin_url, "tokenUrl": self.sender.token_url },
            "registry": { "url": self.registry_url, "adminUrl": self.registry_admin_url },
            "receivers": self.receivers.iter().map(|r| json!({
                "ods": r.ods, "name": r.name, "url": r.url, "adminUrl": r.admin_url, "database": r.db.display().to_string(),
                "services": r.services.iter().map(|(id, name)| json!({ "system": DOS_SERVICE_SYSTEM, "value": id, "name": name })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "sender": {
                "clientId": self.sender.client_id, "keyId": self.sender.key_id, "algorithm": self.sender.algorithm,
                "privateKey": self.sender.private_key_path.display().to_string(), "tokenUrl": self.sender.token_url,
                "odsCode": self.sender.ods, "organisationName": self.sender.name,
            },
            "ca": self.pki.ca_path.display().to_string(),
            "patients": patients,
        })
    }

    /// Stops everything cleanly: in-flight requests finish, queued audit entries and the pointer
    /// round in progress are written.
    pub async fn stop(mut self) {
        if let Some(proxy) = self.running_proxy.take() {
            proxy.stop().await;
        }
        for mut r in self.receivers.drain(..) {
            if let Some(running) = r.running.take() {
                running.stop().await;
            }
        }
        self.stop_registry().await;
    }
}
