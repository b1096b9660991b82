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
    /// `receiver` or `sender`: what was checked.
    pub mode: &'static str,
    /// Receiver mode: the receiver's (or proxy's) URL; sender mode: the application graded.
    pub receiver: String,
    /// Receiver mode: `direct` or `proxy`; sender mode: `recorded at the proxy`.
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
            mode: "receiver",
            receiver,
            route: if direct { "direct" } else { "proxy" },
            results,
        }
    }

    /// A sender-mode report: `subject` names the sender graded.
    pub fn sender(subject: String, results: Vec<CheckResult>) -> Report {
        Report {
            mode: "sender",
            receiver: subject,
            route: "recorded at the proxy",
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
            "BaRS {} conformance: {} ({})\n\n{:<20} {:>6} {:>6} {:>7}\n",
            self.mode, self.receiver, self.route, "area", "passed", "failed", "skipped"
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
            "  <testsuite name=\"{} {}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">",
            self.mode,
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

impl Report {
    /// One self-contained offline HTML file: the summary, then each check with its requirement
    /// and the exchanged messages, filterable by result.
    pub fn html(&self) -> String {
        let mut out = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>BaRS conformance</title>\n<style>\nbody{font-family:system-ui,sans-serif;margin:2em;max-width:80em}\ntable{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}\n.passed h3{color:#1a7f37}.failed h3{color:#cf222e}.skipped h3{color:#9a6700}\npre{background:#f6f8fa;padding:.5em;white-space:pre-wrap;word-break:break-all;font-size:85%}\nbody.only-failed .check:not(.failed),body.only-passed .check:not(.passed),body.only-skipped .check:not(.skipped){display:none}\n</style></head><body>\n",
        );
        let _ = writeln!(
            out,
            "<h1>BaRS {} conformance</h1><p>{} ({}). {}</p>",
            self.mode,
            xml(&self.receiver),
            self.route,
            if self.conformant() {
                "Every SHALL check passed."
            } else {
                "SHALL checks failed."
            }
        );
        out.push_str(
            "<table><tr><th>area</th><th>passed</th><th>failed</th><th>skipped</th></tr>\n",
        );
        for (area, t) in self.by_area() {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                xml(area.name()),
                t.passed,
                t.failed,
                t.skipped
            );
        }
        out.push_str("</table>\n<p>Show: ");
        for (label, class) in [
            ("all", ""),
            ("failed", "only-failed"),
            ("passed", "only-passed"),
            ("skipped", "only-skipped"),
        ] {
            let _ = write!(
                out,
                "<label><input type=\"radio\" name=\"show\" onclick=\"document.body.className='{class}'\"{}> {label}</label> ",
                if class.is_empty() { " checked" } else { "" }
            );
        }
        out.push_str("</p>\n");
        for r in &self.results {
            let _ = writeln!(
                out,
                "<div class=\"check {}\"><h3>{} {} — {} [{}]</h3><p>Requirement: {} ({})</p>",
                r.outcome.label(),
                r.id,
                r.outcome.label(),
                xml(r.title),
                r.level.name(),
                xml(r.requirement),
                xml(r.source)
            );
            if let Outcome::Failed(why) | Outcome::Skipped(why) = &r.outcome {
                let _ = writeln!(out, "<p><strong>{}</strong></p>", xml(why));
            }
            if !r.evidence.is_empty() {
                let _ = writeln!(
                    out,
                    "<details><summary>{} exchanges</summary>",
                    r.evidence.len()
                );
                for e in &r.evidence {
                    let mut text = format!("{} {}\n", e.method, e.url);
                    for (k, v) in &e.request_headers {
                        let _ = writeln!(text, "{k}: {v}");
                    }
                    if let Some(b) = &e.request_body {
                        let _ = writeln!(text, "\n{b}");
                    }
                    match (e.status, &e.error) {
                        (Some(status), _) => {
                            let _ = writeln!(text, "\n=> {status}");
                        }
                        (None, Some(err)) => {
                            let _ = writeln!(text, "\n=> no answer: {err}");
                        }
                        (None, None) => {}
                    }
                    for (k, v) in &e.response_headers {
                        let _ = writeln!(text, "{k}: {v}");
                    }
                    if let Some(b) = &e.response_body {
                        let _ = writeln!(text, "\n{b}");
                    }
                    let _ = writeln!(out, "<pre>{}</pre>", xml(&text));
                }
                out.push_str("</details>\n");
            }
            out.push_str("</div>\n");
        }
        out.push_str("</body></html>\n");
        out
    }
}

/// How this run differs from a saved one (`--json` output): each check whose result changed, that
/// is new, or that the saved run had and this one has not.
pub fn changes(saved: &serde_json::Value, report: &Report) -> Vec<String> {
    let before: BTreeMap<&str, &str> = saved["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| Some((r["id"].as_str()?, r["result"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut changed = Vec::new();
    for r in &report.results {
        match before.get(r.id) {
            Some(was) if *was == r.outcome.label() => {}
            Some(was) => changed.push(format!("{}: {was} -> {}", r.id, r.outcome.label())),
            None => changed.push(format!("{}: new, {}", r.id, r.outcome.label())),
        }
    }
    for id in before.keys() {
        if !report.results.iter().any(|r| r.id == *id) {
            changed.push(format!("{id}: no longer checked"));
        }
    }
    changed
}

/// The check list as a Markdown table (the body of docs/CONFORMANCE.md's list).
pub fn markdown(checks: &[CheckDef]) -> String {
    table(
        checks
            .iter()
            .map(|c| (c.id, c.area, c.level, c.title, c.requirement, c.source)),
    )
}

/// One row of a check list: id, area, level, title, requirement, source.
pub type Row = (
    &'static str,
    Area,
    Level,
    &'static str,
    &'static str,
    &'static str,
);

/// A check list as a Markdown table (the lists in docs/CONFORMANCE.md).
pub fn table(rows: impl Iterator<Item = Row>) -> String {
    let mut out = String::from(
        "| Id | Area | Level | Check | Requirement | Source |\n|---|---|---|---|---|---|\n",
    );
    for (id, area, level, title, requirement, source) in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            id,
            area.name(),
            level.name(),
            title.replace('|', "\\|"),
            requirement,
            source.replace('|', "\\|")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Area;

    fn result(id: &'static str, outcome: Outcome) -> CheckResult {
        CheckResult {
            id,
            area: Area::Booking,
            title: "t",
            requirement: "r",
            source: "s",
            level: Level::Shall,
            outcome,
            evidence: Vec::new(),
        }
    }

    #[test]
    fn changes_name_every_check_whose_result_moved() {
        let before = Report::new(
            "x".into(),
            true,
            vec![
                result("A", Outcome::Passed),
                result("B", Outcome::Passed),
                result("C", Outcome::Skipped("s".into())),
            ],
        );
        let saved: serde_json::Value = serde_json::from_str(&before.json()).unwrap();
        assert!(changes(&saved, &before).is_empty());
        let after = Report::new(
            "x".into(),
            true,
            vec![
                result("A", Outcome::Passed),
                result("B", Outcome::Failed("f".into())),
                result("D", Outcome::Passed),
            ],
        );
        assert_eq!(
            changes(&saved, &after),
            [
                "B: passed -> failed",
                "D: new, passed",
                "C: no longer checked"
            ]
        );
    }
}
