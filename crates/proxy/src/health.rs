//! What `/_status` checks on the proxy: that the Registry and every receiver in the catalogue
//! answer their `/_ping`, and that the proxy's database answers.
//!
//! An unreachable upstream makes the proxy `warn`, not `fail`: the proxy itself is ready and
//! still routes to every other service, so a load balancer must keep it in rotation. Probes run
//! concurrently with a short deadline, and their result is reused for a few seconds so that
//! `/_status` (which anyone may call) cannot be turned into a flood of calls to receivers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use bars_http::client::HttpClient;
use bars_http::health::{Check, Health, Readiness};
use http::Method;

use crate::state::ProxyState;

/// How long one upstream has to answer its `/_ping`.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a probe's result is reused.
const PROBE_REUSE: Duration = Duration::from_secs(5);

struct ProxyReadiness {
    state: Arc<ProxyState>,
}

async fn probe(client: &HttpClient, base: &str, component: String) -> Check {
    let url = format!("{}/_ping", base.trim_end_matches('/'));
    let answer = async {
        let request = http::Request::builder()
            .method(Method::GET)
            .uri(url.as_str())
            .body(bytes::Bytes::new())
            .map_err(|e| e.to_string())?;
        let response = client
            .send_with_timeout(request, PROBE_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        if response.status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", response.status.as_u16()))
        }
    };
    let check = Check::timed("upstream", answer).await.component(component);
    match check.status {
        // The proxy still serves every other upstream.
        Health::Fail => Check {
            status: Health::Warn,
            ..check
        },
        _ => check,
    }
}

#[async_trait]
impl Readiness for ProxyReadiness {
    async fn checks(&self) -> Vec<Check> {
        if let Some(checks) = self.state.upstream_health.within(PROBE_REUSE) {
            return checks;
        }
        // One probe per receiver, named by the services it hosts (the URLs stay private).
        let mut receivers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for endpoint in self.state.catalogue.list() {
            receivers
                .entry(endpoint.url.clone())
                .or_default()
                .push(endpoint.value.clone());
        }
        let mut probes = tokio::task::JoinSet::new();
        {
            let client = self.state.registry.clone();
            let base = self.state.config.registry_url.clone();
            probes.spawn(async move { probe(&client, &base, "registry".into()).await });
        }
        for (url, services) in receivers {
            let client = self.state.receivers.clone();
            probes.spawn(async move {
                probe(&client, &url, format!("receiver:{}", services.join(","))).await
            });
        }
        if let Some(store) = self.state.directory.store().cloned() {
            // The proxy keeps routing on the directory it loaded while its database is away;
            // only admin changes and token requests wait for it.
            probes.spawn(async move {
                let check = Check::timed("database", store.ping()).await;
                match check.status {
                    Health::Fail => Check {
                        status: Health::Warn,
                        ..check
                    },
                    _ => check,
                }
            });
        }
        let mut checks = Vec::new();
        while let Some(done) = probes.join_next().await {
            if let Ok(check) = done {
                checks.push(check);
            }
        }
        checks.sort_by(|a, b| a.component_id.cmp(&b.component_id));
        self.state.upstream_health.keep(&checks);
        checks
    }
}

/// `/_ping` and `/_status`, for the API and admin listeners alike.
pub fn routes<S: Clone + Send + Sync + 'static>(state: &Arc<ProxyState>) -> Router<S> {
    bars_http::health::routes(
        "bars-proxy",
        Arc::new(ProxyReadiness {
            state: state.clone(),
        }),
    )
}
