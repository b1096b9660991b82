//! `bars receiver`: serve one or more healthcare services from one database.
//!
//! Its settings come from `--config FILE` (TOML, see `config/receiver.toml`), environment
//! variables and flags, in rising order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use bars_client::{Credentials, TokenSource};
use bars_receiver::access::AccessPolicy;
use bars_receiver::pointers::content::Code;
use bars_receiver::pointers::{RegistryTarget, UrlForm};
use bars_receiver::{CoreVersion, DemographicsMinimum, HostedService, ReceiverConfig};
use bars_stack::roles::receiver::{self, ReceiverSettings};
use serde::Deserialize;

use crate::roles::{self, Role};
use crate::settings::{self, Problems, Rebase, loopback, rebase_database, rebase_path};

const DEFAULT_POINTER_TYPE: &str =
    "http://snomed.info/sct|749001000000101|Appointment (record artifact)";
const DEFAULT_POINTER_CATEGORY: &str = "http://snomed.info/sct|419891008|Record artifact";
const DEFAULT_POINTER_MAX_BACKOFF: u64 = 300;

/// The receiver's settings: its flags, and the format of its configuration file.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverArgs {
    /// A configuration file (TOML); environment variables and flags override what it says.
    #[arg(long, env = "BARS_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// The role a file says it configures (`receiver`).
    #[arg(skip)]
    pub role: Option<String>,
    /// Address the sender-facing API listens on [default: 127.0.0.1:8080].
    #[arg(long, env = "BARS_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Address of the staff admin API (publishing slots, audit, metrics). Keep it private
    /// [default: 127.0.0.1:8081].
    #[arg(long, env = "BARS_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Database URL: sqlite://path/to/file.db (or a bare path), or
    /// postgres://user@host:5432/db with optional pool_size, pool_timeout, statement_timeout
    /// [default: sqlite://data/receiver.db].
    #[arg(long, env = "BARS_DATABASE")]
    pub database: Option<String>,
    /// The receiving organisation's ODS code (required).
    #[arg(long, env = "BARS_ODS_CODE")]
    pub ods_code: Option<String>,
    /// The receiving organisation's name.
    #[arg(long, env = "BARS_ORGANISATION_NAME")]
    pub organisation_name: Option<String>,
    /// A hosted service as ID=Name, optionally with use cases: ID=Name=a1t1,a2t1. Repeatable;
    /// at least one is required.
    #[arg(long = "service", env = "BARS_SERVICES", value_delimiter = ';')]
    pub services: Vec<ServiceSpec>,
    /// The public base URL senders reach this receiver at (default: http(s)://<listen>).
    #[arg(long, env = "BARS_BASE_URL")]
    pub base_url: Option<String>,
    /// Bearer token the admin API requires; required when admin_listen is not a loopback
    /// address.
    #[arg(long, env = "BARS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Serve the admin API over HTTPS with the receiver's certificate ([tls]).
    #[arg(long, env = "BARS_ADMIN_TLS")]
    pub admin_tls: bool,
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
    /// BaRS Core versions served, 1.1.6 and/or 1.5.0; each request is answered by the one its
    /// Accept version= selects [default: both].
    #[arg(long = "bars-version", env = "BARS_VERSIONS", value_delimiter = ',')]
    pub versions: Vec<String>,
    /// The version a request without Accept version= is answered by [default: 1.1.6].
    #[arg(long, env = "BARS_DEFAULT_VERSION")]
    pub default_version: Option<String>,
    /// A service's own default version, as ID=VERSION. Repeatable.
    #[arg(
        long = "service-version",
        env = "BARS_SERVICE_VERSIONS",
        value_delimiter = ';'
    )]
    pub service_versions: Vec<String>,
    /// What a 1.5.0 search by demographics needs without an NHS number:
    /// name+birthdate+postcode or name+birthdate [default: name+birthdate+postcode].
    #[arg(long, env = "BARS_DEMOGRAPHICS_MINIMUM")]
    pub demographics_minimum: Option<String>,
    /// Accept placeholder appointments (waitlist, proposed, pending) under 1.5.0 too.
    #[arg(long, env = "BARS_PLACEHOLDERS_UNDER_1_5")]
    pub placeholders_under_1_5: bool,
    /// This instance's name, unique among receivers sharing a database and the same across its
    /// restarts, so that after a crash it resumes the pointer deliveries it had started
    /// [default: <hostname>/<listen>].
    #[arg(long, env = "BARS_INSTANCE_ID")]
    pub instance_id: Option<String>,
    #[command(flatten)]
    pub tls: crate::tls_args::TlsArgs,
    #[command(flatten)]
    #[serde(default)]
    pub limits: crate::limit_args::LimitArgs,
    #[command(flatten)]
    pub pointers: PointerArgs,
    /// Systems of the provider's sent each appointment change of a service as a signed
    /// webhook (`[[subscribers]]` in the file; the admin API adds others).
    #[arg(skip)]
    pub subscribers: Vec<SubscriberEntry>,
}

/// A webhook subscriber in the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberEntry {
    pub id: String,
    pub service: String,
    pub url: String,
    /// `whsec_<base64>`; prefer a file readable only by the receiver.
    pub secret: String,
}

crate::layered!(ReceiverArgs {
    config,
    role,
    listen,
    admin_listen,
    database,
    ods_code,
    organisation_name,
    services,
    base_url,
    admin_token,
    admin_tls,
    allow_organisations,
    allow_software,
    practitioner_details_for,
    require_organisation,
    lenient_slot_times,
    versions,
    default_version,
    service_versions,
    demographics_minimum,
    placeholders_under_1_5,
    instance_id,
    tls,
    limits,
    pointers,
    subscribers,
});

/// A hosted service: `ID=Name[=usecase,usecase]` on the command line, a table in a file. A
/// table may also give the service an access policy of its own, applied on top of the
/// receiver's to whatever the service owns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "ServiceEntry")]
pub struct ServiceSpec(pub HostedService, pub Option<AccessPolicy>);

#[derive(Deserialize)]
#[serde(untagged)]
enum ServiceEntry {
    Text(String),
    Table {
        id: String,
        name: String,
        #[serde(default)]
        use_cases: Vec<String>,
        #[serde(default)]
        allow_organisations: Vec<String>,
        #[serde(default)]
        allow_software: Vec<String>,
        #[serde(default)]
        practitioner_details_for: Vec<String>,
        #[serde(default)]
        require_organisation: bool,
    },
}

impl TryFrom<ServiceEntry> for ServiceSpec {
    type Error = String;
    fn try_from(entry: ServiceEntry) -> Result<Self, String> {
        match entry {
            ServiceEntry::Text(text) => text.parse(),
            ServiceEntry::Table {
                id,
                name,
                use_cases,
                allow_organisations,
                allow_software,
                practitioner_details_for,
                require_organisation,
            } => {
                let policy = AccessPolicy {
                    organisations: allow_organisations,
                    software: allow_software,
                    require_organisation,
                    practitioner_details_for,
                };
                Ok(ServiceSpec(
                    HostedService {
                        id,
                        name,
                        use_cases,
                    },
                    (policy != AccessPolicy::default()).then_some(policy),
                ))
            }
        }
    }
}

impl FromStr for ServiceSpec {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.splitn(3, '=');
        let id = parts.next().unwrap_or("").trim();
        let name = parts.next().map(str::trim).unwrap_or("");
        if id.is_empty() || name.is_empty() {
            return Err(format!(
                "a service is ID=Name (optionally ID=Name=usecase,usecase), not {text:?}"
            ));
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
        Ok(ServiceSpec(
            HostedService {
                id: id.to_string(),
                name: name.to_string(),
                use_cases,
            },
            None,
        ))
    }
}

/// Where and how the receiver keeps its Registry pointers: the `[pointers]` table of its file.
#[derive(Debug, Clone, Default, clap::Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PointerArgs {
    /// Base URL pointers are written to: normally the proxy's (it forwards /DocumentReference).
    /// Without it, pointer jobs wait in the outbox.
    #[arg(long, env = "BARS_POINTER_URL")]
    #[serde(rename = "url")]
    pub pointer_url: Option<String>,
    /// CA (PEM) to trust for that URL.
    #[arg(long, env = "BARS_POINTER_CA")]
    #[serde(rename = "ca")]
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
    /// RS512 or ES256 [default: RS512].
    #[arg(long, env = "BARS_SIGNING_ALG")]
    pub signing_alg: Option<String>,
    /// The proxy's token endpoint (default: <pointer-url>/oauth2/token).
    #[arg(long, env = "BARS_TOKEN_URL")]
    pub token_url: Option<String>,
    /// How pointers say where the appointment is: direct (its URL) or target (the service's
    /// target identifier) [default: direct].
    #[arg(long, env = "BARS_POINTER_URL_FORM")]
    #[serde(rename = "url_form")]
    pub pointer_url_form: Option<String>,
    /// Product id to put on pointers (agreed at onboarding).
    #[arg(long, env = "BARS_PRODUCT_ID")]
    pub product_id: Option<String>,
    /// The pointer type agreed at onboarding, as system|code|display
    /// [default: http://snomed.info/sct|749001000000101|Appointment (record artifact)].
    #[arg(long, env = "BARS_POINTER_TYPE")]
    #[serde(rename = "type")]
    pub pointer_type: Option<String>,
    /// The pointer category agreed at onboarding, as system|code|display
    /// [default: http://snomed.info/sct|419891008|Record artifact].
    #[arg(long, env = "BARS_POINTER_CATEGORY")]
    #[serde(rename = "category")]
    pub pointer_category: Option<String>,
    /// The longest wait, in seconds, between attempts to deliver one pointer job
    /// [default: 300].
    #[arg(long, env = "BARS_POINTER_MAX_BACKOFF")]
    #[serde(rename = "max_backoff_seconds")]
    pub pointer_max_backoff: Option<u64>,
}

crate::layered!(PointerArgs {
    pointer_url,
    pointer_ca,
    client_id,
    signing_key,
    signing_key_id,
    signing_alg,
    token_url,
    pointer_url_form,
    product_id,
    pointer_type,
    pointer_category,
    pointer_max_backoff,
});

/// Parses `system|code|display`.
fn code_of(text: &str) -> Option<Code> {
    let mut parts = text.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(system), Some(code), display) if !system.is_empty() && !code.is_empty() => {
            Some(Code::new(system, code, display.unwrap_or(code)))
        }
        _ => None,
    }
}

fn url_form(text: &str) -> Option<UrlForm> {
    match text {
        "direct" => Some(UrlForm::Direct),
        "target" | "target-identifier" => Some(UrlForm::TargetIdentifier),
        _ => None,
    }
}

impl PointerArgs {
    fn check(&self, problems: &mut Problems) {
        if self.pointer_url.is_none() {
            return;
        }
        problems.url("pointers.url", self.pointer_url.as_deref());
        problems.url("pointers.token_url", self.token_url.as_deref());
        let (id, key, kid) = (
            self.client_id.is_some(),
            self.signing_key.is_some(),
            self.signing_key_id.is_some(),
        );
        if (id || key || kid) && !(id && key && kid) {
            for (given, field) in [
                (id, "pointers.client_id"),
                (key, "pointers.signing_key"),
                (kid, "pointers.signing_key_id"),
            ] {
                if !given {
                    problems.error(
                        field,
                        "client_id, signing_key and signing_key_id go together",
                    );
                }
            }
        }
        if let Some(alg) = &self.signing_alg
            && !matches!(alg.as_str(), "RS512" | "ES256")
        {
            problems.error("pointers.signing_alg", format!("{alg:?}: RS512 or ES256"));
        }
        if let Some(form) = &self.pointer_url_form
            && url_form(form).is_none()
        {
            problems.error("pointers.url_form", format!("{form:?}: direct or target"));
        }
        for (field, value) in [
            ("pointers.type", &self.pointer_type),
            ("pointers.category", &self.pointer_category),
        ] {
            if let Some(v) = value
                && code_of(v).is_none()
            {
                problems.error(field, format!("{v:?} is not system|code|display"));
            }
        }
        if self.pointer_max_backoff == Some(0) {
            problems.error("pointers.max_backoff_seconds", "must be at least 1");
        }
        problems.readable("pointers.ca", self.pointer_ca.as_ref());
        problems.readable("pointers.signing_key", self.signing_key.as_ref());
    }

    pub fn target(&self) -> anyhow::Result<Option<RegistryTarget>> {
        let Some(url) = &self.pointer_url else {
            return Ok(None);
        };
        let invalid = |field| anyhow::anyhow!("{field} is not valid (run bars config check)");
        let mut target = RegistryTarget::new(url.trim_end_matches('/'));
        target.settings.url_form = url_form(self.pointer_url_form.as_deref().unwrap_or("direct"))
            .ok_or_else(|| invalid("pointers.url_form"))?;
        target.settings.product_id = self.product_id.clone();
        target.settings.type_code =
            code_of(self.pointer_type.as_deref().unwrap_or(DEFAULT_POINTER_TYPE))
                .ok_or_else(|| invalid("pointers.type"))?;
        target.settings.category = code_of(
            self.pointer_category
                .as_deref()
                .unwrap_or(DEFAULT_POINTER_CATEGORY),
        )
        .ok_or_else(|| invalid("pointers.category"))?;
        target.backoff.max = Duration::from_secs(
            self.pointer_max_backoff
                .unwrap_or(DEFAULT_POINTER_MAX_BACKOFF)
                .max(1),
        );
        let trust = self
            .pointer_ca
            .as_ref()
            .map(std::fs::read_to_string)
            .transpose()
            .context("reading pointers.ca")?;
        if let Some(ca) = &trust {
            target.tls =
                Some(bars_pki::tls::client_config(ca, None).map_err(|e| anyhow::anyhow!("{e}"))?);
        }
        if let (Some(client_id), Some(key), Some(kid)) =
            (&self.client_id, &self.signing_key, &self.signing_key_id)
        {
            let credentials = Credentials {
                client_id: client_id.clone(),
                kid: kid.clone(),
                algorithm: self
                    .signing_alg
                    .clone()
                    .unwrap_or_else(|| "RS512".to_string()),
                private_pem: std::fs::read_to_string(key)
                    .with_context(|| format!("reading {}", key.display()))?,
                token_url: self
                    .token_url
                    .clone()
                    .unwrap_or_else(|| format!("{}/oauth2/token", url.trim_end_matches('/'))),
            };
            target.auth = Some(TokenSource::new(credentials, target.client()));
        }
        Ok(Some(target))
    }
}

impl Rebase for ReceiverArgs {
    fn rebase(&mut self, dir: &Path) {
        rebase_database(&mut self.database, dir);
        self.tls.rebase(dir);
        rebase_path(&mut self.pointers.pointer_ca, dir);
        rebase_path(&mut self.pointers.signing_key, dir);
    }
}

impl settings::RoleSettings for ReceiverArgs {
    const ROLE: &'static str = "receiver";

    fn config_file(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    fn problems(&self) -> Problems {
        let mut problems = self.common_problems();
        match self.ods_code.as_deref().map(str::trim) {
            None | Some("") => problems.error(
                "ods_code",
                "required: the receiving organisation's ODS code",
            ),
            Some(code) if !code.chars().all(|c| c.is_ascii_alphanumeric()) || code.len() > 12 => {
                problems.error("ods_code", format!("{code:?} is not an ODS code"))
            }
            Some(_) => {}
        }
        if self.services.is_empty() {
            problems.error("services", "at least one hosted service is required");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, ServiceSpec(service, _)) in self.services.iter().enumerate() {
            if service.id.trim().is_empty() || service.name.trim().is_empty() {
                problems.error(format!("services[{i}]"), "needs an id and a name");
            }
            if !seen.insert(service.id.clone()) {
                problems.error(
                    format!("services[{i}].id"),
                    format!("{} is listed twice", service.id),
                );
            }
        }
        if self
            .instance_id
            .as_deref()
            .is_some_and(|i| i.trim().is_empty())
        {
            problems.error("instance_id", "must not be empty");
        }
        for (i, v) in self.versions.iter().enumerate() {
            if CoreVersion::parse(v).is_none() {
                problems.error(format!("versions[{i}]"), format!("{v:?}: 1.1.6 or 1.5.0"));
            }
        }
        if let Some(v) = &self.default_version
            && CoreVersion::parse(v).is_none()
        {
            problems.error("default_version", format!("{v:?}: 1.1.6 or 1.5.0"));
        }
        for (i, entry) in self.service_versions.iter().enumerate() {
            let known = entry.split_once('=').is_some_and(|(id, v)| {
                self.services.iter().any(|s| s.0.id == id.trim()) && CoreVersion::parse(v).is_some()
            });
            if !known {
                problems.error(
                    format!("service_versions[{i}]"),
                    format!("{entry:?}: ID=VERSION, ID a hosted service, VERSION 1.1.6 or 1.5.0"),
                );
            }
        }
        if let Some(m) = &self.demographics_minimum
            && demographics_minimum(m).is_none()
        {
            problems.error(
                "demographics_minimum",
                format!("{m:?}: name+birthdate+postcode or name+birthdate"),
            );
        }
        self.pointers.check(&mut problems);
        for (i, sub) in self.subscribers.iter().enumerate() {
            let at = |field: &str| format!("subscribers[{i}].{field}");
            if sub.id.trim().is_empty() {
                problems.error(at("id"), "must not be empty");
            }
            if !self.services.iter().any(|s| s.0.id == sub.service) {
                problems.error(
                    at("service"),
                    format!("{} is not a hosted service", sub.service),
                );
            }
            if !(sub.url.starts_with("http://") || sub.url.starts_with("https://"))
                || sub.url.parse::<http::Uri>().is_err()
            {
                problems.error(at("url"), "must be an http:// or https:// URL");
            }
            if let Err(e) = bars_receiver::provider::signing::secret_key(&sub.secret) {
                problems.error(at("secret"), e.to_string());
            }
        }
        problems
    }
}

fn demographics_minimum(text: &str) -> Option<DemographicsMinimum> {
    match text.trim() {
        "name+birthdate+postcode" => Some(DemographicsMinimum::NameBirthDatePostcode),
        "name+birthdate" => Some(DemographicsMinimum::NameBirthDate),
        _ => None,
    }
}

roles::role!(ReceiverArgs {
    listen: loopback(8080),
    admin_listen: loopback(8081),
    database: "sqlite://data/receiver.db",
    admin_token_env: "BARS_ADMIN_TOKEN",
});

impl ReceiverArgs {
    /// What the receiver starts with: its configuration, database, pointer target and bound
    /// listeners.
    pub async fn settings(&self) -> anyhow::Result<ReceiverSettings> {
        Ok(ReceiverSettings {
            config: self.config()?,
            database: self.database().to_string(),
            pointers: self.pointers.target()?,
            listeners: roles::listeners(self).await?,
        })
    }

    pub fn config(&self) -> anyhow::Result<ReceiverConfig> {
        let listen = self.listen();
        let base = self.base_url();
        let ods = self.ods_code.as_deref().context("ods_code is required")?;
        let mut config = ReceiverConfig::new(ods.trim(), base);
        if let Some(name) = &self.organisation_name {
            config.organisation_name = name.clone();
        }
        config.services = self.services.iter().map(|s| s.0.clone()).collect();
        config.service_access = self
            .services
            .iter()
            .filter_map(|ServiceSpec(service, policy)| Some((service.id.clone(), policy.clone()?)))
            .collect();
        config.access = AccessPolicy {
            organisations: self.allow_organisations.clone(),
            software: self.allow_software.clone(),
            require_organisation: self.require_organisation,
            practitioner_details_for: self.practitioner_details_for.clone(),
        };
        config.rules.appointment_within_slot = !self.lenient_slot_times;
        config.rules.placeholders_under_1_5 = self.placeholders_under_1_5;
        if !self.versions.is_empty() {
            config.versions = self
                .versions
                .iter()
                .filter_map(|v| CoreVersion::parse(v))
                .collect();
        }
        if let Some(v) = self.default_version.as_deref().and_then(CoreVersion::parse) {
            config.default_version = v;
        }
        config.service_versions = self
            .service_versions
            .iter()
            .filter_map(|e| {
                let (id, v) = e.split_once('=')?;
                Some((id.trim().to_string(), CoreVersion::parse(v)?))
            })
            .collect();
        if let Some(m) = self
            .demographics_minimum
            .as_deref()
            .and_then(demographics_minimum)
        {
            config.demographics = m;
        }
        config.body_limit = self.limits.body_limit();
        config.events.subscribers = self
            .subscribers
            .iter()
            .map(|s| bars_store::Subscriber {
                id: s.id.clone(),
                service_id: s.service.clone(),
                url: s.url.clone(),
                secret: s.secret.clone(),
            })
            .collect();
        config.instance = Some(
            self.instance_id
                .clone()
                .unwrap_or_else(|| format!("{}/{listen}", hostname())),
        );
        Ok(config)
    }
}

/// The machine's name, for the default instance name; containers and hosts always have one.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

pub async fn run(args: ReceiverArgs) -> anyhow::Result<()> {
    let args = settings::resolve(args)?;
    let settings = args.settings().await?;
    let services: Vec<String> = settings
        .config
        .services
        .iter()
        .map(|s| format!("{} ({})", s.id, s.name))
        .collect();
    tracing::info!(services = ?services, "receiver hosting");
    let running = receiver::start(settings).await?;
    roles::until_signal("receiver", running, args.database()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(instance_id: Option<&str>) -> ReceiverArgs {
        ReceiverArgs {
            ods_code: Some("RXR01".into()),
            listen: Some("127.0.0.1:8443".parse().unwrap()),
            instance_id: instance_id.map(str::to_string),
            ..ReceiverArgs::default()
        }
    }

    #[test]
    fn a_service_table_can_carry_its_own_access_policy() {
        #[derive(Deserialize)]
        struct File {
            services: Vec<ServiceSpec>,
        }
        let file: File = toml::from_str(
            r#"
            [[services]]
            id = "2000011111"
            name = "Open"
            [[services]]
            id = "2000011112"
            name = "Closed"
            allow_organisations = ["B2002"]
            practitioner_details_for = ["B2002"]
            "#,
        )
        .unwrap();
        let mut settings = args(None);
        settings.services = file.services;
        let config = settings.config().unwrap();
        assert_eq!(config.services.len(), 2);
        assert_eq!(
            config.service_access.keys().collect::<Vec<_>>(),
            ["2000011112"]
        );
        let policy = &config.service_access["2000011112"];
        assert_eq!(policy.organisations, ["B2002"]);
        assert_eq!(policy.practitioner_details_for, ["B2002"]);
        assert_eq!(config.access, AccessPolicy::default());
    }

    #[test]
    fn the_instance_name_survives_a_restart_and_differs_per_listener() {
        // The same settings give the same name, so a restarted receiver takes back its leases.
        let first = args(None).config().unwrap().instance.unwrap();
        assert_eq!(args(None).config().unwrap().instance.unwrap(), first);
        assert!(first.ends_with("/127.0.0.1:8443"), "{first}");
        let mut other = args(None);
        other.listen = Some("127.0.0.1:8444".parse().unwrap());
        assert_ne!(other.config().unwrap().instance.unwrap(), first);
        assert_eq!(
            args(Some("rx-a")).config().unwrap().instance.as_deref(),
            Some("rx-a")
        );
    }

    #[test]
    fn subscribers_in_the_file_are_checked_and_reach_the_configuration() {
        #[derive(Deserialize)]
        struct File {
            services: Vec<ServiceSpec>,
            subscribers: Vec<SubscriberEntry>,
        }
        let file: File = toml::from_str(
            r#"
            [[services]]
            id = "2000011111"
            name = "Open"
            [[subscribers]]
            id = "pas"
            service = "2000011111"
            url = "https://pas.example/bars"
            secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
            [[subscribers]]
            id = "rota"
            service = "2000099999"
            url = "ftp://rota.example"
            secret = "plain"
            "#,
        )
        .unwrap();
        let mut settings = args(None);
        settings.services = file.services;
        settings.subscribers = file.subscribers;
        let problems = format!("{:?}", settings::RoleSettings::problems(&settings));
        for named in [
            "subscribers[1].service",
            "subscribers[1].url",
            "subscribers[1].secret",
        ] {
            assert!(problems.contains(named), "{named} in {problems}");
        }
        assert!(!problems.contains("subscribers[0]"), "{problems}");
        settings.subscribers.truncate(1);
        let config = settings.config().unwrap();
        assert_eq!(config.events.subscribers.len(), 1);
        assert_eq!(config.events.subscribers[0].service_id, "2000011111");
    }
}
