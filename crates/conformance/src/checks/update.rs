//! Updates (PUT and each PATCH form) and read-before-write.

use serde_json::{Value, json};

use crate::check::Verdict;
use crate::ctx::{Booked, Ctx};
use crate::ensure;
use crate::wire::Request;

fn note() -> String {
    format!("conformance update {}", uuid::Uuid::new_v4())
}

/// Sends `request` (If-Match from a fresh read) and checks the description took.
async fn applies(ctx: &Ctx, b: &Booked, request: Request, wanted: &str, form: &str) -> Verdict {
    let (_, etag) = ctx.read(&b.service, &b.id).await?;
    let mut request = request.to(&b.service);
    if let Some(tag) = &etag {
        request = request.header("if-match", tag);
    }
    let r = ctx.send(request).await?;
    ensure!(r.status == 200, "{form} answered {}", r.summary());
    let (after, new_etag) = ctx.read(&b.service, &b.id).await?;
    ensure!(
        after["description"] == wanted,
        "after {form} the description reads {}, not {wanted:?}",
        after["description"]
    );
    ensure!(
        etag.is_none() || new_etag != etag,
        "after {form} the ETag is unchanged ({etag:?})"
    );
    Ok(())
}

/// REC-UPD-001: PUT of the whole Appointment updates it.
pub async fn put(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let (mut a, _) = ctx.read(&b.service, &b.id).await?;
    let wanted = note();
    a["description"] = json!(wanted);
    let request = Request::put(format!("/Appointment/{}", b.id)).json(&a);
    applies(ctx, &b, request, &wanted, "PUT").await
}

/// REC-UPD-002: PATCH with an RFC 6902 JSON Patch.
pub async fn json_patch(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let wanted = note();
    let patch = json!([{ "op": "replace", "path": "/description", "value": wanted }]);
    let request = Request::patch(format!("/Appointment/{}", b.id))
        .body("application/json-patch+json", patch.to_string());
    applies(ctx, &b, request, &wanted, "a JSON Patch").await
}

/// REC-UPD-003: PATCH with a FHIRPath Patch Parameters resource.
pub async fn fhirpath_patch(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let wanted = note();
    let patch = json!({
        "resourceType": "Parameters",
        "parameter": [{ "name": "operation", "part": [
            { "name": "type", "valueCode": "replace" },
            { "name": "path", "valueString": "Appointment.description" },
            { "name": "value", "valueString": wanted }
        ]}]
    });
    let request = Request::patch(format!("/Appointment/{}", b.id)).json(&patch);
    applies(ctx, &b, request, &wanted, "a FHIRPath Patch").await
}

/// REC-UPD-004: PATCH with the BaRS partial Appointment.
pub async fn partial_patch(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let (current, _) = ctx.read(&b.service, &b.id).await?;
    let wanted = note();
    let patch = json!({
        "resourceType": "Appointment",
        "id": b.id,
        "meta": current["meta"],
        "description": wanted
    });
    let request = Request::patch(format!("/Appointment/{}", b.id)).json(&patch);
    applies(ctx, &b, request, &wanted, "a partial Appointment PATCH").await
}

/// Moves `b` to `slot` with a JSON Patch (as the SDK reschedules), `If-Match` from a fresh read.
pub(crate) async fn reschedule(ctx: &Ctx, b: &Booked, slot: &Value) -> Verdict {
    let (_, etag) = ctx.read(&b.service, &b.id).await?;
    let patch = json!([
        { "op": "test", "path": "/status", "value": "booked" },
        { "op": "replace", "path": "/slot", "value": [{ "reference": format!("Slot/{}", slot["id"].as_str().unwrap_or_default()) }] },
        { "op": "replace", "path": "/start", "value": slot["start"] },
        { "op": "replace", "path": "/end", "value": slot["end"] }
    ]);
    let mut request = Request::patch(format!("/Appointment/{}", b.id))
        .to(&b.service)
        .body("application/json-patch+json", patch.to_string());
    if let Some(tag) = &etag {
        request = request.header("if-match", tag);
    }
    let r = ctx.send(request).await?;
    ensure!(r.status == 200, "the reschedule answered {}", r.summary());
    Ok(())
}

/// REC-UPD-005: rescheduling moves the booking: the new slot is taken, the old one free again.
pub async fn reschedule_moves(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let slot = ctx.take_slot(&b.service).await?;
    reschedule(ctx, &b, &slot).await?;
    let (a, _) = ctx.read(&b.service, &b.id).await?;
    ensure!(
        a["start"] == slot["start"],
        "after the reschedule the appointment starts {}, not {}",
        a["start"],
        slot["start"]
    );
    let free = ctx.free_slots(&b.service).await?;
    ensure!(
        free.iter().all(|s| s["id"] != slot["id"]),
        "the new Slot/{} is still free",
        slot["id"]
    );
    ensure!(
        free.iter().any(|s| s["id"] == b.slot["id"]),
        "the old Slot/{} is not free again",
        b.slot["id"]
    );
    Ok(())
}

/// REC-RBW-001: a write with a stale `If-Match` is refused 412 and changes nothing.
pub async fn stale_if_match(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let (mut a, old_tag) = ctx.read(&b.service, &b.id).await?;
    let Some(old_tag) = old_tag else {
        return Err(crate::check::Problem::Fail(
            "the read carries no ETag".into(),
        ));
    };
    a["description"] = json!(note());
    let first = ctx
        .send(
            Request::put(format!("/Appointment/{}", b.id))
                .to(&b.service)
                .header("if-match", &old_tag)
                .json(&a),
        )
        .await?;
    ensure!(
        first.status == 200,
        "the first update answered {}",
        first.summary()
    );
    let (now, _) = ctx.read(&b.service, &b.id).await?;
    let mut stale = now.clone();
    stale["description"] = json!("written over a stale version");
    let r = ctx
        .send(
            Request::put(format!("/Appointment/{}", b.id))
                .to(&b.service)
                .header("if-match", &old_tag)
                .json(&stale),
        )
        .await?;
    ensure!(
        r.status == 412,
        "a PUT with the stale If-Match {old_tag} answered {}, not 412",
        r.summary()
    );
    let (after, _) = ctx.read(&b.service, &b.id).await?;
    ensure!(
        after["description"] == now["description"],
        "the refused write changed the appointment"
    );
    Ok(())
}

/// REC-RBW-002: a write carrying an older `meta.lastUpdated` is refused 409 conflict.
pub async fn older_last_updated(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let (old, tag) = ctx.read(&b.service, &b.id).await?;
    let mut newer = old.clone();
    newer["description"] = json!(note());
    let mut first = Request::put(format!("/Appointment/{}", b.id))
        .to(&b.service)
        .json(&newer);
    if let Some(tag) = &tag {
        first = first.header("if-match", tag);
    }
    let first = ctx.send(first).await?;
    ensure!(
        first.status == 200,
        "the first update answered {}",
        first.summary()
    );
    let mut stale: Value = old;
    stale["description"] = json!("written from an old copy");
    let r = ctx
        .send(
            Request::put(format!("/Appointment/{}", b.id))
                .to(&b.service)
                .json(&stale),
        )
        .await?;
    ensure!(
        r.status == 409 && r.bars_code().as_deref() == Some("REC_CONFLICT"),
        "a PUT with meta.lastUpdated {} (older than stored) answered {}, not 409 REC_CONFLICT",
        stale.pointer("/meta/lastUpdated").unwrap_or(&Value::Null),
        r.summary()
    );
    Ok(())
}
