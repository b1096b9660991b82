//! The clinic's side (issue 19, point 4): the service's day list and the events its systems
//! received, read from the receiver's admin API, with the staff actions that change an
//! appointment; and the same for one appointment beside the sender's view of it, so one
//! action shows both parties reacting.

use bars_client::BarsError;
use bars_fhir::headers::TargetIdentifier;
use bars_fhir::search::encode_component;
use jiff::civil::Date;
use maud::{Markup, html};
use serde_json::Value;

use crate::clinic::STAFF_ACTIONS;
use crate::clinic::access::{ClinicAccess, ReceiverAdmin};
use crate::links::appointment_path;
use crate::uk_time;

/// Statuses a staff action can no longer change.
const ENDED: [&str; 2] = ["cancelled", "entered-in-error"];

/// Events shown on the day list (newest first).
const EVENTS_SHOWN: usize = 30;

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("–")
}

pub fn day_path(service: &str, day: Date) -> String {
    format!(
        "/clinic/day?service={}&date={day}",
        encode_component(service)
    )
}

/// What to configure when no receiver's admin API is known.
pub fn not_configured() -> Markup {
    html! {
        div class="refusal" id="clinic-not-configured" {
            h2 { "The clinic's side is not configured" }
            p {
                "The workbench reads the clinic's side from each receiver's admin API. It finds them in the stack manifest "
                "(" code { "stack.json" } ", which " code { "bars demo" } " writes: " code { "receivers[].adminUrl" } ", and "
                code { "adminToken" } " where the admin API needs one), or start it with "
                code { "bars workbench --receiver-admin ODS=URL" } " (repeatable) and "
                code { "--receiver-admin-token ODS=TOKEN" } "."
            }
        }
    }
}

pub fn overview(access: &ClinicAccess) -> Markup {
    html! {
        p class="lead" {
            "A service's own staff run their day from the receiver's admin API, and the service's own systems hear of every change. "
            "Here you see both, next to what the sender sees: book as the sender, then open the service's day; record that the patient arrived, "
            "then open the sender's appointment page."
        }
        @if access.is_empty() {
            (not_configured())
        } @else {
            @for r in access.receivers() {
                section aria-labelledby=(format!("receiver-{}", r.ods)) {
                    h2 id=(format!("receiver-{}", r.ods)) { (r.name.as_deref().unwrap_or(&r.ods)) " (" (r.ods) ")" }
                    p class="hint" { "Admin API " code { (r.url) } @if r.token.is_some() { ", with a bearer token" } "." }
                    @if !r.services.is_empty() {
                        ul {
                            @for (id, name) in &r.services {
                                li { a data-clinic-service=(id) href=(day_path(id, uk_time::today())) { (if name.is_empty() { id } else { name }) } " (" (id) ")" }
                            }
                        }
                    }
                }
            }
            form method="get" action="/clinic/day" class="clinic-find" {
                div class="field" {
                    label for="clinic-service" { "Service (DoS id)" }
                    input id="clinic-service" name="service" type="text" inputmode="numeric" required;
                }
                div class="field" {
                    label for="clinic-date" { "Day" }
                    input id="clinic-date" name="date" type="date" value=(uk_time::today().to_string());
                }
                button type="submit" { "Open the day list" }
            }
        }
    }
}

/// The staff actions for one appointment, as one form: the button pressed names the action.
fn staff_form(service: &str, id: &str, back: &str, day: Date, status: &str) -> Markup {
    let field = format!("staff-reason-{id}");
    html! {
        @if ENDED.contains(&status) {
            p class="hint" { "No staff action changes a " (status) " appointment." }
        } @else {
            form method="post" class="staff" action=(format!("/clinic/appointments/{}", encode_component(id))) {
                input type="hidden" name="service" value=(service);
                input type="hidden" name="back" value=(back);
                input type="hidden" name="date" value=(day.to_string());
                div class="field" {
                    label for=(field) { "Reason (needed to cancel)" }
                    input id=(field) name="reason" type="text";
                }
                div class="staff-buttons" {
                    @for (action, words) in STAFF_ACTIONS {
                        button type="submit" name="action" value=(action) data-staff=(action)
                            class=[(action == "cancel" || action == "entered-in-error").then_some("danger")] { (words) }
                    }
                }
            }
        }
    }
}

fn event_list(events: &[&Value]) -> Markup {
    html! {
        @if events.is_empty() {
            p class="hint" id="no-events" { "No events yet." }
        } @else {
            ol class="events" reversed {
                @for e in events {
                    li data-event=(text(e, "/type")) data-appointment=(text(e, "/data/appointmentId")) {
                        strong { (text(e, "/type")) } " #" (e.pointer("/data/sequence").unwrap_or(&Value::Null))
                        ", version " (e.pointer("/data/version").unwrap_or(&Value::Null))
                        ", by the " (text(e, "/data/by")) " (" (text(e, "/data/actorOds")) ")"
                        span class="time" { ", " (uk_time::when(text(e, "/timestamp"))) }
                        @let changed = e.pointer("/data/changes").and_then(Value::as_object);
                        @if let Some(c) = changed.filter(|c| !c.is_empty()) {
                            br; span class="hint" { "Changed: " (c.keys().cloned().collect::<Vec<_>>().join(", ")) }
                        }
                    }
                }
            }
        }
    }
}

pub struct Day<'a> {
    pub service: &'a str,
    pub day: Date,
    pub receiver: &'a ReceiverAdmin,
    pub list: &'a Result<Vec<Value>, BarsError>,
    pub events: &'a Result<Vec<Value>, BarsError>,
}

pub fn day(d: &Day) -> Markup {
    let t = TargetIdentifier::dos(d.service);
    html! {
        p class="lead" {
            "Service " code { (d.service) } " at " (d.receiver.name.as_deref().unwrap_or(&d.receiver.ods)) ", as its staff see it, read from the receiver's admin API. "
            "NHS numbers are masked but for their last digits; every read of the list is audited."
        }
        nav class="weeks" aria-label="Days" {
            a href=(day_path(d.service, uk_time::add_days(d.day, -1))) { "Previous day" }
            a href=(day_path(d.service, uk_time::add_days(d.day, 1))) { "Next day" }
            a href=(format!("/services/{}/week?from={}", encode_component(d.service), d.day)) { "The sender's week view" }
        }
        section aria-labelledby="day-heading" {
            h2 id="day-heading" { "The day list: " (uk_time::day_heading(d.day)) }
            @match d.list {
                Err(e) => (super::refusal(e)),
                Ok(lines) if lines.is_empty() => p id="day-empty" { "No appointments on this day." },
                Ok(lines) => {
                    table class="day-list" {
                        caption { (lines.len()) @if lines.len() == 1 { " appointment" } @else { " appointments" } ", UK time" }
                        thead { tr {
                            th scope="col" { "Time" } th scope="col" { "Status" } th scope="col" { "Patient" }
                            th scope="col" { "Booked by" } th scope="col" { "Reason" } th scope="col" { "Staff" }
                        } }
                        tbody {
                            @for l in lines {
                                @let id = text(l, "/id");
                                tr data-appointment=(id) {
                                    td { (uk_time::clock(text(l, "/start"))) "–" (uk_time::clock(text(l, "/end"))) }
                                    td data-field="status" { strong { (text(l, "/status")) } }
                                    td data-field="patient" { (text(l, "/patient")) }
                                    td { (text(l, "/bookedBy")) }
                                    td data-field="reason" {
                                        (text(l, "/reason"))
                                        @if let Some(why) = l.pointer("/cancellationReason").and_then(Value::as_str) {
                                            br; "Cancelled: " (why)
                                        }
                                        br; a href=(appointment_path(&t, id)) { "The sender's view" }
                                    }
                                    td { (staff_form(d.service, id, "day", d.day, text(l, "/status"))) }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="events-heading" {
            h2 id="events-heading" { "Events the service's systems received" }
            p class="hint" {
                "Every change, by the sender or the clinic, becomes an event in the same transaction, delivered to the service's webhooks "
                "and kept in the pull feed (" code { "GET /admin/events?after=SEQ" } "). Newest first."
            }
            @match d.events {
                Err(e) => (super::refusal(e)),
                Ok(all) => (event_list(&all.iter().rev().take(EVENTS_SHOWN).collect::<Vec<_>>())),
            }
        }
    }
}

/// The clinic's side of one appointment, for its page beside the sender's view.
pub fn beside(
    t: &TargetIdentifier,
    id: &str,
    status: &str,
    day: Option<Date>,
    events: Option<&Result<Vec<Value>, BarsError>>,
) -> Markup {
    html! {
        section aria-labelledby="clinic-heading" class="clinic-side" {
            h2 id="clinic-heading" { "The clinic's side" }
            @match events {
                None => (not_configured()),
                Some(Err(e)) => (super::refusal(e)),
                Some(Ok(all)) => {
                    p class="hint" {
                        "What the service's own systems were told of this appointment, newest first. "
                        @if let Some(d) = day { a href=(day_path(&t.value, d)) { "The service's day list" } }
                    }
                    (event_list(&all.iter().filter(|e| text(e, "/data/appointmentId") == id).rev().collect::<Vec<_>>()))
                    h3 { "Record, as the clinic's staff" }
                    (staff_form(&t.value, id, "appointment", day.unwrap_or_else(uk_time::today), status))
                }
            }
        }
    }
}
