//! Workflows: read before write (with the read's version) and slots from a search
//! (BaRS 1.7, 1.8, 5.8).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{Graded, describe, firsts, skip, target, verdict};
use crate::sender::record::Recorded;
use crate::sender::session::{Action, Session, action};

pub(super) fn read_before_write(s: &Session) -> Graded {
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

pub(super) fn if_match_from_read(s: &Session) -> Graded {
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
        .map(crate::sender::session::reference_id)
        .collect()
}

pub(super) fn slot_from_search(s: &Session) -> Graded {
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
