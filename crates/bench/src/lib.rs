//! `bars bench`: the benchmark suite. It starts the system as it runs in production (a
//! receiver and a proxy, each its own process of the release binary, mutual TLS between them)
//! on loopback, seeds a store of a million slots, drives it with a closed loop of keep-alive
//! clients and reports throughput and latency percentiles, with the ceilings measured in the
//! same run (an empty handler on the same HTTP stack; the storage layer's own commit rate).
//!
//! With `--against URL` the same scenarios also run against a generic FHIR R4 server at that
//! URL, seeded with the same data (peer), and the report sets the two side by side; our
//! receiver is then served over plain HTTP, as such a peer usually is, so neither side pays
//! for TLS the other does not.
//!
//! Numbers live here and in `docs/BENCHMARKS.md`, never in tests: tests assert behaviour,
//! benchmarks measure it.

pub mod cpu;
pub mod load;
pub mod peer;
pub mod report;
pub mod scenarios;
pub mod stack;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use peer::Against;
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
    /// A generic FHIR server to run the peer's scenarios against, beside ours.
    pub against: Option<Against>,
}

/// Starts the stack (and seeds the peer, with `against`), runs every selected scenario `runs`
/// times (interleaved: each run goes through all scenarios, ours and then the peer's, so drift
/// in the machine's state touches them alike) and reports the medians.
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
    let transport = match options.against {
        Some(_) => stack::Transport::PlainHttp,
        None => stack::Transport::MutualTls,
    };
    let stack = stack::Stack::start(&options.exe, &dir, layout, transport).await?;
    let seeded = stack.layout.total();
    let mut report = Report::new(&options, seeded, transport);
    let bench = Arc::new(scenarios::Bench::new(stack, options.load.clone()));
    let peer = match &options.against {
        Some(against) => {
            let layout = bench.stack.layout.clone();
            let mut peer = peer::Peer::prepare(against, layout, options.load.clone()).await?;
            // Ours answers the probe's search too, so the report shows both answers' contents.
            let (service, day) = peer.probe_target();
            if let Ok(r) = bench.search_once(&service, day).await {
                peer.set_ours_search(&r.body);
            }
            report.against = Some(report::PeerReport::new(&peer, against.seed_batch));
            Some(Arc::new(peer))
        }
        None => None,
    };
    for run in 0..options.runs {
        for &scenario in &options.scenarios {
            // The peer goes first in every other run, so neither side always follows the other.
            let peer_first = run % 2 == 1;
            if peer_first && let Some(peer) = &peer {
                run_peer(peer, &mut report, scenario, &options, run).await;
            }
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
            if !peer_first && let Some(peer) = &peer {
                run_peer(peer, &mut report, scenario, &options, run).await;
            }
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

/// Runs `scenario` on the peer once, if it is one the peer runs, and records it.
async fn run_peer(
    peer: &Arc<peer::Peer>,
    report: &mut Report,
    scenario: Scenario,
    options: &BenchOptions,
    run: usize,
) {
    if !peer::SCENARIOS.contains(&scenario) {
        return;
    }
    eprintln!(
        "run {}/{}: {} (peer)",
        run + 1,
        options.runs,
        scenario.name()
    );
    let (samples, checks) = peer.run(scenario).await;
    report.record_peer(scenario, &options.load, samples.summary(), checks);
    tokio::time::sleep(Duration::from_millis(500)).await;
}
