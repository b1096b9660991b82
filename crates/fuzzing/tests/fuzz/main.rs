//! The fuzz targets under `cargo test`: every seed and every input that once failed is replayed
//! on each run, and, where CI asks for it (`BARS_FUZZ_SECONDS`), each target is fuzzed for that
//! long with cargo-fuzz.

// Test code: a panic is the test failing (clippy.toml lets #[test] functions unwrap; this lets
// their helpers too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use bars_fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_target_has_a_cargo_fuzz_entry_and_seeds() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for target in TARGETS {
        let source = fuzz_dir()
            .join("fuzz_targets")
            .join(format!("{}.rs", target.name));
        let text = std::fs::read_to_string(&source)
            .unwrap_or_else(|e| panic!("{}: {e}", source.display()));
        assert!(
            text.contains(&format!("bars_fuzzing::{}(", target.name)),
            "{} does not call bars_fuzzing::{}",
            source.display(),
            target.name
        );
        assert!(
            manifest.contains(&format!("name = \"{}\"", target.name)),
            "fuzz/Cargo.toml has no [[bin]] for {}",
            target.name
        );
        assert!(
            !inputs("seeds", target.name).is_empty(),
            "no seeds for {}",
            target.name
        );
    }
}

#[test]
fn seeds_and_past_failures_replay_cleanly() {
    let mut replayed = 0;
    for target in TARGETS {
        for kind in ["seeds", "regressions"] {
            for file in inputs(kind, target.name) {
                let data = std::fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| (target.run)(&data));
                assert!(
                    outcome.is_ok(),
                    "{} fails on {}",
                    target.name,
                    file.display()
                );
                replayed += 1;
            }
        }
    }
    println!("replayed {replayed} inputs");
}

/// Runs each target for `BARS_FUZZ_SECONDS` (CI sets it). Without the variable the test says it
/// was skipped; with it, a missing cargo-fuzz is a failure, not a silent pass.
#[test]
fn each_target_survives_a_bounded_fuzzing_run() {
    let Some(seconds) = std::env::var("BARS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
    else {
        println!("skipped: set BARS_FUZZ_SECONDS (and install cargo-fuzz) to fuzz each target");
        return;
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let installed = Command::new(&cargo)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "BARS_FUZZ_SECONDS is set but cargo-fuzz is not installed (cargo install cargo-fuzz)"
    );
    let work = tempfile::tempdir().unwrap();
    for target in TARGETS {
        // New corpus entries go to a scratch directory, so the checkout stays clean; the
        // committed seeds are read-only input.
        let corpus = work.path().join(target.name);
        let artifacts = work.path().join(format!("{}-artifacts", target.name));
        std::fs::create_dir_all(&corpus).unwrap();
        std::fs::create_dir_all(&artifacts).unwrap();
        let output = Command::new(&cargo)
            .current_dir(fuzz_dir())
            .args(["fuzz", "run", "--sanitizer", "none", target.name])
            .arg(&corpus)
            .arg(fuzz_dir().join("seeds").join(target.name))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg("-max_len=16384")
            .arg("-rss_limit_mb=2048")
            .env_remove("CARGO_TARGET_DIR")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&output.stderr);
        let stats = log
            .lines()
            .rev()
            .find(|l| l.starts_with("Done ") || l.contains("stat::number_of_executed_units"))
            .unwrap_or("");
        println!("{}: {stats}", target.name);
        if !output.status.success() {
            let found: Vec<String> = std::fs::read_dir(&artifacts)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| {
                            format!(
                                "{} ({} bytes)",
                                e.path().display(),
                                e.metadata().map(|m| m.len()).unwrap_or(0)
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            // Keep the failing inputs where a developer can turn them into regressions.
            let keep = std::env::temp_dir().join(format!("bars-fuzz-{}", target.name));
            let _ = std::fs::create_dir_all(&keep);
            if let Ok(d) = std::fs::read_dir(&artifacts) {
                for e in d.flatten() {
                    let _ = std::fs::copy(e.path(), keep.join(e.file_name()));
                }
            }
            panic!(
                "fuzz target {} failed; inputs kept in {} (copy them to fuzz/regressions/{}/): {:?}\n{}",
                target.name,
                keep.display(),
                target.name,
                found,
                tail.join("\n")
            );
        }
    }
}
