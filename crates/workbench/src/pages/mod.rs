//! The pages, as HTML built on the server (maud): a shared layout with the sender's identity,
//! navigation and the inspector of the actions behind the page, and one module per page.

pub mod appointment;
pub mod book;
pub mod clinic;
pub mod directory;
pub mod inspector;
pub mod patient;
pub mod week;

use std::sync::Arc;

use bars_client::BarsError;
use bars_fhir::nhs_number::NhsNumberError;
use maud::{DOCTYPE, Markup, html};

use crate::journal::Action;

/// Who the workbench acts as, for the page header.
pub struct SenderSummary {
    pub organisation: String,
    pub ods_code: String,
    pub client_id: String,
    pub proxy_url: String,
}

/// A page: its title, body and the actions whose exchanges it shows, oldest first.
pub struct Page<'a> {
    sender: &'a SenderSummary,
    title: String,
    body: Markup,
    actions: Vec<Arc<Action>>,
}

impl<'a> Page<'a> {
    pub fn new(sender: &'a SenderSummary, title: &str, body: Markup) -> Page<'a> {
        Page {
            sender,
            title: title.to_string(),
            body,
            actions: Vec::new(),
        }
    }

    pub fn action(mut self, action: Arc<Action>) -> Page<'a> {
        self.actions.push(action);
        self
    }

    pub fn render(&self) -> Markup {
        let s = self.sender;
        html! {
            (DOCTYPE)
            html lang="en-GB" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (self.title) " – BaRS workbench" }
                    link rel="stylesheet" href="/assets/workbench.css";
                    script src="/assets/workbench.js" defer {}
                }
                body {
                    a class="skip" href="#main" { "Skip to the page" }
                    header class="banner" {
                        p class="brand" { a href="/" { "BaRS workbench" } }
                        p class="who" {
                            "Sending as " strong { (s.organisation) } " (" (s.ods_code) "), application "
                            code { (s.client_id) } ", through " code { (s.proxy_url) }
                        }
                        nav aria-label="Workbench" {
                            ul {
                                li { a href="/" { "Services" } }
                                li { a href="/patients" { "Patients" } }
                                li { a href="/inspector" { "Inspector" } }
                                li { a href="/clinic" { "Clinic" } }
                            }
                        }
                    }
                    main id="main" tabindex="-1" {
                        h1 { (self.title) }
                        (self.body)
                    }
                    @if !self.actions.is_empty() {
                        section class="inspector" aria-labelledby="inspector-heading" {
                            h2 id="inspector-heading" { "Inspector: what this page sent and received" }
                            p class="hint" {
                                "Every HTTP exchange the page's action caused, in order. Open one to see its headers "
                                "(BaRS headers decoded), bodies and a curl command that repeats it. Secrets are cut short. "
                                "The access token is kept until shortly before it expires, so only some actions ask for one."
                            }
                            @for a in &self.actions {
                                (inspector::action(a))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A BaRS refusal in plain words, with its code kept for the record.
pub fn refusal(e: &BarsError) -> Markup {
    html! {
        div class="refusal" role="alert" {
            h2 { "Not done" }
            p class="explanation" { (e.explanation()) }
            @if let BarsError::Refused { status, code, issue, diagnostics, .. } = e {
                p class="code" {
                    "BaRS code " strong data-bars-code { (code.as_deref().unwrap_or("none")) }
                    " (HTTP " (status) ", issue " (issue.as_deref().unwrap_or("none")) ")"
                }
                @if let Some(d) = diagnostics {
                    p class="diagnostics" { "The service said: " q { (d) } }
                }
            } @else {
                p class="code" { "No BaRS answer: " (e.to_string()) }
            }
        }
    }
}

/// The page for a change that was refused.
pub fn refused(back: &str, e: &BarsError) -> Markup {
    html! {
        (refusal(e))
        p { a href=(back) { "Back to the appointment" } }
    }
}

pub fn nhs_problem(e: NhsNumberError) -> String {
    match e {
        NhsNumberError::Format => "An NHS number is 10 digits (spaces are ignored).".into(),
        NhsNumberError::CheckDigit => {
            "This is not a valid NHS number: its last digit (the check digit) does not match the first nine. Check it was typed correctly.".into()
        }
    }
}

pub fn not_found() -> Markup {
    html! { p { "There is no such page. " a href="/" { "Start from the service directory." } } }
}

pub fn bad_service() -> Markup {
    html! { p { "That is not a service identifier. " a href="/" { "Choose a service from the directory." } } }
}

/// An NHS number input with its hint and the live check the script fills in.
pub fn nhs_input(value: &str, error: Option<&str>) -> Markup {
    html! {
        div class={ "field" @if error.is_some() { " invalid" } } {
            label for="nhs" { "NHS number" }
            p class="hint" id="nhs-hint" { "10 digits, for example 943 476 5919. The last digit is a check digit." }
            @if let Some(e) = error {
                p class="error" id="nhs-error" { strong { "Error: " } (e) }
            }
            input id="nhs" name="nhs" type="text" inputmode="numeric" autocomplete="off" spellcheck="false"
                required value=(value) data-nhs-number
                aria-describedby={ "nhs-hint nhs-check" @if error.is_some() { " nhs-error" } }
                aria-invalid=[error.map(|_| "true")];
            p class="check" id="nhs-check" aria-live="polite" {}
        }
    }
}
