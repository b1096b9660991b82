//! One appointment as the service holds it: its current state, every version with what changed
//! from the one before, the changes a sender may make (update, reschedule, cancel, rebook), and
//! the clinic's side of it beside them.

use bars_client::{BarsError, Versioned};
use bars_fhir::headers::TargetIdentifier;
use bars_fhir::search::encode_component;
use maud::{Markup, html};
use serde_json::Value;

use crate::links::{appointment_path, service_segment};
use crate::{diff, uk_time};

fn text<'a>(a: &'a Value, pointer: &str) -> Option<&'a str> {
    a.pointer(pointer).and_then(Value::as_str)
}

fn patient(a: &Value) -> Option<String> {
    bars_client::workflows::patient_of(a).map(|n| n.as_str().to_string())
}

fn current(a: &Value) -> Markup {
    html! {
        dl class="summary" id="current" {
            dt { "Status" } dd data-field="status" { strong { (text(a, "/status").unwrap_or("?")) } }
            dt { "When (UK time)" } dd data-field="start" {
                @if let (Some(s), Some(e)) = (text(a, "/start"), text(a, "/end")) { (uk_time::when(s)) " to " (uk_time::clock(e)) }
            }
            dt { "Slot" } dd data-field="slot" { code { (text(a, "/slot/0/reference").unwrap_or("–").trim_start_matches("Slot/")) } }
            dt { "Patient (NHS number)" } dd data-field="patient" { (patient(a).unwrap_or_default()) }
            dt { "Reason" } dd data-field="description" { (text(a, "/description").unwrap_or("–")) }
            dt { "Comment" } dd data-field="comment" { (text(a, "/comment").unwrap_or("–")) }
            @if let Some(r) = text(a, "/replaces/0/reference") {
                dt { "Replaces" } dd { code { (r.trim_start_matches("Appointment/")) } }
            }
            @if let Some(r) = text(a, "/cancelationReason/text") {
                dt { "Cancellation reason" } dd { (r) }
            }
            dt { "Version" } dd data-field="version" { (text(a, "/meta/versionId").unwrap_or("?")) }
            dt { "Last updated" } dd { (text(a, "/meta/lastUpdated").map(uk_time::when).unwrap_or_default()) }
        }
    }
}

/// Statuses the clinic records once the patient came (or did not): a sender's change is refused.
const ATTENDED: [&str; 3] = ["arrived", "fulfilled", "noshow"];

fn changes(t: &TargetIdentifier, id: &str, a: &Value) -> Markup {
    let path = appointment_path(t, id);
    let week = |mode: &str| {
        let mut link = format!(
            "/services/{}/week?mode={mode}&appointment={}",
            service_segment(t),
            encode_component(id)
        );
        if let Some(day) = text(a, "/start").and_then(uk_time::day_of) {
            link.push_str(&format!("&from={day}"));
        }
        link
    };
    let status = text(a, "/status").unwrap_or("?");
    let changeable = status == "booked";
    html! {
        @if ATTENDED.contains(&status) {
            p class="mode" {
                "The clinic has recorded this appointment as " strong { (status) } ": a sender may no longer change it. "
                "Try an update to see how the service refuses it."
            }
            form method="post" action=(format!("{path}/update")) {
                div class="field" {
                    label for="description" { "Reason" }
                    input id="description" name="description" type="text" value=(text(a, "/description").unwrap_or(""));
                }
                input type="hidden" name="comment" value=(text(a, "/comment").unwrap_or(""));
                button type="submit" id="update" { "Save the changes" }
            }
        } @else if !changeable {
            p class="mode" { "This appointment is " (status) ": it can no longer be changed." }
        } @else {
            div class="changes" {
                section aria-labelledby="update-heading" {
                    h3 id="update-heading" { "Update the details" }
                    form method="post" action=(format!("{path}/update")) {
                        div class="field" {
                            label for="description" { "Reason" }
                            input id="description" name="description" type="text" value=(text(a, "/description").unwrap_or(""));
                        }
                        div class="field" {
                            label for="comment" { "Comment for the service" }
                            input id="comment" name="comment" type="text" value=(text(a, "/comment").unwrap_or(""));
                        }
                        button type="submit" id="update" { "Save the changes" }
                    }
                }
                section aria-labelledby="move-heading" {
                    h3 id="move-heading" { "Change the time" }
                    p { a id="reschedule" href=(week("reschedule")) { "Reschedule" } ": move this appointment to another free slot (the same booking, a new version)." }
                    p { a id="rebook" href=(week("rebook")) { "Rebook" } ": book a new appointment that replaces this one, then cancel this one." }
                }
                section aria-labelledby="cancel-heading" {
                    h3 id="cancel-heading" { "Cancel" }
                    form method="post" action=(format!("{path}/cancel")) {
                        div class="field" {
                            label for="cancel-reason" { "Why (optional)" }
                            input id="cancel-reason" name="reason" type="text";
                        }
                        button type="submit" id="cancel" class="danger" { "Cancel this appointment" }
                    }
                }
            }
        }
    }
}

fn versions(list: &[Value]) -> Markup {
    html! {
        ol class="versions" {
            @for (i, v) in list.iter().enumerate() {
                li data-version=(text(v, "/meta/versionId").unwrap_or("?")) {
                    h3 {
                        "Version " (text(v, "/meta/versionId").unwrap_or("?")) ": " (text(v, "/status").unwrap_or("?"))
                        span class="time" { ", " (text(v, "/meta/lastUpdated").map(uk_time::when).unwrap_or_default()) }
                    }
                    @if i == 0 {
                        p { "The booking as first accepted." }
                    } @else {
                        @let changed = diff::changes(&list[i - 1], v);
                        table class="diff" {
                            caption { "What changed from version " (text(&list[i - 1], "/meta/versionId").unwrap_or("?")) }
                            thead { tr { th scope="col" { "Field (JSON path)" } th scope="col" { "Before" } th scope="col" { "After" } } }
                            tbody {
                                @for c in &changed {
                                    tr {
                                        th scope="row" { code { (c.path) } }
                                        td { @match &c.before { Some(b) => code { (b) }, None => em { "absent" } } }
                                        td { @match &c.after { Some(b) => code { (b) }, None => em { "removed" } } }
                                    }
                                }
                            }
                        }
                    }
                    details {
                        summary { "The whole resource at version " (text(v, "/meta/versionId").unwrap_or("?")) }
                        pre tabindex="0" { (serde_json::to_string_pretty(v).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

pub fn render(
    t: &TargetIdentifier,
    id: &str,
    read: &Result<(Versioned, Vec<Value>), BarsError>,
    clinic: Option<Markup>,
) -> Markup {
    html! {
        p class="lead" { "Appointment " code id="appointment-id" { (id) } " at service " code { (t.value) } ", read from the service that holds it." }
        @match read {
            Err(e) => (super::refusal(e)),
            Ok((now, history)) => {
                section aria-labelledby="now-heading" {
                    h2 id="now-heading" { "Now" }
                    (current(&now.resource))
                }
                section aria-labelledby="change-heading" {
                    h2 id="change-heading" { "Change it" }
                    (changes(t, id, &now.resource))
                }
                section aria-labelledby="versions-heading" {
                    h2 id="versions-heading" { "Every version" }
                    p class="hint" { "The service keeps every version; each write names the version it changes (If-Match), so two people cannot overwrite each other." }
                    (versions(history))
                }
                @if let Some(side) = &clinic {
                    (side)
                }
                @if let Some(p) = patient(&now.resource) {
                    p { a href=(format!("/patients?nhs={p}")) { "This patient's appointments at every service" } }
                }
            }
        }
    }
}
