//! The rows of the digest's section 4.4 error tables a receiver answers: one check per row, each
//! a request that provokes the scenario and the status, BaRS code and issue codes expected.

use serde_json::{Value, json};

use crate::check::{Problem, Verdict};
use crate::ctx::Ctx;
use crate::ensure;
use crate::wire::Request;

/// What a row's request is built from.
pub struct Fixture {
    pub service: String,
    pub patient: String,
    /// A free slot (not booked by the row).
    pub slot: Value,
    /// An appointment the kit booked earlier, if any.
    pub booked: Option<String>,
    pub lower: String,
    pub upper: String,
}

pub struct Row {
    pub build: fn(&Fixture) -> Request,
    pub status: u16,
    pub code: &'static str,
    /// Issue codes the IG allows for the row (the tables differ between pages; see 4.4).
    pub issues: &'static [&'static str],
    /// The answer must carry `Allow` (405).
    pub allow: bool,
}

async fn fixture(ctx: &Ctx) -> Result<Fixture, Problem> {
    let service = ctx.service()?.to_string();
    let patient = ctx.patient()?.to_string();
    let slot = ctx
        .free_slots(&service)
        .await
        .ok()
        .and_then(|s| s.into_iter().next())
        .unwrap_or_else(|| {
            json!({ "id": uuid::Uuid::new_v4().to_string(), "start": ctx.window.lower(), "end": ctx.window.upper() })
        });
    Ok(Fixture {
        service,
        patient,
        slot,
        booked: ctx.booked().last().map(|b| b.id.clone()),
        lower: ctx.window.lower(),
        upper: ctx.window.upper(),
    })
}

pub async fn expect(ctx: &Ctx, row: &Row) -> Verdict {
    let f = fixture(ctx).await?;
    let request = (row.build)(&f).to(&f.service);
    let r = ctx.send(request.clone()).await?;
    let code = r.bars_code().unwrap_or_default();
    let issue = r.issue_code().unwrap_or_default();
    ensure!(
        r.status == row.status && code == row.code && row.issues.contains(&issue.as_str()),
        "{} {} answered {}, expected {} {}/{}",
        request.method,
        request.path,
        r.summary(),
        row.status,
        row.code,
        row.issues.join(" or ")
    );
    ensure!(
        !row.allow || r.header("allow").is_some(),
        "the 405 carries no Allow header"
    );
    Ok(())
}

fn slot_path(f: &Fixture, drop: &str) -> String {
    let mut parts = vec![
        format!("Schedule.actor:HealthcareService={}", f.service),
        "status=free".to_string(),
        format!("start=ge{}", f.lower),
        format!("start=le{}", f.upper),
        "_include=Slot:schedule".to_string(),
        "_include=Schedule:actor:HealthcareService".to_string(),
    ];
    parts.retain(|p| !p.starts_with(drop));
    format!("/Slot?{}", parts.join("&"))
}

fn booking(f: &Fixture) -> Value {
    Ctx::appointment_for(&f.slot, &f.patient)
}

macro_rules! rows {
    ($($name:ident => $row:expr;)*) => {
        $(pub async fn $name(ctx: &Ctx) -> Verdict { expect(ctx, &$row).await })*
    };
}

const BAD: &str = "REC_BAD_REQUEST";

rows! {
    request_id_missing => Row { build: |_| Request::get("/metadata").without("x-request-id"), status: 400, code: BAD, issues: &["required", "invalid"], allow: false };
    request_id_not_uuid => Row { build: |_| Request::get("/metadata").header("x-request-id", "not-a-uuid"), status: 400, code: BAD, issues: &["value", "invalid"], allow: false };
    correlation_id_missing => Row { build: |_| Request::get("/metadata").without("x-correlation-id"), status: 400, code: BAD, issues: &["required", "invalid"], allow: false };
    accept_major => Row { build: |f| Request::get(slot_path(f, "-")).header("accept", "application/fhir+json; version=2.0.0"), status: 406, code: "REC_NOT_ACCEPTABLE", issues: &["processing"], allow: false };
    verb_not_allowed => Row { build: |f| Request::new(http::Method::DELETE, slot_path(f, "-")), status: 405, code: "REC_METHOD_NOT_ALLOWED", issues: &["not-supported"], allow: true };
    slot_service_missing => Row { build: |f| Request::get(slot_path(f, "Schedule.actor")), status: 400, code: BAD, issues: &["required"], allow: false };
    slot_include_missing => Row { build: |f| Request::get(slot_path(f, "_include")), status: 400, code: BAD, issues: &["required"], allow: false };
    slot_start_missing => Row { build: |f| Request::get(slot_path(f, "start")), status: 400, code: BAD, issues: &["required"], allow: false };
    slot_start_invalid => Row { build: |f| Request::get(slot_path(f, "start=le").replace(&format!("start=ge{}", f.lower), "start=ge2030-13-45&start=le2030-13-46")), status: 400, code: BAD, issues: &["value"], allow: false };
    slot_window_too_wide => Row { build: |f| Request::get(slot_path(f, "start=le").replace(&format!("start=ge{}", f.lower), &format!("start=ge{}&start=le{}", f.lower, far_future(&f.lower)))), status: 422, code: "REC_UNPROCESSABLE_ENTITY", issues: &["too-costly"], allow: false };
    slot_status_missing => Row { build: |f| Request::get(slot_path(f, "status")), status: 400, code: BAD, issues: &["required"], allow: false };
    slot_status_invalid => Row { build: |f| Request::get(slot_path(f, "-").replace("status=free", "status=sleeping")), status: 400, code: BAD, issues: &["value"], allow: false };
    appointment_id_not_uuid => Row { build: |_| Request::get("/Appointment/not-a-uuid"), status: 400, code: BAD, issues: &["value"], allow: false };
    appointment_not_found => Row { build: |_| Request::get(format!("/Appointment/{}", uuid::Uuid::new_v4())), status: 404, code: "REC_NOT_FOUND", issues: &["not-found"], allow: false };
    patient_identifier_missing => Row { build: |_| Request::get("/Appointment"), status: 400, code: BAD, issues: &["required"], allow: false };
    patient_identifier_not_token => Row { build: |f| Request::get(format!("/Appointment?patient:identifier={}", f.patient)), status: 400, code: BAD, issues: &["value"], allow: false };
    body_not_json => Row { build: |_| Request::post("/Appointment").body(crate::wire::FHIR_JSON, "{\"resourceType\": \"Appointment\", "), status: 400, code: BAD, issues: &["structure"], allow: false };
    status_missing => Row { build: |f| { let mut a = booking(f); if let Some(o) = a.as_object_mut() { o.remove("status"); } Request::post("/Appointment").json(&a) }, status: 400, code: BAD, issues: &["required"], allow: false };
    slot_unknown => Row { build: |f| { let mut a = booking(f); a["slot"] = json!([{ "reference": format!("Slot/{}", uuid::Uuid::new_v4()) }]); Request::post("/Appointment").json(&a) }, status: 404, code: "REC_NOT_FOUND", issues: &["not-found"], allow: false };
    start_after_end => Row { build: |f| { let mut a = booking(f); let (s, e) = (a["start"].clone(), a["end"].clone()); a["start"] = e; a["end"] = s; Request::post("/Appointment").json(&a) }, status: 400, code: BAD, issues: &["invariant"], allow: false };
    put_id_mismatch => Row { build: |f| { let path_id = f.booked.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()); let mut a = booking(f); a["id"] = json!(uuid::Uuid::new_v4().to_string()); Request::put(format!("/Appointment/{path_id}")).json(&a) }, status: 400, code: BAD, issues: &["invalid", "invariant"], allow: false };
}

/// A day far beyond any window a receiver serves in one search.
fn far_future(lower: &str) -> String {
    let year: i32 = lower.get(..4).and_then(|y| y.parse().ok()).unwrap_or(2030);
    format!(
        "{}{}",
        year + 2,
        lower.get(4..).unwrap_or("-01-01T00:00:00Z")
    )
}
