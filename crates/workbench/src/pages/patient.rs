//! A patient's appointments at every service, as the Registry knows them (its pointers), each
//! a link to the appointment at the service that holds it.

use bars_client::{BarsError, Listed};
use bars_fhir::headers::TargetIdentifier;
use maud::{Markup, html};

use crate::links::appointment_path;
use crate::uk_time;

pub fn render(
    entered: &str,
    error: Option<String>,
    listed: Option<&Result<Vec<Listed>, BarsError>>,
) -> Markup {
    html! {
        p class="lead" {
            "The National Record Locator (the Registry) keeps a pointer to each booking, wherever it was made. "
            "Enter an NHS number to see them."
        }
        form method="get" action="/patients" novalidate {
            (super::nhs_input(entered, error.as_deref()))
            button type="submit" id="find" { "Find appointments" }
        }
        @match listed {
            None => {},
            Some(Err(e)) => (super::refusal(e)),
            Some(Ok(list)) if list.is_empty() => p id="none" { "The Registry has no appointments for this patient." },
            Some(Ok(list)) => {
                table class="appointments" {
                    caption { (list.len()) " appointments (pointers in the Registry)" }
                    thead { tr {
                        th scope="col" { "When (UK time)" } th scope="col" { "Service" }
                        th scope="col" { "Held by (custodian)" } th scope="col" { "Appointment" }
                    } }
                    tbody {
                        @for l in list {
                            tr data-appointment=(l.appointment_id) {
                                td { (l.start.as_deref().map(uk_time::when).unwrap_or_default()) }
                                td { code { (l.service.as_deref().unwrap_or("–")) } }
                                td { (l.custodian.as_deref().unwrap_or("–")) }
                                td {
                                    @match &l.service {
                                        Some(s) => a href=(appointment_path(&TargetIdentifier::dos(s.as_str()), &l.appointment_id)) { code { (l.appointment_id) } },
                                        None => code { (l.appointment_id) },
                                    }
                                }
                            }
                        }
                    }
                }
                p class="hint" {
                    "The Registry shows where and when; the current status is at the service: open an appointment to read it. "
                    "A change reaches the Registry a moment after the service accepts it."
                }
            }
        }
    }
}
