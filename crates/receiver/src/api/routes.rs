//! The router, derived from the tables the CapabilityStatement and the OpenAPI document are
//! generated from ([`SERVED`], [`OPERATIONS`]): each declared interaction is routed to its
//! handler at the path [`route_of`] gives it, and each path's 405 names in `Allow` exactly the
//! methods routed there. What is declared, documented, routed and allowed cannot drift apart.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, any, on};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_http::guard::{Guard, guard};
use bars_http::observe::{Observer, observe};
use bars_http::transport::{TransportRules, transport};
use bars_http::{ApiError, RequestContext};

use super::reads;
use super::writes::{self, Action};
use crate::access::AccessPolicy;
use crate::capability::{OPERATIONS, SERVED, route_of};
use crate::state::AppState;

/// The order `Allow` lists methods in.
const METHODS: [(&str, MethodFilter); 5] = [
    ("GET", MethodFilter::GET),
    ("POST", MethodFilter::POST),
    ("PUT", MethodFilter::PUT),
    ("PATCH", MethodFilter::PATCH),
    ("DELETE", MethodFilter::DELETE),
];

/// Paths served besides those of the tables: the CapabilityStatement itself.
const METADATA: &str = "/metadata";

/// Other spellings of a served path: `$` is a legal path character, but some clients
/// percent-encode it; `/Slots` is what some senders call slot search.
const ALIASES: [(&str, &str); 2] = [
    ("/Slots", "/Slot"),
    ("/%24process-message", "/$process-message"),
];

/// Paths that BaRS exempts from access-control headers.
const OPEN_PATHS: [&str; 1] = [METADATA];

/// The handler of a resource's FHIR interaction, for `method`.
fn interaction(
    resource: &str,
    interaction: &str,
    method: MethodFilter,
) -> Option<MethodRouter<AppState>> {
    Some(match (resource, interaction) {
        ("Appointment", "read") => on(method, reads::read),
        ("Appointment", "vread") => on(method, reads::read_version),
        ("Appointment", "history-instance") => on(method, reads::read_history),
        ("Appointment", "search-type") => on(method, reads::search_appointments),
        ("Appointment", "create") => writes::on_collection(method, Action::Create),
        ("Appointment", "update") => writes::on_instance(method, Action::Update),
        ("Appointment", "patch") => writes::on_instance(method, Action::Patch),
        ("Appointment", "delete") => writes::on_instance(method, Action::Cancel),
        ("Slot", "search-type") => on(method, reads::search_slots),
        ("MessageDefinition", "search-type") => on(method, reads::search_message_definitions),
        _ => return None,
    })
}

/// The handler of a system-level operation, for `method`.
fn operation(name: &str, method: MethodFilter) -> Option<MethodRouter<AppState>> {
    match name {
        "process-message" => Some(writes::on_collection(method, Action::Message)),
        _ => None,
    }
}

/// One served path: the methods routed there, in `Allow` order, each with its handler.
struct Served {
    path: String,
    methods: Vec<(&'static str, MethodRouter<AppState>)>,
}

impl Served {
    /// What a 405 on this path names.
    fn allow(&self) -> String {
        let names: Vec<&str> = self.methods.iter().map(|(m, _)| *m).collect();
        names.join(", ")
    }
}

/// Every served path, from the tables. An interaction without a handler is left out (the
/// tests hold every declared one to its handler).
fn served() -> Vec<Served> {
    let mut table: Vec<Served> = Vec::new();
    let mut add = |path: String, method: &str, route: Option<MethodRouter<AppState>>| {
        let (Some((name, _)), Some(route)) = (METHODS.iter().find(|(m, _)| *m == method), route)
        else {
            return;
        };
        match table.iter_mut().find(|s| s.path == path) {
            Some(served) => served.methods.push((name, route)),
            None => table.push(Served {
                path,
                methods: vec![(name, route)],
            }),
        }
    };
    let filter = |method: &str| METHODS.iter().find(|(m, _)| *m == method).map(|(_, f)| *f);
    add(
        METADATA.to_string(),
        "GET",
        Some(on(MethodFilter::GET, reads::metadata)),
    );
    for resource in SERVED {
        for i in resource.interactions {
            if let Some((method, suffix)) = route_of(i) {
                let route = filter(method).and_then(|f| interaction(resource.resource, i, f));
                add(format!("/{}{suffix}", resource.resource), method, route);
            }
        }
    }
    for op in OPERATIONS {
        let route = filter(op.method).and_then(|f| operation(op.name, f));
        add(op.path.to_string(), op.method, route);
    }
    for (alias, path) in ALIASES {
        let methods = table
            .iter()
            .find(|s| s.path == path)
            .map(|s| s.methods.clone())
            .unwrap_or_default();
        table.push(Served {
            path: alias.to_string(),
            methods,
        });
    }
    for served in &mut table {
        served
            .methods
            .sort_by_key(|(m, _)| METHODS.iter().position(|(n, _)| n == m));
    }
    table
}

pub fn router(state: AppState, transport_rules: TransportRules) -> Router {
    let timeout = state.config.request_timeout;
    let mut router = Router::new();
    for served in served() {
        let allow: Arc<str> = Arc::from(served.allow());
        let methods = served
            .methods
            .into_iter()
            .fold(MethodRouter::new(), |all, (_, route)| all.merge(route))
            .fallback(move || {
                let allow = allow.clone();
                async move { ApiError::method_not_allowed(BarsCode::RecMethodNotAllowed, &allow) }
            });
        router = router.route(&served.path, methods);
    }
    router
        .route("/Appointment/", any(missing_id))
        .route("/ServiceRequest", any(referrals))
        .route("/ServiceRequest/{*rest}", any(referrals))
        .merge(crate::health::routes(&state))
        .merge(bars_http::openapi::route(crate::openapi::document()))
        .fallback(unknown_path)
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(
            Arc::new(Guard::receiver(timeout)),
            guard,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(state.config.access.clone()),
            enforce,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(transport_rules),
            transport,
        ))
        .layer(middleware::from_fn_with_state(
            Arc::new(Observer::new("receiver", "api", state.metrics.http.clone())),
            observe,
        ))
}

/// The receiver's access policy, applied to every request before routing.
async fn enforce(
    State(policy): State<Arc<AccessPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let verdict = match request.extensions().get::<RequestContext>() {
        Some(ctx) => policy.check(ctx),
        None => Ok(()),
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

async fn unknown_path() -> ApiError {
    ApiError::bars(
        BarsCode::RecNotFound,
        IssueType::NotFound,
        "this receiver serves no such path",
    )
}

/// Referrals share the BaRS API but are not part of the Appointment Management Foundation.
async fn referrals() -> ApiError {
    ApiError::bars(
        BarsCode::RecNotImplemented,
        IssueType::NotSupported,
        "referrals (ServiceRequest) are not implemented by this receiver",
    )
}

async fn missing_id() -> ApiError {
    ApiError::bars(
        BarsCode::RecBadRequest,
        IssueType::Required,
        "the appointment id is missing from the path",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_interaction_and_operation_has_its_handler() {
        for resource in SERVED {
            for i in resource.interactions {
                let (method, _) = route_of(i).unwrap();
                assert!(
                    METHODS.iter().any(|(m, _)| *m == method),
                    "{} {i}: {method} has no place in Allow",
                    resource.resource
                );
                assert!(
                    interaction(resource.resource, i, MethodFilter::GET).is_some(),
                    "{} {i} is declared but has no handler",
                    resource.resource
                );
            }
        }
        for op in OPERATIONS {
            assert!(
                operation(op.name, MethodFilter::POST).is_some(),
                "{}",
                op.name
            );
        }
    }

    #[test]
    fn each_path_allows_the_methods_routed_there() {
        let allowed: Vec<(String, String)> = served()
            .iter()
            .map(|s| (s.path.clone(), s.allow()))
            .collect();
        let expected = [
            ("/metadata", "GET"),
            ("/Appointment/{id}", "GET, PUT, PATCH, DELETE"),
            ("/Appointment/{id}/_history/{vid}", "GET"),
            ("/Appointment/{id}/_history", "GET"),
            ("/Appointment", "GET, POST"),
            ("/Slot", "GET"),
            ("/MessageDefinition", "GET"),
            ("/$process-message", "POST"),
            ("/Slots", "GET"),
            ("/%24process-message", "POST"),
        ]
        .map(|(p, a)| (p.to_string(), a.to_string()));
        assert_eq!(allowed, expected);
    }
}
