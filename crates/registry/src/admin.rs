//! The registry's operators' listener: metrics and health, never reachable through the proxy.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use bars_fhir::IssueType;
use bars_http::ApiError;
use bars_http::admin::{self, AdminRole};
use bars_http::health::{Check, Readiness};
use bars_http::metrics::{CONTENT_TYPE, Exposition};
use http::{HeaderValue, header};

use crate::errors::{SpineCode, spine};
use crate::state::RegistryState;
use crate::store::RegistryStore;

fn refused() -> ApiError {
    spine(
        SpineCode::AccessDenied,
        IssueType::Security,
        "the admin API needs the admin bearer token",
    )
}

fn not_found() -> ApiError {
    spine(
        SpineCode::ResourceNotFound,
        IssueType::NotFound,
        "no such admin path",
    )
}

/// What `/_status` checks: the database answers with a current schema.
struct RegistryReadiness {
    store: Arc<dyn RegistryStore>,
}

#[async_trait]
impl Readiness for RegistryReadiness {
    async fn checks(&self) -> Vec<Check> {
        vec![Check::timed("database", self.store.ping()).await]
    }
}

/// `/_ping` and `/_status`, for the API and admin listeners alike.
pub fn health<S: Clone + Send + Sync + 'static>(state: &RegistryState) -> Router<S> {
    bars_http::health::routes(
        "bars-registry",
        Arc::new(RegistryReadiness {
            store: state.store.clone(),
        }),
    )
}

pub fn router(state: RegistryState, token: Option<String>) -> Router {
    let role = AdminRole {
        role: "registry",
        metrics: state.http.clone(),
        refused,
        not_found,
    };
    let routes = Router::new().route("/metrics", get(metrics));
    admin::router(role, token, routes, health(&state), state)
}

async fn metrics(State(state): State<RegistryState>) -> Response {
    let mut out = Exposition::default();
    state.http.render(&mut out);
    let pools = state.store.pool_status();
    out.connection_pools(&pools.iter().map(|p| p.as_tuple()).collect::<Vec<_>>());
    let mut response = Response::new(Body::from(out.into_text()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}
