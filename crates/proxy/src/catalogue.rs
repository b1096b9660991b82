//! The Endpoint Catalogue as routing reads it: the whole catalogue in memory
//! ([`CatalogueState`]), replaced at once whenever the database changes, so a routed call never
//! waits for a database. Senders name a service (`NHSD-Target-Identifier`); the catalogue says
//! where to send the request (delta D24, [`CatalogueState::route`]).
//!
//! [`Endpoint`] is a configured entry: the TOML catalogue's shape and the admin API's, written
//! into the catalogue as a HealthcareService and its Endpoint ([`crate::epc::seed`]).

use std::sync::{Arc, RwLock};

use bars_fhir::headers::TargetIdentifier;
use bars_fhir::instant::Instant;

use crate::epc::seed;
use crate::epc::state::{CatalogueState, Route};

pub use crate::endpoint::Endpoint;

/// The result of resolving a target identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    One(Endpoint),
    NotFound,
    /// The catalogue lists the identifier more than once: the proxy cannot choose.
    Many,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("an endpoint needs a system, a value, a name and an http(s) URL")]
    Invalid,
}

#[derive(Debug, Default)]
pub struct Catalogue {
    state: RwLock<Arc<CatalogueState>>,
}

fn valid(e: &Endpoint) -> bool {
    !e.system.is_empty()
        && !e.value.is_empty()
        && !e.name.is_empty()
        && (e.url.starts_with("http://") || e.url.starts_with("https://"))
}

impl Catalogue {
    /// A catalogue of configured entries only (a proxy without a database). Duplicates are kept
    /// (and reported by `resolve`), because a configuration file is the operator's to correct.
    pub fn from_entries(entries: Vec<Endpoint>) -> Result<Catalogue, CatalogueError> {
        let entries = entries
            .into_iter()
            .map(Self::checked)
            .collect::<Result<Vec<_>, _>>()?;
        let catalogue = Catalogue::default();
        catalogue.replace_all(seed::state_of(&entries, Instant::now()));
        Ok(catalogue)
    }

    /// Where a target identifier leads now (delta D24).
    pub fn resolve(&self, target: &TargetIdentifier) -> Resolution {
        let state = self.state();
        match state.route(target, Instant::now()) {
            Route::One { address, service } => Resolution::One(Endpoint {
                system: target.system.clone(),
                value: target.value.clone(),
                name: service,
                url: address,
                ods_code: None,
            }),
            Route::NotFound => Resolution::NotFound,
            Route::Many => Resolution::Many,
        }
    }

    /// The catalogue as it is now; later changes replace it, never alter it.
    pub fn state(&self) -> Arc<CatalogueState> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The catalogue as configured entries (the admin API's listing): each service by its
    /// first identifier, with the address of its first BaRS endpoint.
    pub fn list(&self) -> Vec<Endpoint> {
        let state = self.state();
        let mut entries: Vec<Endpoint> = state
            .services
            .values()
            .filter_map(|s| {
                let id = s.identifiers.first()?;
                let endpoint = s
                    .endpoints
                    .iter()
                    .filter_map(|e| state.endpoints.get(e))
                    .find(|e| e.is_bars())?;
                Some(Endpoint {
                    system: id.system.clone(),
                    value: id.value.clone(),
                    name: s.name.clone(),
                    url: endpoint.address.clone(),
                    ods_code: s.provided_by.first().cloned(),
                })
            })
            .collect();
        entries.sort_by(|a, b| (&a.system, &a.value, &a.url).cmp(&(&b.system, &b.value, &b.url)));
        entries
    }

    /// The entry as the catalogue keeps it (its URL without a trailing slash), or why it
    /// cannot be listed.
    pub fn checked(mut endpoint: Endpoint) -> Result<Endpoint, CatalogueError> {
        if !valid(&endpoint) {
            return Err(CatalogueError::Invalid);
        }
        endpoint.url = endpoint.url.trim_end_matches('/').to_string();
        Ok(endpoint)
    }

    /// Replaces the whole catalogue: readers see the old one or the new one, never a mixture.
    pub fn replace_all(&self, state: CatalogueState) {
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(value: &str, url: &str) -> Endpoint {
        Endpoint {
            system: "https://fhir.nhs.uk/Id/dos-service-id".into(),
            value: value.into(),
            name: format!("Service {value}"),
            url: url.into(),
            ods_code: None,
        }
    }

    #[test]
    fn configured_entries_resolve_to_one_none_or_many() {
        let c = Catalogue::from_entries(vec![
            ep("1", "http://a/"),
            ep("2", "http://b"),
            ep("2", "http://c"),
        ])
        .unwrap();
        assert_eq!(
            c.resolve(&TargetIdentifier::dos("1")),
            Resolution::One(ep("1", "http://a"))
        );
        assert_eq!(c.resolve(&TargetIdentifier::dos("3")), Resolution::NotFound);
        assert_eq!(c.resolve(&TargetIdentifier::dos("2")), Resolution::Many);
        assert_eq!(
            c.resolve(&TargetIdentifier::new("other", "1")),
            Resolution::NotFound
        );
        assert_eq!(c.list().len(), 3);
        assert_eq!(
            Catalogue::checked(ep("", "http://a")),
            Err(CatalogueError::Invalid)
        );
        assert_eq!(
            Catalogue::checked(ep("9", "ftp://a")),
            Err(CatalogueError::Invalid)
        );
    }
}
