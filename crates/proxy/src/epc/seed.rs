//! A configured endpoint (the TOML catalogue's `system`, `value`, `name`, `url`, `ods_code`) as
//! catalogue records: one HealthcareService with that identifier referencing one active BaRS
//! Endpoint at that URL, both provided and managed by the ODS code. Their ids are derived from
//! the target, so writing the same entry again updates the same two records; and the admin
//! API's endpoint commands, which speak in these entries, change the same records.

use bars_fhir::headers::TargetIdentifier;
use bars_fhir::instant::Instant;
use sha2::{Digest, Sha256};

use super::errors::EpcError;
use super::record::{
    BARS_PAYLOAD, CONNECTION_TYPE_SYSTEM, Code, EndpointRecord, Ident, Kind, Meta,
    PAYLOAD_TYPE_SYSTEM, Period, ServiceRecord,
};
use super::state::CatalogueState;
use crate::endpoint::Endpoint;
use crate::store::{CatalogueChange, SeedRecords, StoredRecord, endpoint_key, entry_text};

/// When a configured endpoint's period starts: routable from the first moment.
const SEEDED_FROM: &str = "2000-01-01T00:00:00Z";

/// A uuid-shaped id that the same text always gives.
fn derived_id(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The ids of the records of the configured entry for `system|value`; `occurrence` tells two
/// entries for one target apart (a configuration may list a target twice; routing then
/// answers `multiple-matches`).
pub fn ids(system: &str, value: &str, occurrence: usize) -> (String, String) {
    let key = match occurrence {
        0 => endpoint_key(system, value),
        n => format!("{}#{n}", endpoint_key(system, value)),
    };
    (
        derived_id(&format!("HealthcareService {key}")),
        derived_id(&format!("Endpoint {key}")),
    )
}

/// The two records of a configured entry.
pub fn records(
    entry: &Endpoint,
    occurrence: usize,
    now: Instant,
) -> (ServiceRecord, EndpointRecord) {
    let (service_id, endpoint_id) = ids(&entry.system, &entry.value, occurrence);
    let owners: Vec<String> = entry.ods_code.iter().cloned().collect();
    let meta = Meta {
        version: 1,
        last_updated: now,
    };
    let endpoint = EndpointRecord {
        id: endpoint_id.clone(),
        meta: meta.clone(),
        identifiers: vec![Ident::new(&entry.system, &entry.value)],
        status: "active".into(),
        connection_type: Code::new(CONNECTION_TYPE_SYSTEM, "hl7-fhir-rest", None),
        payload_types: vec![Code::new(PAYLOAD_TYPE_SYSTEM, BARS_PAYLOAD, Some("BaRS"))],
        name: entry.name.clone(),
        managing: owners.clone(),
        address: entry.url.trim_end_matches('/').to_string(),
        private: false,
        period: Some(Period {
            start: Some(SEEDED_FROM.into()),
            end: None,
        }),
    };
    let service = ServiceRecord {
        id: service_id,
        meta,
        identifiers: vec![Ident::new(&entry.system, &entry.value)],
        provided_by: owners,
        endpoints: vec![endpoint_id],
        active: true,
        name: entry.name.clone(),
    };
    (service, endpoint)
}

fn rows(service: &ServiceRecord, endpoint: &EndpointRecord) -> Vec<StoredRecord> {
    vec![
        StoredRecord {
            kind: Kind::Endpoint.as_str().into(),
            id: endpoint.id.clone(),
            version: endpoint.meta.version,
            last_updated: endpoint.meta.last_updated.to_string(),
            body: endpoint.body().to_string(),
        },
        StoredRecord {
            kind: Kind::Service.as_str().into(),
            id: service.id.clone(),
            version: service.meta.version,
            last_updated: service.meta.last_updated.to_string(),
            body: service.body().to_string(),
        },
    ]
}

/// The configuration file's endpoints as seed rows (see [`crate::store::Seed`]).
pub fn seed_rows(
    entries: &[Endpoint],
    now: Instant,
) -> Result<Vec<SeedRecords>, bars_store::StoreError> {
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let occurrence = entries[..i]
            .iter()
            .filter(|e| e.system == entry.system && e.value == entry.value)
            .count();
        let (service, endpoint) = records(entry, occurrence, now);
        let key = match occurrence {
            0 => endpoint_key(&entry.system, &entry.value),
            n => format!("{}#{n}", endpoint_key(&entry.system, &entry.value)),
        };
        out.push(SeedRecords {
            key,
            text: entry_text(entry)?,
            records: rows(&service, &endpoint),
        });
    }
    Ok(out)
}

/// A catalogue holding exactly the configured entries (a proxy without a database).
pub fn state_of(entries: &[Endpoint], now: Instant) -> CatalogueState {
    let mut state = CatalogueState::default();
    for (i, entry) in entries.iter().enumerate() {
        let occurrence = entries[..i]
            .iter()
            .filter(|e| e.system == entry.system && e.value == entry.value)
            .count();
        let (service, endpoint) = records(entry, occurrence, now);
        state.endpoints.insert(endpoint.id.clone(), endpoint);
        state.services.insert(service.id.clone(), service);
    }
    state
}

/// Removes every service with the target identifier, with the endpoints no other service
/// references. Empty when there is none.
pub fn removal(state: &CatalogueState, target: &TargetIdentifier) -> Vec<CatalogueChange> {
    let services: Vec<&ServiceRecord> = state.services_for(target).collect();
    let mut changes = Vec::new();
    for s in &services {
        changes.push(CatalogueChange::Delete {
            kind: Kind::Service.as_str().into(),
            id: s.id.clone(),
        });
        for e in &s.endpoints {
            let elsewhere = state
                .referencing(e)
                .any(|other| !services.iter().any(|gone| gone.id == other.id));
            let listed = changes
                .iter()
                .any(|c| matches!(c, CatalogueChange::Delete { id, .. } if id == e));
            if !elsewhere && !listed {
                changes.push(CatalogueChange::Delete {
                    kind: Kind::Endpoint.as_str().into(),
                    id: e.clone(),
                });
            }
        }
    }
    changes
}

/// The admin API's add: the entry's records, unless the target is already in the catalogue.
pub fn add(
    state: &CatalogueState,
    entry: &Endpoint,
    now: Instant,
) -> Result<Vec<CatalogueChange>, EpcError> {
    if state.services_for(&entry.target()).next().is_some() {
        return Err(EpcError::Duplicate(format!(
            "The catalogue already has a HealthcareService for {}.",
            entry.target().token()
        )));
    }
    let (service, endpoint) = records(entry, 0, now);
    Ok(rows(&service, &endpoint)
        .into_iter()
        .map(CatalogueChange::Put)
        .collect())
}

/// The admin API's replace: whatever served the target goes, the entry's records come.
pub fn replace(state: &CatalogueState, entry: &Endpoint, now: Instant) -> Vec<CatalogueChange> {
    let (service, endpoint) = records(entry, 0, now);
    let mut changes: Vec<CatalogueChange> = removal(state, &entry.target())
        .into_iter()
        .filter(|c| !matches!(c, CatalogueChange::Delete { id, .. } if *id == service.id || *id == endpoint.id))
        .collect();
    // Records the entry had before keep counting their versions.
    let after = |previous: Option<&Meta>| {
        previous.map(|m| Meta {
            version: m.version + 1,
            last_updated: now.after(m.last_updated),
        })
    };
    let (mut service, mut endpoint) = (service, endpoint);
    if let Some(m) = after(state.services.get(&service.id).map(|s| &s.meta)) {
        service.meta = m;
    }
    if let Some(m) = after(state.endpoints.get(&endpoint.id).map(|e| &e.meta)) {
        endpoint.meta = m;
    }
    changes.extend(
        rows(&service, &endpoint)
            .into_iter()
            .map(CatalogueChange::Put),
    );
    changes
}
