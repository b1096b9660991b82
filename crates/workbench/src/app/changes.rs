//! The pages that change a booking, each a plain form post: book, update, reschedule, cancel,
//! rebook. Success redirects to the appointment's page (post/redirect/get), naming the action;
//! a refusal is shown with the action's exchanges.

use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use bars_client::BookingDetails;
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::respond::{bad_service, done, html, refusal_status, refused, target};
use super::state::Shared;
use crate::choice::ChosenSlot;
use crate::nhs::nhs_number;
use crate::pages::{self, Page};

pub async fn book_form(
    State(app): Shared,
    Path(service): Path<String>,
    Query(chosen): Query<ChosenSlot>,
) -> Response {
    let Some(t) = target(&service) else {
        return bad_service(&app);
    };
    let body = pages::book::render(&t, &chosen, &pages::book::Entered::default(), None);
    html(
        StatusCode::OK,
        Page::new(&app.sender, "Book an appointment", body),
    )
}

#[derive(Debug, Deserialize)]
pub struct BookForm {
    #[serde(default)]
    pub slot: String,
    #[serde(default)]
    pub start: String,
    #[serde(default)]
    pub end: String,
    pub name: Option<String>,
    #[serde(default)]
    pub nhs: String,
    #[serde(default)]
    pub reason: String,
}

pub async fn book(
    State(app): Shared,
    Path(service): Path<String>,
    Form(form): Form<BookForm>,
) -> Response {
    let Some(t) = target(&service) else {
        return bad_service(&app);
    };
    let chosen = ChosenSlot {
        slot: form.slot.clone(),
        start: form.start.clone(),
        end: form.end.clone(),
        name: form.name.clone(),
    };
    let entered = pages::book::Entered {
        nhs: form.nhs.clone(),
        reason: form.reason.clone(),
        nhs_error: None,
    };
    let patient = match nhs_number(&form.nhs) {
        Ok(p) => p,
        Err(e) => {
            let entered = pages::book::Entered {
                nhs_error: Some(pages::nhs_problem(e)),
                ..entered
            };
            let body = pages::book::render(&t, &chosen, &entered, None);
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                Page::new(&app.sender, "Book an appointment", body),
            );
        }
    };
    let reason = form.reason.trim();
    let details = BookingDetails {
        description: (!reason.is_empty()).then(|| reason.to_string()),
        ..BookingDetails::default()
    };
    let slot = chosen.slot();
    let (action, booked) = app
        .journal
        .run(
            "Book the slot",
            app.client.book(&t, &slot, &patient, &details),
        )
        .await;
    match booked {
        Ok(a) => done(&t, &a, action.id),
        Err(e) => {
            let body = pages::book::render(&t, &chosen, &entered, Some(&e));
            html(
                refusal_status(&e),
                Page::new(&app.sender, "Book an appointment", body).action(action),
            )
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub comment: String,
}

pub async fn update(
    State(app): Shared,
    Path((service, id)): Path<(String, String)>,
    Form(form): Form<UpdateForm>,
) -> Response {
    let Some(t) = target(&service) else {
        return bad_service(&app);
    };
    let (description, comment) = (form.description.trim(), form.comment.trim());
    let (action, result) = app
        .journal
        .run(
            "Update the appointment",
            app.client.update(&t, &id, |a| {
                set_or_remove(a, "description", description);
                set_or_remove(a, "comment", comment);
            }),
        )
        .await;
    match result {
        Ok(a) => done(&t, &a, action.id),
        Err(e) => refused(&app, &t, &id, &e, action),
    }
}

fn set_or_remove(resource: &mut Value, field: &str, text: &str) {
    if let Some(map) = resource.as_object_mut() {
        if text.is_empty() {
            map.remove(field);
        } else {
            map.insert(field.to_string(), json!(text));
        }
    }
}

pub async fn reschedule(
    State(app): Shared,
    Path((service, id)): Path<(String, String)>,
    Form(chosen): Form<ChosenSlot>,
) -> Response {
    let Some(t) = target(&service) else {
        return bad_service(&app);
    };
    let (action, result) = app
        .journal
        .run(
            "Reschedule to another slot",
            app.client.reschedule(&t, &id, &chosen.slot()),
        )
        .await;
    match result {
        Ok(a) => done(&t, &a, action.id),
        Err(e) => refused(&app, &t, &id, &e, action),
    }
}

#[derive(Debug, Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    pub reason: String,
}

pub async fn cancel(
    State(app): Shared,
    Path((service, id)): Path<(String, String)>,
    Form(form): Form<CancelForm>,
) -> Response {
    let Some(t) = target(&service) else {
        return bad_service(&app);
    };
    let reason = form.reason.trim();
    let (action, result) = app
        .journal
        .run(
            "Cancel the appointment",
            app.client
                .cancel(&t, &id, false, (!reason.is_empty()).then_some(reason)),
        )
        .await;
    match result {
        Ok(a) => done(&t, &a, action.id),
        Err(e) => refused(&app, &t, &id, &e, action),
    }
}

pub async fn rebook(
    State(app): Shared,
    Path((service, id)): Path<(String, String)>,
    Form(chosen): Form<ChosenSlot>,
) -> Response {
    let Some(t) = target(&service) else {
        return bad_service(&app);
    };
    let (action, result) = app
        .journal
        .run(
            "Rebook: book the new slot, then cancel this appointment",
            app.client.rebook(&t, &id, &chosen.slot()),
        )
        .await;
    match result {
        Ok((new, _)) => done(&t, &new, action.id),
        Err(e) => refused(&app, &t, &id, &e, action),
    }
}
