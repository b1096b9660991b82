//! The pages that only read: the directory, a week of slots, a patient's appointments (from
//! the Registry), an appointment with its versions (and the clinic's side of it) and the
//! inspector.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use bars_client::BarsError;
use http::StatusCode;
use serde::Deserialize;

use std::sync::Arc;

use bars_fhir::headers::TargetIdentifier;
use maud::Markup;
use serde_json::Value;

use super::clinic::receiver_for;
use super::respond::{bad_service, html, not_found, refusal_status, target};
use super::state::{App, Shared};
use crate::choice::Choosing;
use crate::journal::Action;
use crate::nhs::nhs_number;
use crate::pages::{self, Page};
use crate::uk_time;

pub async fn directory(State(app): Shared) -> Response {
    let (action, services) = app
        .journal
        .run("Open the service directory", app.client.services(None))
        .await;
    let body = pages::directory::render(&services);
    let status = services
        .as_ref()
        .err()
        .map_or(StatusCode::OK, refusal_status);
    html(
        status,
        Page::new(&app.sender, "Services you can book with", body).action(action),
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct WeekQuery {
    pub from: Option<String>,
    /// book, reschedule or rebook.
    pub mode: Option<String>,
    pub appointment: Option<String>,
    pub name: Option<String>,
}

pub async fn week(
    State(app): Shared,
    Path(service): Path<String>,
    Query(q): Query<WeekQuery>,
) -> Response {
    let Some(t) = target(&service) else {
        return bad_service(&app);
    };
    let from = q
        .from
        .as_deref()
        .and_then(uk_time::parse_date)
        .unwrap_or_else(uk_time::today);
    let choosing = match (q.mode.as_deref(), q.appointment.clone()) {
        (Some("reschedule"), Some(a)) => Choosing::Reschedule(a),
        (Some("rebook"), Some(a)) => Choosing::Rebook(a),
        _ => Choosing::Book,
    };
    let Some((start, end)) = uk_time::window(from, 7) else {
        return bad_service(&app);
    };
    let (action, slots) = app
        .journal
        .run(
            "Search a week of slots",
            app.client.slots(&t, start, end, "free,busy"),
        )
        .await;
    let status = slots.as_ref().err().map_or(StatusCode::OK, refusal_status);
    let body = pages::week::render(&pages::week::Week {
        service: &t,
        name: q.name.as_deref(),
        from,
        choosing: &choosing,
        slots: &slots,
    });
    html(
        status,
        Page::new(&app.sender, "A week of slots", body).action(action),
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct PatientQuery {
    pub nhs: Option<String>,
}

pub async fn patient(State(app): Shared, Query(q): Query<PatientQuery>) -> Response {
    let Some(entered) = q.nhs.filter(|n| !n.trim().is_empty()) else {
        let body = pages::patient::render("", None, None);
        return html(
            StatusCode::OK,
            Page::new(&app.sender, "A patient's appointments", body),
        );
    };
    let nhs = match nhs_number(&entered) {
        Ok(n) => n,
        Err(e) => {
            let body = pages::patient::render(&entered, Some(pages::nhs_problem(e)), None);
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                Page::new(&app.sender, "A patient's appointments", body),
            );
        }
    };
    let (action, listed) = app
        .journal
        .run(
            "Ask the Registry for the patient's appointments",
            app.client.list(&nhs),
        )
        .await;
    let status = listed.as_ref().err().map_or(StatusCode::OK, refusal_status);
    let body = pages::patient::render(&entered, None, Some(&listed));
    html(
        status,
        Page::new(&app.sender, "A patient's appointments", body).action(action),
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct AfterQuery {
    pub after: Option<u64>,
}

pub async fn appointment(
    State(app): Shared,
    Path((service, id)): Path<(String, String)>,
    Query(q): Query<AfterQuery>,
) -> Response {
    let Some(t) = target(&service) else {
        return bad_service(&app);
    };
    let (action, read) = app
        .journal
        .run("Read the appointment and its versions", async {
            let current = app.client.view(&t, &id).await?;
            let versions = app.client.history(&t, &id).await?;
            Ok::<_, BarsError>((current, versions))
        })
        .await;
    let status = read.as_ref().err().map_or(StatusCode::OK, refusal_status);
    let (clinic_action, clinic) = match &read {
        Ok((now, _)) => clinic_side(&app, &t, &id, &now.resource).await,
        Err(_) => (None, None),
    };
    let body = pages::appointment::render(&t, &id, &read, clinic);
    let mut page = Page::new(&app.sender, "Appointment", body);
    if let Some(before) = q.after.and_then(|a| app.journal.get(a)) {
        page = page.action(before);
    }
    page = page.action(action);
    if let Some(a) = clinic_action {
        page = page.action(a);
    }
    html(status, page)
}

/// The clinic's side of an appointment the sender has just read: the events the service's
/// systems received about it, and the staff actions (or what to configure to see them).
async fn clinic_side(
    app: &App,
    t: &TargetIdentifier,
    id: &str,
    appointment: &Value,
) -> (Option<Arc<Action>>, Option<Markup>) {
    let status = appointment["status"].as_str().unwrap_or("?");
    let day = appointment["start"].as_str().and_then(uk_time::day_of);
    let Some(receiver) = receiver_for(app, &t.value).await else {
        return (None, Some(pages::clinic::beside(t, id, status, day, None)));
    };
    let (action, events) = app
        .journal
        .run(
            "The clinic's side: the events the service's systems received",
            app.admin.events(receiver, &t.value),
        )
        .await;
    let side = pages::clinic::beside(t, id, status, day, Some(&events));
    (Some(action), Some(side))
}

pub async fn inspector(State(app): Shared) -> Response {
    let body = pages::inspector::history(&app.journal.recent());
    html(StatusCode::OK, Page::new(&app.sender, "Inspector", body))
}

pub async fn inspector_action(State(app): Shared, Path(action): Path<u64>) -> Response {
    match app.journal.get(action) {
        Some(a) => {
            let title = a.title.clone();
            html(
                StatusCode::OK,
                Page::new(
                    &app.sender,
                    &format!("Inspector: {title}"),
                    pages::inspector::back(),
                )
                .action(a),
            )
        }
        None => not_found(State(app)).await,
    }
}
