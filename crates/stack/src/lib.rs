//! The whole BaRS stack in one process, over real sockets and real TLS: a registry and
//! receivers that accept only the proxy's client certificate, a proxy that authenticates
//! senders with signed JWTs, receivers that keep their pointers through the proxy with their own
//! credentials, and a development PKI kept in a data directory (reused when it is there).
//!
//! `bars demo` runs it on fixed ports; the cross-role tests run it on random ones.

mod pki;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bars_client::{Credentials, TokenSource};
use bars_fhir::headers::DOS_SERVICE_SYSTEM;
use bars_http::client::HttpClient;
use bars_http::server::{RunningServer, ServerOptions};
use bars_http::transport::TransportRules;
use bars_pki::tls::{ClientAuth, client_config, server_config};
use bars_pki::{Identity, SigningKey};
use bars_proxy::auth::{
    Application, Applications, AuthConfig, AuthState, BARS_PRODUCT, ProxySigningKey, TOKEN_PATH,
};
use bars_proxy::{Catalogue, Endpoint, Proxy, ProxyConfig};
use bars_receiver::availability::SlotPlan;
use bars_receiver::pointers::RegistryTarget;
use bars_receiver::pointers::worker::Backoff;
use bars_receiver::{Receiver, ReceiverConfig};
use bars_registry::{Registry, RegistryConfig, SqliteRegistryStore};
use bars_store::Store;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use pki::DevPki;

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
    pub name: String,
    pub url: String,
    pub admin_url: String,
    pub services: Vec<(String, String)>,
    pub store: Arc<dyn Store>,
    pub db: PathBuf,
    receiver: Option<Receiver>,
    servers: Vec<RunningServer>,
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
    /// The proxy's listeners and the registry's admin listener.
    central_servers: Vec<RunningServer>,
    registry_server: Option<RunningServer>,
    registry_db: PathBuf,
}

async fn listener(spec: &StackSpec, offset: u16) -> anyhow::Result<TcpListener> {
    let port = spec.base_port.map_or(0, |p| p + offset);
    TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("port {port} is in use (choose another with --port)"))
}

fn mtls_server(identity: &Identity, ca: &str) -> anyhow::Result<ServerOptions> {
    Ok(ServerOptions {
        tls: Some(
            server_config(identity, Some(ca), ClientAuth::Optional)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        ..ServerOptions::default()
    })
}

fn registry_listener(
    listener: TcpListener,
    db: &Path,
    pki: &DevPki,
) -> anyhow::Result<(RunningServer, Registry)> {
    let store = SqliteRegistryStore::open(db).map_err(|e| anyhow::anyhow!("{e}"))?;
    let base = format!("https://{}", listener.local_addr()?);
    let registry = Registry::new(RegistryConfig::new(base), Arc::new(store));
    let rules = TransportRules {
        require_client_certificate: true,
        ..Registry::production_rules()
    };
    let server = RunningServer::start_on(
        listener,
        registry.router(rules),
        mtls_server(&pki.servers, &pki.ca_pem)?,
    );
    Ok((server, registry))
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

impl LocalStack {
    pub async fn start(spec: StackSpec) -> anyhow::Result<LocalStack> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        std::fs::create_dir_all(&spec.dir)
            .with_context(|| format!("creating {}", spec.dir.display()))?;
        let receiver_ods: Vec<&str> = spec.receivers.iter().map(|r| r.ods.as_str()).collect();
        let pki = DevPki::ensure(&spec.dir.join("pki"), &spec.sender.client_id, &receiver_ods)?;
        let trusting = client_config(&pki.ca_pem, None).map_err(|e| anyhow::anyhow!("{e}"))?;

        // Listeners first, so every URL is known before anything starts.
        let proxy_listener = listener(&spec, 0).await?;
        let proxy_admin_listener = listener(&spec, 1).await?;
        let registry_listener_socket = listener(&spec, 2).await?;
        let registry_admin_listener = listener(&spec, 3).await?;
        let proxy_url = format!("https://{}", proxy_listener.local_addr()?);
        let token_url = format!("{proxy_url}{TOKEN_PATH}");
        let registry_addr = registry_listener_socket.local_addr()?;
        let registry_db = spec.dir.join("registry.db");
        let (registry_server, registry) =
            registry_listener(registry_listener_socket, &registry_db, &pki)?;
        let registry_admin_url = format!("http://{}", registry_admin_listener.local_addr()?);
        let registry_admin = RunningServer::start_on(
            registry_admin_listener,
            registry.admin_router(None),
            ServerOptions::default(),
        );

        let applications = Applications::new();
        let sender_key = pki.sender_key.clone();
        applications
            .add(application(
                &spec.sender.client_id,
                &spec.sender.name,
                &spec.sender.ods,
                &sender_key,
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut receivers = Vec::new();
        let mut endpoints = Vec::new();
        for (i, r) in spec.receivers.iter().enumerate() {
            let api = listener(&spec, 4 + 2 * i as u16).await?;
            let admin = listener(&spec, 5 + 2 * i as u16).await?;
            let url = format!("https://{}", api.local_addr()?);
            let key = pki
                .receiver_keys
                .get(&r.ods)
                .context("receiver key")?
                .clone();
            let client_id = format!("receiver-{}", r.ods.to_ascii_lowercase());
            applications
                .add(application(&client_id, &r.name, &r.ods, &key))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for (id, name) in &r.services {
                endpoints.push(Endpoint {
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
                client_id,
                kid: key.kid.clone(),
                algorithm: key.algorithm.as_str().into(),
                private_pem: key.private_pem.clone(),
                token_url: token_url.clone(),
            };
            target.auth = Some(TokenSource::new(credentials, target.client()));
            let db = spec
                .dir
                .join(format!("receiver-{}.db", r.ods.to_ascii_lowercase()));
            let store: Arc<dyn Store> = match &spec.receiver_database {
                Some(url) => bars_store::open(url)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                None => Arc::new(
                    bars_store::sqlite::SqliteStore::open(&db)
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                ),
            };
            let mut config = ReceiverConfig::new(&r.ods, &url);
            config.organisation_name = r.name.clone();
            // One process owns each database; a restart of the stack resumes its deliveries.
            config.instance = Some(url.clone());
            for (id, name) in &r.services {
                config = config.with_service(id, name);
            }
            let mut receiver = Receiver::new(config, store.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            receiver
                .start_pointer_worker(target)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let rules = TransportRules {
                require_client_certificate: true,
                ..TransportRules::receiver()
            };
            let api_server = RunningServer::start_on(
                api,
                receiver.router(rules),
                mtls_server(&pki.servers, &pki.ca_pem)?,
            );
            let admin_url = format!("http://{}", admin.local_addr()?);
            let admin_server = RunningServer::start_on(
                admin,
                receiver.admin_router(None),
                ServerOptions::default(),
            );
            receivers.push(StackReceiver {
                ods: r.ods.clone(),
                name: r.name.clone(),
                url,
                admin_url,
                services: r.services.clone(),
                store,
                db,
                receiver: Some(receiver),
                servers: vec![api_server, admin_server],
            });
        }

        let auth = AuthState::new(
            AuthConfig::new(&token_url, &proxy_url),
            applications,
            ProxySigningKey::generate().map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        let mut config = ProxyConfig::new(&proxy_url, format!("https://{registry_addr}"));
        config.receiver_timeout = spec.receiver_timeout;
        let upstream = client_config(&pki.ca_pem, Some(&pki.proxy_client))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let catalogue = Catalogue::from_entries(endpoints).map_err(|e| anyhow::anyhow!("{e}"))?;
        let proxy = Arc::new(Proxy::new(
            config,
            catalogue,
            auth,
            Some(upstream.clone()),
            Some(upstream),
        ));
        let tls = ServerOptions {
            tls: Some(
                server_config(&pki.servers, None, ClientAuth::None)
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
            ..ServerOptions::default()
        };
        let proxy_admin_url = format!("http://{}", proxy_admin_listener.local_addr()?);
        let central_servers = vec![
            RunningServer::start_on(proxy_listener, proxy.router(), tls),
            RunningServer::start_on(
                proxy_admin_listener,
                proxy.admin_router(None),
                ServerOptions::default(),
            ),
            registry_admin,
        ];
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
            registry_admin_url,
            registry_addr,
            receivers,
            sender,
            pki,
            proxy,
            central_servers,
            registry_server: Some(registry_server),
            registry_db,
        })
    }

    /// Publishes free slots at every service of every receiver (ids are deterministic, so
    /// publishing twice adds only what is new).
    pub async fn publish(&self, plan: impl Fn(&str) -> SlotPlan) -> anyhow::Result<usize> {
        let mut created = 0;
        for r in &self.receivers {
            let receiver = r.receiver.as_ref().context("receiver stopped")?;
            for (id, _) in &r.services {
                created += receiver
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
        if let Some(s) = self.registry_server.take() {
            s.shutdown().await;
        }
    }

    /// Starts the registry again on its address and database.
    pub async fn restart_registry(&mut self) -> anyhow::Result<()> {
        let socket = TcpListener::bind(self.registry_addr).await?;
        self.registry_server = Some(registry_listener(socket, &self.registry_db, &self.pki)?.0);
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
        for s in self.central_servers.drain(..) {
            s.shutdown().await;
        }
        for mut r in self.receivers.drain(..) {
            for s in r.servers.drain(..) {
                s.shutdown().await;
            }
            if let Some(receiver) = r.receiver.take() {
                receiver.close().await;
            }
        }
        self.stop_registry().await;
    }
}
