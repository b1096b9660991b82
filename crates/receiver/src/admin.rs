//! The admin API: how a service's staff publish and withdraw availability and read the audit
//! trail. Served on its own listener (loopback by default), never through the proxy, and
//! protected by a bearer token when one is configured.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::{get, post};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::search::{Query, whole_number};
use bars_http::ApiError;
use bars_http::admin::{self, AdminRole};
use bars_http::fhir_json::{fhir_json, fhir_response, parse_json_object, read_body};
use bars_store::AuditQuery;
use http::{StatusCode, header};
use serde_json::{Value, json};

use crate::availability::{SlotPlan, parse_hours, parse_minutes, parse_zone};
use crate::errors;
use crate::state::{AdminState, AppState};

fn refused() -> ApiError {
    ApiError::bars(
        BarsCode::RecUnauthorized,
        IssueType::Security,
        "the admin API needs the admin bearer token",
    )
}

fn not_found() -> ApiError {
    ApiError::bars(
        BarsCode::RecNotFound,
        IssueType::NotFound,
        "no such admin path",
    )
}

pub fn router(app: AppState, token: Option<String>) -> Router {
    let role = AdminRole {
        role: "receiver",
        metrics: app.metrics.http.clone(),
        refused,
        not_found,
    };
    let health = crate::health::routes(&app);
    let routes = Router::new()
        .route("/admin/services", get(services))
        .route("/admin/schedules", post(put_schedule))
        .route("/admin/slots", post(create_slot))
        .route("/admin/slots/generate", post(generate))
        .route("/admin/slots/{id}/withdraw", post(withdraw))
        .route("/admin/audit", get(audit))
        .route("/admin/outbox", get(outbox))
        .route("/admin/outbox/{seq}/retry", post(retry_job))
        .route("/metrics", get(metrics))
        .merge(crate::provider::admin::routes());
    admin::router(role, token, routes, health, AdminState { app })
}

async fn json_body(body: Body) -> Result<Value, ApiError> {
    let bytes = read_body(body, 1024 * 1024, BarsCode::RecBadRequest).await?;
    parse_json_object(&bytes, BarsCode::RecBadRequest)
}

async fn services(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let list = state
        .app
        .store
        .list_resources("HealthcareService")
        .await
        .map_err(errors::store)?;
    let services: Vec<Value> = list
        .iter()
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .collect();
    Ok(fhir_json(StatusCode::OK, &json!({ "services": services })))
}

/// Body: a Schedule resource, or `{"schedule": Schedule, "slotTemplate": {Slot elements}}`.
async fn put_schedule(State(state): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let body = json_body(body).await?;
    let (schedule, template) = match body.get("schedule") {
        Some(s) => (
            s.clone(),
            body.get("slotTemplate")
                .cloned()
                .unwrap_or_else(|| json!({})),
        ),
        None => (body, json!({})),
    };
    let record = state
        .app
        .availability
        .put_schedule(None, schedule, template)
        .await?;
    Ok(fhir_response(StatusCode::CREATED, record.body))
}

async fn create_slot(State(state): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let slot = state
        .app
        .availability
        .create_slot(json_body(body).await?)
        .await?;
    Ok(fhir_json(
        StatusCode::CREATED,
        &json!({ "id": slot.id, "start": slot.start.to_string(), "end": slot.end.to_string(), "status": slot.status.as_str() }),
    ))
}

/// Body: `{"service": id, "schedule"?: id, "from": "YYYY-MM-DD", "days": n, "every": "10m",
/// "between": "09:00-17:00", "length"?: "10m", "weekdaysOnly"?: bool, "zone"?: "Europe/London"}`.
/// The hours are read on the zone's wall clock; see [`crate::opening_hours`] for clock changes.
async fn generate(State(state): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let plan = slot_plan(&json_body(body).await?)?;
    let created = state.app.availability.generate(&plan).await?;
    Ok(fhir_json(
        StatusCode::OK,
        &json!({ "created": created, "planned": plan.times().len() }),
    ))
}

pub fn slot_plan(v: &Value) -> Result<SlotPlan, ApiError> {
    let bad = |field: &str, why: &str| {
        ApiError::bars(
            BarsCode::RecBadRequest,
            IssueType::Value,
            format!("{field}: {why}"),
        )
    };
    let text = |field: &str| v.get(field).and_then(Value::as_str);
    let service_id = text("service")
        .ok_or_else(|| bad("service", "required"))?
        .to_string();
    let from = text("from").ok_or_else(|| bad("from", "required (YYYY-MM-DD)"))?;
    let from = jiff::fmt::strtime::parse("%Y-%m-%d", from)
        .and_then(|t| t.to_date())
        .map_err(|_| bad("from", "must be YYYY-MM-DD"))?;
    let days = v.get("days").and_then(Value::as_u64).unwrap_or(1);
    if !(1..=366).contains(&days) {
        return Err(bad("days", "must be between 1 and 366"));
    }
    let every = parse_minutes(text("every").unwrap_or("10m"))
        .ok_or_else(|| bad("every", "must be like 10m or 1h"))?;
    let length = text("length")
        .map(|l| parse_minutes(l).ok_or_else(|| bad("length", "must be like 10m or 1h")))
        .transpose()?;
    let (day_start, day_end) =
        parse_hours(text("between").unwrap_or("09:00-17:00")).ok_or_else(|| {
            bad(
                "between",
                "must be like 09:00-17:00 (or 22:00-06:00 overnight)",
            )
        })?;
    let zone = parse_zone(text("zone").unwrap_or("Europe/London")).ok_or_else(|| {
        bad(
            "zone",
            "must be an IANA time-zone name such as Europe/London or UTC",
        )
    })?;
    Ok(SlotPlan {
        service_id,
        schedule_id: text("schedule").map(str::to_string),
        from,
        days: days as u32,
        every_minutes: every,
        length_minutes: length,
        day_start,
        day_end,
        weekdays_only: v
            .get("weekdaysOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        zone,
    })
}

async fn withdraw(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let slot = state.app.availability.withdraw(&id).await?;
    Ok(fhir_json(
        StatusCode::OK,
        &json!({ "id": slot.id, "status": slot.status.as_str() }),
    ))
}

/// Audit rows per answer unless `limit` asks for fewer, and the most it may ask for.
const AUDIT_DEFAULT: u64 = 1_000;
const AUDIT_MAX: u64 = 100_000;

/// `limit`: 1 to [`AUDIT_MAX`]; a bad value is refused, not replaced by the default.
fn audit_limit(q: &Query) -> Result<usize, ApiError> {
    let limit = q
        .whole_number("limit", 1..=AUDIT_MAX)
        .map_err(|e| ApiError::bars(BarsCode::RecBadRequest, IssueType::Value, e.to_string()))?
        .unwrap_or(AUDIT_DEFAULT);
    Ok(usize::try_from(limit).unwrap_or(usize::MAX))
}

/// `?appointment=<id>&patient=<nhs>&request=<x-request-id>&limit=n`
async fn audit(State(state): State<AdminState>, request: Request) -> Result<Response, ApiError> {
    let q = Query::parse(request.uri().query())
        .map_err(|e| ApiError::bars(BarsCode::RecBadRequest, IssueType::Value, e.to_string()))?;
    let query = AuditQuery {
        resource_id: q.first(&["appointment"]).map(str::to_string),
        patient: q.first(&["patient"]).map(str::to_string),
        request_id: q.first(&["request"]).map(str::to_string),
        limit: audit_limit(&q)?,
    };
    let rows = state
        .app
        .store
        .query_audit(query)
        .await
        .map_err(errors::store)?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let e = r.entry;
            json!({
                "seq": r.seq, "at": e.at.map(|a| a.to_string()), "requestId": e.request_id, "correlationId": e.correlation_id,
                "senderOds": e.sender_ods, "senderSoftware": e.sender_software, "senderApp": e.sender_app,
                "action": e.action, "resourceType": e.resource_type, "resourceId": e.resource_id, "version": e.version,
                "outcome": e.outcome, "patient": e.patient,
            })
        })
        .collect();
    Ok(fhir_json(StatusCode::OK, &json!({ "entries": rows })))
}

/// Pending and failed Registry pointer jobs, with the age of the oldest.
async fn outbox(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let stats = outbox_stats(&state).await?;
    let jobs = state
        .app
        .store
        .undelivered_pointer_jobs(500)
        .await
        .map_err(errors::store)?;
    let now = bars_fhir::Instant::now();
    let age = |i: bars_fhir::Instant| (now.unix_nanos() - i.unix_nanos()).max(0) / 1_000_000_000;
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|j| {
            json!({
                "seq": j.seq, "appointment": j.appointment_id, "version": j.appointment_version, "action": j.action.as_str(),
                "state": j.state.as_str(), "attempts": j.attempts, "lastError": j.last_error,
                "created": j.created.to_string(), "nextAttempt": j.next_attempt.to_string(), "ageSeconds": age(j.created),
            })
        })
        .collect();
    Ok(fhir_json(
        StatusCode::OK,
        &json!({
            "pending": stats.pending, "failed": stats.failed,
            "oldestUndeliveredSeconds": stats.oldest_undelivered.map(age),
            "jobs": jobs,
        }),
    ))
}

async fn retry_job(
    State(state): State<AdminState>,
    Path(seq): Path<String>,
) -> Result<Response, ApiError> {
    // Read here rather than by the extractor, whose rejection is plain text.
    let seq = whole_number(&seq, 1..=i64::MAX as u64)
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| {
            ApiError::bars(
                BarsCode::RecBadRequest,
                IssueType::Value,
                "the job number must be a whole number from 1",
            )
        })?;
    if state
        .app
        .store
        .requeue_pointer_job(seq)
        .await
        .map_err(errors::store)?
    {
        state.app.bookings.pointer_jobs.notify_one();
        Ok(fhir_json(
            StatusCode::OK,
            &json!({ "seq": seq, "state": "pending" }),
        ))
    } else {
        Err(ApiError::bars(
            BarsCode::RecNotFound,
            IssueType::NotFound,
            format!("no failed pointer job {seq}"),
        ))
    }
}

/// The outbox's counts, for the outbox listing and the metrics alike.
async fn outbox_stats(state: &AdminState) -> Result<bars_store::OutboxStats, ApiError> {
    state.app.store.outbox_stats().await.map_err(errors::store)
}

/// Prometheus text for the receiver's operators.
async fn metrics(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let stats = outbox_stats(&state).await?;
    let text = state
        .app
        .metrics
        .render(&stats, &state.app.store.pool_status());
    let mut r = Response::new(Body::from(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(bars_http::metrics::CONTENT_TYPE),
    );
    Ok(r)
}
