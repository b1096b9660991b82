//! What every `bars conformance` run writes: the summary or JSON, the JUnit and HTML files, the
//! comparison with a saved run, and the exit status; shared by receiver and sender mode.

use std::path::PathBuf;

use anyhow::{Context, bail};
use bars_conformance::Report;

/// The files a run writes besides its summary.
#[derive(Debug, clap::Args)]
pub struct Outputs {
    /// Also write the results as JUnit XML (for CI dashboards).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Also write one self-contained HTML file: each check with its requirement and the
    /// exchanged messages, filterable by result.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// A saved run (`--json` output): when any check's result differs from it, name each change
    /// and exit with status 3.
    #[arg(long)]
    pub expect: Option<PathBuf>,
}

/// The exit status when a check's result changed from the saved run (`--expect`).
pub const CHANGED: i32 = 3;

pub fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The saved run `--expect` names, read before anything runs.
pub fn expected(outputs: &Outputs) -> anyhow::Result<Option<serde_json::Value>> {
    match &outputs.expect {
        Some(path) => Ok(Some(serde_json::from_str(&read(path)?).with_context(
            || format!("{} is not a saved run (--json)", path.display()),
        )?)),
        None => Ok(None),
    }
}

/// Prints the summary (or the JSON), writes the files asked for, and ends with the run's exit
/// status: 3 when a check changed from the saved run, an error when a SHALL check failed.
pub fn finish(
    report: &Report,
    outputs: &Outputs,
    expected: Option<&serde_json::Value>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        println!("{}", report.json());
    } else {
        print!("{}", report.summary());
    }
    if let Some(path) = &outputs.junit {
        std::fs::write(path, report.junit())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &outputs.html {
        std::fs::write(path, report.html())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let failed = report.failed_shall();
    if let Some(saved) = expected {
        let changed = bars_conformance::report::changes(saved, report);
        if !changed.is_empty() {
            for c in &changed {
                eprintln!("changed: {c}");
            }
            if !failed.is_empty() {
                eprintln!(
                    "{} SHALL checks failed: {}",
                    failed.len(),
                    failed.join(", ")
                );
            }
            use std::io::Write as _;
            let _ = std::io::stdout().flush();
            std::process::exit(CHANGED);
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} SHALL checks failed: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
