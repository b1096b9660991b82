//! The stack's development PKI, kept in a directory and reused when present.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bars_pki::{Algorithm, Ca, Identity, SigningKey};

use bars_pki::DEV_CA_NAME as CA_NAME;

pub struct DevPki {
    pub ca_pem: String,
    pub ca_path: PathBuf,
    /// One server certificate (localhost, 127.0.0.1) for every listener.
    pub servers: Identity,
    /// The proxy's client certificate for mutual TLS.
    pub proxy_client: Identity,
    pub sender_key: SigningKey,
    pub sender_key_path: PathBuf,
    /// Each receiver's key for writing pointers through the proxy, by ODS code.
    pub receiver_keys: HashMap<String, SigningKey>,
}

pub(crate) fn pki_error(err: bars_pki::PkiError) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}

impl DevPki {
    /// Loads the PKI in `dir`, creating what is missing.
    pub fn ensure(dir: &Path, sender: &str, receivers: &[&str]) -> anyhow::Result<DevPki> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let ca = match Identity::read(dir, "ca") {
            Ok(id) => Ca::load(id, CA_NAME).map_err(pki_error)?,
            Err(_) => {
                let ca = Ca::generate(CA_NAME).map_err(pki_error)?;
                ca.identity().write(dir, "ca").map_err(pki_error)?;
                ca
            }
        };
        let identity = |name: &str,
                        make: &dyn Fn() -> Result<Identity, bars_pki::PkiError>|
         -> anyhow::Result<Identity> {
            match Identity::read(dir, name) {
                Ok(id) => Ok(id),
                Err(_) => {
                    let id = make().map_err(pki_error)?;
                    id.write(dir, name).map_err(pki_error)?;
                    Ok(id)
                }
            }
        };
        let key = |name: &str, alg: Algorithm| -> anyhow::Result<SigningKey> {
            match SigningKey::read(dir, name) {
                Ok(k) => Ok(k),
                Err(_) => {
                    let k = SigningKey::generate(alg, &format!("{name}-1")).map_err(pki_error)?;
                    k.write(dir, name).map_err(pki_error)?;
                    Ok(k)
                }
            }
        };
        let servers = identity("servers", &|| {
            ca.issue_server("localhost", &["localhost", "127.0.0.1"])
        })?;
        let proxy_client = identity("proxy-client", &|| ca.issue_client("bars-proxy"))?;
        let sender_key = key(sender, Algorithm::ES256)?;
        let mut receiver_keys = HashMap::new();
        for ods in receivers {
            receiver_keys.insert(
                ods.to_string(),
                key(
                    &format!("receiver-{}", ods.to_ascii_lowercase()),
                    Algorithm::RS512,
                )?,
            );
        }
        let absolute = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
        Ok(DevPki {
            ca_pem: ca.cert_pem().to_string(),
            ca_path: absolute(dir.join("ca.pem")),
            servers,
            proxy_client,
            sender_key,
            sender_key_path: absolute(dir.join(format!("{sender}.key.pem"))),
            receiver_keys,
        })
    }
}
