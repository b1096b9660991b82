//! `bars conformance sender`: the recording stack a sender under test is pointed at, and the
//! grade of what it did once the run ends.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bars_conformance::sender::{SenderStack, SenderStackSpec, sentinel};
use serde_json::Value;

use super::conformance_output::{Outputs, expected, finish};
use super::sender::Connection;

#[derive(Debug, clap::Args)]
pub struct SenderArgs {
    /// Where the stack keeps its databases, keys and `stack.json`.
    #[arg(long, default_value = "bars-conformance-sender")]
    pub data_dir: PathBuf,
    /// The first of the eight consecutive ports the stack uses (proxy, proxy admin, registry,
    /// registry admin, then API and admin of each receiver); 0 for free ports of the system's
    /// choosing (stack.json names them).
    #[arg(long, default_value_t = 8090)]
    pub port: u16,
    /// Days of slots to publish from today.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Grade after this many seconds.
    #[arg(long = "for", value_name = "SECONDS")]
    pub for_seconds: Option<u64>,
    /// Grade once the sender has been quiet this many seconds after its first request.
    #[arg(long, value_name = "SECONDS")]
    pub until_idle: Option<u64>,
    /// Write the grade with its evidence as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub outputs: Outputs,
}

/// How often the idle watch looks at the recorder.
const IDLE_POLL: Duration = Duration::from_millis(250);
/// How often the live line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub async fn run(args: SenderArgs, connection: &Connection) -> anyhow::Result<()> {
    let expected = expected(&args.outputs)?;
    let stop = crate::shutdown::listen();
    let mut spec = SenderStackSpec::new(args.data_dir.clone(), super::uk_time::today());
    spec.base_port = (args.port != 0).then_some(args.port);
    spec.days = args.days.clamp(1, 90);
    let stack = SenderStack::start(spec).await?;
    let manifest = stack.manifest();
    let path = args.data_dir.join("stack.json");
    std::fs::write(&path, serde_json::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", path.display()))?;
    print_details(&manifest, &path);
    let recorder = stack.recorder.clone();
    let idle = async {
        match args.until_idle {
            Some(quiet) => loop {
                tokio::time::sleep(IDLE_POLL).await;
                if recorder
                    .last_activity()
                    .is_some_and(|last| last.elapsed() >= Duration::from_secs(quiet))
                {
                    break;
                }
            },
            None => std::future::pending().await,
        }
    };
    let deadline = async {
        match args.for_seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    // A live line on a terminal: how much of the sender the stack has seen.
    let live = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = async {
        if !live {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(PROGRESS_EVERY).await;
            let (all, tokens) = recorder.counts();
            eprint!("\r\x1b[2Krecorded {all} requests from the sender ({tokens} for tokens)");
        }
    };
    tokio::select! {
        _ = progress => {},
        _ = stop => eprintln!("\nStopped: grading what the sender did..."),
        _ = idle => eprintln!("\nThe sender has been quiet: grading what it did..."),
        _ = deadline => eprintln!("\nTime is up: grading what the sender did..."),
    }
    let sender = stack.stack.sender.clone();
    let report =
        bars_conformance::sender::grade(&stack.recorder, &sender.client_id, &sender.token_url);
    stack.stop().await;
    if let Some(path) = &args.report {
        std::fs::write(path, report.json())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    finish(&report, &args.outputs, expected.as_ref(), connection.json)
}

fn print_details(m: &Value, manifest: &std::path::Path) {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    eprintln!("BaRS sender conformance: the stack is recording (Ctrl-C to grade).\n");
    eprintln!("  proxy       {}", s(&m["proxy"]["url"]));
    eprintln!("  token URL   {}", s(&m["sender"]["tokenUrl"]));
    eprintln!(
        "  sender      client id {}, key id {}, private key {}",
        s(&m["sender"]["clientId"]),
        s(&m["sender"]["keyId"]),
        s(&m["sender"]["privateKey"])
    );
    eprintln!("  CA          {}", s(&m["ca"]));
    for r in m["receivers"].as_array().into_iter().flatten() {
        for svc in r["services"].as_array().into_iter().flatten() {
            eprintln!("  service     {}  {}", s(&svc["value"]), s(&svc["name"]));
        }
    }
    let patients: Vec<String> = m["patients"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    eprintln!("  patients    {}", patients.join(", "));
    eprintln!("\n  Sentinels (the toolkit's, always refused):");
    for t in sentinel::SENTINELS {
        eprintln!("    {:<40} {:<38} -> {}", t.place.name(), t.value, t.status);
    }
    eprintln!(
        "\nEverything is in {}: point the sender under test at it (the bars CLI: --manifest {}).",
        manifest.display(),
        manifest.display()
    );
}
