//! Sender mode (`bars conformance sender`): a local stack a sender under test is pointed at,
//! recording every request it makes at the proxy, answering the toolkit's sentinel values in
//! front of its receivers, and grading what the sender did against a sender's obligations
//! (fresh request ids, one correlation id per workflow, well-formed routing and access-control
//! headers, read before write, slots from a search, retries with the same ids, tokens reused,
//! client assertions well formed).

pub mod checks;
pub mod jwt;
pub mod record;
pub mod sentinel;
pub mod session;
pub mod stack;

use crate::check::Outcome;
use crate::report::{CheckResult, Report};

pub use checks::{Graded, SenderCheck};
pub use record::{Recorded, Recorder};
pub use session::Session;
pub use stack::{SenderStack, SenderStackSpec};

/// Grades what `recorder` saw of the sender against every sender check.
pub fn grade(recorder: &Recorder, subject: &str, token_url: &str) -> Report {
    let session = Session::new(recorder.graded(), token_url, recorder.dropped());
    let results = checks::all()
        .iter()
        .map(|c| {
            let Graded { outcome, evidence } = if session.dropped > 0 {
                let mut g = (c.grade)(&session);
                if let Outcome::Passed = g.outcome {
                    g.outcome = Outcome::Skipped(format!(
                        "the session outgrew the recorder ({} exchanges not kept): grade a shorter one",
                        session.dropped
                    ));
                }
                g
            } else {
                (c.grade)(&session)
            };
            CheckResult {
                id: c.id,
                area: c.area,
                title: c.title,
                requirement: c.requirement,
                source: c.source,
                level: c.level,
                outcome,
                evidence,
            }
        })
        .collect();
    Report::sender(subject.to_string(), results)
}
