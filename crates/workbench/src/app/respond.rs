//! Turning a page into a response, and the answers every handler shares: a refusal's status,
//! a bad service identifier, the redirect after a change.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use bars_client::BarsError;
use bars_fhir::headers::TargetIdentifier;
use http::StatusCode;
use serde_json::Value;

use super::state::{App, Shared};
use crate::journal::Action;
use crate::links::appointment_path;
use crate::pages::{self, Page};

pub fn html(status: StatusCode, page: Page) -> Response {
    (status, Html(page.render().into_string())).into_response()
}

/// The service named in a path: a DoS id, or `system|value`.
pub fn target(service: &str) -> Option<TargetIdentifier> {
    TargetIdentifier::parse_token(service)
}

pub fn refusal_status(e: &BarsError) -> StatusCode {
    e.status()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

pub async fn not_found(State(app): Shared) -> Response {
    html(
        StatusCode::NOT_FOUND,
        Page::new(&app.sender, "Not found", pages::not_found()),
    )
}

pub fn bad_service(app: &App) -> Response {
    html(
        StatusCode::BAD_REQUEST,
        Page::new(&app.sender, "Not a service", pages::bad_service()),
    )
}

/// After a change: to the appointment's page, which shows the action that changed it.
pub fn done(t: &TargetIdentifier, appointment: &Value, action: u64) -> Response {
    let id = appointment["id"].as_str().unwrap_or("");
    Redirect::to(&format!("{}?after={action}", appointment_path(t, id))).into_response()
}

/// A change that was not made: what BaRS said, and the way back.
pub fn refused(
    app: &App,
    t: &TargetIdentifier,
    id: &str,
    e: &BarsError,
    action: Arc<Action>,
) -> Response {
    let body = pages::refused(&appointment_path(t, id), e);
    html(
        refusal_status(e),
        Page::new(&app.sender, "Not done", body).action(action),
    )
}
