//! Transport: the ids echoed on every answer, OperationOutcomes on errors, no caching.

use serde_json::Value;

use crate::check::{Problem, Verdict};
use crate::ctx::Ctx;
use crate::ensure;
use crate::wire::{Request, Response};

pub const BARS_CODE_SYSTEM: &str = "https://fhir.nhs.uk/Codesystem/http-error-codes";

fn echoed(request: &Request, r: &Response, what: &str) -> Verdict {
    for name in ["x-request-id", "x-correlation-id"] {
        let sent = request.header_value(name).unwrap_or_default();
        ensure!(
            r.header(name) == Some(sent),
            "{what}: {name} came back as {:?}, sent {sent}",
            r.header(name)
        );
    }
    Ok(())
}

/// REC-TRN-001: successful answers echo `X-Request-ID` and `X-Correlation-ID`.
pub async fn ids_on_success(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    for request in [
        Request::get("/metadata").to(&service),
        Request::get(ctx.slot_query(&service, "free")).to(&service),
    ] {
        let r = ctx.send(request.clone()).await?;
        ensure!(r.status == 200, "{} answered {}", request.path, r.summary());
        echoed(&request, &r, &request.path)?;
    }
    Ok(())
}

/// REC-TRN-002: refusals echo the ids too and carry an OperationOutcome with a BaRS code.
pub async fn ids_on_error(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let request = Request::get(format!("/Appointment/{}", uuid::Uuid::new_v4())).to(&service);
    let r = ctx.send(request.clone()).await?;
    ensure!(
        r.status >= 400,
        "reading an unknown appointment answered {}",
        r.status
    );
    echoed(&request, &r, "an error answer")?;
    let body = r.json().unwrap_or(Value::Null);
    ensure!(
        body["resourceType"] == "OperationOutcome",
        "the {} answer is not an OperationOutcome",
        r.status
    );
    ensure!(
        body.pointer("/issue/0/details/coding/0/system") == Some(&Value::from(BARS_CODE_SYSTEM)),
        "the OperationOutcome's code is not from {BARS_CODE_SYSTEM}"
    );
    Ok(())
}

/// REC-TRN-003: answers about bookings are not cached on the way (`Cache-Control: no-store`).
pub async fn no_store(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let r = ctx
        .send(Request::get(ctx.slot_query(&service, "free")).to(&service))
        .await?;
    let cache = r.header("cache-control").unwrap_or_default();
    if r.status != 200 {
        return Err(Problem::Fail(format!(
            "the slot search answered {}",
            r.summary()
        )));
    }
    ensure!(
        cache
            .split(',')
            .any(|d| d.trim().eq_ignore_ascii_case("no-store")),
        "Cache-Control is {cache:?}, not no-store"
    );
    Ok(())
}
