//! A run's results for people (summary table), machines (JSON) and CI dashboards (JUnit), and the
//! check list as Markdown (docs/CONFORMANCE.md is generated from it).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::check::{Area, CheckDef, Level, Outcome};
use crate::wire::Exchange;

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub area: Area,
    pub title: &'static str,
    pub requirement: &'static str,
    pub source: &'static str,
    pub level: Level,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub evidence: Vec<Exchange>,
}

impl CheckResult {
    pub fn new(def: &CheckDef, outcome: Outcome, evidence: Vec<Exchange>) -> CheckResult {
        CheckResult {
            id: def.id,
            area: def.area,
            title: def.title,
            requirement: def.requirement,
            source: def.source,
            level: def.level,
            outcome,
            evidence,
        }
    }

    /// The progress line of one check.
    pub fn line(&self) -> String {
        let mut line = format!("{:<13} {:<7} {}", self.id, self.outcome.label(), self.title);
        match &self.outcome {
            Outcome::Failed(why) | Outcome::Skipped(why) => {
                let _ = write!(line, "\n              {why}");
            }
            Outcome::Passed => {}
        }
        line
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub receiver: String,
    pub route: &'static str,
    pub results: Vec<CheckResult>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

fn xml(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

impl Report {
    pub fn new(receiver: String, direct: bool, results: Vec<CheckResult>) -> Report {
        Report {
            receiver,
            route: if direct { "direct" } else { "proxy" },
            results,
        }
    }

    /// Whether every SHALL check passed: the run's verdict and the exit status.
    pub fn conformant(&self) -> bool {
        self.failed_shall().is_empty()
    }

    pub fn failed_shall(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|r| r.level == Level::Shall && matches!(r.outcome, Outcome::Failed(_)))
            .map(|r| r.id)
            .collect()
    }

    pub fn failed(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .map(|r| r.id)
            .collect()
    }

    pub fn by_area(&self) -> BTreeMap<Area, Tally> {
        let mut areas: BTreeMap<Area, Tally> = BTreeMap::new();
        for r in &self.results {
            let t = areas.entry(r.area).or_default();
            match r.outcome {
                Outcome::Passed => t.passed += 1,
                Outcome::Failed(_) => t.failed += 1,
                Outcome::Skipped(_) => t.skipped += 1,
            }
        }
        areas
    }

    pub fn summary(&self) -> String {
        let mut out = format!(
            "BaRS receiver conformance: {} ({})\n\n{:<20} {:>6} {:>6} {:>7}\n",
            self.receiver, self.route, "area", "passed", "failed", "skipped"
        );
        let mut all = Tally::default();
        for (area, t) in self.by_area() {
            let _ = writeln!(
                out,
                "{:<20} {:>6} {:>6} {:>7}",
                area.name(),
                t.passed,
                t.failed,
                t.skipped
            );
            all.passed += t.passed;
            all.failed += t.failed;
            all.skipped += t.skipped;
        }
        let _ = writeln!(
            out,
            "{:<20} {:>6} {:>6} {:>7}",
            "all", all.passed, all.failed, all.skipped
        );
        let failed = self.failed_shall();
        if failed.is_empty() {
            out.push_str("\nEvery SHALL check passed.\n");
        } else {
            let _ = writeln!(out, "\nSHALL checks failed: {}", failed.join(", "));
        }
        out
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// JUnit XML: one test case per check, a failure for a failed check, skipped for skipped.
    pub fn junit(&self) -> String {
        let tally = self.results.iter().fold(Tally::default(), |mut t, r| {
            match r.outcome {
                Outcome::Passed => t.passed += 1,
                Outcome::Failed(_) => t.failed += 1,
                Outcome::Skipped(_) => t.skipped += 1,
            }
            t
        });
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"bars-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            self.results.len(),
            tally.failed,
            tally.skipped
        );
        let _ = writeln!(
            out,
            "  <testsuite name=\"receiver {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            xml(&self.receiver),
            self.results.len(),
            tally.failed,
            tally.skipped
        );
        for r in &self.results {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{} {} [{}]\">",
                xml(r.area.name()),
                r.id,
                xml(r.title),
                r.level.name()
            );
            match &r.outcome {
                Outcome::Passed => {}
                Outcome::Failed(why) => {
                    let _ = write!(
                        out,
                        "<failure message=\"{}\">{} ({})</failure>",
                        xml(why),
                        xml(r.requirement),
                        xml(r.source)
                    );
                }
                Outcome::Skipped(why) => {
                    let _ = write!(out, "<skipped message=\"{}\"/>", xml(why));
                }
            }
            out.push_str("</testcase>\n");
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }
}

/// The check list as a Markdown table (the body of docs/CONFORMANCE.md's list).
pub fn markdown(checks: &[CheckDef]) -> String {
    let mut out = String::from(
        "| Id | Area | Level | Check | Requirement | Source |\n|---|---|---|---|---|---|\n",
    );
    for c in checks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            c.id,
            c.area.name(),
            c.level.name(),
            c.title.replace('|', "\\|"),
            c.requirement,
            c.source.replace('|', "\\|")
        );
    }
    out
}
