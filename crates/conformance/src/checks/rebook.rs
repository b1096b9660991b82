//! Rebooking with `replaces` in both orders, DELETE as a logical cancel, and version history.

use serde_json::{Value, json};

use crate::check::{Problem, Verdict};
use crate::ctx::{Booked, Ctx};
use crate::ensure;
use crate::wire::Request;

/// Books a fresh slot for the patient with `replaces` pointing at `old`.
async fn book_replacing(ctx: &Ctx, old: &Booked) -> Result<Booked, Problem> {
    let patient = ctx.patient()?.to_string();
    let slot = ctx.take_slot(&old.service).await?;
    let mut a = Ctx::appointment_for(&slot, &patient);
    a["replaces"] = json!([{ "reference": format!("Appointment/{}", old.id) }]);
    let r = ctx
        .send(Request::post("/Appointment").to(&old.service).json(&a))
        .await?;
    ctx.remember(&old.service, &slot, &r).ok_or_else(|| {
        Problem::Fail(format!(
            "booking with replaces Appointment/{} answered {}",
            old.id,
            r.summary()
        ))
    })
}

async fn expect_cancelled(ctx: &Ctx, b: &Booked) -> Verdict {
    let r = super::lifecycle::cancel(ctx, b).await?;
    ensure!(
        r.status == 200,
        "cancelling the replaced appointment answered {}",
        r.summary()
    );
    let (a, _) = ctx.read(&b.service, &b.id).await?;
    ensure!(
        a["status"] == "cancelled",
        "the replaced appointment reads {} after its cancel",
        a["status"]
    );
    Ok(())
}

fn replaces(new: &Booked, old: &Booked) -> Verdict {
    let reference = new
        .appointment
        .pointer("/replaces/0/reference")
        .and_then(Value::as_str)
        .unwrap_or_default();
    ensure!(
        reference.ends_with(&old.id),
        "the new booking's replaces is {reference:?}, not Appointment/{}",
        old.id
    );
    Ok(())
}

/// REC-REBOOK-001: book the new appointment first (two open bookings for a moment), then cancel.
pub async fn book_first(ctx: &Ctx) -> Verdict {
    let old = ctx.book_fresh().await?;
    let new = book_replacing(ctx, &old).await?;
    replaces(&new, &old)?;
    expect_cancelled(ctx, &old).await
}

/// REC-REBOOK-002: cancel first, then book the replacement.
pub async fn cancel_first(ctx: &Ctx) -> Verdict {
    let old = ctx.book_fresh().await?;
    expect_cancelled(ctx, &old).await?;
    let new = book_replacing(ctx, &old).await?;
    replaces(&new, &old)
}

/// REC-DEL-001: DELETE cancels logically (the appointment reads cancelled, its slot is free).
pub async fn delete(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let r = ctx
        .send(Request::new(http::Method::DELETE, format!("/Appointment/{}", b.id)).to(&b.service))
        .await?;
    ensure!(r.status == 200, "DELETE answered {}", r.summary());
    let (a, _) = ctx.read(&b.service, &b.id).await?;
    ensure!(
        a["status"] == "cancelled",
        "after DELETE the appointment reads {}",
        a["status"]
    );
    let free = ctx.free_slots(&b.service).await?;
    ensure!(
        free.iter().any(|s| s["id"] == b.slot["id"]),
        "Slot/{} is not free after DELETE",
        b.slot["id"]
    );
    Ok(())
}

/// REC-HIST-001: an updated appointment has a history of distinct versions, each readable.
pub async fn history(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let (mut a, etag) = ctx.read(&b.service, &b.id).await?;
    a["description"] = json!("a second version");
    let mut put = Request::put(format!("/Appointment/{}", b.id))
        .to(&b.service)
        .json(&a);
    if let Some(tag) = &etag {
        put = put.header("if-match", tag);
    }
    let r = ctx.send(put).await?;
    ensure!(r.status == 200, "the update answered {}", r.summary());
    let r = ctx
        .send(Request::get(format!("/Appointment/{}/_history", b.id)).to(&b.service))
        .await?;
    ensure!(r.status == 200, "the history answered {}", r.summary());
    let body = r.json().unwrap_or(Value::Null);
    ensure!(
        body["type"] == "history",
        "the answer is not a history Bundle"
    );
    let versions: Vec<String> = body["entry"]
        .as_array()
        .map(|es| {
            es.iter()
                .filter_map(|e| {
                    e.pointer("/resource/meta/versionId")
                        .and_then(Value::as_str)
                })
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut distinct = versions.clone();
    distinct.sort();
    distinct.dedup();
    ensure!(
        distinct.len() >= 2,
        "the history of an updated appointment holds versions {versions:?}"
    );
    for v in &distinct {
        let r = ctx
            .send(Request::get(format!("/Appointment/{}/_history/{v}", b.id)).to(&b.service))
            .await?;
        let read = r.json().unwrap_or(Value::Null);
        ensure!(
            r.status == 200 && read.pointer("/meta/versionId") == Some(&Value::from(v.as_str())),
            "reading version {v} answered {}",
            r.summary()
        );
    }
    Ok(())
}
