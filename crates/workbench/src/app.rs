//! The routes and what each page action does: one SDK workflow run as a journal action, its
//! result rendered by [`crate::pages`]. Writes are plain form posts answered with a redirect
//! (post/redirect/get) to the page that shows the result, which names the action that caused it.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
use bars_client::{BarsClient, BarsError, BookingDetails, Recorder, TokenSource};
use bars_fhir::NhsNumber;
use bars_fhir::headers::TargetIdentifier;
use http::{HeaderValue, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{self, AccessSecret};
use crate::choice::{Choosing, ChosenSlot};
use crate::journal::{Journal, ToCurrentAction};
use crate::links::appointment_path;
use crate::pages::{self, Page, SenderSummary};
use crate::sender::Sender;
use crate::{assets, uk_time};

pub struct App {
    pub client: BarsClient,
    pub journal: Journal,
    pub sender: SenderSummary,
}

impl App {
    pub fn new(sender: Sender) -> App {
        let recorder: Arc<dyn Recorder> = Arc::new(ToCurrentAction);
        let summary = SenderSummary {
            organisation: sender.identity.organisation_name.clone(),
            ods_code: sender.identity.ods_code.clone(),
            client_id: sender.credentials.client_id.clone(),
            proxy_url: sender.proxy_url.clone(),
        };
        let tokens = TokenSource::recorded(
            sender.credentials,
            sender.http.clone(),
            Some(recorder.clone()),
        );
        let client = BarsClient::new(sender.http, &sender.proxy_url, tokens, sender.identity)
            .with_recorder(recorder);
        App {
            client,
            journal: Journal::default(),
            sender: summary,
        }
    }
}

type Shared = State<Arc<App>>;

pub fn router(app: Arc<App>, secret: Option<AccessSecret>) -> Router {
    Router::new()
        .route("/", get(directory))
        .route("/services/{service}/week", get(week))
        .route("/services/{service}/book", get(book_form).post(book))
        .route("/patients", get(patient))
        .route("/services/{service}/appointments/{id}", get(appointment))
        .route("/services/{service}/appointments/{id}/update", post(update))
        .route(
            "/services/{service}/appointments/{id}/reschedule",
            post(reschedule),
        )
        .route("/services/{service}/appointments/{id}/cancel", post(cancel))
        .route("/services/{service}/appointments/{id}/rebook", post(rebook))
        .route("/inspector", get(inspector))
        .route("/inspector/{action}", get(inspector_action))
        .route("/clinic", get(clinic))
        .route("/assets/{file}", get(assets::serve))
        .fallback(not_found)
        .with_state(app)
        .layer(middleware::from_fn_with_state(secret, access::guard))
        .layer(middleware::map_response(security_headers))
}

/// Pages load only their own files: no inline script, nothing from another origin. The
/// referrer policy keeps `Origin` on the workbench's own form posts (`no-referrer` would make it
/// `null`, which the cross-site check refuses).
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn html(status: StatusCode, page: Page) -> Response {
    (status, Html(page.render().into_string())).into_response()
}

/// The service named in a path: a DoS id, or `system|value`.
fn target(service: &str) -> Option<TargetIdentifier> {
    TargetIdentifier::parse_token(service)
}

fn refusal_status(e: &BarsError) -> StatusCode {
    e.status()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

async fn not_found(State(app): Shared) -> Response {
    html(
        StatusCode::NOT_FOUND,
        Page::new(&app.sender, "Not found", pages::not_found()),
    )
}

fn bad_service(app: &App) -> Response {
    html(
        StatusCode::BAD_REQUEST,
        Page::new(&app.sender, "Not a service", pages::bad_service()),
    )
}

async fn directory(State(app): Shared) -> Response {
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

async fn week(
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

async fn book_form(
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

/// Reads an NHS number as people type it (spaces allowed).
pub fn nhs_number(text: &str) -> Result<NhsNumber, bars_fhir::nhs_number::NhsNumberError> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    NhsNumber::parse(&digits)
}

async fn book(
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
        replaces: None,
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

/// After a change: to the appointment's page, which shows the action that changed it.
fn done(t: &TargetIdentifier, appointment: &Value, action: u64) -> Response {
    let id = appointment["id"].as_str().unwrap_or("");
    Redirect::to(&format!("{}?after={action}", appointment_path(t, id))).into_response()
}

#[derive(Debug, Deserialize, Default)]
pub struct PatientQuery {
    pub nhs: Option<String>,
}

async fn patient(State(app): Shared, Query(q): Query<PatientQuery>) -> Response {
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

async fn appointment(
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
    let body = pages::appointment::render(&t, &id, &read);
    let mut page = Page::new(&app.sender, "Appointment", body);
    if let Some(before) = q.after.and_then(|a| app.journal.get(a)) {
        page = page.action(before);
    }
    html(status, page.action(action))
}

/// A change that was not made: what BaRS said, and the way back.
fn refused(
    app: &App,
    t: &TargetIdentifier,
    id: &str,
    e: &BarsError,
    action: Arc<crate::journal::Action>,
) -> Response {
    let body = pages::refused(&appointment_path(t, id), e);
    html(
        refusal_status(e),
        Page::new(&app.sender, "Not done", body).action(action),
    )
}

#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub comment: String,
}

async fn update(
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

async fn reschedule(
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

async fn cancel(
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

async fn rebook(
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

async fn inspector(State(app): Shared) -> Response {
    let body = pages::inspector::history(&app.journal.recent());
    html(StatusCode::OK, Page::new(&app.sender, "Inspector", body))
}

async fn inspector_action(State(app): Shared, Path(action): Path<u64>) -> Response {
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

async fn clinic(State(app): Shared) -> Response {
    html(
        StatusCode::OK,
        Page::new(&app.sender, "The clinic's side", pages::clinic::render()),
    )
}
