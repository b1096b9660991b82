//! Every catalogue write decided on one consistent [`CatalogueState`], with no I/O: the
//! sequence of the IG's update diagram (read, 404 when absent, 403 for a non-owner, then the
//! change), and the rules of delta 6.6: ownership (D17), immutability and status coherence
//! (D21), stale updates (D22), duplicates and orphans (D23). The result is the rows to write
//! and the answer to give; [`crate::directory`] writes them guarded by the revision they were
//! decided on, so a decision never applies to a catalogue that changed under it.

use bars_fhir::IssueType;
use bars_fhir::instant::Instant;
use serde_json::Value;

use super::errors::EpcError;
use super::record::{Caller, EndpointRecord, Kind, Meta, ServiceRecord, same_system};
use super::shape::{self, Claims};
use super::state::CatalogueState;
use crate::store::{CatalogueChange, StoredRecord};

/// A write asked of the catalogue.
#[derive(Debug, Clone)]
pub enum Write {
    /// POST: a new record; any id in the body is ignored (FHIR create).
    Create(Value),
    /// PUT: replaces the record with `id`, or creates it when there is none (upsert, OAS14).
    Put {
        id: String,
        body: Value,
        if_match: Option<String>,
    },
    Delete {
        id: String,
    },
}

/// What the caller is told once the rows are written.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Created {
        id: String,
        resource: Value,
        etag: String,
    },
    Updated {
        resource: Value,
        etag: String,
    },
    Deleted,
}

#[derive(Debug, Clone)]
pub struct Decided {
    pub changes: Vec<CatalogueChange>,
    pub answer: Answer,
}

/// Decides one write of `kind` by `caller` at `now`.
pub fn decide(
    state: &CatalogueState,
    kind: Kind,
    write: Write,
    caller: &Caller,
    now: Instant,
) -> Result<Decided, EpcError> {
    match (kind, write) {
        (Kind::Service, Write::Delete { id }) => delete_service(state, &id, caller),
        (_, Write::Delete { id }) => delete_endpoint(state, kind, &id, caller),
        (Kind::Service, Write::Create(body)) => {
            put_service(state, new_id(), &body, None, caller, now)
        }
        (_, Write::Create(body)) => put_endpoint(state, kind, new_id(), &body, None, caller, now),
        (Kind::Service, Write::Put { id, body, if_match }) => {
            put_service(state, checked_id(id)?, &body, if_match, caller, now)
        }
        (_, Write::Put { id, body, if_match }) => {
            put_endpoint(state, kind, checked_id(id)?, &body, if_match, caller, now)
        }
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A FHIR id: 1-64 of `A-Z a-z 0-9 - .`.
fn checked_id(id: String) -> Result<String, EpcError> {
    let valid = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if valid {
        Ok(id)
    } else {
        Err(EpcError::bad(
            IssueType::Value,
            "the id in the URL is not a FHIR id (1-64 letters, digits, '-' or '.')",
        ))
    }
}

fn may_change(caller: &Caller, owned: impl Fn(&str) -> bool, what: &str) -> Result<(), EpcError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Organisation(ods) if owned(ods) => Ok(()),
        Caller::Organisation(ods) => Err(EpcError::Forbidden(format!(
            "Only the owner of a {what} can change it; {ods} is not its owner."
        ))),
    }
}

fn may_create(
    caller: &Caller,
    owners: &[String],
    owned: impl Fn(&str) -> bool,
    element: &str,
) -> Result<(), EpcError> {
    match caller {
        Caller::Organisation(_) if owners.is_empty() => Err(EpcError::element(
            IssueType::Required,
            element,
            format!("{element} is required: it names the record's owner."),
        )),
        Caller::Organisation(ods) if !owned(ods) => Err(EpcError::Forbidden(format!(
            "{element} does not name your organisation ({ods}): a record is created by its owner."
        ))),
        _ => Ok(()),
    }
}

/// Delta D22 with the version as well: the body's `meta.lastUpdated` may not be older than the
/// stored one, and `If-Match` / `meta.versionId`, when given, must name the stored version. An
/// update that claims nothing is refused: it cannot be told from a stale one.
fn fresh(stored: &Meta, claims: &Claims, if_match: Option<&str>) -> Result<(), EpcError> {
    let current = stored.version.to_string();
    if let Some(tag) = if_match {
        let named = tag.trim().trim_start_matches("W/").trim_matches('"');
        if named != "*" && named != current {
            return Err(EpcError::Conflict(format!(
                "If-Match {tag} is not the current version ({}): read the record again and reapply the change.",
                stored.etag()
            )));
        }
    }
    if let Some(v) = &claims.version
        && *v != current
    {
        return Err(EpcError::Conflict(format!(
            "meta.versionId {v} is not the current version ({current}): read the record again and reapply the change."
        )));
    }
    if let Some(t) = claims.last_updated
        && t < stored.last_updated
    {
        return Err(EpcError::Conflict(format!(
            "meta.lastUpdated {t} is earlier than the catalogue's {}: the update was made on a stale copy.",
            stored.last_updated
        )));
    }
    if if_match.is_none() && claims.version.is_none() && claims.last_updated.is_none() {
        return Err(EpcError::element(
            IssueType::Required,
            "meta.lastUpdated",
            "An update must carry meta.lastUpdated (or meta.versionId, or If-Match) of the version it changes.",
        ));
    }
    Ok(())
}

fn same_idents(a: &[super::record::Ident], b: &[super::record::Ident]) -> bool {
    let covers = |x: &[super::record::Ident], y: &[super::record::Ident]| {
        x.iter().all(|i| {
            y.iter()
                .any(|j| i.value == j.value && same_system(&i.system, &j.system))
        })
    };
    covers(a, b) && covers(b, a)
}

fn same_owners(a: &[String], b: &[String]) -> bool {
    let covers = |x: &[String], y: &[String]| {
        x.iter()
            .all(|i| y.iter().any(|j| i.eq_ignore_ascii_case(j)))
    };
    covers(a, b) && covers(b, a)
}

fn body_id_matches(body_id: &str, id: &str) -> Result<(), EpcError> {
    if !body_id.is_empty() && body_id != id {
        return Err(EpcError::Invariant(
            "The body's id differs from the id in the URL; a record's id never changes.".into(),
        ));
    }
    Ok(())
}

/// The next version's meta: one more than the last, stamped after it.
fn next_meta(previous: Option<&Meta>, now: Instant) -> Meta {
    match previous {
        None => Meta {
            version: 1,
            last_updated: now,
        },
        Some(p) => Meta {
            version: p.version + 1,
            last_updated: now.after(p.last_updated),
        },
    }
}

fn row(kind: Kind, id: &str, meta: &Meta, body: &Value) -> StoredRecord {
    StoredRecord {
        kind: kind.as_str().to_string(),
        id: id.to_string(),
        version: meta.version,
        last_updated: meta.last_updated.to_string(),
        body: body.to_string(),
    }
}

/// A service's references hold together: every Endpoint exists, no two are of one type (D23
/// duplicate), at least one is a BaRS endpoint (D23 orphan), and an active service has an
/// active BaRS endpoint (D21 status coherence).
pub fn check_service(state: &CatalogueState, service: &ServiceRecord) -> Result<(), EpcError> {
    let mut endpoints: Vec<&EndpointRecord> = Vec::new();
    for id in &service.endpoints {
        match state.endpoints.get(id) {
            Some(e) => endpoints.push(e),
            None => {
                return Err(EpcError::element(
                    IssueType::Value,
                    "HealthcareService.endpoint",
                    format!(
                        "Endpoint/{id} is not in the Endpoint Catalogue; create the Endpoint first."
                    ),
                ));
            }
        }
    }
    for (i, a) in endpoints.iter().enumerate() {
        if let Some(b) = endpoints[i + 1..].iter().find(|b| a.same_type(b)) {
            return Err(EpcError::Duplicate(format!(
                "HealthcareService/{} would have two Endpoints of one type (Endpoint/{} and Endpoint/{}).",
                service.id, a.id, b.id
            )));
        }
    }
    if !endpoints.iter().any(|e| e.is_bars()) {
        return Err(EpcError::Conflict(format!(
            "HealthcareService/{} would be left without a BaRS Endpoint (payloadType bars).",
            service.id
        )));
    }
    if service.active
        && !endpoints
            .iter()
            .any(|e| e.is_bars() && e.status == "active")
    {
        return Err(EpcError::Invariant(format!(
            "HealthcareService/{} is active but none of its BaRS Endpoints is: Endpoint.status must be in line with HealthcareService.active (deactivate the service first).",
            service.id
        )));
    }
    Ok(())
}

fn put_service(
    state: &CatalogueState,
    id: String,
    body: &Value,
    if_match: Option<String>,
    caller: &Caller,
    now: Instant,
) -> Result<Decided, EpcError> {
    let stored = state.services.get(&id);
    if let Some(stored) = stored {
        may_change(caller, |ods| stored.owned_by(ods), "HealthcareService")?;
    }
    let parsed = shape::service(body)?;
    let mut record = parsed.record;
    match stored {
        None => may_create(
            caller,
            &record.provided_by,
            |ods| record.owned_by(ods),
            "HealthcareService.providedBy",
        )?,
        Some(stored) => {
            body_id_matches(&record.id, &id)?;
            fresh(&stored.meta, &parsed.claims, if_match.as_deref())?;
            if !same_idents(&stored.identifiers, &record.identifiers) {
                return Err(EpcError::Invariant(
                    "HealthcareService.identifier cannot change.".into(),
                ));
            }
            if !same_owners(&stored.provided_by, &record.provided_by) {
                return Err(EpcError::Invariant(
                    "HealthcareService.providedBy cannot change.".into(),
                ));
            }
        }
    }
    record.id = id.clone();
    record.meta = next_meta(stored.map(|s| &s.meta), now);
    check_service(state, &record)?;
    let changes = vec![CatalogueChange::Put(row(
        Kind::Service,
        &id,
        &record.meta,
        &record.body(),
    ))];
    let (resource, etag) = (record.resource(), record.meta.etag());
    Ok(Decided {
        changes,
        answer: match stored {
            None => Answer::Created { id, resource, etag },
            Some(_) => Answer::Updated { resource, etag },
        },
    })
}

fn put_endpoint(
    state: &CatalogueState,
    kind: Kind,
    id: String,
    body: &Value,
    if_match: Option<String>,
    caller: &Caller,
    now: Instant,
) -> Result<Decided, EpcError> {
    let what = if kind == Kind::Template {
        "Endpoint template"
    } else {
        "Endpoint"
    };
    let stored = state.endpoints_of(kind).get(&id);
    if let Some(stored) = stored {
        may_change(caller, |ods| stored.owned_by(ods), what)?;
    }
    let parsed = shape::endpoint(body, kind)?;
    let mut record = parsed.record;
    match stored {
        None => may_create(
            caller,
            &record.managing,
            |ods| record.owned_by(ods),
            "Endpoint.managingOrganization",
        )?,
        Some(stored) => {
            body_id_matches(&record.id, &id)?;
            fresh(&stored.meta, &parsed.claims, if_match.as_deref())?;
            if !same_idents(&stored.identifiers, &record.identifiers) {
                return Err(EpcError::Invariant(
                    "Endpoint.identifier cannot change.".into(),
                ));
            }
            if !same_owners(&stored.managing, &record.managing) {
                return Err(EpcError::Invariant(
                    "Endpoint.managingOrganization cannot change.".into(),
                ));
            }
        }
    }
    record.id = id.clone();
    record.meta = next_meta(stored.map(|s| &s.meta), now);
    if kind == Kind::Endpoint {
        // The services that use this endpoint must still hold together with its new version.
        let mut next = state.clone();
        next.endpoints.insert(id.clone(), record.clone());
        for service in next.referencing(&id) {
            check_service(&next, service)?;
        }
    }
    let changes = vec![CatalogueChange::Put(row(
        kind,
        &id,
        &record.meta,
        &record.body(),
    ))];
    let (resource, etag) = (record.resource_for(caller), record.meta.etag());
    Ok(Decided {
        changes,
        answer: match stored {
            None => Answer::Created { id, resource, etag },
            Some(_) => Answer::Updated { resource, etag },
        },
    })
}

fn delete_service(state: &CatalogueState, id: &str, caller: &Caller) -> Result<Decided, EpcError> {
    let stored = state
        .services
        .get(id)
        .ok_or(EpcError::NotFound("HealthcareService"))?;
    may_change(caller, |ods| stored.owned_by(ods), "HealthcareService")?;
    Ok(Decided {
        changes: vec![CatalogueChange::Delete {
            kind: Kind::Service.as_str().to_string(),
            id: id.to_string(),
        }],
        answer: Answer::Deleted,
    })
}

fn delete_endpoint(
    state: &CatalogueState,
    kind: Kind,
    id: &str,
    caller: &Caller,
) -> Result<Decided, EpcError> {
    let what = if kind == Kind::Template {
        "Endpoint template"
    } else {
        "Endpoint"
    };
    let stored = state
        .endpoints_of(kind)
        .get(id)
        .ok_or(EpcError::NotFound(what))?;
    may_change(caller, |ods| stored.owned_by(ods), what)?;
    if kind == Kind::Endpoint
        && let Some(service) = state.referencing(id).next()
    {
        return Err(EpcError::Conflict(format!(
            "Endpoint/{id} is referenced by HealthcareService/{}: deleting it would orphan the service.",
            service.id
        )));
    }
    Ok(Decided {
        changes: vec![CatalogueChange::Delete {
            kind: kind.as_str().to_string(),
            id: id.to_string(),
        }],
        answer: Answer::Deleted,
    })
}
