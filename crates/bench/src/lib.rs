//! `bars bench`: the benchmark suite. It starts the system as it runs in production (a
//! receiver and a proxy, each its own process of the release binary, mutual TLS between them)
//! on loopback, seeds a store of a million slots, drives it with a closed loop of keep-alive
//! clients and reports throughput and latency percentiles, with the ceilings measured in the
//! same run (an empty handler on the same HTTP stack; the storage layer's own commit rate).
//!
//! Numbers live here and in `docs/BENCHMARKS.md`, never in tests: tests assert behaviour,
//! benchmarks measure it.

pub mod load;
pub mod report;
pub mod scenarios;
pub mod stack;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use report::{Report, ScenarioReport};
pub use scenarios::{Load, Scenario};

/// Everything a bench run needs to know.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The `bars` binary to start the roles from (normally the running one).
    pub exe: PathBuf,
    /// Where the PKI, databases and role logs go; a temporary directory when `None`.
    pub data_dir: Option<PathBuf>,
    /// Slots seeded into the receiver's store.
    pub slots: usize,
    /// Services the slots are spread over.
    pub services: usize,
    pub runs: usize,
    pub scenarios: Vec<Scenario>,
    pub load: Load,
}

/// Starts the stack, runs every selected scenario `runs` times (interleaved: each run goes
/// through all scenarios, so drift in the machine's state touches them alike) and reports the
/// medians.
pub async fn run(options: BenchOptions) -> anyhow::Result<Report> {
    let temp;
    let dir = match &options.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let layout = stack::Layout::new(options.services, options.slots);
    let stack = stack::Stack::start(&options.exe, &dir, layout).await?;
    let seeded = stack.layout.total();
    let mut report = Report::new(&options, seeded);
    let bench = Arc::new(scenarios::Bench::new(stack, options.load.clone()));
    for run in 0..options.runs {
        for &scenario in &options.scenarios {
            eprintln!("run {}/{}: {}", run + 1, options.runs, scenario.name());
            let (samples, checks) = bench.run(scenario).await;
            let summary = samples.summary();
            let memory = bench.stack.receiver.memory();
            let proxy_memory = bench.stack.proxy.memory();
            report.record(
                scenario,
                &options.load,
                summary,
                checks,
                memory,
                proxy_memory,
            );
            // A moment for queued work (audit batches, checkpoints) to settle between scenarios.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    report.finish(bench.stack.receiver.memory());
    let bench = Arc::into_inner(bench);
    if let Some(b) = bench {
        let stack = b.into_stack();
        stack.stop();
    }
    Ok(report)
}
