//! The inspector: each exchange of an action, in order, with timings; headers (BaRS headers
//! decoded), the client assertion's claims, bodies, the OperationOutcome picked out and
//! explained, and a curl command. Built from [`crate::inspect::Shown`], which holds no secret.

use std::sync::Arc;
use std::time::SystemTime;

use maud::{Markup, html};

use crate::inspect::{Header, Kind, Shown};
use crate::journal::Action;

fn clock(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .map(|ts| {
            ts.to_zoned(jiff::tz::get!("Europe/London"))
                .strftime("%H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or_default()
}

fn headers(caption: &str, list: &[Header]) -> Markup {
    html! {
        table class="headers" {
            caption { (caption) }
            thead { tr { th scope="col" { "Header" } th scope="col" { "Value" } } }
            tbody {
                @for h in list {
                    tr {
                        th scope="row" { code { (h.name) } }
                        td {
                            code class="value" { (h.value) }
                            @if let Some(d) = &h.decoded {
                                div class="decoded" {
                                    span { "Decoded (Base64 JSON):" }
                                    pre tabindex="0" { (d) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn exchange(n: usize, s: &Shown) -> Markup {
    let what = match s.kind {
        Kind::Token => "Token request",
        Kind::Api => "Request",
    };
    let (status, failed) = match &s.response {
        Ok(r) => (r.status.to_string(), r.status >= 400),
        Err(_) => ("no answer".to_string(), true),
    };
    html! {
        details class={ "exchange" @if failed { " failed" } } open[failed] data-exchange=(n) {
            summary {
                span class="n" { (n) ". " } (what) ": "
                code { (s.method) " " (s.path) } " → "
                span class="status" data-status=(status) { (status) }
                span class="time" { " (" (format!("{:.1}", s.millis)) " ms, at " (clock(s.started)) ")" }
            }
            div class="parts" {
                section class="request" {
                    h3 { "Request" }
                    p { code { (s.method) " " (s.url) } }
                    (headers("Request headers", &s.headers))
                    @if let Some(a) = &s.assertion {
                        div class="assertion" {
                            h4 { "Client assertion (a JWT signed with the sender's private key)" }
                            p class="hint" { "Its header and claims; the signature is not shown." }
                            pre tabindex="0" aria-label="Assertion header" { (a.header) }
                            pre tabindex="0" aria-label="Assertion claims" data-claims { (a.claims) }
                        }
                    }
                    @if let Some(b) = &s.body {
                        h4 { "Request body" }
                        pre tabindex="0" { (b) }
                    }
                }
                section class="response" {
                    h3 { "Response" }
                    @match &s.response {
                        Err(why) => p class="error" { "No response: " (why) },
                        Ok(r) => {
                            p { "Status " strong { (r.status) } }
                            @if let Some(o) = &r.outcome {
                                div class="outcome" {
                                    h4 { "OperationOutcome" }
                                    p {
                                        "Code " strong data-outcome-code { (o.summary.coding_code.as_deref().unwrap_or("none")) }
                                        ", issue " (o.summary.issue_code.as_deref().unwrap_or("none"))
                                    }
                                    @if let Some(d) = &o.summary.diagnostics { p { "Diagnostics: " q { (d) } } }
                                    @if r.status >= 400 { p { "In plain words: " (o.explanation) } }
                                }
                            }
                            (headers("Response headers", &r.headers))
                            @if let Some(b) = &r.body {
                                h4 { "Response body" }
                                pre tabindex="0" { (b) }
                            }
                        }
                    }
                }
                section class="curl" {
                    h3 { "Copy as curl" }
                    p class="hint" {
                        "Secrets stay out: set " code { "BARS_CA" } " to the CA file"
                        @if s.kind == Kind::Token { ", " code { "BARS_ASSERTION" } " to a freshly signed assertion" }
                        @else { ", " code { "BARS_TOKEN" } " to an access token" } "."
                    }
                    pre tabindex="0" data-curl { (s.curl) }
                }
            }
        }
    }
}

pub fn action(a: &Action) -> Markup {
    html! {
        section class="action" data-action=(a.id) aria-labelledby=(format!("action-{}", a.id)) {
            h3 id=(format!("action-{}", a.id)) {
                a href=(format!("/inspector/{}", a.id)) { (a.title) }
                span class="time" {
                    " at " (clock(a.at)) ", " (a.exchanges.len()) " exchanges, "
                    (format!("{:.1}", a.millis)) " ms in all"
                }
            }
            @if a.exchanges.is_empty() {
                p { "No exchange: nothing was sent." }
            }
            @for (i, s) in a.exchanges.iter().enumerate() {
                (exchange(i + 1, s))
            }
        }
    }
}

pub fn history(actions: &[Arc<Action>]) -> Markup {
    html! {
        p class="lead" { "The most recent actions, newest first. Each shows every exchange it caused." }
        @if actions.is_empty() {
            p { "Nothing yet: " a href="/" { "start from the service directory" } "." }
        } @else {
            ol class="history" reversed {
                @for a in actions {
                    li {
                        a href=(format!("/inspector/{}", a.id)) { (a.title) }
                        " at " (clock(a.at)) ", " (a.exchanges.len()) " exchanges"
                    }
                }
            }
        }
    }
}

pub fn back() -> Markup {
    html! { p { a href="/inspector" { "All recent actions" } } }
}
