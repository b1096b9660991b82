//! The BaRS conformance kit (issue 17): stateful checks of any receiver, reached through a
//! proxy with a sender's credentials or directly with the kit acting as the proxy. Every check
//! names the requirement it tests and keeps the exchanges of its run as evidence, so a result
//! can be handed to an assurer rather than merely believed.

pub mod check;
pub mod checks;
pub mod ctx;
pub mod held;
pub mod report;
pub mod sender;
pub mod wire;

pub use check::{Area, CheckDef, Level, Outcome, Problem, Verdict};
pub use ctx::{Ctx, Window};
pub use report::{CheckResult, Report};
pub use wire::{Exchange, Request, Response, Route, Wire};

/// Runs every check in order against the receiver `ctx` reaches, reporting each as it ends.
pub async fn run(ctx: &Ctx, mut progress: impl FnMut(usize, usize, &CheckResult)) -> Report {
    let all = checks::all();
    let total = all.len();
    let mut results = Vec::with_capacity(total);
    for (i, def) in all.iter().enumerate() {
        let outcome = match def.unmet_need(ctx) {
            Some(why) => Outcome::Skipped(why),
            None => match (def.body)(ctx).await {
                Ok(()) => Outcome::Passed,
                Err(Problem::Fail(why)) => Outcome::Failed(why),
                Err(Problem::Skip(why)) => Outcome::Skipped(why),
            },
        };
        let result = CheckResult::new(def, outcome, ctx.wire.take_log());
        progress(i + 1, total, &result);
        results.push(result);
    }
    Report::new(ctx.wire.base().to_string(), ctx.direct(), results)
}
