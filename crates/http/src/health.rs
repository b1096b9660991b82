//! `/_ping` (the process answers) and `/_status` (it can do its job), as the BaRS proxy exposes
//! them, on every role.
//!
//! Both answer in the shape of the IETF health-check draft (`application/health+json`) that load
//! balancers and monitoring tools read: a top-level `status` of `pass`, `warn` or `fail`, and
//! named `checks`. `fail` is 503 so a load balancer takes the instance out of rotation; `warn`
//! (say, a Registry that is behind) stays 200 because the instance still serves bookings.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bars_fhir::Instant as FhirInstant;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

pub const HEALTH_JSON: &str = "application/health+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Pass,
    Warn,
    Fail,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Pass => "pass",
            Health::Warn => "warn",
            Health::Fail => "fail",
        }
    }
}

/// One observation: `name` is `component:measurement` (e.g. `database:responseTime`).
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub status: Health,
    pub component_id: Option<String>,
    pub observed_value: Option<Value>,
    pub observed_unit: Option<&'static str>,
    /// Why a check did not pass, for the operator. Never patient data.
    pub output: Option<String>,
}

impl Check {
    pub fn new(name: impl Into<String>, status: Health) -> Check {
        Check {
            name: name.into(),
            status,
            component_id: None,
            observed_value: None,
            observed_unit: None,
            output: None,
        }
    }

    pub fn observed(mut self, value: impl Into<Value>, unit: Option<&'static str>) -> Check {
        self.observed_value = Some(value.into());
        self.observed_unit = unit;
        self
    }

    pub fn component(mut self, id: impl Into<String>) -> Check {
        self.component_id = Some(id.into());
        self
    }

    pub fn output(mut self, text: impl Into<String>) -> Check {
        self.output = Some(text.into());
        self
    }

    /// Times `probe` and reports its result as `<component>:responseTime`.
    pub async fn timed<E: std::fmt::Display>(
        component: &str,
        probe: impl Future<Output = Result<(), E>>,
    ) -> Check {
        let started = Instant::now();
        let result = probe.await;
        let millis = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        let check = Check::new(format!("{component}:responseTime"), Health::Pass)
            .observed(millis, Some("ms"));
        match result {
            Ok(()) => check,
            Err(e) => Check {
                status: Health::Fail,
                ..check.output(e.to_string())
            },
        }
    }
}

/// What a role knows about its own readiness.
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    async fn checks(&self) -> Vec<Check>;
}

/// The document `/_status` answers with.
pub fn report(service: &str, checks: &[Check]) -> (Health, Value) {
    let status = checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(Health::Pass);
    let mut named: Map<String, Value> = Map::new();
    for check in checks {
        let mut entry = Map::new();
        entry.insert("status".into(), json!(check.status.as_str()));
        if let Some(id) = &check.component_id {
            entry.insert("componentId".into(), json!(id));
        }
        if let Some(value) = &check.observed_value {
            entry.insert("observedValue".into(), value.clone());
        }
        if let Some(unit) = check.observed_unit {
            entry.insert("observedUnit".into(), json!(unit));
        }
        if let Some(output) = &check.output {
            entry.insert("output".into(), json!(output));
        }
        entry.insert("time".into(), json!(FhirInstant::now().to_string()));
        if let Some(Value::Array(list)) = named.get_mut(&check.name) {
            list.push(Value::Object(entry));
        } else {
            named.insert(check.name.clone(), json!([Value::Object(entry)]));
        }
    }
    (
        status,
        json!({
            "status": status.as_str(),
            "version": env!("CARGO_PKG_VERSION_MAJOR"),
            "releaseId": env!("CARGO_PKG_VERSION"),
            "serviceId": service,
            "checks": named,
        }),
    )
}

fn health_response(status: Health, body: Value) -> Response {
    let code = if status == Health::Fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut response = (code, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HEALTH_JSON));
    response
}

#[derive(Clone)]
struct Probe {
    service: &'static str,
    readiness: Arc<dyn Readiness>,
}

async fn ping(State(probe): State<Probe>) -> Response {
    health_response(
        Health::Pass,
        json!({
            "status": "pass",
            "version": env!("CARGO_PKG_VERSION_MAJOR"),
            "releaseId": env!("CARGO_PKG_VERSION"),
            "serviceId": probe.service,
        }),
    )
}

async fn status(State(probe): State<Probe>) -> Response {
    let checks = probe.readiness.checks().await;
    let (status, body) = report(probe.service, &checks);
    health_response(status, body)
}

/// `/_ping` and `/_status` for a role, to merge into its routers.
pub fn routes<S: Clone + Send + Sync + 'static>(
    service: &'static str,
    readiness: Arc<dyn Readiness>,
) -> Router<S> {
    Router::new()
        .route("/_ping", get(ping))
        .route("/_status", get(status))
        .with_state(Probe { service, readiness })
        // Merged into admin listeners outside the admin gate, so these routes decorate every
        // answer themselves, a 405 for the wrong method included.
        .layer(axum::middleware::map_response(decorate))
}

async fn decorate(mut response: Response) -> Response {
    crate::transport::apply_security_headers(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_check_decides_and_checks_are_grouped_by_name() {
        let checks = vec![
            Check::new("database:responseTime", Health::Pass).observed(1.5, Some("ms")),
            Check::new("upstream:responseTime", Health::Warn).component("a"),
            Check::new("upstream:responseTime", Health::Pass).component("b"),
        ];
        let (status, body) = report("bars-proxy", &checks);
        assert_eq!(status, Health::Warn);
        assert_eq!(body["status"], "warn");
        assert_eq!(
            body["checks"]["upstream:responseTime"][1]["componentId"],
            "b"
        );
        assert_eq!(
            body["checks"]["database:responseTime"][0]["observedUnit"],
            "ms"
        );
        let (status, _) = report("x", &[Check::new("db", Health::Fail)]);
        assert_eq!(status, Health::Fail);
        assert_eq!(report("x", &[]).0, Health::Pass);
    }
}
