//! Reaching a receiver's admin API from the command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use bars_http::client::HttpClient;
use bytes::Bytes;
use http::Method;
use serde_json::Value;

#[derive(Debug, Clone, clap::Args)]
pub struct AdminTarget {
    /// The receiver's admin API.
    #[arg(long, env = "BARS_ADMIN_URL", default_value = "http://127.0.0.1:8081")]
    pub admin_url: String,
    /// Bearer token for the admin API, if it requires one.
    #[arg(long, env = "BARS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// CA (PEM) to trust for an https:// admin URL (a role started with admin_tls).
    #[arg(long, env = "BARS_ADMIN_CA")]
    pub admin_ca: Option<PathBuf>,
}

impl AdminTarget {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let tls = match &self.admin_ca {
            Some(path) => {
                let ca = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Some(bars_pki::tls::client_config(&ca, None).map_err(|e| anyhow::anyhow!("{e}"))?)
            }
            None => None,
        };
        let client = HttpClient::new(tls, Duration::from_secs(120));
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(t) = &self.admin_token {
            headers.push(("authorization", format!("Bearer {t}")));
        }
        let url = format!("{}{}", self.admin_url.trim_end_matches('/'), path);
        let r = client
            .call(
                method,
                &url,
                &headers,
                body.map(|b| Bytes::from(b.to_string())),
            )
            .await
            .with_context(|| format!("cannot reach the admin API at {}", self.admin_url))?;
        let json = r.json().unwrap_or(Value::Null);
        if !r.status.is_success() {
            let why = bars_fhir::outcome::summarise(&json)
                .and_then(|s| s.diagnostics)
                .unwrap_or_else(|| String::from_utf8_lossy(&r.body).into_owned());
            bail!("the admin API refused ({}): {why}", r.status);
        }
        Ok(json)
    }
}
