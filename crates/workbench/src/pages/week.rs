//! A week of a service's slots, day by day: free slots to choose (to book, or as the new time
//! of a reschedule or rebooking), busy and withdrawn ones shown for what they are.

use bars_client::{BarsError, Slot};
use bars_fhir::headers::TargetIdentifier;
use bars_fhir::search::encode_component;
use jiff::civil::Date;
use maud::{Markup, html};

use crate::choice::Choosing;
use crate::links::{appointment_path, service_segment};
use crate::uk_time;

pub struct Week<'a> {
    pub service: &'a TargetIdentifier,
    pub name: Option<&'a str>,
    pub from: Date,
    pub choosing: &'a Choosing,
    pub slots: &'a Result<Vec<Slot>, BarsError>,
}

fn week_link(w: &Week, from: Date) -> String {
    let mut link = format!("/services/{}/week?from={from}", service_segment(w.service));
    if let Some(n) = w.name {
        link.push_str(&format!("&name={}", encode_component(n)));
    }
    match w.choosing {
        Choosing::Book => {}
        Choosing::Reschedule(a) => link.push_str(&format!(
            "&mode=reschedule&appointment={}",
            encode_component(a)
        )),
        Choosing::Rebook(a) => {
            link.push_str(&format!("&mode=rebook&appointment={}", encode_component(a)))
        }
    }
    link
}

fn status_word(status: &str) -> &str {
    match status {
        "free" => "free",
        "busy" => "busy",
        "busy-unavailable" => "withdrawn",
        other => other,
    }
}

fn free_slot(w: &Week, s: &Slot) -> Markup {
    let time = uk_time::clock(&s.start);
    let label = format!("{} to {}", time, uk_time::clock(&s.end));
    match w.choosing {
        Choosing::Book => {
            let mut href = format!(
                "/services/{}/book?slot={}&start={}&end={}",
                service_segment(w.service),
                encode_component(&s.id),
                encode_component(&s.start),
                encode_component(&s.end)
            );
            if let Some(n) = w.name {
                href.push_str(&format!("&name={}", encode_component(n)));
            }
            html! { a class="slot free" href=(href) data-slot=(s.id) aria-label=(format!("Book {label}")) { (time) } }
        }
        Choosing::Reschedule(a) | Choosing::Rebook(a) => {
            let (what, verb) = match w.choosing {
                Choosing::Reschedule(_) => ("reschedule", "Move to"),
                _ => ("rebook", "Rebook at"),
            };
            html! {
                form method="post" action=(format!("{}/{what}", appointment_path(w.service, a))) class="slot-form" {
                    input type="hidden" name="slot" value=(s.id);
                    input type="hidden" name="start" value=(s.start);
                    input type="hidden" name="end" value=(s.end);
                    button class="slot free" type="submit" data-slot=(s.id) aria-label=(format!("{verb} {label}")) { (time) }
                }
            }
        }
    }
}

pub fn render(w: &Week) -> Markup {
    let days: Vec<Date> = (0..7).map(|i| uk_time::add_days(w.from, i)).collect();
    html! {
        p class="lead" {
            @match w.name { Some(n) => { strong { (n) } " " }, None => {} }
            "(service " code { (w.service.value) } "), from " (uk_time::day_heading(w.from)) ", in UK time."
        }
        @match w.choosing {
            Choosing::Book => p { "Choose a free time to book it." },
            Choosing::Reschedule(a) => p class="mode" { "Choose the new time for appointment " code { (a) } ". " a href=(appointment_path(w.service, a)) { "Keep the current time" } },
            Choosing::Rebook(a) => p class="mode" { "Choose the time of the new booking; appointment " code { (a) } " will then be cancelled. " a href=(appointment_path(w.service, a)) { "Back to the appointment" } },
        }
        nav class="weeks" aria-label="Weeks" {
            a href=(week_link(w, uk_time::add_days(w.from, -7))) { "Previous week" }
            a href=(week_link(w, uk_time::today())) { "From today" }
            a href=(week_link(w, uk_time::add_days(w.from, 7))) { "Next week" }
        }
        ul class="legend" aria-label="Key" {
            li { span class="slot free" { "09:00" } " free: choose it" }
            li { span class="slot busy" { "09:00" } " busy: already booked" }
            li { span class="slot withdrawn" { "09:00" } " withdrawn by the service" }
        }
        p class="hint" {
            "A BaRS slot search asks for free and busy slots only, so a slot the service has withdrawn "
            "is usually just missing here; it is shown struck through when a service does list it."
        }
        @match w.slots {
            Err(e) => (super::refusal(e)),
            Ok(slots) => {
                div class="week" {
                    @for (i, d) in days.iter().enumerate() {
                        @let today: Vec<&Slot> = slots.iter().filter(|s| uk_time::day_of(&s.start) == Some(*d)).collect();
                        section class="day" aria-labelledby=(format!("day-{i}")) {
                            h2 id=(format!("day-{i}")) { (uk_time::day_heading(*d)) }
                            @if today.is_empty() {
                                p class="none" { "No slots" }
                            } @else {
                                ul {
                                    @for s in today {
                                        li {
                                            @if s.status == "free" {
                                                (free_slot(w, s))
                                            } @else {
                                                span class=(format!("slot {}", if s.status == "busy" { "busy" } else { "withdrawn" })) data-slot=(s.id) {
                                                    (uk_time::clock(&s.start)) " " span class="status" { (status_word(&s.status)) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
