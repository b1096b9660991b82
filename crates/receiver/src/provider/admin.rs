//! The provider's side of the admin API: the day list, staff actions, slot sync, the event
//! feed, subscribers and their deliveries. Merged into the receiver's admin router, so it is
//! served on the admin listener behind the same bearer token.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use bars_booking::Scope;
use bars_booking::provider::StaffAction;
use bars_fhir::codes::BarsCode;
use bars_fhir::search::{Query, whole_number};
use bars_fhir::{Instant, IssueType};
use bars_http::ApiError;
use bars_http::fhir_json::{fhir_json, parse_json_object, read_body};
use bars_store::{AuditEntry, EventQuery, Subscriber};
use http::StatusCode;
use serde_json::{Value, json};

use super::staff::{StaffRequest, record};
use super::{day, payload, signing, sync};
use crate::errors;
use crate::state::AdminState;

/// The longest a feed reader may wait for an event, in seconds.
const MAX_WAIT: u64 = 60;
/// Events per feed answer unless `limit` asks for fewer, and the most it may ask for.
const FEED_DEFAULT: u64 = 100;
const FEED_MAX: u64 = 1_000;

pub(crate) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/admin/appointments", get(day_list))
        .route("/admin/appointments/{id}/{action}", post(staff_action))
        .route("/admin/slots/sync", post(slot_sync))
        .route("/admin/events", get(feed))
        .route("/admin/subscribers", get(subscribers).post(add_subscriber))
        .route("/admin/subscribers/{id}", delete(remove_subscriber))
        .route("/admin/deliveries", get(deliveries))
        .route("/admin/deliveries/{subscriber}/retry", post(retry))
}

fn bad(issue: IssueType, why: impl Into<String>) -> ApiError {
    ApiError::bars(BarsCode::RecBadRequest, issue, why.into())
}

fn query(request: &Request) -> Result<Query, ApiError> {
    Query::parse(request.uri().query()).map_err(|e| bad(IssueType::Value, e.to_string()))
}

async fn json_body(body: Body) -> Result<Value, ApiError> {
    let bytes = read_body(body, 8 * 1024 * 1024, BarsCode::RecBadRequest).await?;
    if bytes.is_empty() {
        return Ok(json!({}));
    }
    parse_json_object(&bytes, BarsCode::RecBadRequest)
}

fn request_id(request: &Request) -> String {
    request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

async fn day_list(State(state): State<AdminState>, request: Request) -> Result<Response, ApiError> {
    let q = query(&request)?;
    let asked = day::parse(&q)?;
    let limit = asked.query.limit;
    let page = state
        .app
        .store
        .appointments_for_day(asked.query.clone())
        .await
        .map_err(errors::store)?;
    let rows = &page.rows[..page.rows.len().min(limit)];
    let next = (page.rows.len() > limit)
        .then(|| rows.last().and_then(day::token))
        .flatten();
    // The list shows patients' bookings: who saw whose is audited, as for any read.
    let id = request_id(&request);
    for row in rows {
        state
            .app
            .bookings
            .audit
            .record(AuditEntry {
                at: Some(Instant::now()),
                request_id: id.clone(),
                correlation_id: id.clone(),
                sender_ods: Some(state.app.config.ods_code.clone()),
                sender_software: Some("bars-admin".into()),
                sender_app: None,
                action: "day-list".into(),
                resource_type: "Appointment".into(),
                resource_id: Some(row.record.id.clone()),
                version: Some(row.record.version),
                outcome: 200,
                patient: row.record.patient.clone(),
            })
            .await;
    }
    let lines: Vec<Value> = rows
        .iter()
        .map(|r| day::line(r, asked.show_nhs_number))
        .collect();
    Ok(fhir_json(
        StatusCode::OK,
        &json!({
            "service": asked.query.service_id,
            "from": asked.query.from.to_string(),
            "to": asked.query.to.to_string(),
            "appointments": lines,
            "next": next,
        }),
    ))
}

/// `POST /admin/appointments/{id}/{arrived|fulfilled|noshow|entered-in-error|cancel}` with
/// `{"reason"?, "staff"?, "service"?}`; `service` confines the action to that service.
async fn staff_action(
    State(state): State<AdminState>,
    Path((id, action)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let action = StaffAction::parse(&action).ok_or_else(|| {
        ApiError::bars(
            BarsCode::RecNotFound,
            IssueType::NotFound,
            "the action must be arrived, fulfilled, noshow, entered-in-error or cancel",
        )
    })?;
    let rid = request_id(&request);
    let body = json_body(request.into_body()).await?;
    let text = |field: &str| body.get(field).and_then(Value::as_str).map(str::to_string);
    let scope = match text("service") {
        Some(s) => Scope::Service(s),
        None => Scope::Receiver,
    };
    let written = record(
        &state.app.bookings,
        &scope,
        &StaffRequest {
            appointment_id: id,
            action,
            reason: text("reason"),
            staff: text("staff"),
            request_id: rid,
        },
    )
    .await?;
    state.app.provider.wake.notify_waiters();
    let appointment: Value = serde_json::from_str(&written.body).unwrap_or(Value::Null);
    Ok(fhir_json(StatusCode::OK, &appointment))
}

async fn slot_sync(State(state): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let body = json_body(body).await?;
    let answer = sync::apply(state.app.store.as_ref(), &body).await?;
    Ok(fhir_json(StatusCode::OK, &answer))
}

/// `GET /admin/events?after=SEQ[&service=ID][&limit=n][&wait=seconds]`: the events after a
/// sequence number, oldest first; with `wait`, an empty answer waits up to that long for one.
/// Resume with `after` set to the answer's `last`.
async fn feed(State(state): State<AdminState>, request: Request) -> Result<Response, ApiError> {
    let q = query(&request)?;
    let number = |name: &str, range| {
        q.whole_number(name, range)
            .map_err(|e| bad(IssueType::Value, e.to_string()).at(name))
    };
    let after = number("after", 0..=i64::MAX as u64)?.unwrap_or(0) as i64;
    let limit = number("limit", 1..=FEED_MAX)?.unwrap_or(FEED_DEFAULT) as usize;
    let wait = Duration::from_secs(number("wait", 0..=MAX_WAIT)?.unwrap_or(0));
    let events_query = EventQuery {
        service: q.first(&["service"]).map(str::to_string),
        after,
        limit,
    };
    let deadline = tokio::time::Instant::now() + wait;
    let events = loop {
        let found = state
            .app
            .store
            .events_after(events_query.clone())
            .await
            .map_err(errors::store)?;
        if !found.is_empty() || tokio::time::Instant::now() >= deadline {
            break found;
        }
        let wake = state.app.provider.wake.notified();
        tokio::select! {
            _ = wake => {}
            _ = tokio::time::sleep(state.app.provider.settings.poll) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };
    let mut bodies = Vec::with_capacity(events.len());
    for e in &events {
        bodies.push(
            payload::body(&state.app.store, e)
                .await
                .map_err(errors::store)?,
        );
    }
    let last = events.last().map_or(after, |e| e.seq);
    Ok(fhir_json(
        StatusCode::OK,
        &json!({ "events": bodies, "last": last }),
    ))
}

/// Subscribers, with their secrets shown only as a prefix.
async fn subscribers(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let list = state
        .app
        .store
        .list_subscribers()
        .await
        .map_err(errors::store)?;
    let list: Vec<Value> = list
        .iter()
        .map(|s| json!({ "id": s.id, "service": s.service_id, "url": s.url, "secret": format!("{}...", s.secret.chars().take(10).collect::<String>()) }))
        .collect();
    Ok(fhir_json(StatusCode::OK, &json!({ "subscribers": list })))
}

/// `{"service", "url", "id"?, "secret"?}`; a secret is made when none is given and shown
/// once, in this answer.
async fn add_subscriber(State(state): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let body = json_body(body).await?;
    let text = |field: &str| body.get(field).and_then(Value::as_str).map(str::to_string);
    let service_id = text("service")
        .ok_or_else(|| bad(IssueType::Required, "service is required").at("service"))?;
    if !state.app.config.hosts(&service_id) {
        return Err(
            bad(IssueType::Value, "this receiver does not host that service").at("service"),
        );
    }
    let url = text("url").ok_or_else(|| bad(IssueType::Required, "url is required").at("url"))?;
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.parse::<http::Uri>().is_err()
    {
        return Err(bad(IssueType::Value, "url must be an http:// or https:// URL").at("url"));
    }
    let secret = text("secret").unwrap_or_else(signing::new_secret);
    signing::secret_key(&secret).map_err(|e| bad(IssueType::Value, e.to_string()).at("secret"))?;
    let subscriber = Subscriber {
        id: text("id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        service_id,
        url,
        secret,
    };
    state
        .app
        .store
        .put_subscriber(subscriber.clone())
        .await
        .map_err(errors::store)?;
    Ok(fhir_json(
        StatusCode::CREATED,
        &json!({ "id": subscriber.id, "service": subscriber.service_id, "url": subscriber.url, "secret": subscriber.secret }),
    ))
}

async fn remove_subscriber(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if state
        .app
        .store
        .remove_subscriber(&id)
        .await
        .map_err(errors::store)?
    {
        Ok(fhir_json(
            StatusCode::OK,
            &json!({ "id": id, "removed": true }),
        ))
    } else {
        Err(ApiError::bars(
            BarsCode::RecNotFound,
            IssueType::NotFound,
            format!("no subscriber {id}"),
        ))
    }
}

/// `GET /admin/deliveries[?subscriber=ID]`: deliveries not yet made, failed ones first to see.
async fn deliveries(
    State(state): State<AdminState>,
    request: Request,
) -> Result<Response, ApiError> {
    let q = query(&request)?;
    let list = state
        .app
        .store
        .undelivered_events(q.first(&["subscriber"]).map(str::to_string), 1_000)
        .await
        .map_err(errors::store)?;
    let list: Vec<Value> = list
        .iter()
        .map(|d| {
            json!({
                "subscriber": d.subscriber_id, "sequence": d.event.seq, "id": payload::event_id(&d.event),
                "type": payload::event_type(&d.event.action), "appointment": d.event.appointment_id,
                "version": d.event.version, "state": d.state.as_str(), "attempts": d.attempts,
                "lastError": d.last_error, "nextAttempt": d.next_attempt.to_string(),
            })
        })
        .collect();
    let failed = list.iter().filter(|d| d["state"] == "failed").count();
    Ok(fhir_json(
        StatusCode::OK,
        &json!({ "failed": failed, "undelivered": list.len(), "deliveries": list }),
    ))
}

/// `POST /admin/deliveries/{subscriber}/retry[?sequence=SEQ]`: failed deliveries (one, or all
/// of the subscriber's) back in the queue.
async fn retry(
    State(state): State<AdminState>,
    Path(subscriber): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let q = query(&request)?;
    let seq = match q.first(&["sequence"]) {
        None => None,
        Some(text) => Some(
            whole_number(text, 1..=i64::MAX as u64)
                .map(|n| n as i64)
                .ok_or_else(|| {
                    bad(IssueType::Value, "sequence must be a whole number from 1").at("sequence")
                })?,
        ),
    };
    let n = state
        .app
        .store
        .requeue_deliveries(&subscriber, seq)
        .await
        .map_err(errors::store)?;
    if n == 0 {
        return Err(ApiError::bars(
            BarsCode::RecNotFound,
            IssueType::NotFound,
            format!("no failed delivery to {subscriber} to retry"),
        ));
    }
    state.app.provider.wake.notify_waiters();
    Ok(fhir_json(
        StatusCode::OK,
        &json!({ "subscriber": subscriber, "requeued": n }),
    ))
}
