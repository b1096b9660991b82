//! Booking a chosen slot: the patient's NHS number (checked as it is typed, and again here) and
//! the reason, sent as one BaRS booking.

use bars_client::BarsError;
use bars_fhir::headers::TargetIdentifier;
use bars_fhir::search::encode_component;
use maud::{Markup, html};

use crate::choice::ChosenSlot;
use crate::links::service_segment;
use crate::uk_time;

#[derive(Debug, Default)]
pub struct Entered {
    pub nhs: String,
    pub reason: String,
    pub nhs_error: Option<String>,
}

pub fn render(
    t: &TargetIdentifier,
    chosen: &ChosenSlot,
    entered: &Entered,
    refused: Option<&BarsError>,
) -> Markup {
    let mut week = format!("/services/{}/week", service_segment(t));
    if let Some(day) = uk_time::day_of(&chosen.start) {
        week.push_str(&format!("?from={day}"));
        if let Some(n) = &chosen.name {
            week.push_str(&format!("&name={}", encode_component(n)));
        }
    }
    html! {
        @if let Some(e) = refused { (super::refusal(e)) }
        @if chosen.slot.is_empty() {
            p { "No slot was chosen. " a href=(week) { "Choose one on the week view." } }
        } @else {
            dl class="summary" {
                dt { "Service" } dd { @if let Some(n) = &chosen.name { (n) " " } "(" code { (t.value) } ")" }
                dt { "When" } dd { (uk_time::when(&chosen.start)) " to " (uk_time::clock(&chosen.end)) }
                dt { "Slot" } dd { code { (chosen.slot) } }
            }
            form method="post" action=(format!("/services/{}/book", service_segment(t))) novalidate {
                input type="hidden" name="slot" value=(chosen.slot);
                input type="hidden" name="start" value=(chosen.start);
                input type="hidden" name="end" value=(chosen.end);
                @if let Some(n) = &chosen.name { input type="hidden" name="name" value=(n); }
                (super::nhs_input(&entered.nhs, entered.nhs_error.as_deref()))
                div class="field" {
                    label for="reason" { "Reason for the appointment" }
                    p class="hint" id="reason-hint" { "What the service needs to know, for example \"Sprained ankle\"." }
                    textarea id="reason" name="reason" rows="3" aria-describedby="reason-hint" { (entered.reason) }
                }
                button type="submit" id="book" { "Book this appointment" }
            }
            p { a href=(week) { "Choose another time" } }
        }
    }
}
