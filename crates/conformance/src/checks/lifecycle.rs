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
