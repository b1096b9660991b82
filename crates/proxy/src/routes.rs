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

/// Finds the route for a path, or `None` for a path the BaRS API does not have.
pub fn route_for(path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    use Destination::*;
    Some(match segments.as_slice() {
        ["metadata"] => route(Receiver, "GET", "/metadata"),
        ["Slot"] => route(Receiver, "GET", "/Slot"),
        ["Slots"] => route(Receiver, "GET", "/Slots"),
        ["Appointment"] => route(Receiver, "GET, POST", "/Appointment"),
        ["Appointment", id] if !id.is_empty() => {
            route(Receiver, "GET, PUT, PATCH, DELETE", "/Appointment/{id}")
        }
        ["Appointment", id, "_history"] if !id.is_empty() => {
            route(Receiver, "GET", "/Appointment/{id}/_history")
        }
        ["Appointment", id, "_history", v] if !id.is_empty() && !v.is_empty() => {
            route(Receiver, "GET", "/Appointment/{id}/_history/{vid}")
        }
        ["$process-message"] => route(Receiver, "POST", "/$process-message"),
        ["MessageDefinition"] => route(Receiver, "GET", "/MessageDefinition"),
        ["ServiceRequest"] => route(Receiver, "GET, POST", "/ServiceRequest"),
        ["ServiceRequest", id] if !id.is_empty() => {
            route(Receiver, "GET, PUT, PATCH", "/ServiceRequest/{id}")
        }
        ["DocumentReference"] => route(Registry, "GET, POST", "/DocumentReference"),
        ["DocumentReference", id] if !id.is_empty() => {
            route(Registry, "GET, PUT, DELETE", "/DocumentReference/{id}")
        }
        ["HealthcareService"] => route(Proxy, "GET", "/HealthcareService"),
        _ => return None,
    })
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
        assert!(route_for("/Nope").is_none());
        assert!(route_for("/Appointment/").is_none());
        assert!(route_for("/Appointment/x/y").is_none());
    }
}
