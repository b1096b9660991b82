//! A sender's obligations, each a check with a stable id, graded on what the sender did in
//! the session (never on what it says it did). Ids are stable: saved runs refer to them.

use std::collections::{HashMap, HashSet};

use bars_fhir::headers::{EndUserOrganisation, TargetIdentifier, decode_base64_json};
use serde_json::Value;

use super::jwt;
use super::record::Recorded;
use super::session::{Action, Session, action, answer_code, asks_for_retry};
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

fn uuid_header(s: &Session, name: &str) -> Graded {
    let all = match api(s) {
        Ok(a) => a,
        Err(g) => return g,
    };
    let offences = all
        .iter()
        .filter_map(|r| match r.header(name) {
            None => Some((format!("{} has no {name}", describe(r)), vec![*r])),
            Some(v) if !is_uuid(v) => {
                Some((format!("{}: {name} is not a UUID", describe(r)), vec![*r]))
            }
            Some(_) => None,
        })
        .collect();
    verdict(s, &all, offences, "requests")
}

fn request_ids_are_uuids(s: &Session) -> Graded {
    uuid_header(s, "x-request-id")
}

fn correlation_ids_are_uuids(s: &Session) -> Graded {
    uuid_header(s, "x-correlation-id")
}

/// Whether `b` repeats `a` exactly (a retry): the same request, ids and target.
fn same_request(a: &Recorded, b: &Recorded) -> bool {
    a.method == b.method
        && a.path == b.path
        && a.body == b.body
        && a.header("nhsd-target-identifier") == b.header("nhsd-target-identifier")
}

fn fresh_request_ids(s: &Session) -> Graded {
    let all = match api(s) {
        Ok(a) => a,
        Err(g) => return g,
    };
    let mut first: HashMap<&str, &Recorded> = HashMap::new();
    let mut offences = Vec::new();
    for r in &all {
        let Some(id) = request_id(r) else { continue };
        match first.get(id) {
            None => {
                first.insert(id, r);
            }
            Some(f) if !same_request(f, r) || correlation_id(f) != correlation_id(r) => {
                offences.push((
                    format!(
                        "{} reuses the X-Request-ID of {}, a different request",
                        describe(r),
                        describe(f)
                    ),
                    vec![*f, *r],
                ));
            }
            Some(_) => {}
        }
    }
    verdict(s, &all, offences, "requests")
}

fn workflow_correlation(s: &Session) -> Graded {
    let mut last_read: HashMap<String, &Recorded> = HashMap::new();
    let mut seen = Vec::new();
    let mut offences = Vec::new();
    for r in firsts(s) {
        match action(r) {
            Action::Read { id } if r.status == 200 => {
                last_read.insert(id, r);
            }
            Action::Change { id, .. } => {
                if let Some(read) = last_read.get(&id) {
                    seen.push(r);
                    if correlation_id(read) != correlation_id(r) {
                        offences.push((
                            format!(
                                "{} changes Appointment/{id} under another X-Correlation-ID than its read {}",
                                describe(r),
                                describe(read)
                            ),
                            vec![*read, r],
                        ));
                    }
                }
            }
            Action::Book { replaces, .. } => {
                for old in replaces {
                    if let Some(read) = last_read.get(&old) {
                        seen.push(r);
                        if correlation_id(read) != correlation_id(r) {
                            offences.push((
                                format!(
                                    "{} rebooks Appointment/{old} under another X-Correlation-ID than its read {}",
                                    describe(r),
                                    describe(read)
                                ),
                                vec![*read, r],
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if seen.is_empty() {
        return skip(
            "no change or rebooking of an appointment the sender had read was seen: update, cancel or rebook one",
        );
    }
    verdict(s, &seen, offences, "changes resting on a read")
}

/// Whether a request is routed to a receiver by its target (everything but the token
/// endpoint, the Registry, the proxy's directory, and /metadata asked of the proxy itself).
fn routed(r: &Recorded) -> bool {
    let route = r.route();
    let proxy_own = [
        "/DocumentReference",
        "/HealthcareService",
        "/Endpoint",
        "/Organization",
    ]
    .iter()
    .any(|p| route == *p || route.starts_with(&format!("{p}/")));
    let proxy_metadata = route == "/metadata" && r.header("nhsd-target-identifier").is_none();
    !(proxy_own || proxy_metadata)
}

fn target_identifiers(s: &Session) -> Graded {
    let all: Vec<&Recorded> = s.api.iter().filter(|r| routed(r)).collect();
    if all.is_empty() {
        return skip("the sender sent no request routed to a receiver");
    }
    let offences = all
        .iter()
        .filter_map(|r| match r.header("nhsd-target-identifier") {
            None => Some((
                format!("{} has no NHSD-Target-Identifier", describe(r)),
                vec![*r],
            )),
            Some(v) => TargetIdentifier::decode(v).err().map(|e| {
                (
                    format!("{}: NHSD-Target-Identifier: {e}", describe(r)),
                    vec![*r],
                )
            }),
        })
        .collect();
    verdict(s, &all, offences, "routed requests")
}

/// What is wrong with an access-control header's value, if anything.
fn access_header_problem(name: &str, value: &str) -> Option<String> {
    let decoded = match decode_base64_json(value) {
        Ok(v) => v,
        Err(e) => return Some(format!("{name}: {e}")),
    };
    let (kind, ok) = match name {
        "nhsd-end-user-organisation" => {
            let org = EndUserOrganisation::from_json(&decoded);
            ("Organization", org.ods_code.is_some() && org.name.is_some())
        }
        "nhsd-requesting-software" => (
            "Device",
            decoded["identifier"]
                .as_array()
                .is_some_and(|i| i.iter().any(|i| i["value"].is_string())),
        ),
        _ => (
            "PractitionerRole",
            decoded["identifier"]
                .as_array()
                .is_some_and(|i| i.iter().any(|i| i["value"].is_string())),
        ),
    };
    if decoded["resourceType"] != kind {
        return Some(format!("{name} is not a {kind}"));
    }
    (!ok).then(|| match kind {
        "Organization" => format!("{name} lacks the ODS code or the organisation's name"),
        _ => format!("{name} lacks an identifier"),
    })
}

fn access_control_headers(s: &Session) -> Graded {
    let all = match api(s) {
        Ok(a) => a,
        Err(g) => return g,
    };
    let mut offences = Vec::new();
    for r in &all {
        if r.header("nhsd-end-user-organisation").is_none() {
            offences.push((
                format!("{} has no NHSD-End-User-Organisation", describe(r)),
                vec![*r],
            ));
        }
        for name in [
            "nhsd-end-user-organisation",
            "nhsd-requesting-software",
            "nhsd-requesting-practitioner",
        ] {
            if let Some(problem) = r.header(name).and_then(|v| access_header_problem(name, v)) {
                offences.push((format!("{}: {problem}", describe(r)), vec![*r]));
            }
        }
    }
    verdict(s, &all, offences, "requests")
}

/// The major version an `Accept` asks for, when it asks for FHIR JSON.
fn accepted_major(accept: &str) -> Option<String> {
    accept.split(',').find_map(|media| {
        let mut parts = media.split(';').map(str::trim);
        let kind = parts.next()?;
        if !kind.eq_ignore_ascii_case("application/fhir+json") {
            return None;
        }
        parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("version").then(|| {
                v.trim()
                    .trim_matches('"')
                    .split('.')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
        })
    })
}

fn accept_version(s: &Session) -> Graded {
    let all = match api(s) {
        Ok(a) => a,
        Err(g) => return g,
    };
    let offences = all
        .iter()
        .filter_map(|r| match r.header("accept").and_then(accepted_major) {
            Some(major) if major == "1" => None,
            Some(major) => Some((
                format!("{} asks for version {major}.x", describe(r)),
                vec![*r],
            )),
            None => Some((
                format!(
                    "{} does not ask for application/fhir+json with a version",
                    describe(r)
                ),
                vec![*r],
            )),
        })
        .collect();
    verdict(s, &all, offences, "requests")
}

fn read_before_write(s: &Session) -> Graded {
    // Appointment id -> whether it was read since the sender last changed it.
    let mut fresh: HashMap<String, bool> = HashMap::new();
    let mut ever_read: HashSet<String> = HashSet::new();
    let mut seen = Vec::new();
    let mut offences = Vec::new();
    for r in firsts(s) {
        match action(r) {
            Action::Read { id } if r.status == 200 => {
                ever_read.insert(id.clone());
                fresh.insert(id, true);
            }
            Action::Change { id, .. } => {
                seen.push(r);
                if !fresh.get(&id).copied().unwrap_or(false) {
                    let why = if ever_read.contains(&id) {
                        "without reading it again since its last change"
                    } else {
                        "without reading it first"
                    };
                    offences.push((
                        format!("{} changes Appointment/{id} {why}", describe(r)),
                        vec![r],
                    ));
                }
                fresh.insert(id, false);
            }
            Action::Book { replaces, .. } if !replaces.is_empty() => {
                seen.push(r);
                for old in replaces {
                    if !ever_read.contains(&old) {
                        offences.push((
                            format!(
                                "{} rebooks Appointment/{old} without reading it first",
                                describe(r)
                            ),
                            vec![r],
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if seen.is_empty() {
        return skip("no change to an appointment was seen: update, cancel or rebook one");
    }
    verdict(s, &seen, offences, "changes")
}

fn if_match_from_read(s: &Session) -> Graded {
    let mut etags: HashMap<String, Option<String>> = HashMap::new();
    let mut seen = Vec::new();
    let mut offences = Vec::new();
    for r in firsts(s) {
        match action(r) {
            Action::Read { id } if r.status == 200 => {
                etags.insert(id, r.response_header("etag").map(str::to_string));
            }
            Action::Change { id, .. } if r.route() != "/$process-message" => {
                seen.push(r);
                let read = etags.get(&id).cloned().flatten();
                match (r.header("if-match"), read) {
                    (None, _) => offences.push((
                        format!("{} changes Appointment/{id} without If-Match", describe(r)),
                        vec![r],
                    )),
                    (Some(sent), Some(read)) if sent.trim() == read.trim() => {}
                    (Some(_), _) => offences.push((
                        format!(
                            "{}: its If-Match is not the ETag the latest read of Appointment/{id} returned",
                            describe(r)
                        ),
                        vec![r],
                    )),
                }
            }
            _ => {}
        }
    }
    if seen.is_empty() {
        return skip("no REST change to an appointment was seen: update, cancel or reschedule one");
    }
    verdict(s, &seen, offences, "changes")
}

/// The Slot ids a search answer matched.
fn matched_slots(r: &Recorded) -> Vec<String> {
    r.response_json()
        .and_then(|b| b["entry"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Slot" && e["search"]["mode"] != "include")
        .filter_map(|e| e["resource"]["id"].as_str().map(str::to_string))
        .collect()
}

fn slots_of(appointment: &Value) -> HashSet<String> {
    appointment["slot"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["reference"].as_str())
        .map(super::session::reference_id)
        .collect()
}

fn slot_from_search(s: &Session) -> Graded {
    // Service -> slot ids its searches answered; appointment -> the slots it holds.
    let mut searched: HashMap<String, HashSet<String>> = HashMap::new();
    let mut held: HashMap<String, HashSet<String>> = HashMap::new();
    let mut seen = Vec::new();
    let mut offences = Vec::new();
    for r in firsts(s) {
        let service = target(r).unwrap_or_default();
        let found = searched.get(&service).cloned().unwrap_or_default();
        let unsearched = |slots: Vec<String>| -> Vec<(String, Vec<&Recorded>)> {
            slots
                .into_iter()
                .filter(|slot| !found.contains(slot))
                .map(|slot| {
                    (
                        format!(
                            "{} books Slot/{slot}, which no slot search of service {service} answered",
                            describe(r)
                        ),
                        vec![r],
                    )
                })
                .collect()
        };
        match action(r) {
            Action::SlotSearch if r.status == 200 => {
                searched
                    .entry(service)
                    .or_default()
                    .extend(matched_slots(r));
            }
            Action::Read { id } if r.status == 200 => {
                held.insert(
                    id,
                    r.response_json().map(|a| slots_of(&a)).unwrap_or_default(),
                );
            }
            Action::Book { slots, .. } => {
                seen.push(r);
                offences.extend(unsearched(slots));
                if let Some(a) = r.response_json().filter(|_| r.status == 201)
                    && let Some(id) = a["id"].as_str()
                {
                    held.insert(id.to_string(), slots_of(&a));
                }
            }
            Action::Change { id, slots } => {
                let holds = held.get(&id).cloned().unwrap_or_default();
                let moved: Vec<String> = slots.into_iter().filter(|s| !holds.contains(s)).collect();
                if !moved.is_empty() {
                    seen.push(r);
                    offences.extend(unsearched(moved));
                }
            }
            _ => {}
        }
    }
    if seen.is_empty() {
        return skip("no booking was seen: search a service's slots and book one");
    }
    verdict(s, &seen, offences, "bookings")
}

fn retries_keep_ids(s: &Session) -> Graded {
    let mut asked = 0;
    let mut seen = Vec::new();
    let mut offences = Vec::new();
    for (i, r) in s.api.iter().enumerate() {
        if !asks_for_retry(r) {
            continue;
        }
        asked += 1;
        let Some(next) = s.api[i + 1..].iter().find(|n| same_request(r, n)) else {
            continue;
        };
        seen.push(next);
        if request_id(r) != request_id(next) || correlation_id(r) != correlation_id(next) {
            offences.push((
                format!(
                    "{} repeats {} (answered {}) under new ids",
                    describe(next),
                    describe(r),
                    r.status
                ),
                vec![r, next],
            ));
        }
    }
    if asked == 0 {
        return skip(
            "no answer asked for a retry: send any request to service 2000081230 (always 408) to rehearse",
        );
    }
    if seen.is_empty() {
        return skip(format!(
            "{asked} answers asked for a retry and the sender repeated none of them"
        ));
    }
    verdict(s, &seen, offences, "retries")
}

fn issued(r: &Recorded) -> Option<(String, i64)> {
    let v = r.response_json().filter(|_| r.status == 200)?;
    let token = v["access_token"].as_str()?.to_string();
    let lifetime = v["expires_in"]
        .as_i64()
        .or_else(|| v["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    Some((token, lifetime))
}

fn seconds_between(a: &Recorded, b: &Recorded) -> i64 {
    b.at.duration_since(a.at)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn tokens_reused(s: &Session) -> Graded {
    if s.tokens.is_empty() {
        return skip("the sender never asked the proxy for an access token");
    }
    let mut current: Option<(&Recorded, String, i64)> = None;
    let mut offences = Vec::new();
    for t in &s.tokens {
        if let Some((prev, token, lifetime)) = &current {
            let left = lifetime - seconds_between(prev, t);
            let refused = s
                .api
                .iter()
                .any(|r| r.status == 401 && r.bearer() == Some(token.as_str()) && r.seq < t.seq);
            if left > (lifetime / 4).max(60) && !refused {
                offences.push((
                    format!(
                        "#{} asks for a new token while the one from #{} had {left} s left and was never refused",
                        t.seq, prev.seq
                    ),
                    vec![*prev, t],
                ));
            }
        }
        if let Some((token, lifetime)) = issued(t) {
            current = Some((t, token, lifetime));
        }
    }
    let seen: Vec<&Recorded> = s.tokens.iter().collect();
    verdict(s, &seen, offences, "token requests")
}

/// What is wrong with one token request's form and assertion.
fn assertion_problems(s: &Session, r: &Recorded) -> Vec<String> {
    let mut problems = Vec::new();
    if jwt::form_field(&r.body, "grant_type").as_deref() != Some("client_credentials") {
        problems.push("grant_type is not client_credentials".to_string());
    }
    if jwt::form_field(&r.body, "client_assertion_type").as_deref()
        != Some(bars_client::JWT_BEARER_ASSERTION_TYPE)
    {
        problems.push("client_assertion_type is not jwt-bearer".to_string());
    }
    let Some(assertion) = jwt::form_assertion(&r.body) else {
        problems.push("no client_assertion".to_string());
        return problems;
    };
    let (Some(header), Some(claims)) = (jwt::header(&assertion), jwt::claims(&assertion)) else {
        problems.push("the client_assertion is not a JWT".to_string());
        return problems;
    };
    if !matches!(header["alg"].as_str(), Some("RS512" | "ES256")) {
        problems.push("alg is not RS512 or ES256".to_string());
    }
    if header["kid"].as_str().is_none_or(str::is_empty) {
        problems.push("no kid".to_string());
    }
    let iss = claims["iss"].as_str().unwrap_or("");
    if iss.is_empty() || claims["sub"].as_str() != Some(iss) {
        problems.push("iss and sub are not both the client id".to_string());
    }
    if claims["aud"].as_str() != Some(s.token_url.as_str()) {
        problems.push("aud is not the token endpoint's URL".to_string());
    }
    if claims["jti"].as_str().is_none_or(str::is_empty) {
        problems.push("no jti".to_string());
    }
    let sent =
        r.at.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
    match claims["exp"].as_i64() {
        None => problems.push("no numeric exp".to_string()),
        Some(exp) if exp - sent > MAX_ASSERTION_SECONDS => problems.push(format!(
            "exp is {} s after it was sent (at most {MAX_ASSERTION_SECONDS})",
            exp - sent
        )),
        Some(exp) if exp <= sent => problems.push("it had expired when it was sent".to_string()),
        Some(_) => {}
    }
    problems
}

fn assertions_well_formed(s: &Session) -> Graded {
    if s.tokens.is_empty() {
        return skip("the sender never asked the proxy for an access token");
    }
    let offences = s
        .tokens
        .iter()
        .filter_map(|r| {
            let problems = assertion_problems(s, r);
            (!problems.is_empty())
                .then(|| (format!("#{}: {}", r.seq, problems.join(", ")), vec![r]))
        })
        .collect();
    let seen: Vec<&Recorded> = s.tokens.iter().collect();
    verdict(s, &seen, offences, "token requests")
}

fn unique_jti(s: &Session) -> Graded {
    if s.tokens.is_empty() {
        return skip("the sender never asked the proxy for an access token");
    }
    let mut first: HashMap<String, &Recorded> = HashMap::new();
    let mut offences = Vec::new();
    for r in &s.tokens {
        let Some(jti) = jwt::form_assertion(&r.body)
            .and_then(|a| jwt::claims(&a))
            .and_then(|c| c["jti"].as_str().map(str::to_string))
        else {
            continue;
        };
        match first.get(&jti) {
            Some(f) => offences.push((
                format!("#{} reuses the jti of #{}", r.seq, f.seq),
                vec![*f, r],
            )),
            None => {
                first.insert(jti, r);
            }
        }
    }
    let seen: Vec<&Recorded> = s.tokens.iter().collect();
    verdict(s, &seen, offences, "token requests")
}

/// Whether a 409 duplicate was retried (it means the first attempt succeeded).
fn duplicate_not_retried(s: &Session) -> Graded {
    let mut seen = Vec::new();
    let mut offences = Vec::new();
    for (i, r) in s.api.iter().enumerate() {
        if !(r.status == 409 && answer_code(r).as_deref() == Some("REC_CONFLICT"))
            || r.response_json()
                .and_then(|v| {
                    v.pointer("/issue/0/code")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .as_deref()
                != Some("duplicate")
        {
            continue;
        }
        seen.push(r);
        if let Some(next) = s.api[i + 1..]
            .iter()
            .find(|n| same_request(r, n) && request_id(n) == request_id(r))
        {
            offences.push((
                format!(
                    "{} sends again what {} was told was a duplicate",
                    describe(next),
                    describe(r)
                ),
                vec![r, next],
            ));
        }
    }
    if seen.is_empty() {
        return skip("no answer was 409 duplicate: a retry after a lost answer produces one");
    }
    verdict(s, &seen, offences, "duplicate answers")
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
            request_ids_are_uuids
        ),
        sender_check!(
            "SND-ID-002",
            RequestIds,
            Shall,
            "Each new request has a fresh X-Request-ID; only a retry repeats one",
            "digest 5.10",
            "IG: Transactional-integrity/Definition-of-a-retry.page.md",
            fresh_request_ids
        ),
        sender_check!(
            "SND-ID-003",
            RequestIds,
            Shall,
            "Every request carries an X-Correlation-ID that is a UUID",
            "digest 3.1, 5.10",
            "IG: Transactional-integrity/Sender-responsibilities.page.md",
            correlation_ids_are_uuids
        ),
        sender_check!(
            "SND-ID-004",
            RequestIds,
            Shall,
            "A workflow keeps one X-Correlation-ID: a change or rebooking carries its read's",
            "digest 5.10, 1.7 B-F",
            "IG: End-to-end-workflow/transactional-Integrity.page.md",
            workflow_correlation
        ),
        sender_check!(
            "SND-HDR-001",
            Headers,
            Shall,
            "Every routed request names its service in a Base64 JSON NHSD-Target-Identifier",
            "digest 1.4, 3.1, 3.2",
            "API: NHSD-Target-Identifier header",
            target_identifiers
        ),
        sender_check!(
            "SND-HDR-002",
            Headers,
            Shall,
            "Access-control headers are Base64 JSON: the organisation with ODS code and name, software and practitioner identified",
            "digest 1.3, 3.1, 3.2",
            "IG: Security-and-Authorisation/Authorisation.page.md",
            access_control_headers
        ),
        sender_check!(
            "SND-HDR-003",
            Headers,
            Shall,
            "Every request asks for application/fhir+json of BaRS major version 1 in Accept",
            "digest 1.6, 3.1, 3.6",
            "IG: Versioning; Content-Negotiation",
            accept_version
        ),
        sender_check!(
            "SND-RBW-001",
            ReadBeforeWrite,
            Shall,
            "Every change to an appointment follows a read of it made since its last change",
            "digest 1.8",
            "IG: Appointment-StandardPattern/Introduction.page.md (read before write)",
            read_before_write
        ),
        sender_check!(
            "SND-RBW-002",
            ReadBeforeWrite,
            Should,
            "A change carries If-Match with the ETag its read returned",
            "digest 5.8 [DECISION]",
            "FHIR R4 http.html (version-aware update)",
            if_match_from_read
        ),
        sender_check!(
            "SND-SLOT-001",
            Booking,
            Shall,
            "The slot booked or moved to came from a slot search of that service",
            "digest 1.7 A, E; delta 8.1 (NBRS-3308)",
            "IG: Initial-Booking.page.md; Rebook-Methods.page.md",
            slot_from_search
        ),
        sender_check!(
            "SND-RETRY-001",
            Retries,
            Shall,
            "A retry repeats the request with the same X-Request-ID and X-Correlation-ID",
            "digest 4.6, 5.10",
            "IG: Transactional-integrity/Retry-Scenario.page.md",
            retries_keep_ids
        ),
        sender_check!(
            "SND-RETRY-002",
            Retries,
            Shall,
            "A 409 duplicate is never retried: the first attempt succeeded",
            "digest 4.6, 5.10",
            "IG: Transactional-integrity/Sender-responsibilities.page.md",
            duplicate_not_retried
        ),
        sender_check!(
            "SND-TOK-001",
            Authentication,
            Should,
            "An access token is reused until it is about to expire",
            "digest 1.2",
            "IG: Security-and-Authorisation/Sender.page.md (signed JWT pattern)",
            tokens_reused
        ),
        sender_check!(
            "SND-JWT-001",
            Authentication,
            Shall,
            "Client assertions are well formed: RS512/ES256, kid, iss = sub, aud, jti, exp at most 5 minutes ahead",
            "digest 1.2",
            "IG: OAuth-Endpoints.page.md; RFC 7523 3",
            assertions_well_formed
        ),
        sender_check!(
            "SND-JWT-002",
            Authentication,
            Shall,
            "Every client assertion has a jti never used before",
            "digest 1.2",
            "RFC 7523 3 (jti); IG: Authenticate-with-BaRS.page.md",
            unique_jti
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_names_the_major_version() {
        assert_eq!(
            accepted_major("application/fhir+json; version=1.1.0").as_deref(),
            Some("1")
        );
        assert_eq!(
            accepted_major("application/json, application/fhir+json;version=2.0.0").as_deref(),
            Some("2")
        );
        assert_eq!(accepted_major("application/fhir+json"), None);
        assert_eq!(accepted_major("application/json; version=1.0.0"), None);
    }

    #[test]
    fn access_control_headers_must_be_the_resources_named() {
        use bars_fhir::headers::encode_base64_json;
        let org = encode_base64_json(&serde_json::json!({
            "resourceType": "Organization",
            "identifier": [{ "system": bars_fhir::headers::ODS_SYSTEM, "value": "A1001" }],
            "name": "Practice"
        }));
        assert_eq!(
            access_header_problem("nhsd-end-user-organisation", &org),
            None
        );
        let nameless = encode_base64_json(&serde_json::json!({ "resourceType": "Organization" }));
        assert!(access_header_problem("nhsd-end-user-organisation", &nameless).is_some());
        assert!(access_header_problem("nhsd-end-user-organisation", "{not base64").is_some());
        assert!(access_header_problem("nhsd-requesting-software", &org).is_some());
    }
}
