//! Slot search: the parameters, the includes, totals and paging.

use serde_json::Value;

use crate::check::{Problem, Verdict};
use crate::ctx::Ctx;
use crate::ensure;
use crate::wire::Request;

async fn search(ctx: &Ctx, path: String) -> Result<Value, Problem> {
    let service = ctx.service()?.to_string();
    let r = ctx.send(Request::get(path).to(&service)).await?;
    ensure!(r.status == 200, "the slot search answered {}", r.summary());
    let body = r.json().unwrap_or(Value::Null);
    ensure!(
        body["resourceType"] == "Bundle" && body["type"] == "searchset",
        "the answer is not a searchset Bundle"
    );
    Ok(body)
}

/// REC-SLOT-001: a search with the required parameters answers only free Slots of the window.
pub async fn search_matches(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let body = search(ctx, ctx.slot_query(&service, "free")).await?;
    let slots = Ctx::matches(&body, "Slot");
    if slots.is_empty() {
        return Err(Problem::Skip(format!(
            "no free slot at {service} between {} and {}: publish some or choose --date",
            ctx.window.lower(),
            ctx.window.upper()
        )));
    }
    let (lower, upper) = (ctx.window.lower(), ctx.window.upper());
    for s in &slots {
        ensure!(
            s["status"] == "free",
            "Slot/{} is {}, asked for free",
            s["id"],
            s["status"]
        );
        let start = s["start"].as_str().unwrap_or_default();
        let day = start.get(..10).unwrap_or_default();
        ensure!(
            day >= &lower[..10] && day <= &upper[..10],
            "Slot/{} starts {start}, outside {lower}..{upper}",
            s["id"]
        );
    }
    Ok(())
}

/// REC-SLOT-002: the Schedule and HealthcareService asked for are included, and every Slot's
/// schedule is among them.
pub async fn includes(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let body = search(ctx, ctx.slot_query(&service, "free")).await?;
    let slots = Ctx::matches(&body, "Slot");
    if slots.is_empty() {
        return Err(Problem::Skip("no free slot to search".into()));
    }
    let included = |kind: &str| -> Vec<String> {
        body["entry"]
            .as_array()
            .map(|es| {
                es.iter()
                    .filter(|e| e["resource"]["resourceType"] == kind)
                    .filter_map(|e| {
                        e["resource"]["id"]
                            .as_str()
                            .map(|id| format!("{kind}/{id}"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let schedules = included("Schedule");
    ensure!(
        !schedules.is_empty(),
        "no Schedule is included (_include=Slot:schedule)"
    );
    ensure!(
        !included("HealthcareService").is_empty(),
        "no HealthcareService is included (_include=Schedule:actor:HealthcareService)"
    );
    for s in &slots {
        let reference = s
            .pointer("/schedule/reference")
            .and_then(Value::as_str)
            .unwrap_or("");
        ensure!(
            schedules.iter().any(|id| reference.ends_with(id.as_str())),
            "Slot/{}'s schedule {reference:?} is not among the included {schedules:?}",
            s["id"]
        );
    }
    Ok(())
}

/// REC-SLOT-003: `total` counts the matching Slots, not the included resources.
pub async fn total(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let body = search(ctx, ctx.slot_query(&service, "free")).await?;
    let matched = Ctx::matches(&body, "Slot").len() as u64;
    let has_next = body["link"]
        .as_array()
        .is_some_and(|ls| ls.iter().any(|l| l["relation"] == "next"));
    let Some(total) = body["total"].as_u64() else {
        return Err(Problem::Fail("the searchset has no total".into()));
    };
    if has_next {
        ensure!(
            total >= matched,
            "total {total} is less than the {matched} Slots on the first page"
        );
    } else {
        ensure!(
            total == matched,
            "total is {total} for {matched} matching Slots"
        );
    }
    Ok(())
}

/// The path and query of a `next` link, to follow it on the kit's own route.
fn next_path(body: &Value) -> Option<String> {
    let url = body["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")?["url"]
        .as_str()?;
    url.find("/Slot").map(|i| url[i..].to_string())
}

/// REC-SLOT-004: `_count` pages the search; the `next` link leads to further, different Slots.
pub async fn paging(ctx: &Ctx) -> Verdict {
    let service = ctx.service()?.to_string();
    let all = Ctx::matches(
        &search(ctx, ctx.slot_query(&service, "free")).await?,
        "Slot",
    );
    if all.len() < 2 {
        return Err(Problem::Skip(
            "fewer than two free slots: nothing to page".into(),
        ));
    }
    let first = search(
        ctx,
        format!("{}&_count=1", ctx.slot_query(&service, "free")),
    )
    .await?;
    let page1 = Ctx::matches(&first, "Slot");
    ensure!(page1.len() == 1, "_count=1 answered {} Slots", page1.len());
    let Some(next) = next_path(&first) else {
        return Err(Problem::Fail(format!(
            "_count=1 with {} free Slots answered no next link",
            all.len()
        )));
    };
    let second = search(ctx, next).await?;
    let page2 = Ctx::matches(&second, "Slot");
    ensure!(!page2.is_empty(), "the next page holds no Slot");
    ensure!(
        page2.iter().all(|s| s["id"] != page1[0]["id"]),
        "the next page repeats Slot/{}",
        page1[0]["id"]
    );
    Ok(())
}
