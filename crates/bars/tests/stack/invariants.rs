//! The booking invariants, checked on what the APIs return: slots agree with the appointments
//! holding them, and the registry's pointers agree with the bookings. Shared by the crash test
//! and the state-machine property test.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The statuses in which an appointment holds its slots (`AppointmentStatus::holds_slot`).
pub fn holds_slot(appointment: &Value) -> bool {
    matches!(
        appointment["status"].as_str(),
        Some("booked" | "arrived" | "checked-in")
    )
}

/// The slot ids an appointment names.
pub fn slot_ids(appointment: &Value) -> Vec<String> {
    appointment["slot"]
        .as_array()
        .map(|slots| {
            slots
                .iter()
                .filter_map(|s| s["reference"].as_str())
                .map(|r| r.trim_start_matches("Slot/").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A busy slot is held by exactly one appointment, a free slot by none (slots of any other
/// status, and appointments' slots outside `slots`, are not judged).
pub fn check_slots(slots: &[Value], appointments: &[Value]) -> Result<(), String> {
    let mut holders: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in appointments.iter().filter(|a| holds_slot(a)) {
        for slot in slot_ids(a) {
            holders
                .entry(slot)
                .or_default()
                .push(a["id"].as_str().unwrap_or("?").to_string());
        }
    }
    for slot in slots {
        let id = slot["id"].as_str().unwrap_or("?");
        let held_by = holders.get(id).cloned().unwrap_or_default();
        match slot["status"].as_str() {
            Some("busy") if held_by.len() != 1 => {
                return Err(format!("busy slot {id} is held by {held_by:?}"));
            }
            Some("free") if !held_by.is_empty() => {
                return Err(format!("free slot {id} is held by {held_by:?}"));
            }
            _ => {}
        }
    }
    Ok(())
}

fn instant(v: &Value) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(v.as_str()?, &time::format_description::well_known::Rfc3339).ok()
}

/// Exactly one pointer per appointment that holds its slot, with the appointment's period,
/// and none for any other appointment.
pub fn check_pointers(appointments: &[Value], pointers: &[Value]) -> Result<(), String> {
    let mut pointed: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for p in pointers {
        let id = p["identifier"][0]["value"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        pointed.entry(id).or_default().push(p);
    }
    let active: BTreeSet<String> = appointments
        .iter()
        .filter(|a| holds_slot(a))
        .map(|a| a["id"].as_str().unwrap_or("?").to_string())
        .collect();
    let named: BTreeSet<String> = pointed.keys().cloned().collect();
    if active != named {
        return Err(format!(
            "active bookings without a pointer: {:?}; pointers without an active booking: {:?}",
            active.difference(&named).collect::<Vec<_>>(),
            named.difference(&active).collect::<Vec<_>>()
        ));
    }
    for a in appointments.iter().filter(|a| holds_slot(a)) {
        let id = a["id"].as_str().unwrap_or("?");
        let found = &pointed[id];
        if found.len() != 1 {
            return Err(format!("{} pointers to {id}", found.len()));
        }
        // Core 1.5.0 (delta section 3.2): the appointment's id and its service identify it.
        let systems: Vec<&str> = found[0]["identifier"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["system"].as_str())
            .collect();
        for system in [
            "https://fhir.nhs.uk/Id/BaRS-Identifier",
            "https://fhir.nhs.uk/Id/dos-service-id",
        ] {
            if !systems.contains(&system) {
                return Err(format!("the pointer to {id} has no {system} identifier"));
            }
        }
        let period = &found[0]["context"]["period"];
        if instant(&period["start"]) != instant(&a["start"])
            || instant(&period["end"]) != instant(&a["end"])
        {
            return Err(format!(
                "the pointer to {id} says {period}, the booking {} - {}",
                a["start"], a["end"]
            ));
        }
    }
    Ok(())
}
