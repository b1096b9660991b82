//! The BaRS API as the proxy knows it: which paths exist, which verbs each accepts, and where
//! each goes.

/// Where a known path is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// To the receiver named by `NHSD-Target-Identifier`.
    Receiver,
    /// To the Registry (National Record Locator).
    Registry,
    /// Answered by the proxy itself.
    Proxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub destination: Destination,
    /// The verbs accepted, as an `Allow` header value.
    pub allow: &'static str,
    /// The path's template (`/Appointment/{id}`), for metrics and logs, which never carry ids.
    pub pattern: &'static str,
}

const fn route(destination: Destination, allow: &'static str, pattern: &'static str) -> Route {
    Route {
        destination,
        allow,
        pattern,
    }
}

/// Every path of the BaRS API the proxy serves, in one table: routing, `Allow` headers,
/// metrics labels and the OpenAPI document all come from it.
pub const ROUTES: &[Route] = {
    use Destination::*;
    &[
        route(Receiver, "GET", "/metadata"),
        route(Receiver, "GET", "/Slot"),
        route(Receiver, "GET", "/Slots"),
        route(Receiver, "GET, POST", "/Appointment"),
        route(Receiver, "GET, PUT, PATCH, DELETE", "/Appointment/{id}"),
        route(Receiver, "GET", "/Appointment/{id}/_history"),
        route(Receiver, "GET", "/Appointment/{id}/_history/{vid}"),
        route(Receiver, "POST", "/$process-message"),
        route(Receiver, "GET", "/MessageDefinition"),
        route(Receiver, "GET, POST", "/ServiceRequest"),
        route(Receiver, "GET, PUT, PATCH", "/ServiceRequest/{id}"),
        route(Registry, "GET, POST", "/DocumentReference"),
        route(Registry, "GET, PUT, DELETE", "/DocumentReference/{id}"),
        // The Endpoint Catalogue (BaRS 1.5 delta section 6); `$template` before `{id}`.
        route(Proxy, "GET, POST", "/HealthcareService"),
        route(Proxy, "GET, PUT, DELETE", "/HealthcareService/{id}"),
        route(Proxy, "GET, POST", "/Endpoint"),
        route(Proxy, "GET, POST", "/Endpoint/$template"),
        route(Proxy, "GET, PUT, DELETE", "/Endpoint/{id}"),
        route(Proxy, "PUT, DELETE", "/Endpoint/{id}/$template"),
    ]
};

/// Whether `path` fits `pattern`, where `{name}` stands for one non-empty segment.
fn matches(pattern: &str, path: &str) -> bool {
    let mut wanted = pattern.trim_start_matches('/').split('/');
    let mut given = path.trim_start_matches('/').split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

/// Finds the route for a path, or `None` for a path the BaRS API does not have.
pub fn route_for(path: &str) -> Option<Route> {
    ROUTES.iter().copied().find(|r| matches(r.pattern, path))
}

pub fn allows(route: &Route, method: &http::Method) -> bool {
    route.allow.split(", ").any(|m| m == method.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_and_verbs() {
        assert_eq!(
            route_for("/Slot").unwrap().destination,
            Destination::Receiver
        );
        assert_eq!(
            route_for("/DocumentReference/RX1-abc").unwrap().destination,
            Destination::Registry
        );
        assert!(allows(
            &route_for("/Appointment/x").unwrap(),
            &http::Method::PATCH
        ));
        assert!(!allows(&route_for("/Slot").unwrap(), &http::Method::POST));
        assert_eq!(
            route_for("/Endpoint/$template").unwrap().pattern,
            "/Endpoint/$template"
        );
        assert_eq!(
            route_for("/Endpoint/abc/$template").unwrap().pattern,
            "/Endpoint/{id}/$template"
        );
        assert_eq!(
            route_for("/Endpoint/abc").unwrap().pattern,
            "/Endpoint/{id}"
        );
        assert!(route_for("/Nope").is_none());
        assert!(route_for("/Appointment/").is_none());
        assert!(route_for("/Appointment/x/y").is_none());
    }
}
