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
