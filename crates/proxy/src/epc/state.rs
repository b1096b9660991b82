//! The whole catalogue as one value: what routing, searches and every write decision read.
//! Built from the database's rows (or, for a proxy without a database, kept in memory) and
//! replaced whole, so a reader sees one consistent catalogue.

use std::collections::BTreeMap;

use bars_fhir::headers::TargetIdentifier;
use bars_fhir::instant::Instant;

use super::record::{EndpointRecord, Kind, Meta, ServiceRecord, same_system};
use super::shape;
use crate::store::{CatalogueChange, StoredRecord};

/// Where a target identifier leads (delta D24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// One active BaRS endpoint: its address (no trailing `/`) and the service's name.
    One {
        address: String,
        service: String,
    },
    NotFound,
    /// More than one active BaRS endpoint: the proxy cannot choose.
    Many,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogueState {
    pub services: BTreeMap<String, ServiceRecord>,
    pub endpoints: BTreeMap<String, EndpointRecord>,
    pub templates: BTreeMap<String, EndpointRecord>,
}

impl CatalogueState {
    /// The catalogue the database's rows describe. A row that does not read (written by a
    /// newer build, or damaged) is left out and named in the log, never routed to.
    pub fn from_rows(rows: &[StoredRecord]) -> CatalogueState {
        let mut state = CatalogueState::default();
        for row in rows {
            if let Err(why) = state.load(row) {
                tracing::error!(kind = %row.kind, id = %row.id, %why, "a catalogue record in the proxy database does not read; it is ignored");
            }
        }
        state
    }

    fn load(&mut self, row: &StoredRecord) -> Result<(), String> {
        let kind = Kind::parse(&row.kind).ok_or("unknown kind")?;
        let body: serde_json::Value =
            serde_json::from_str(&row.body).map_err(|_| "not JSON".to_string())?;
        let meta = Meta {
            version: row.version,
            last_updated: Instant::parse(&row.last_updated)
                .map_err(|_| "lastUpdated is not an instant".to_string())?,
        };
        match kind {
            Kind::Service => {
                let mut record = shape::service(&body).map_err(|e| e.to_string())?.record;
                record.id = row.id.clone();
                record.meta = meta;
                self.services.insert(row.id.clone(), record);
            }
            Kind::Endpoint | Kind::Template => {
                let mut record = shape::endpoint(&body, kind)
                    .map_err(|e| e.to_string())?
                    .record;
                record.id = row.id.clone();
                record.meta = meta;
                self.endpoints_of_mut(kind).insert(row.id.clone(), record);
            }
        }
        Ok(())
    }

    pub fn endpoints_of(&self, kind: Kind) -> &BTreeMap<String, EndpointRecord> {
        match kind {
            Kind::Template => &self.templates,
            _ => &self.endpoints,
        }
    }

    fn endpoints_of_mut(&mut self, kind: Kind) -> &mut BTreeMap<String, EndpointRecord> {
        match kind {
            Kind::Template => &mut self.templates,
            _ => &mut self.endpoints,
        }
    }

    /// Applies decided changes (the in-memory catalogue of a proxy without a database).
    pub fn apply(&mut self, changes: &[CatalogueChange]) {
        for change in changes {
            match change {
                CatalogueChange::Put(row) => {
                    if let Err(why) = self.load(row) {
                        tracing::error!(id = %row.id, %why, "a decided catalogue change does not read");
                    }
                }
                CatalogueChange::Delete { kind, id } => match Kind::parse(kind) {
                    Some(Kind::Service) => {
                        self.services.remove(id);
                    }
                    Some(k) => {
                        self.endpoints_of_mut(k).remove(id);
                    }
                    None => {}
                },
                // Only the database holds pre-FHIR entries.
                CatalogueChange::RetireLegacy { .. } => {}
            }
        }
    }

    /// The services whose identifier is the target (system compared without scheme or case).
    pub fn services_for<'a>(
        &'a self,
        target: &TargetIdentifier,
    ) -> impl Iterator<Item = &'a ServiceRecord> + 'a {
        let target = target.clone();
        self.services.values().filter(move |s| {
            s.identifiers
                .iter()
                .any(|i| i.value == target.value && same_system(&i.system, &target.system))
        })
    }

    /// Delta D24: the active services with the target identifier, their endpoints, those that
    /// are active BaRS endpoints within their period at `now`.
    pub fn route(&self, target: &TargetIdentifier, now: Instant) -> Route {
        let mut found: Vec<(&EndpointRecord, &ServiceRecord)> = Vec::new();
        for service in self.services_for(target).filter(|s| s.active) {
            for id in &service.endpoints {
                if let Some(e) = self.endpoints.get(id)
                    && e.routable_at(now)
                    && !found.iter().any(|(f, _)| f.id == e.id)
                {
                    found.push((e, service));
                }
            }
        }
        match found.as_slice() {
            [] => Route::NotFound,
            [(endpoint, service)] => Route::One {
                address: endpoint.address.trim_end_matches('/').to_string(),
                service: service.name.clone(),
            },
            _ => Route::Many,
        }
    }

    /// The services that reference an endpoint.
    pub fn referencing<'a>(
        &'a self,
        endpoint_id: &'a str,
    ) -> impl Iterator<Item = &'a ServiceRecord> + 'a {
        self.services
            .values()
            .filter(move |s| s.endpoints.iter().any(|e| e == endpoint_id))
    }
}
