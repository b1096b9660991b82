//! Hostile bodies: whatever arrives, the receiver refuses it with an OperationOutcome and never
//! answers 5xx.

use serde_json::Value;

use crate::check::Verdict;
use crate::ctx::Ctx;
use crate::ensure;
use crate::wire::{FHIR_JSON, Request};

/// Bodies no receiver should fall over on.
fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("truncated JSON", b"{\"resourceType\":\"Appointment\",\"status\":".to_vec()),
        ("not JSON at all", b"<Appointment/>".to_vec()),
        ("invalid UTF-8", vec![b'{', 0xff, 0xfe, b'}']),
        ("a JSON array", b"[1,2,3]".to_vec()),
        ("null", b"null".to_vec()),
        (
            "nesting 10 000 deep",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        ),
        (
            "a huge number",
            format!("{{\"resourceType\":\"Appointment\",\"minutesDuration\":1{}}}", "0".repeat(5000))
                .into_bytes(),
        ),
        (
            "wrong types everywhere",
            br#"{"resourceType":"Appointment","status":7,"slot":"x","participant":{"a":1},"start":[],"meta":"m"}"#
                .to_vec(),
        ),
        (
            "a 1 MB description",
            format!(
                "{{\"resourceType\":\"Appointment\",\"status\":\"booked\",\"description\":\"{}\"}}",
                "x".repeat(1024 * 1024)
            )
            .into_bytes(),
        ),
        (
            "duplicate members",
            br#"{"resourceType":"Appointment","resourceType":"Patient","status":"booked"}"#.to_vec(),
        ),
    ]
}

/// REC-HOST-001: hostile bodies on every write are refused 4xx with an OperationOutcome.
pub async fn never_5xx(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let id = ctx
        .booked()
        .last()
        .map(|b| b.id.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let targets = [
        Request::post("/Appointment"),
        Request::put(format!("/Appointment/{id}")),
        Request::patch(format!("/Appointment/{id}")),
        Request::post("/$process-message"),
    ];
    for (what, body) in bodies() {
        for target in &targets {
            let request = target.clone().to(&service).body(FHIR_JSON, body.clone());
            let r = ctx.send(request).await?;
            ensure!(
                (400..500).contains(&r.status),
                "{what} sent to {} {} answered {}",
                target.method,
                target.path,
                r.summary()
            );
            let outcome = r.json().unwrap_or(Value::Null);
            ensure!(
                outcome["resourceType"] == "OperationOutcome",
                "{what} sent to {} {} answered {} without an OperationOutcome",
                target.method,
                target.path,
                r.status
            );
        }
    }
    Ok(())
}
