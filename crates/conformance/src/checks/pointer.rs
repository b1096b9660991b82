//! The Registry pointer (digest 5.14): it appears when an appointment is booked and goes when it
//! is cancelled. The Registry is reached through the proxy, so this runs on that route only.

use std::time::Duration;

use serde_json::Value;

use crate::check::{Problem, Verdict};
use crate::ctx::Ctx;
use crate::ensure;
use crate::wire::Request;

const BARS_IDENTIFIER: &str = "https://fhir.nhs.uk/Id/BaRS-Identifier";
/// Pointers are written after the booking commits (an outbox); this many looks, a pause apart.
const LOOKS: u32 = 60;
const PAUSE: Duration = Duration::from_millis(250);

/// The start of the Registry's pointer to appointment `id` (`None` when there is none).
async fn pointer_start(ctx: &Ctx, patient: &str, id: &str) -> Result<Option<String>, Problem> {
    let mut path = Some(format!(
        "/DocumentReference?subject:identifier=https://fhir.nhs.uk/Id/nhs-number%7C{patient}"
    ));
    let mut pages = 0;
    while let Some(p) = path.take() {
        pages += 1;
        ensure!(pages <= 50, "more than 50 pages of pointers");
        let r = ctx.send(Request::get(p)).await?;
        ensure!(
            r.status == 200,
            "the Registry search answered {}",
            r.summary()
        );
        let body = r.json().unwrap_or(Value::Null);
        let found = Ctx::matches(&body, "DocumentReference")
            .into_iter()
            .find(|p| {
                p["identifier"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|i| i["system"] == BARS_IDENTIFIER && i["value"] == id)
            });
        if let Some(p) = found {
            return Ok(Some(
                p.pointer("/context/period/start")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ));
        }
        path = body["link"].as_array().and_then(|ls| {
            ls.iter()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str())
                .and_then(|u| u.find("/DocumentReference?").map(|i| u[i..].to_string()))
        });
    }
    Ok(None)
}

/// Looks until `wanted` holds of the pointer, a bounded number of times.
async fn until_pointer(
    ctx: &Ctx,
    patient: &str,
    id: &str,
    wanted: impl Fn(Option<&str>) -> bool,
) -> Result<bool, Problem> {
    for _ in 0..LOOKS {
        if wanted(pointer_start(ctx, patient, id).await?.as_deref()) {
            return Ok(true);
        }
        // Evidence of one look is enough; the repeats say nothing new.
        let _ = ctx.wire.take_log();
        tokio::time::sleep(PAUSE).await;
    }
    Ok(false)
}

async fn until(ctx: &Ctx, patient: &str, id: &str, present: bool) -> Result<bool, Problem> {
    until_pointer(ctx, patient, id, |p| p.is_some() == present).await
}

/// The minute of an instant (`YYYY-MM-DDTHH:MM`), to compare times written in other forms.
fn minute(instant: &str) -> &str {
    instant.get(..16).unwrap_or(instant)
}

/// REC-PTR-002: rescheduling changes the pointer's period to the new time.
pub async fn follows_reschedule(ctx: &Ctx) -> Verdict {
    let patient = ctx.patient()?.to_string();
    let b = ctx.book_fresh().await?;
    ensure!(
        until(ctx, &patient, &b.id, true).await?,
        "no Registry pointer to Appointment/{} appeared after the booking",
        b.id
    );
    let slot = ctx.take_slot(&b.service).await?;
    super::update::reschedule(ctx, &b, &slot).await?;
    let new_start = slot["start"].as_str().unwrap_or_default().to_string();
    ensure!(
        until_pointer(ctx, &patient, &b.id, |p| p
            .is_some_and(|s| minute(s) == minute(&new_start)))
        .await?,
        "the Registry pointer to Appointment/{} did not move to {new_start} after the reschedule",
        b.id
    );
    Ok(())
}

/// REC-PTR-001: booking writes a pointer to the Registry; cancelling removes it.
pub async fn lifecycle(ctx: &Ctx) -> Verdict {
    let patient = ctx.patient()?.to_string();
    let b = ctx.book_fresh().await?;
    ensure!(
        until(ctx, &patient, &b.id, true).await?,
        "no Registry pointer to Appointment/{} appeared within {} s of the booking",
        b.id,
        LOOKS as u64 * PAUSE.as_millis() as u64 / 1000
    );
    let r = super::lifecycle::cancel(ctx, &b).await?;
    ensure!(r.status == 200, "the cancel answered {}", r.summary());
    ensure!(
        until(ctx, &patient, &b.id, false).await?,
        "the Registry pointer to cancelled Appointment/{} was still there {} s later",
        b.id,
        LOOKS as u64 * PAUSE.as_millis() as u64 / 1000
    );
    Ok(())
}
