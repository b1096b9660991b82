//! `bars bench`: the benchmark suite (crates/bench) from the command line. Build with
//! `--release`: a debug build measures the compiler's lack of optimisation, not the system.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bars_bench::{BenchOptions, Load, Scenario};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Runs of every scenario; the table reports the medians.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Concurrent clients (keep-alive connections) per scenario.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds measured per scenario run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before measuring starts (connections, caches, JIT-free but not cold).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Slots seeded into the receiver's store before it starts.
    #[arg(long, default_value_t = 1_000_000)]
    pub slots: usize,
    /// Services the slots are spread over (48 slots a day each, 09:00-17:00).
    #[arg(long, default_value_t = 10)]
    pub services: usize,
    /// Scenarios to run (repeat or comma-separate); all of them by default.
    #[arg(long = "scenario", value_enum, value_delimiter = ',')]
    pub scenarios: Vec<Scenario>,
    /// Clients racing for the same slots in the contention scenario.
    #[arg(long, default_value_t = 64)]
    pub contention_clients: usize,
    /// Slots raced for per contention round.
    #[arg(long, default_value_t = 16)]
    pub contention_slots: usize,
    /// Write the full results (every run, medians, targets) as JSON here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep the PKI, databases and role logs here instead of a temporary directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; measure with `cargo run --release -p bars -- bench`"
        );
    }
    let exe = std::env::current_exe().context("finding the bars binary")?;
    let options = BenchOptions {
        exe,
        data_dir: args.data_dir,
        slots: args.slots,
        services: args.services,
        runs: args.runs.max(1),
        scenarios: if args.scenarios.is_empty() {
            Scenario::ALL.to_vec()
        } else {
            // The run order is fixed (ceilings first, bookings before the reads of them).
            Scenario::ALL
                .into_iter()
                .filter(|s| args.scenarios.contains(s))
                .collect()
        },
        load: Load {
            clients: args.clients.max(1),
            warmup: Duration::from_secs_f64(args.warmup.max(0.0)),
            duration: Duration::from_secs_f64(args.duration.max(0.1)),
            contention_clients: args.contention_clients.max(1),
            contention_slots: args.contention_slots.max(1),
        },
    };
    let report = bars_bench::run(options).await?;
    print!("{}", report.table());
    if let Some(path) = args.out {
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
