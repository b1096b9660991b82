//! `bars bench`: the benchmark suite (crates/bench) from the command line. Build with
//! `--release`: a debug build measures the compiler's lack of optimisation, not the system.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bars_bench::{Against, BenchOptions, Load, Scenario};

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
    /// Slots seeded into the receiver's store before it starts (and into the peer's, with
    /// --against) [default: 1000000; 48000 with --against, where every slot is an HTTP write].
    #[arg(long)]
    pub slots: Option<usize>,
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
    /// Also run booking, slot-search and read against the generic FHIR R4 server at this base
    /// URL, seeded with the same services, schedules and slots, and print the two side by side
    /// with our ceilings. Our receiver then listens on plain HTTP (the comparison's peer has no
    /// TLS); the scenarios default to empty-handler, storage-commit, booking, slot-search, read.
    #[arg(long, value_name = "URL")]
    pub against: Option<String>,
    /// With --against: entries in each transaction Bundle that seeds the peer.
    #[arg(long, default_value_t = 250)]
    pub seed_batch: usize,
    /// With --against: the peer server's process id, when it runs on this machine, so that its
    /// CPU per request is reported beside our receiver's.
    #[arg(long, value_name = "PID", requires = "against")]
    pub against_pid: Option<u32>,
}

/// The scenarios of a side-by-side run: those the peer runs, and the ceilings of ours.
const AGAINST_SCENARIOS: [Scenario; 5] = [
    Scenario::EmptyHandler,
    Scenario::StorageCommit,
    Scenario::Booking,
    Scenario::SlotSearch,
    Scenario::Read,
];

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; measure with `cargo run --release -p bars -- bench`"
        );
    }
    let exe = std::env::current_exe().context("finding the bars binary")?;
    if let Some(url) = &args.against
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        anyhow::bail!("--against needs an http:// or https:// FHIR base URL, not {url}");
    }
    let against = args.against.map(|url| Against {
        url,
        seed_batch: args.seed_batch.max(1),
        pid: args.against_pid,
    });
    let options = BenchOptions {
        exe,
        data_dir: args.data_dir,
        slots: args
            .slots
            .unwrap_or(if against.is_some() { 48_000 } else { 1_000_000 }),
        services: args.services,
        runs: args.runs.max(1),
        scenarios: if args.scenarios.is_empty() && against.is_some() {
            AGAINST_SCENARIOS.to_vec()
        } else if args.scenarios.is_empty() {
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
        against,
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
