//! The Endpoint Catalogue: which receiver serves which target identifier. Senders name a
//! service (`NHSD-Target-Identifier`); the proxy finds where to send the request.

use std::sync::RwLock;

use bars_fhir::headers::TargetIdentifier;
use serde::{Deserialize, Serialize};

/// One service and the receiver that serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub system: String,
    pub value: String,
    /// The service's name, shown to senders choosing where to book.
    pub name: String,
    /// The receiver's base URL; requests keep their path and query below it.
    pub url: String,
    /// The receiving organisation's ODS code.
    #[serde(default)]
    pub ods_code: Option<String>,
}

impl Endpoint {
    pub fn target(&self) -> TargetIdentifier {
        TargetIdentifier::new(&self.system, &self.value)
    }
}

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
    #[error("the catalogue already has an endpoint for {0}")]
    Duplicate(String),
    #[error("an endpoint needs a system, a value, a name and an http(s) URL")]
    Invalid,
}

#[derive(Debug, Default)]
pub struct Catalogue {
    entries: RwLock<Vec<Endpoint>>,
}

fn valid(e: &Endpoint) -> bool {
    !e.system.is_empty()
        && !e.value.is_empty()
        && !e.name.is_empty()
        && (e.url.starts_with("http://") || e.url.starts_with("https://"))
}

impl Catalogue {
    /// A catalogue as configured. Duplicates are kept (and reported by `resolve`), because a
    /// configuration file is the operator's to correct.
    pub fn from_entries(entries: Vec<Endpoint>) -> Result<Catalogue, CatalogueError> {
        if entries.iter().any(|e| !valid(e)) {
            return Err(CatalogueError::Invalid);
        }
        let entries = entries.into_iter().map(|mut e| {
            e.url = e.url.trim_end_matches('/').to_string();
            e
        });
        Ok(Catalogue {
            entries: RwLock::new(entries.collect()),
        })
    }

    pub fn resolve(&self, target: &TargetIdentifier) -> Resolution {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let mut found = entries
            .iter()
            .filter(|e| e.system == target.system && e.value == target.value);
        match (found.next(), found.next()) {
            (None, _) => Resolution::NotFound,
            (Some(one), None) => Resolution::One(one.clone()),
            (Some(_), Some(_)) => Resolution::Many,
        }
    }

    pub fn list(&self) -> Vec<Endpoint> {
        self.entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The endpoint as the catalogue keeps it (its URL without a trailing slash), or why it
    /// cannot be listed.
    pub fn checked(mut endpoint: Endpoint) -> Result<Endpoint, CatalogueError> {
        if !valid(&endpoint) {
            return Err(CatalogueError::Invalid);
        }
        endpoint.url = endpoint.url.trim_end_matches('/').to_string();
        Ok(endpoint)
    }

    /// Replaces every entry at once, with what the proxy's database holds: readers see the old
    /// catalogue or the new one, never a mixture.
    pub fn replace_all(&self, entries: Vec<Endpoint>) {
        *self.entries.write().unwrap_or_else(|p| p.into_inner()) = entries;
    }

    /// Adds an endpoint through the admin API; a second entry for one target is refused.
    pub fn add(&self, endpoint: Endpoint) -> Result<(), CatalogueError> {
        let endpoint = Self::checked(endpoint)?;
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries
            .iter()
            .any(|e| e.system == endpoint.system && e.value == endpoint.value)
        {
            return Err(CatalogueError::Duplicate(endpoint.target().token()));
        }
        entries.push(endpoint);
        Ok(())
    }

    /// Replaces the endpoint(s) for a target.
    pub fn replace(&self, endpoint: Endpoint) -> Result<(), CatalogueError> {
        let endpoint = Self::checked(endpoint)?;
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.retain(|e| !(e.system == endpoint.system && e.value == endpoint.value));
        entries.push(endpoint);
        Ok(())
    }

    pub fn remove(&self, target: &TargetIdentifier) -> bool {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let before = entries.len();
        entries.retain(|e| !(e.system == target.system && e.value == target.value));
        entries.len() != before
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
    fn resolves_one_none_or_many() {
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
    }

    #[test]
    fn the_admin_api_cannot_create_duplicates() {
        let c = Catalogue::default();
        c.add(ep("1", "http://a")).unwrap();
        assert!(matches!(
            c.add(ep("1", "http://b")),
            Err(CatalogueError::Duplicate(_))
        ));
        c.replace(ep("1", "http://b")).unwrap();
        assert_eq!(
            c.resolve(&TargetIdentifier::dos("1")),
            Resolution::One(ep("1", "http://b"))
        );
        assert!(c.remove(&TargetIdentifier::dos("1")));
        assert_eq!(c.add(ep("", "http://a")), Err(CatalogueError::Invalid));
        assert_eq!(c.add(ep("9", "ftp://a")), Err(CatalogueError::Invalid));
    }
}
