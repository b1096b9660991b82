//! The workbench against a real LocalStack (proxy, registry, receivers over TLS): its access
//! rules and pages over HTTP, and the whole flow in headless Chromium through WebDriver, with
//! axe-core checking every page.

mod access;
mod browser;
mod harness;
mod journey;
mod pages;
