//! Idempotency, cancellation and the kit's own cleanup.

use serde_json::json;

use crate::check::{Problem, Verdict};
use crate::ctx::{Booked, Ctx};
use crate::ensure;
use crate::wire::Request;

/// Cancels `b` as a sender does: read, then PUT status cancelled with the read's `If-Match`.
pub(crate) async fn cancel(ctx: &Ctx, b: &Booked) -> Result<crate::wire::Response, Problem> {
    let (mut a, etag) = ctx.read(&b.service, &b.id).await?;
    a["status"] = json!("cancelled");
    a["cancelationReason"] = json!({ "text": "BaRS conformance kit cleanup" });
    let mut request = Request::put(format!("/Appointment/{}", b.id))
        .to(&b.service)
        .json(&a);
    if let Some(tag) = etag {
        request = request.header("if-match", &tag);
    }
    ctx.send(request).await
}

/// REC-IDEM-001: the same booking request replayed (same ids) is answered 409 duplicate and
/// books nothing more.
pub async fn replay(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slots = ctx.take_slots(&service, 2).await?;
    let (slot, spare) = (&slots[0], &slots[1]);
    let request = Request::post("/Appointment")
        .to(&service)
        .json(&Ctx::appointment_for(slot, &patient));
    let first = ctx.send(request.clone()).await?;
    ensure!(
        ctx.remember(&service, slot, &first).is_some(),
        "the booking answered {}",
        first.summary()
    );
    let again = ctx.send(request.clone()).await?;
    ctx.remember(&service, slot, &again);
    ensure!(
        again.status == 409
            && again.bars_code().as_deref() == Some("REC_CONFLICT")
            && again.issue_code().as_deref() == Some("duplicate"),
        "the replay answered {}, not 409 REC_CONFLICT/duplicate",
        again.summary()
    );
    // The same ids with another slot: still the first request, so still nothing booked.
    let mut other = request.clone();
    other.body = Request::post("/")
        .json(&Ctx::appointment_for(spare, &patient))
        .body;
    let third = ctx.send(other).await?;
    let booked_spare = ctx.remember(&service, spare, &third).is_some();
    ensure!(
        !booked_spare,
        "the request ids of a processed booking booked another slot ({})",
        third.summary()
    );
    Ok(())
}

/// Copies of one booking request sent at once in REC-IDEM-002.
const CONCURRENT_REPLAYS: usize = 5;

/// REC-IDEM-002: the same booking request sent several times at once books once; every other
/// copy is answered 409 duplicate, or 425 while the first is still in flight.
pub async fn concurrent_replay(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slot = ctx.take_slot(&service).await?;
    let request = Request::post("/Appointment")
        .to(&service)
        .json(&Ctx::appointment_for(&slot, &patient));
    let mut copies = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENT_REPLAYS {
        let wire = std::sync::Arc::clone(&ctx.wire);
        let request = request.clone();
        copies.spawn(async move { wire.send(&request).await });
    }
    let mut booked = 0;
    let mut others = Vec::new();
    while let Some(joined) = copies.join_next().await {
        let r = joined
            .map_err(|e| Problem::Fail(format!("a sender failed: {e}")))?
            .map_err(|e| Problem::Fail(format!("a copy got no answer: {e}")))?;
        if ctx.remember(&service, &slot, &r).is_some() {
            booked += 1;
        } else {
            others.push(r);
        }
    }
    ensure!(
        booked == 1,
        "{CONCURRENT_REPLAYS} copies of one request booked {booked} times"
    );
    for r in &others {
        let code = r.bars_code().unwrap_or_default();
        let issue = r.issue_code().unwrap_or_default();
        ensure!(
            (r.status == 409 && code == "REC_CONFLICT" && issue == "duplicate")
                || (r.status == 425 && code == "REC_TOO_EARLY"),
            "a concurrent copy answered {}, not 409 REC_CONFLICT/duplicate or 425 REC_TOO_EARLY",
            r.summary()
        );
    }
    Ok(())
}

/// REC-CAN-001: cancelling answers the cancelled Appointment and frees its slot.
pub async fn frees_slot(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let r = cancel(ctx, &b).await?;
    ensure!(r.status == 200, "the cancel answered {}", r.summary());
    let (a, _) = ctx.read(&b.service, &b.id).await?;
    ensure!(
        a["status"] == "cancelled",
        "the cancelled booking reads {}",
        a["status"]
    );
    let free = ctx.free_slots(&b.service).await?;
    ensure!(
        free.iter().any(|s| s["id"] == b.slot["id"]),
        "Slot/{} is not free again after its booking was cancelled",
        b.slot["id"]
    );
    Ok(())
}

/// REC-CAN-002: an appointment no longer current cannot be updated (409 conflict).
pub async fn not_current(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let r = cancel(ctx, &b).await?;
    ensure!(r.status == 200, "the cancel answered {}", r.summary());
    let (mut a, etag) = ctx.read(&b.service, &b.id).await?;
    a["description"] = json!("changed after the cancel");
    let mut request = Request::put(format!("/Appointment/{}", b.id))
        .to(&b.service)
        .json(&a);
    if let Some(tag) = etag {
        request = request.header("if-match", &tag);
    }
    let r = ctx.send(request).await?;
    ensure!(
        r.status == 409 && r.bars_code().as_deref() == Some("REC_CONFLICT"),
        "updating a cancelled appointment answered {}, not 409 REC_CONFLICT",
        r.summary()
    );
    Ok(())
}

/// REC-CLEAN-001: every appointment the kit booked ends cancelled.
pub async fn cleanup(ctx: &Ctx) -> Verdict {
    let booked = ctx.booked();
    if booked.is_empty() {
        return Err(Problem::Skip("the kit booked nothing".into()));
    }
    let mut left = Vec::new();
    for b in &booked {
        let (a, _) = ctx.read(&b.service, &b.id).await?;
        if a["status"] == "booked" {
            let r = cancel(ctx, b).await?;
            ensure!(
                r.status == 200,
                "cancelling Appointment/{} answered {}",
                b.id,
                r.summary()
            );
        }
        let (a, _) = ctx.read(&b.service, &b.id).await?;
        if a["status"] == "booked" {
            left.push(b.id.clone());
        }
    }
    ensure!(left.is_empty(), "still booked after cleanup: {left:?}");
    Ok(())
}

/// How long the kit waits for `100 Continue` before concluding the receiver does not send it.
const CONTINUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Remembers the booking a `201` with `Location` made, read back, so that cleanup cancels it.
async fn remember_located(ctx: &Ctx, service: &str, slot: &serde_json::Value, location: &str) {
    let Some(id) = location
        .rsplit("/Appointment/")
        .next()
        .map(|rest| rest.split(['/', '?']).next().unwrap_or(rest).to_string())
    else {
        return;
    };
    if let Ok(r) = ctx
        .send(Request::get(format!("/Appointment/{id}")).to(service))
        .await
        && r.status == 200
    {
        let created = crate::wire::Response { status: 201, ..r };
        ctx.remember(service, slot, &created);
    }
}

/// REC-IDEM-003: a copy that arrives while the original is in flight is answered 425, and the
/// original then books once. The original is held in flight deterministically: its head goes
/// with `Expect: 100-continue`, and the copy is sent once the receiver asks for the body (it
/// has admitted the request ids by then).
pub async fn in_flight(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slot = ctx.take_slot(&service).await?;
    let request = Request::post("/Appointment")
        .to(&service)
        .json(&Ctx::appointment_for(&slot, &patient));
    let headers = ctx
        .wire
        .headers_for(&request)
        .await
        .map_err(Problem::Fail)?;
    let body = request
        .body
        .as_ref()
        .map(|(_, b)| b.to_vec())
        .unwrap_or_default();
    let mut held = crate::held::Held::send_head(
        ctx.wire.base(),
        ctx.wire.tls(),
        "POST",
        "/Appointment",
        &headers,
        body.clone(),
    )
    .await
    .map_err(Problem::Skip)?;
    let evidence =
        |status: Option<u16>, answer: Vec<(String, String)>, answered: &[u8], note: &str| {
            ctx.wire.record(crate::wire::Exchange {
                method: format!("POST (held in flight: {note})"),
                url: format!("{}/Appointment", ctx.wire.base()),
                request_headers: crate::wire::Wire::shown(&headers),
                request_body: crate::wire::evidence_body(&body),
                status,
                response_headers: answer,
                response_body: crate::wire::evidence_body(answered),
                error: None,
            });
        };
    match tokio::time::timeout(CONTINUE_WAIT, held.read_head()).await {
        Ok(Ok(head)) if head.status == 100 => {}
        Ok(Ok(head)) => {
            evidence(
                Some(head.status),
                head.headers,
                &[],
                "answered before its body",
            );
            return Err(Problem::Skip(format!(
                "the receiver answered {} to the original's head before reading its body, so no copy can meet it in flight",
                head.status
            )));
        }
        Ok(Err(e)) => return Err(Problem::Fail(format!("the original got no answer: {e}"))),
        Err(_) => {
            return Err(Problem::Skip(format!(
                "the receiver did not answer Expect: 100-continue within {CONTINUE_WAIT:?}, so the original cannot be held in flight"
            )));
        }
    }
    let copy = ctx.send(request.clone()).await?;
    if let Some(location) = copy.header("location").filter(|_| copy.status == 201) {
        remember_located(ctx, &service, &slot, location).await;
    }
    let done = held.release().await.map_err(Problem::Fail)?;
    evidence(
        Some(done.status),
        done.headers.clone(),
        &done.body,
        "completed after the copy",
    );
    if let Some(location) = done.header("location").filter(|_| done.status == 201) {
        remember_located(ctx, &service, &slot, location).await;
    }
    let done_answer = crate::wire::Response {
        status: done.status,
        headers: http::HeaderMap::new(),
        body: bytes::Bytes::from(done.body.clone()),
    };
    let done_duplicate =
        done.status == 409 && done_answer.issue_code().as_deref() == Some("duplicate");
    if copy.status == 201 && done_duplicate {
        return Err(Problem::Skip(
            "the receiver read the original's body before admitting its ids, so the copy was processed first and the original answered duplicate: in flight cannot be placed (REC-IDEM-002 covers copies sent at once)"
                .into(),
        ));
    }
    ensure!(
        copy.status == 425 && copy.bars_code().as_deref() == Some("REC_TOO_EARLY"),
        "a copy sent while the original was in flight answered {}, not 425 REC_TOO_EARLY",
        copy.summary()
    );
    ensure!(
        done.status == 201,
        "the original, completed after its copy was refused, answered {}, not 201",
        done.status
    );
    let again = ctx.send(request).await?;
    ensure!(
        again.status == 409
            && again.bars_code().as_deref() == Some("REC_CONFLICT")
            && again.issue_code().as_deref() == Some("duplicate"),
        "a copy sent after the original completed answered {}, not 409 REC_CONFLICT/duplicate",
        again.summary()
    );
    Ok(())
}
