//! A sender's obligations, each a check with a stable id, graded on what the sender did in
//! the session (never on what it says it did). Ids are stable: saved runs refer to them.

mod auth;
mod headers;
mod ids;
mod retries;
mod workflow;

use std::collections::HashSet;

use bars_fhir::headers::TargetIdentifier;

use super::record::Recorded;
use super::session::Session;
use crate::check::{Area, Level, Outcome};
use crate::wire::Exchange;

/// Offending exchanges shown per check; the reason counts them all.
const EVIDENCE_LIMIT: usize = 12;
/// Assertions may live at most this long (the NHS signed-JWT pattern: five minutes).
const MAX_ASSERTION_SECONDS: i64 = 300;

/// A check's result on a session.
pub struct Graded {
    pub outcome: Outcome,
    pub evidence: Vec<Exchange>,
}

pub struct SenderCheck {
    pub id: &'static str,
    pub area: Area,
    pub title: &'static str,
    pub requirement: &'static str,
    pub source: &'static str,
    pub level: Level,
    pub grade: fn(&Session) -> Graded,
}

fn skip(why: impl Into<String>) -> Graded {
    Graded {
        outcome: Outcome::Skipped(why.into()),
        evidence: Vec::new(),
    }
}

/// Passes with a sample of what was seen, or fails naming each offence.
fn verdict(
    s: &Session,
    seen: &[&Recorded],
    offences: Vec<(String, Vec<&Recorded>)>,
    what: &str,
) -> Graded {
    if offences.is_empty() {
        return Graded {
            outcome: Outcome::Passed,
            evidence: s.evidence(seen.iter().take(EVIDENCE_LIMIT).copied()),
        };
    }
    let mut reasons: Vec<String> = offences.iter().map(|(why, _)| why.clone()).collect();
    reasons.dedup();
    let shown = reasons.len().min(5);
    let more = if reasons.len() > shown {
        format!(" (and {} more)", reasons.len() - shown)
    } else {
        String::new()
    };
    let mut evidence: Vec<&Recorded> = Vec::new();
    for (_, rs) in &offences {
        for r in rs {
            if evidence.len() < EVIDENCE_LIMIT && !evidence.iter().any(|e| e.seq == r.seq) {
                evidence.push(r);
            }
        }
    }
    Graded {
        outcome: Outcome::Failed(format!(
            "{} of {} {what}: {}{more}",
            offences.len(),
            seen.len(),
            reasons[..shown].join("; ")
        )),
        evidence: s.evidence(evidence),
    }
}

fn request_id(r: &Recorded) -> Option<&str> {
    r.header("x-request-id")
}

fn correlation_id(r: &Recorded) -> Option<&str> {
    r.header("x-correlation-id")
}

fn is_uuid(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok()
}

fn target(r: &Recorded) -> Option<String> {
    r.header("nhsd-target-identifier")
        .and_then(|v| TargetIdentifier::decode_lenient(v).ok())
        .map(|t| t.value)
}

fn describe(r: &Recorded) -> String {
    format!("#{} {} {}", r.seq, r.method, r.route())
}

fn api(s: &Session) -> Result<Vec<&Recorded>, Graded> {
    if s.api.is_empty() {
        return Err(skip("the sender made no API request"));
    }
    Ok(s.api.iter().collect())
}

/// The first request of each X-Request-ID (later ones are retries of it).
fn firsts(s: &Session) -> Vec<&Recorded> {
    let mut seen = HashSet::new();
    s.api
        .iter()
        .filter(|r| match request_id(r) {
            Some(id) => seen.insert(id.to_string()),
            None => true,
        })
        .collect()
}

/// Whether `b` repeats `a` exactly (a retry): the same request, ids and target.
fn same_request(a: &Recorded, b: &Recorded) -> bool {
    a.method == b.method
        && a.path == b.path
        && a.body == b.body
        && a.header("nhsd-target-identifier") == b.header("nhsd-target-identifier")
}

macro_rules! sender_check {
    ($id:literal, $area:ident, $level:ident, $title:literal, $req:literal, $src:literal, $f:path) => {
        SenderCheck {
            id: $id,
            area: Area::$area,
            title: $title,
            requirement: $req,
            source: $src,
            level: Level::$level,
            grade: $f,
        }
    };
}

/// The sender checks as a Markdown table (docs/CONFORMANCE.md's sender list).
pub fn markdown(checks: &[SenderCheck]) -> String {
    crate::report::table(
        checks
            .iter()
            .map(|c| (c.id, c.area, c.level, c.title, c.requirement, c.source)),
    )
}

/// Every sender check, in the order reports list them.
pub fn all() -> Vec<SenderCheck> {
    vec![
        sender_check!(
            "SND-ID-001",
            RequestIds,
            Shall,
            "Every request carries an X-Request-ID that is a UUID",
            "digest 3.1, 5.10",
            "IG: Transactional-integrity/Sender-responsibilities.page.md",
            ids::request_ids_are_uuids
        ),
        sender_check!(
            "SND-ID-002",
            RequestIds,
            Shall,
            "Each new request has a fresh X-Request-ID; only a retry repeats one",
            "digest 5.10",
            "IG: Transactional-integrity/Definition-of-a-retry.page.md",
            ids::fresh_request_ids
        ),
        sender_check!(
            "SND-ID-003",
            RequestIds,
            Shall,
            "Every request carries an X-Correlation-ID that is a UUID",
            "digest 3.1, 5.10",
            "IG: Transactional-integrity/Sender-responsibilities.page.md",
            ids::correlation_ids_are_uuids
        ),
        sender_check!(
            "SND-ID-004",
            RequestIds,
            Shall,
            "A workflow keeps one X-Correlation-ID: a change or rebooking carries its read's",
            "digest 5.10, 1.7 B-F",
            "IG: End-to-end-workflow/transactional-Integrity.page.md",
            ids::workflow_correlation
        ),
        sender_check!(
            "SND-HDR-001",
            Headers,
            Shall,
            "Every routed request names its service in a Base64 JSON NHSD-Target-Identifier",
            "digest 1.4, 3.1, 3.2",
            "API: NHSD-Target-Identifier header",
            headers::target_identifiers
        ),
        sender_check!(
            "SND-HDR-002",
            Headers,
            Shall,
            "Access-control headers are Base64 JSON: the organisation with ODS code and name, software and practitioner identified",
            "digest 1.3, 3.1, 3.2",
            "IG: Security-and-Authorisation/Authorisation.page.md",
            headers::access_control_headers
        ),
        sender_check!(
            "SND-HDR-003",
            Headers,
            Shall,
            "Every request asks for application/fhir+json of BaRS major version 1 in Accept",
            "digest 1.6, 3.1, 3.6",
            "IG: Versioning; Content-Negotiation",
            headers::accept_version
        ),
        sender_check!(
            "SND-RBW-001",
            ReadBeforeWrite,
            Shall,
            "Every change to an appointment follows a read of it made since its last change",
            "digest 1.8",
            "IG: Appointment-StandardPattern/Introduction.page.md (read before write)",
            workflow::read_before_write
        ),
        sender_check!(
            "SND-RBW-002",
            ReadBeforeWrite,
            Should,
            "A change carries If-Match with the ETag its read returned",
            "digest 5.8 [DECISION]",
            "FHIR R4 http.html (version-aware update)",
            workflow::if_match_from_read
        ),
        sender_check!(
            "SND-SLOT-001",
            Booking,
            Shall,
            "The slot booked or moved to came from a slot search of that service",
            "digest 1.7 A, E; delta 8.1 (NBRS-3308)",
            "IG: Initial-Booking.page.md; Rebook-Methods.page.md",
            workflow::slot_from_search
        ),
        sender_check!(
            "SND-RETRY-001",
            Retries,
            Shall,
            "A retry repeats the request with the same X-Request-ID and X-Correlation-ID",
            "digest 4.6, 5.10",
            "IG: Transactional-integrity/Retry-Scenario.page.md",
            retries::retries_keep_ids
        ),
        sender_check!(
            "SND-RETRY-002",
            Retries,
            Shall,
            "A 409 duplicate is never retried: the first attempt succeeded",
            "digest 4.6, 5.10",
            "IG: Transactional-integrity/Sender-responsibilities.page.md",
            retries::duplicate_not_retried
        ),
        sender_check!(
            "SND-TOK-001",
            Authentication,
            Should,
            "An access token is reused until it is about to expire",
            "digest 1.2",
            "IG: Security-and-Authorisation/Sender.page.md (signed JWT pattern)",
            auth::tokens_reused
        ),
        sender_check!(
            "SND-JWT-001",
            Authentication,
            Shall,
            "Client assertions are well formed: RS512/ES256, kid, iss = sub, aud, jti, exp at most 5 minutes ahead",
            "digest 1.2",
            "IG: OAuth-Endpoints.page.md; RFC 7523 3",
            auth::assertions_well_formed
        ),
        sender_check!(
            "SND-JWT-002",
            Authentication,
            Shall,
            "Every client assertion has a jti never used before",
            "digest 1.2",
            "RFC 7523 3 (jti); IG: Authenticate-with-BaRS.page.md",
            auth::unique_jti
        ),
    ]
}
