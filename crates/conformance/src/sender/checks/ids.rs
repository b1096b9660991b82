//! Request ids: every request names itself with fresh UUIDs, and a workflow keeps one
//! correlation id (BaRS 3.1, 5.10).

use std::collections::HashMap;

use super::{
    Graded, api, correlation_id, describe, firsts, is_uuid, request_id, same_request, skip, verdict,
};
use crate::sender::record::Recorded;
use crate::sender::session::{Action, Session, action};

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

pub(super) fn request_ids_are_uuids(s: &Session) -> Graded {
    uuid_header(s, "x-request-id")
}

pub(super) fn correlation_ids_are_uuids(s: &Session) -> Graded {
    uuid_header(s, "x-correlation-id")
}

pub(super) fn fresh_request_ids(s: &Session) -> Graded {
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

pub(super) fn workflow_correlation(s: &Session) -> Graded {
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
