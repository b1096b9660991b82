//! `$process-message`: the official booking-request example (corrected as the digest's section 8
//! says) books, a second booking of its slot conflicts, and malformed messages are refused with
//! the codes of section 6.3.

use serde_json::{Value, json};

use crate::check::{Problem, Verdict};
use crate::ctx::Ctx;
use crate::ensure;
use crate::wire::Request;

/// The API repository's `examples/process_message/request/Booking (POST).json`.
const BOOKING_EXAMPLE: &str = include_str!(
    "../../../../fixtures/bars-api-examples/examples__process_message__request__BookingPOST.json"
);
const EXAMPLE_NHS_NUMBER: &str = "9476719931";
const DOS: &str = "https://fhir.nhs.uk/Id/dos-service-id";
const BOOKING_CANCELLED: &str =
    "https://fhir.nhs.uk/MessageDefinition/bars-message-booking-request-cancelled";
/// What a cancellation message carries (the cancelled MessageDefinition's focus).
const CANCELLATION_ENTRIES: &[&str] = &["MessageHeader", "Appointment", "Patient", "Organization"];

fn resource_mut<'a>(bundle: &'a mut Value, kind: &str) -> Option<&'a mut Value> {
    bundle["entry"]
        .as_array_mut()?
        .iter_mut()
        .find(|e| e["resource"]["resourceType"] == kind)
        .map(|e| &mut e["resource"])
}

/// The example, for `slot` at `service` and the test patient: its placeholder destination, the
/// slot it never had and its 2021 times replaced; a fresh Bundle id.
pub fn booking_message(service: &str, slot: &Value, patient: &str) -> Result<Value, Problem> {
    let mut bundle: Value =
        serde_json::from_str(&BOOKING_EXAMPLE.replace(EXAMPLE_NHS_NUMBER, patient))
            .map_err(|e| Problem::Fail(format!("the kit's booking example does not parse: {e}")))?;
    bundle["id"] = json!(uuid::Uuid::new_v4().to_string());
    if let Some(h) = resource_mut(&mut bundle, "MessageHeader") {
        h["destination"][0]["endpoint"] = json!(format!("{DOS}|{service}"));
        h["source"]["endpoint"] = json!(format!("{DOS}|2000099999"));
    }
    if let Some(s) = resource_mut(&mut bundle, "Slot") {
        s["id"] = slot["id"].clone();
        s["start"] = slot["start"].clone();
        s["end"] = slot["end"].clone();
    }
    if let Some(a) = resource_mut(&mut bundle, "Appointment") {
        a["start"] = slot["start"].clone();
        a["end"] = slot["end"].clone();
    }
    Ok(bundle)
}

fn persisted(response: &Value) -> Option<Value> {
    response["entry"]
        .as_array()?
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Appointment")
        .map(|e| e["resource"].clone())
}

async fn post(ctx: &Ctx, service: &str, message: &Value) -> Result<crate::wire::Response, Problem> {
    ctx.send(Request::post("/$process-message").to(service).json(message))
        .await
}

/// REC-MSG-001: a booking-request message books: 200, a message Bundle answering the request
/// (response.code ok) with the persisted Appointment, and the slot is taken.
pub async fn books(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slot = ctx.take_slot(&service).await?;
    let message = booking_message(&service, &slot, &patient)?;
    let r = post(ctx, &service, &message).await?;
    ensure!(
        r.status == 200,
        "the booking message answered {}",
        r.summary()
    );
    let body = r.json().unwrap_or(Value::Null);
    ensure!(
        body["type"] == "message",
        "the answer is not a message Bundle"
    );
    let header = &body["entry"][0]["resource"];
    ensure!(
        header["resourceType"] == "MessageHeader",
        "the answer's first entry is not a MessageHeader"
    );
    ensure!(
        header.pointer("/response/code") == Some(&json!("ok")),
        "MessageHeader.response.code is {}",
        header.pointer("/response/code").unwrap_or(&Value::Null)
    );
    let Some(appointment) = persisted(&body) else {
        return Err(Problem::Fail("the answer holds no Appointment".into()));
    };
    let Some(id) = appointment["id"].as_str() else {
        return Err(Problem::Fail("the answered Appointment has no id".into()));
    };
    let fake = crate::wire::Response {
        status: 201,
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::from(appointment.to_string()),
    };
    ctx.remember(&service, &slot, &fake);
    let (read, _) = ctx.read(&service, id).await?;
    ensure!(
        read["status"] == "booked",
        "the booked Appointment/{id} reads {}",
        read["status"]
    );
    let free = ctx.free_slots(&service).await?;
    ensure!(
        free.iter().all(|s| s["id"] != slot["id"]),
        "Slot/{} is still free after the booking message",
        slot["id"]
    );
    Ok(())
}

/// The cancellation message for `booked` (the receiver's copy, read beforehand), built from the
/// booking message that made it: reason `update`, the cancelled definition, status cancelled.
pub fn cancellation_message(booking: &Value, booked: &Value) -> Value {
    let mut message = booking.clone();
    message["id"] = json!(uuid::Uuid::new_v4().to_string());
    let participant = resource_mut(&mut message, "Appointment")
        .map(|a| a["participant"].clone())
        .unwrap_or(Value::Null);
    if let Some(entries) = message["entry"].as_array_mut() {
        entries.retain(|e| {
            e["resource"]["resourceType"]
                .as_str()
                .is_some_and(|t| CANCELLATION_ENTRIES.contains(&t))
        });
    }
    if let Some(h) = resource_mut(&mut message, "MessageHeader") {
        h["reason"]["coding"][0]["code"] = json!("update");
        h["definition"] = json!(BOOKING_CANCELLED);
    }
    if let Some(a) = resource_mut(&mut message, "Appointment") {
        let mut cancelled = booked.clone();
        cancelled["status"] = json!("cancelled");
        cancelled["participant"] = participant;
        *a = cancelled;
    }
    message
}

/// REC-MSG-005: a cancellation message cancels the booking a booking message made and frees
/// its slot.
pub async fn cancels(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slot = ctx.take_slot(&service).await?;
    let booking = booking_message(&service, &slot, &patient)?;
    let r = post(ctx, &service, &booking).await?;
    ensure!(
        r.status == 200,
        "the booking message answered {}",
        r.summary()
    );
    let Some(id) = persisted(&r.json().unwrap_or(Value::Null))
        .and_then(|a| a["id"].as_str().map(str::to_string))
    else {
        return Err(Problem::Fail(
            "the booking answer holds no Appointment id".into(),
        ));
    };
    let (booked, _) = ctx.read(&service, &id).await?;
    let fake = crate::wire::Response {
        status: 201,
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::from(booked.to_string()),
    };
    ctx.remember(&service, &slot, &fake);
    let r = post(ctx, &service, &cancellation_message(&booking, &booked)).await?;
    ensure!(
        r.status == 200,
        "the cancellation message answered {}",
        r.summary()
    );
    let (after, _) = ctx.read(&service, &id).await?;
    ensure!(
        after["status"] == "cancelled",
        "after the cancellation message Appointment/{id} reads {}",
        after["status"]
    );
    let free = ctx.free_slots(&service).await?;
    ensure!(
        free.iter().any(|s| s["id"] == slot["id"]),
        "Slot/{} is not free after the cancellation message",
        slot["id"]
    );
    Ok(())
}

/// REC-MSG-002: a second booking-request for a taken slot is 409 conflict.
pub async fn slot_taken(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slot = ctx.take_slot(&service).await?;
    let first = post(ctx, &service, &booking_message(&service, &slot, &patient)?).await?;
    if let Some(a) = persisted(&first.json().unwrap_or(Value::Null)) {
        let fake = crate::wire::Response {
            status: 201,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from(a.to_string()),
        };
        ctx.remember(&service, &slot, &fake);
    }
    ensure!(
        first.status == 200,
        "the first booking message answered {}",
        first.summary()
    );
    let r = post(ctx, &service, &booking_message(&service, &slot, &patient)?).await?;
    ensure!(
        r.status == 409
            && r.bars_code().as_deref() == Some("REC_CONFLICT")
            && r.issue_code().as_deref() == Some("conflict"),
        "a second booking message for Slot/{} answered {}, not 409 REC_CONFLICT/conflict",
        slot["id"],
        r.summary()
    );
    Ok(())
}

async fn refused(
    ctx: &Ctx,
    change: impl FnOnce(&mut Value),
    status: u16,
    code: &str,
    issue: &str,
    what: &str,
) -> Verdict {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slot = ctx
        .free_slots(&service)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Problem::Skip("no free slot".into()))?;
    let mut message = booking_message(&service, &slot, &patient)?;
    change(&mut message);
    let r = post(ctx, &service, &message).await?;
    ensure!(
        r.status == status
            && r.bars_code().as_deref() == Some(code)
            && r.issue_code().as_deref() == Some(issue),
        "{what} answered {}, not {status} {code}/{issue}",
        r.summary()
    );
    Ok(())
}

/// REC-MSG-003: a message without `Bundle.meta.versionId` is 400 invariant.
pub async fn no_version(ctx: &Ctx) -> Verdict {
    refused(
        ctx,
        |m| {
            if let Some(meta) = m["meta"].as_object_mut() {
                meta.remove("versionId");
            }
        },
        400,
        "REC_BAD_REQUEST",
        "invariant",
        "a message without Bundle.meta.versionId",
    )
    .await
}

/// REC-MSG-004: a booking-response sent to a receiver is 400 invariant.
pub async fn booking_response(ctx: &Ctx) -> Verdict {
    refused(
        ctx,
        |m| {
            if let Some(h) = resource_mut(m, "MessageHeader") {
                h["eventCoding"]["code"] = json!("booking-response");
            }
        },
        400,
        "REC_BAD_REQUEST",
        "invariant",
        "a booking-response message",
    )
    .await
}

/// Books with the example message and reads the booking back: (the message, the receiver's
/// copy). The booking is remembered, so cleanup cancels it.
async fn booked_by_message(ctx: &Ctx) -> Result<(String, Value, Value), Problem> {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slot = ctx.take_slot(&service).await?;
    let booking = booking_message(&service, &slot, &patient)?;
    let r = post(ctx, &service, &booking).await?;
    ensure!(
        r.status == 200,
        "the booking message answered {}",
        r.summary()
    );
    let Some(id) = persisted(&r.json().unwrap_or(Value::Null))
        .and_then(|a| a["id"].as_str().map(str::to_string))
    else {
        return Err(Problem::Fail(
            "the booking answer holds no Appointment id".into(),
        ));
    };
    let (booked, _) = ctx.read(&service, &id).await?;
    let fake = crate::wire::Response {
        status: 201,
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::from(booked.to_string()),
    };
    ctx.remember(&service, &slot, &fake);
    Ok((service, booking, booked))
}

/// An update message (reason `update`, the booking-request definition) carrying `appointment`.
fn update_message(booking: &Value, appointment: &Value) -> Value {
    let mut message = booking.clone();
    message["id"] = json!(uuid::Uuid::new_v4().to_string());
    let participant = resource_mut(&mut message, "Appointment")
        .map(|a| a["participant"].clone())
        .unwrap_or(Value::Null);
    if let Some(h) = resource_mut(&mut message, "MessageHeader") {
        h["reason"]["coding"][0]["code"] = json!("update");
    }
    if let Some(a) = resource_mut(&mut message, "Appointment") {
        let mut changed = appointment.clone();
        changed["participant"] = participant;
        *a = changed;
    }
    message
}

/// REC-MSG-006: an update message (reason update, Appointment booked) updates the booking.
pub async fn updates(ctx: &Ctx) -> Verdict {
    let (service, booking, booked) = booked_by_message(ctx).await?;
    let id = booked["id"].as_str().unwrap_or_default().to_string();
    let wanted = format!("conformance message update {}", uuid::Uuid::new_v4());
    let mut changed = booked.clone();
    changed["description"] = json!(wanted);
    let r = post(ctx, &service, &update_message(&booking, &changed)).await?;
    ensure!(
        r.status == 200,
        "the update message answered {}",
        r.summary()
    );
    let (after, _) = ctx.read(&service, &id).await?;
    ensure!(
        after["description"] == wanted,
        "after the update message Appointment/{id}'s description reads {}",
        after["description"]
    );
    ensure!(
        after["status"] == "booked",
        "after the update message Appointment/{id} reads {}",
        after["status"]
    );
    ensure!(
        after.pointer("/meta/versionId") != booked.pointer("/meta/versionId"),
        "the update message left meta.versionId unchanged"
    );
    Ok(())
}

/// REC-MSG-007: a cancellation of an appointment the receiver does not hold is refused: 404
/// not-found (Core 1.1.6), or 400 invariant as BaRS 1.5 (delta D15) reads it.
pub async fn cancel_unknown(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slot = ctx
        .free_slots(&service)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Problem::Skip("no free slot".into()))?;
    let booking = booking_message(&service, &slot, &patient)?;
    let mut unknown = resource_mut(&mut booking.clone(), "Appointment")
        .cloned()
        .unwrap_or(Value::Null);
    unknown["id"] = json!(uuid::Uuid::new_v4().to_string());
    let r = post(ctx, &service, &cancellation_message(&booking, &unknown)).await?;
    let code = (r.status, r.bars_code(), r.issue_code());
    ensure!(
        matches!(
            (code.0, code.1.as_deref(), code.2.as_deref()),
            (404, Some("REC_NOT_FOUND"), Some("not-found"))
                | (400, Some("REC_BAD_REQUEST"), Some("invariant"))
        ),
        "a cancellation of an unknown appointment answered {}, not 404 REC_NOT_FOUND/not-found (or 400 REC_BAD_REQUEST/invariant)",
        r.summary()
    );
    Ok(())
}

/// REC-MSG-008: a cancellation of an appointment already cancelled is 409 conflict.
pub async fn cancel_twice(ctx: &Ctx) -> Verdict {
    let (service, booking, booked) = booked_by_message(ctx).await?;
    let id = booked["id"].as_str().unwrap_or_default().to_string();
    let r = post(ctx, &service, &cancellation_message(&booking, &booked)).await?;
    ensure!(
        r.status == 200,
        "the first cancellation message answered {}",
        r.summary()
    );
    let (cancelled, _) = ctx.read(&service, &id).await?;
    let r = post(ctx, &service, &cancellation_message(&booking, &cancelled)).await?;
    ensure!(
        r.status == 409
            && r.bars_code().as_deref() == Some("REC_CONFLICT")
            && r.issue_code().as_deref() == Some("conflict"),
        "cancelling the cancelled Appointment/{id} again answered {}, not 409 REC_CONFLICT/conflict",
        r.summary()
    );
    Ok(())
}

/// REC-MSG-009: an update message whose Appointment is neither booked nor cancelled is 400
/// invariant.
pub async fn update_other_status(ctx: &Ctx) -> Verdict {
    let (service, booking, booked) = booked_by_message(ctx).await?;
    let mut proposed = booked.clone();
    proposed["status"] = json!("proposed");
    let r = post(ctx, &service, &update_message(&booking, &proposed)).await?;
    ensure!(
        r.status == 400
            && r.bars_code().as_deref() == Some("REC_BAD_REQUEST")
            && r.issue_code().as_deref() == Some("invariant"),
        "an update message with status proposed answered {}, not 400 REC_BAD_REQUEST/invariant",
        r.summary()
    );
    Ok(())
}

/// REC-MSG-010: a message of a version the receiver does not support is 422 not-supported.
pub async fn unsupported_version(ctx: &Ctx) -> Verdict {
    refused(
        ctx,
        |m| m["meta"]["versionId"] = json!("9.0.0"),
        422,
        "REC_UNPROCESSABLE_ENTITY",
        "not-supported",
        "a message of version 9.0.0",
    )
    .await
}

/// REC-MSG-011: a message for another receiving organisation is 422 not-supported.
pub async fn other_receiver(ctx: &Ctx) -> Verdict {
    refused(
        ctx,
        |m| {
            let Some(entries) = m["entry"].as_array_mut() else {
                return;
            };
            let receiver = entries
                .iter()
                .find(|e| e["resource"]["resourceType"] == "MessageHeader")
                .and_then(|e| e["resource"]["destination"][0]["receiver"]["reference"].as_str())
                .map(str::to_string)
                .unwrap_or_default();
            for e in entries.iter_mut() {
                let named = e["fullUrl"].as_str() == Some(receiver.as_str())
                    || receiver.ends_with(&format!(
                        "Organization/{}",
                        e["resource"]["id"].as_str().unwrap_or("-")
                    ));
                if e["resource"]["resourceType"] == "Organization" && named {
                    e["resource"]["identifier"] = json!([{
                        "system": "https://fhir.nhs.uk/Id/ods-organization-code",
                        "value": "ZZ999"
                    }]);
                }
            }
        },
        422,
        "REC_UNPROCESSABLE_ENTITY",
        "not-supported",
        "a message for the receiving organisation ZZ999",
    )
    .await
}
