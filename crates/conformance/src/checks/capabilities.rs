//! The CapabilityStatement: read first, it decides which other checks apply.

use serde_json::Value;

use crate::check::Verdict;
use crate::ctx::Ctx;
use crate::ensure;
use crate::wire::Request;

/// REC-CAP-001: `GET /metadata` answers a FHIR R4 CapabilityStatement of a server.
pub async fn statement(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let r = ctx.send(Request::get("/metadata").to(&service)).await?;
    ensure!(r.status == 200, "GET /metadata answered {}", r.summary());
    let body = r.json().unwrap_or(Value::Null);
    ensure!(
        body["resourceType"] == "CapabilityStatement",
        "the answer is a {}, not a CapabilityStatement",
        body["resourceType"]
    );
    ensure!(
        body["fhirVersion"] == "4.0.1",
        "fhirVersion is {}, not 4.0.1",
        body["fhirVersion"]
    );
    ensure!(
        body["format"].as_array().is_some_and(|f| f
            .iter()
            .any(|x| x.as_str().is_some_and(|s| s.contains("json")))),
        "format does not list json"
    );
    ensure!(
        body.pointer("/rest/0/mode") == Some(&Value::from("server")),
        "rest[0].mode is not server"
    );
    Ok(())
}

/// REC-CAP-002: the Slot search declares the includes the IG requires of senders.
pub async fn slot_includes(ctx: &Ctx) -> Verdict {
    let slot = ctx
        .capability
        .pointer("/rest/0/resource")
        .and_then(Value::as_array)
        .and_then(|rs| rs.iter().find(|r| r["type"] == "Slot"))
        .cloned()
        .unwrap_or(Value::Null);
    let includes: Vec<&str> = slot["searchInclude"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for needed in ["Slot:schedule", "Schedule:actor:HealthcareService"] {
        ensure!(
            includes.contains(&needed),
            "Slot.searchInclude does not list {needed} (it lists {includes:?})"
        );
    }
    Ok(())
}
