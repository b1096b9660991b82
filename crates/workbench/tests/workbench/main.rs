//! The workbench against a real LocalStack (proxy, registry, receivers over TLS): its access
//! rules and pages over HTTP, and the whole flow in headless Chromium through WebDriver, with
//! axe-core checking every page.

// Helpers shared by the tests panic as the tests do: a failure there is the test failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod browser;
mod clinic;
mod harness;
mod journey;
mod pages;
