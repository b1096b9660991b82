//! The service directory: every service the proxy routes to, each a way into its week of slots.

use bars_client::{BarsError, Service};
use bars_fhir::search::encode_component;
use maud::{Markup, html};

use crate::links::service_segment;

pub fn render(services: &Result<Vec<Service>, BarsError>) -> Markup {
    html! {
        p class="lead" {
            "These are the services in the BaRS directory (the proxy's endpoint catalogue). "
            "Choose one to see a week of its slots and book."
        }
        @match services {
            Err(e) => (super::refusal(e)),
            Ok(list) if list.is_empty() => p { "The directory lists no services." },
            Ok(list) => {
                table class="services" {
                    caption { (list.len()) " services" }
                    thead { tr { th scope="col" { "Service" } th scope="col" { "Service id (DoS)" } th scope="col" { "Provided by (ODS)" } } }
                    tbody {
                        @for s in list {
                            tr {
                                td {
                                    a href=(format!("/services/{}/week?name={}", service_segment(&s.target()), encode_component(&s.name)))
                                      data-service=(s.value) { (s.name) }
                                }
                                td { code { (s.value) } }
                                td { (s.ods_code.as_deref().unwrap_or("–")) }
                            }
                        }
                    }
                }
            }
        }
    }
}
