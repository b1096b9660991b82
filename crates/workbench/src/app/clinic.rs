//! The clinic pages' routes: the overview, a service's day list with its events, and the staff
//! actions posted from them (or from an appointment's page), each through the receiver's admin
//! API as a journal action, so the inspector shows it like any exchange.

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use bars_client::BarsError;
use bars_fhir::headers::TargetIdentifier;
use http::StatusCode;
use serde::Deserialize;

use super::respond::{html, refusal_status};
use super::state::{App, Shared};
use crate::clinic::access::ReceiverAdmin;
use crate::clinic::is_staff_action;
use crate::links::appointment_path;
use crate::pages::{self, Page};
use crate::uk_time;

pub async fn overview(State(app): Shared) -> Response {
    html(
        StatusCode::OK,
        Page::new(
            &app.sender,
            "The clinic's side",
            pages::clinic::overview(&app.clinic),
        ),
    )
}

/// The receiver running `service`, asking the directory for its organisation when the
/// configuration alone cannot tell.
pub async fn receiver_for<'a>(app: &'a App, service: &str) -> Option<&'a ReceiverAdmin> {
    if app.clinic.is_empty() {
        return None;
    }
    if app.clinic.knows(service) {
        return app.clinic.for_service(service, None);
    }
    let (_, found) = app
        .journal
        .run(
            "Find which organisation runs the service",
            app.client.services(None),
        )
        .await;
    let ods = found
        .ok()?
        .into_iter()
        .find(|s| s.value == service)
        .and_then(|s| s.ods_code)?;
    app.clinic.for_service(service, Some(&ods))
}

fn unplaced(app: &App, service: &str) -> Response {
    let body = if app.clinic.is_empty() {
        pages::clinic::not_configured()
    } else {
        maud::html! {
            p id="clinic-unknown-service" {
                "No configured receiver runs service " code { (service) } ". Give its admin API with "
                code { "--receiver-admin ODS=URL" } ", or " a href="/clinic" { "choose a configured service" } "."
            }
        }
    };
    html(
        StatusCode::NOT_FOUND,
        Page::new(&app.sender, "The clinic's side", body),
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct DayQuery {
    #[serde(default)]
    pub service: String,
    pub date: Option<String>,
    pub after: Option<u64>,
}

pub async fn day(State(app): Shared, Query(q): Query<DayQuery>) -> Response {
    let service = q.service.trim();
    let Some(receiver) = receiver_for(&app, service).await else {
        return unplaced(&app, service);
    };
    let day = q
        .date
        .as_deref()
        .and_then(uk_time::parse_date)
        .unwrap_or_else(uk_time::today);
    let (action, (list, events)) = app
        .journal
        .run(
            "The clinic's day list and the events its systems received",
            async {
                let list = app.admin.day_list(receiver, service, day).await;
                let events = app.admin.events(receiver, service).await;
                (list, events)
            },
        )
        .await;
    let status = list
        .as_ref()
        .err()
        .or(events.as_ref().err())
        .map_or(StatusCode::OK, refusal_status);
    let body = pages::clinic::day(&pages::clinic::Day {
        service,
        day,
        receiver,
        list: &list,
        events: &events,
    });
    let mut page = Page::new(&app.sender, "The clinic's day", body);
    if let Some(before) = q.after.and_then(|a| app.journal.get(a)) {
        page = page.action(before);
    }
    html(status, page.action(action))
}

#[derive(Debug, Deserialize)]
pub struct StaffForm {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub reason: String,
    /// `day` or `appointment`: the page to return to.
    #[serde(default)]
    pub back: String,
    pub date: Option<String>,
}

pub async fn staff(
    State(app): Shared,
    Path(id): Path<String>,
    Form(form): Form<StaffForm>,
) -> Response {
    let service = form.service.trim();
    if !is_staff_action(&form.action) {
        let body = maud::html! { p { "Choose one of the staff actions on the clinic's page." } };
        return html(
            StatusCode::BAD_REQUEST,
            Page::new(&app.sender, "Not done", body),
        );
    }
    let Some(receiver) = receiver_for(&app, service).await else {
        return unplaced(&app, service);
    };
    let reason = form.reason.trim();
    let (action, result) = app
        .journal
        .run(
            &format!("The clinic records: {}", form.action),
            app.admin.staff(
                receiver,
                service,
                &id,
                &form.action,
                (!reason.is_empty()).then_some(reason),
            ),
        )
        .await;
    let day = form
        .date
        .as_deref()
        .and_then(uk_time::parse_date)
        .unwrap_or_else(uk_time::today);
    let t = TargetIdentifier::dos(service);
    let back = if form.back == "appointment" {
        appointment_path(&t, &id)
    } else {
        pages::clinic::day_path(service, day)
    };
    match result {
        Ok(_) => {
            let joiner = if back.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{back}{joiner}after={}", action.id)).into_response()
        }
        Err(e) => refused(&app, &back, &e, action),
    }
}

fn refused(
    app: &App,
    back: &str,
    e: &BarsError,
    action: std::sync::Arc<crate::journal::Action>,
) -> Response {
    let body = maud::html! {
        (pages::refusal(e))
        p { a href=(back) { "Back" } }
    };
    html(
        refusal_status(e),
        Page::new(&app.sender, "Not done", body).action(action),
    )
}
