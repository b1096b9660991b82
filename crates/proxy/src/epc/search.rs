//! The catalogue's searches (delta 6.3, 6.5, D18): the query parameters OAS14 names, token
//! matching with systems compared without scheme or case, several parameters ANDed, and no
//! parameters at all refused rather than answered with the whole catalogue.

use bars_fhir::IssueType;
use bars_fhir::search::{Query, Token};

use super::errors::EpcError;
use super::record::{Code, EndpointRecord, Ident, Kind, ServiceRecord, same_system};
use super::state::CatalogueState;

/// Whether a token matches an identifier or a coding: the code equal, and the system (when the
/// token names one) the same without scheme or case.
fn token_matches(token: &Token, system: &str, code: &str) -> bool {
    token.code == code
        && token
            .system
            .as_deref()
            .is_none_or(|s| s.is_empty() || same_system(s, system))
}

fn any_ident(token: &Token, idents: &[Ident]) -> bool {
    idents
        .iter()
        .any(|i| token_matches(token, &i.system, &i.value))
}

fn any_code(token: &Token, codes: &[&Code]) -> bool {
    codes
        .iter()
        .any(|c| token_matches(token, &c.system, &c.code))
}

fn tokens(query: &Query, names: &[&str]) -> Result<Vec<Token>, EpcError> {
    query
        .all(names)
        .into_iter()
        .map(|v| {
            Token::parse(v).ok_or_else(|| {
                EpcError::bad(
                    IssueType::Value,
                    format!("{} must be system|value or a value", names[0]),
                )
            })
        })
        .collect()
}

fn nothing_asked(what: &str, params: &str) -> EpcError {
    EpcError::bad(
        IssueType::Required,
        format!("A search of {what} needs at least one of: {params}."),
    )
}

/// `GET /HealthcareService`: `HealthcareService.identifier` (or `identifier`),
/// `HealthcareService.providedBy` (or `organization`), and, for people choosing a service,
/// `name` (contained, any case) and `active`.
pub fn services<'a>(
    state: &'a CatalogueState,
    query: &Query,
) -> Result<Vec<&'a ServiceRecord>, EpcError> {
    let identifier = tokens(query, &["HealthcareService.identifier", "identifier"])?;
    let provided_by = tokens(query, &["HealthcareService.providedBy", "organization"])?;
    let name = query.first(&["name"]).map(str::to_lowercase);
    let active = match query.first(&["active"]) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(EpcError::bad(
                IssueType::Value,
                "active must be true or false",
            ));
        }
    };
    if identifier.is_empty() && provided_by.is_empty() && name.is_none() && active.is_none() {
        return Err(nothing_asked(
            "HealthcareService",
            "HealthcareService.identifier, HealthcareService.providedBy, name, active",
        ));
    }
    Ok(state
        .services
        .values()
        .filter(|s| identifier.iter().all(|t| any_ident(t, &s.identifiers)))
        .filter(|s| {
            provided_by.iter().all(|t| {
                s.provided_by
                    .iter()
                    .any(|ods| token_matches(t, bars_fhir::headers::ODS_SYSTEM, ods))
            })
        })
        .filter(|s| {
            name.as_ref()
                .is_none_or(|n| s.name.to_lowercase().contains(n.as_str()))
        })
        .filter(|s| active.is_none_or(|a| s.active == a))
        .collect())
}

/// `GET /Endpoint`: `_has:HealthcareService.Identifier` (or the FHIR form
/// `_has:HealthcareService:endpoint:identifier`), `_has:HealthcareService.Id` (or
/// `_has:HealthcareService:endpoint:_id`), and `Endpoint.identifier` (or `identifier`).
pub fn endpoints<'a>(
    state: &'a CatalogueState,
    query: &Query,
) -> Result<Vec<&'a EndpointRecord>, EpcError> {
    let by_service_identifier = tokens(
        query,
        &[
            "_has:HealthcareService.Identifier",
            "_has:HealthcareService.identifier",
            "_has:HealthcareService:endpoint:identifier",
        ],
    )?;
    let by_service_id = query.all(&[
        "_has:HealthcareService.Id",
        "_has:HealthcareService.id",
        "_has:HealthcareService:endpoint:_id",
    ]);
    let identifier = tokens(query, &["Endpoint.identifier", "identifier"])?;
    if by_service_identifier.is_empty() && by_service_id.is_empty() && identifier.is_empty() {
        return Err(nothing_asked(
            "Endpoint",
            "_has:HealthcareService.Identifier, _has:HealthcareService.Id, Endpoint.identifier",
        ));
    }
    let referenced_by = |e: &EndpointRecord, keep: &dyn Fn(&ServiceRecord) -> bool| {
        state.referencing(&e.id).any(keep)
    };
    Ok(state
        .endpoints
        .values()
        .filter(|e| {
            by_service_identifier
                .iter()
                .all(|t| referenced_by(e, &|s| any_ident(t, &s.identifiers)))
        })
        .filter(|e| {
            by_service_id
                .iter()
                .all(|id| referenced_by(e, &|s| s.id == *id))
        })
        .filter(|e| identifier.iter().all(|t| any_ident(t, &e.identifiers)))
        .collect())
}

/// `GET /Endpoint/$template`: `Endpoint.identifier` (or `identifier`), `ConnectionType`,
/// `PayloadType` (`http` and `https` systems alike: the examples query with one and store the
/// other).
pub fn templates<'a>(
    state: &'a CatalogueState,
    query: &Query,
) -> Result<Vec<&'a EndpointRecord>, EpcError> {
    let identifier = tokens(query, &["Endpoint.identifier", "identifier"])?;
    let connection = tokens(query, &["ConnectionType", "connection-type"])?;
    let payload = tokens(query, &["PayloadType", "payload-type"])?;
    if identifier.is_empty() && connection.is_empty() && payload.is_empty() {
        return Err(nothing_asked(
            "Endpoint templates",
            "Endpoint.identifier, ConnectionType, PayloadType",
        ));
    }
    Ok(state
        .endpoints_of(Kind::Template)
        .values()
        .filter(|e| identifier.iter().all(|t| any_ident(t, &e.identifiers)))
        .filter(|e| {
            connection
                .iter()
                .all(|t| any_code(t, &[&e.connection_type]))
        })
        .filter(|e| {
            payload
                .iter()
                .all(|t| any_code(t, &e.payload_types.iter().collect::<Vec<_>>()))
        })
        .collect())
}
