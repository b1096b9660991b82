//! Booking, the slot taken afterwards, senders racing for slots, and reading bookings back.

use std::sync::Arc;

use serde_json::Value;

use crate::check::{Problem, Verdict};
use crate::ctx::Ctx;
use crate::ensure;
use crate::wire::Request;

/// REC-BOOK-001: a booking is answered 201 with the Appointment, `Location` and `ETag`.
pub async fn created(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let a = &b.appointment;
    ensure!(
        a["resourceType"] == "Appointment",
        "the 201 body is not an Appointment"
    );
    ensure!(
        a["status"] == "booked",
        "the booking is {}, not booked",
        a["status"]
    );
    ensure!(
        a.pointer("/meta/versionId").is_some() && a.pointer("/meta/lastUpdated").is_some(),
        "the Appointment has no meta.versionId or meta.lastUpdated"
    );
    ensure!(b.etag.is_some(), "the 201 carries no ETag");
    let (again, _) = ctx.read(&b.service, &b.id).await?;
    ensure!(
        again["id"] == a["id"],
        "reading it back answered another id"
    );
    Ok(())
}

/// REC-BOOK-002: a booked slot is no longer free, and booking it again is refused 409 conflict.
pub async fn slot_taken(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let patient = ctx.patient()?.to_string();
    let slot_id = b.slot["id"].clone();
    let free = ctx.free_slots(&b.service).await?;
    ensure!(
        free.iter().all(|s| s["id"] != slot_id),
        "Slot/{slot_id} is still listed free after it was booked"
    );
    let r = ctx
        .send(
            Request::post("/Appointment")
                .to(&b.service)
                .json(&Ctx::appointment_for(&b.slot, &patient)),
        )
        .await?;
    ctx.remember(&b.service, &b.slot, &r);
    ensure!(
        r.status == 409
            && r.bars_code().as_deref() == Some("REC_CONFLICT")
            && r.issue_code().as_deref() == Some("conflict"),
        "booking the taken Slot/{slot_id} again answered {}, not 409 REC_CONFLICT/conflict",
        r.summary()
    );
    Ok(())
}

/// Senders per slot in the race.
const RACERS_PER_SLOT: usize = 4;
const RACED_SLOTS: usize = 2;

/// REC-BOOK-003: senders racing for slots book each slot exactly once.
pub async fn race(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slots = ctx.take_slots(&service, RACED_SLOTS).await?;
    let mut racers = tokio::task::JoinSet::new();
    for slot in &slots {
        for _ in 0..RACERS_PER_SLOT {
            let wire = Arc::clone(&ctx.wire);
            let request = Request::post("/Appointment")
                .to(&service)
                .json(&Ctx::appointment_for(slot, &patient));
            let slot = slot.clone();
            racers.spawn(async move { (slot, wire.send(&request).await) });
        }
    }
    let mut won = Vec::new();
    let mut answers = Vec::new();
    while let Some(joined) = racers.join_next().await {
        let (slot, answer) =
            joined.map_err(|e| Problem::Fail(format!("a racing sender failed: {e}")))?;
        let r =
            answer.map_err(|e| Problem::Fail(format!("a racing booking got no answer: {e}")))?;
        answers.push(r.summary());
        if ctx.remember(&service, &slot, &r).is_some() {
            won.push(slot["id"].clone());
        }
    }
    for slot in &slots {
        let wins = won.iter().filter(|id| **id == slot["id"]).count();
        ensure!(
            wins == 1,
            "{RACERS_PER_SLOT} senders racing for Slot/{} got {wins} bookings (answers: {answers:?})",
            slot["id"]
        );
    }
    Ok(())
}

/// REC-VIEW-001: a booking reads back with its id, status and an ETag.
pub async fn view(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let (a, etag) = ctx.read(&b.service, &b.id).await?;
    ensure!(
        a["resourceType"] == "Appointment",
        "the read answered no Appointment"
    );
    ensure!(a["id"] == b.id.as_str(), "the read answered id {}", a["id"]);
    ensure!(
        a["status"] == "booked",
        "the booking reads back {}",
        a["status"]
    );
    ensure!(etag.is_some(), "the read carries no ETag");
    Ok(())
}

/// Whether a patient search lists appointment `id`, following next links.
async fn lists(ctx: &Ctx, service: &str, patient: &str, id: &str) -> Result<bool, Problem> {
    let mut path = Some(format!(
        "/Appointment?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{patient}"
    ));
    let mut pages = 0;
    while let Some(p) = path.take() {
        pages += 1;
        ensure!(
            pages <= 50,
            "more than 50 pages of appointments without finding the booking"
        );
        let r = ctx.send(Request::get(p).to(service)).await?;
        ensure!(
            r.status == 200,
            "the patient search answered {}",
            r.summary()
        );
        let body = r.json().unwrap_or(Value::Null);
        if Ctx::matches(&body, "Appointment")
            .iter()
            .any(|a| a["id"] == id)
        {
            return Ok(true);
        }
        path = body["link"].as_array().and_then(|ls| {
            ls.iter()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str())
                .and_then(|u| u.find("/Appointment").map(|i| u[i..].to_string()))
        });
    }
    Ok(false)
}

/// REC-VIEW-002: searching by the patient's NHS number finds the booking.
pub async fn search(ctx: &Ctx) -> Verdict {
    let b = ctx.book_fresh().await?;
    let patient = ctx.patient()?.to_string();
    ensure!(
        lists(ctx, &b.service, &patient, &b.id).await?,
        "the patient search does not list Appointment/{}",
        b.id
    );
    Ok(())
}

/// REC-VIEW-003: another patient's search does not list the booking.
pub async fn other_patient(ctx: &Ctx) -> Verdict {
    let Some(other) = ctx.patients.get(1).cloned() else {
        return Err(Problem::Skip(
            "give a second --patient to check searches stay per patient".into(),
        ));
    };
    let b = ctx.book_fresh().await?;
    ensure!(
        !lists(ctx, &b.service, &other, &b.id).await?,
        "the search for another patient lists Appointment/{}",
        b.id
    );
    Ok(())
}
