//! The bench's results: every run of every scenario, their medians, the ratios to the
//! ceilings, the targets of issue 8 met or missed, a table for people and JSON for tools.

use serde::Serialize;

use crate::BenchOptions;
use crate::load::Summary;
use crate::peer::{GuardCheck, Peer, SearchProbe};
use crate::scenarios::{Checks, Load, Scenario};
use crate::stack::{Memory, Transport};

/// What the machine was doing, read from `/proc` at the start and end: figures from a busy
/// machine are not comparable with figures from an idle one.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MachineState {
    pub cpus: usize,
    /// `/proc/loadavg` at the start.
    pub loadavg_start: String,
    pub loadavg_end: String,
    /// `rustc` processes running (other builds on the machine) at the start and end.
    pub rustc_start: usize,
    pub rustc_end: usize,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn rustc_processes() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "rustc")
        })
        .count()
}

/// One run of one scenario.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunReport {
    #[serde(flatten)]
    pub summary: Summary,
    pub checks: Checks,
    /// The receiver's and the proxy's resident memory right after the run.
    pub receiver_memory: Option<Memory>,
    pub proxy_memory: Option<Memory>,
}

/// Every run of a scenario and their medians (each figure's median taken on its own).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScenarioReport {
    pub scenario: Scenario,
    pub clients: usize,
    pub median: Summary,
    /// What this scenario is compared with, and the median throughput as a fraction of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Scenario>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_ceiling: Option<f64>,
    pub all_checks_passed: bool,
    pub runs: Vec<RunReport>,
}

/// A target of issue 8 and whether the medians meet it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

/// The peer of `--against`: how it was seeded and checked, every run of its scenarios, and
/// each scenario beside ours.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PeerReport {
    pub url: String,
    pub seeded_slots: usize,
    pub seed_seconds: f64,
    pub seed_bundle_entries: usize,
    pub guard: GuardCheck,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot_search: Option<SearchProbe>,
    pub scenarios: Vec<ScenarioReport>,
    pub side_by_side: Vec<SideBySide>,
}

impl PeerReport {
    pub fn new(peer: &Peer, seed_bundle_entries: usize) -> PeerReport {
        PeerReport {
            url: peer.base.clone(),
            seeded_slots: peer.seeded,
            seed_seconds: peer.seed_seconds,
            seed_bundle_entries,
            guard: peer.guard.clone(),
            slot_search: peer.search.clone(),
            scenarios: Vec::new(),
            side_by_side: Vec::new(),
        }
    }
}

/// One scenario of ours beside the peer's (medians of the runs).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SideBySide {
    pub scenario: Scenario,
    pub ours: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<Summary>,
    /// Failed requests summed over every run (not the median), so one failure anywhere shows.
    pub ours_errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_errors: Option<u64>,
    /// Our median throughput over the peer's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    pub all_checks_passed: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub started: String,
    pub machine: MachineState,
    /// How the bench reached our receiver's API.
    pub receiver_transport: Transport,
    pub seeded_slots: usize,
    pub services: usize,
    pub runs: usize,
    pub clients: usize,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub scenarios: Vec<ScenarioReport>,
    /// The receiver's peak resident memory (VmHWM) over the whole bench, in KiB.
    pub receiver_peak_kib: u64,
    pub targets: Vec<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub against: Option<PeerReport>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median_u(v: Vec<u64>) -> u64 {
    median(v.into_iter().map(|x| x as f64).collect()).round() as u64
}

/// The medians of several runs, figure by figure.
pub fn median_summary(runs: &[Summary]) -> Summary {
    let f = |get: fn(&Summary) -> f64| median(runs.iter().map(get).collect());
    let u = |get: fn(&Summary) -> u64| median_u(runs.iter().map(get).collect());
    Summary {
        requests: u(|s| s.requests),
        ok: u(|s| s.ok),
        refused: u(|s| s.refused),
        errors: u(|s| s.errors),
        seconds: f(|s| s.seconds),
        per_second: f(|s| s.per_second),
        p50_ms: f(|s| s.p50_ms),
        p90_ms: f(|s| s.p90_ms),
        p99_ms: f(|s| s.p99_ms),
        max_ms: f(|s| s.max_ms),
        receiver_cpu_us: median_of_some(runs, |s| s.receiver_cpu_us),
        proxy_cpu_us: median_of_some(runs, |s| s.proxy_cpu_us),
        bench_cpu_us: median_of_some(runs, |s| s.bench_cpu_us),
    }
}

/// The median over the runs that have the figure; none when no run has it.
fn median_of_some(runs: &[Summary], get: fn(&Summary) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = runs.iter().filter_map(get).collect();
    (!v.is_empty()).then(|| median(v))
}

/// Adds a run to its scenario's report, opening the report at the scenario's first run.
fn push_run(list: &mut Vec<ScenarioReport>, scenario: Scenario, load: &Load, run: RunReport) {
    match list.iter_mut().find(|s| s.scenario == scenario) {
        Some(s) => s.runs.push(run),
        None => list.push(ScenarioReport {
            scenario,
            clients: if scenario == Scenario::Contention {
                load.contention_clients
            } else {
                load.clients
            },
            median: Summary::default(),
            ceiling: None,
            ratio_to_ceiling: None,
            all_checks_passed: true,
            runs: vec![run],
        }),
    }
}

/// The medians of every scenario's runs, and whether all their checks passed.
fn take_medians(list: &mut [ScenarioReport]) {
    for s in list {
        let summaries: Vec<Summary> = s.runs.iter().map(|r| r.summary.clone()).collect();
        s.median = median_summary(&summaries);
        s.all_checks_passed = s.runs.iter().all(|r| r.checks.passed);
    }
}

fn ceiling_of(s: Scenario) -> Option<Scenario> {
    match s {
        Scenario::Booking | Scenario::Contention => Some(Scenario::StorageCommit),
        Scenario::SlotSearch | Scenario::Read => Some(Scenario::EmptyHandler),
        Scenario::ReadViaProxy => Some(Scenario::Read),
        Scenario::EmptyHandler | Scenario::StorageCommit => None,
    }
}

impl Report {
    pub fn new(options: &BenchOptions, seeded: usize, transport: Transport) -> Report {
        Report {
            receiver_transport: transport,
            started: bars_fhir::Instant::now().to_string(),
            machine: MachineState {
                cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
                loadavg_start: loadavg(),
                rustc_start: rustc_processes(),
                ..MachineState::default()
            },
            seeded_slots: seeded,
            services: options.services,
            runs: options.runs,
            clients: options.load.clients,
            warmup_seconds: options.load.warmup.as_secs_f64(),
            duration_seconds: options.load.duration.as_secs_f64(),
            scenarios: Vec::new(),
            receiver_peak_kib: 0,
            targets: Vec::new(),
            against: None,
        }
    }

    pub fn record(
        &mut self,
        scenario: Scenario,
        load: &Load,
        summary: Summary,
        checks: Checks,
        receiver_memory: Option<Memory>,
        proxy_memory: Option<Memory>,
    ) {
        if let Some(m) = receiver_memory {
            self.receiver_peak_kib = self.receiver_peak_kib.max(m.hwm_kib);
        }
        let run = RunReport {
            summary,
            checks,
            receiver_memory,
            proxy_memory,
        };
        push_run(&mut self.scenarios, scenario, load, run);
    }

    /// A run of a scenario on the peer of `--against` (no-op without one).
    pub fn record_peer(
        &mut self,
        scenario: Scenario,
        load: &Load,
        summary: Summary,
        checks: Checks,
    ) {
        if let Some(peer) = &mut self.against {
            let run = RunReport {
                summary,
                checks,
                receiver_memory: None,
                proxy_memory: None,
            };
            push_run(&mut peer.scenarios, scenario, load, run);
        }
    }

    fn get(&self, s: Scenario) -> Option<&ScenarioReport> {
        self.scenarios.iter().find(|r| r.scenario == s)
    }

    /// Each scenario of ours beside the peer's, once the medians are in.
    fn side_by_side(&self) -> Vec<SideBySide> {
        let Some(peer) = &self.against else {
            return Vec::new();
        };
        let errors = |s: &ScenarioReport| s.runs.iter().map(|r| r.summary.errors).sum::<u64>();
        self.scenarios
            .iter()
            .map(|ours| {
                let theirs = peer.scenarios.iter().find(|p| p.scenario == ours.scenario);
                SideBySide {
                    scenario: ours.scenario,
                    ours: ours.median.clone(),
                    peer: theirs.map(|p| p.median.clone()),
                    ours_errors: errors(ours),
                    peer_errors: theirs.map(errors),
                    ratio: theirs
                        .filter(|p| p.median.per_second > 0.0)
                        .map(|p| ours.median.per_second / p.median.per_second),
                    all_checks_passed: ours.all_checks_passed
                        && theirs.is_none_or(|p| p.all_checks_passed),
                }
            })
            .collect()
    }

    /// Medians, ratios and targets, once every run is in.
    pub fn finish(&mut self, receiver_memory: Option<Memory>) {
        if let Some(m) = receiver_memory {
            self.receiver_peak_kib = self.receiver_peak_kib.max(m.hwm_kib);
        }
        self.machine.loadavg_end = loadavg();
        self.machine.rustc_end = rustc_processes();
        take_medians(&mut self.scenarios);
        if let Some(peer) = &mut self.against {
            take_medians(&mut peer.scenarios);
        }
        let medians: Vec<(Scenario, f64)> = self
            .scenarios
            .iter()
            .map(|s| (s.scenario, s.median.per_second))
            .collect();
        for s in &mut self.scenarios {
            if let Some(c) = ceiling_of(s.scenario)
                && let Some((_, rate)) = medians.iter().find(|(m, _)| *m == c)
                && *rate > 0.0
            {
                s.ceiling = Some(c);
                s.ratio_to_ceiling = Some(s.median.per_second / rate);
            }
        }
        self.targets = self.check_targets();
        let side_by_side = self.side_by_side();
        if let Some(peer) = &mut self.against {
            peer.side_by_side = side_by_side;
        }
    }

    fn check_targets(&self) -> Vec<Target> {
        let mut t = Vec::new();
        if let Some(b) = self.get(Scenario::Booking) {
            t.push(Target {
                name: "booking".into(),
                goal: ">= 3000/s, p99 <= 50 ms".into(),
                measured: format!(
                    "{:.0}/s, p99 {:.1} ms",
                    b.median.per_second, b.median.p99_ms
                ),
                met: b.median.per_second >= 3000.0
                    && b.median.p99_ms <= 50.0
                    && b.all_checks_passed,
            });
        }
        if let Some(c) = self.get(Scenario::Contention) {
            t.push(Target {
                name: "contention".into(),
                goal: "exactly one booking per contended slot".into(),
                measured: c
                    .runs
                    .iter()
                    .map(|r| {
                        format!(
                            "{}/{}",
                            r.checks.booked.unwrap_or(0),
                            r.checks.contended_slots.unwrap_or(0)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                met: c.all_checks_passed,
            });
        }
        if let Some(s) = self.get(Scenario::SlotSearch) {
            t.push(Target {
                name: "slot search".into(),
                goal: format!(
                    ">= 5000/s, p99 <= 10 ms on >= 1,000,000 slots ({} seeded)",
                    self.seeded_slots
                ),
                measured: format!(
                    "{:.0}/s, p99 {:.1} ms",
                    s.median.per_second, s.median.p99_ms
                ),
                met: s.median.per_second >= 5000.0
                    && s.median.p99_ms <= 10.0
                    && self.seeded_slots >= 1_000_000
                    && s.all_checks_passed,
            });
        }
        if let Some(r) = self.get(Scenario::Read) {
            t.push(Target {
                name: "reads".into(),
                goal: ">= 20000/s".into(),
                measured: format!("{:.0}/s", r.median.per_second),
                met: r.median.per_second >= 20_000.0 && r.all_checks_passed,
            });
            if let Some(p) = self.get(Scenario::ReadViaProxy) {
                let unloaded = |s: &ScenarioReport| {
                    median(
                        s.runs
                            .iter()
                            .filter_map(|r| r.checks.unloaded_p50_ms)
                            .collect(),
                    )
                };
                let added = unloaded(p) - unloaded(r);
                let added_loaded = p.median.p50_ms - r.median.p50_ms;
                let kept = p.median.per_second / r.median.per_second.max(1e-9);
                // What bounds the ratio on shared cores: the CPU each read costs in all.
                let spent = match (
                    r.median.receiver_cpu_us,
                    p.median.receiver_cpu_us,
                    p.median.proxy_cpu_us,
                ) {
                    (Some(direct), Some(behind), Some(proxy)) => format!(
                        "; CPU per read: receiver {direct:.0} us direct, proxy {proxy:.0} + receiver {behind:.0} us through it"
                    ),
                    _ => String::new(),
                };
                t.push(Target {
                    name: "proxy overhead".into(),
                    goal: "adds <= 1 ms at p50 (one client), keeps >= 70% of direct read throughput"
                        .into(),
                    measured: format!(
                        "adds {added:.2} ms at p50 with one client ({added_loaded:.2} ms at {} clients), keeps {:.0}%{spent}",
                        p.clients,
                        kept * 100.0
                    ),
                    met: added <= 1.0 && kept >= 0.7 && p.all_checks_passed,
                });
            }
        }
        t.push(Target {
            name: "receiver memory".into(),
            goal: "resident <= 64 MB under this load".into(),
            measured: format!("peak {:.1} MB", self.receiver_peak_kib as f64 / 1024.0),
            met: self.receiver_peak_kib > 0 && self.receiver_peak_kib <= 64 * 1024,
        });
        t
    }

    /// The table people read: medians per scenario, then the targets.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "bars bench: {} slots over {} services, receiver over {}, {} run(s) of {:.0} s (+{:.0} s warm-up), medians; {} CPUs, load {} -> {}, rustc running {} -> {}\n\n",
            self.seeded_slots,
            self.services,
            self.receiver_transport.describe(),
            self.runs,
            self.duration_seconds,
            self.warmup_seconds,
            self.machine.cpus,
            self.machine.loadavg_start,
            self.machine.loadavg_end,
            self.machine.rustc_start,
            self.machine.rustc_end,
        ));
        out.push_str(&format!(
            "{:<16} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>17}  {}\n",
            "scenario",
            "clients",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "errors",
            "RSS MB",
            "CPU us/req r/p/b",
            "vs ceiling / checks"
        ));
        for s in &self.scenarios {
            let rss = s
                .runs
                .iter()
                .filter_map(|r| r.receiver_memory.map(|m| m.rss_kib))
                .max()
                .map_or("-".to_string(), |k| format!("{:.1}", k as f64 / 1024.0));
            let mut note = match (s.ceiling, s.ratio_to_ceiling) {
                (Some(c), Some(r)) => format!("{:.0}% of {}", r * 100.0, c.name()),
                _ => String::new(),
            };
            if s.scenario == Scenario::Contention {
                let booked: u64 = s.runs.iter().filter_map(|r| r.checks.booked).sum();
                let slots: u64 = s.runs.iter().filter_map(|r| r.checks.contended_slots).sum();
                note.push_str(&format!("; booked {booked} of {slots} contended slots"));
            }
            let alone: Vec<f64> = s
                .runs
                .iter()
                .filter_map(|r| r.checks.unloaded_p50_ms)
                .collect();
            if !alone.is_empty() {
                note.push_str(&format!("; p50 {:.2} ms with one client", median(alone)));
            }
            if let Some(b) = s.runs.last().and_then(|r| r.checks.mean_body_bytes) {
                note.push_str(&format!("; ~{b} bytes/response"));
            }
            if !s.all_checks_passed {
                note.push_str("; CHECKS FAILED");
            }
            out.push_str(&format!(
                "{:<16} {:>7} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>7} {:>7} {:>17}  {}\n",
                s.scenario.name(),
                s.clients,
                s.median.per_second,
                s.median.p50_ms,
                s.median.p90_ms,
                s.median.p99_ms,
                s.median.max_ms,
                s.median.errors,
                rss,
                cpu_column(&s.median),
                note.trim_start_matches("; "),
            ));
        }
        out.push_str(&failed_checks(&self.scenarios, ""));
        out.push_str(&format!(
            "\nreceiver peak resident memory: {:.1} MB\n\ntargets:\n",
            self.receiver_peak_kib as f64 / 1024.0
        ));
        for t in &self.targets {
            out.push_str(&format!(
                "  {:<4} {:<16} {}  (goal: {})\n",
                if t.met { "MET" } else { "MISS" },
                t.name,
                t.measured,
                t.goal
            ));
        }
        if let Some(peer) = &self.against {
            out.push('\n');
            out.push_str(&peer.table(self.runs, self.receiver_transport));
        }
        out
    }
}

/// Why each failed check failed, run by run, so that "CHECKS FAILED" in a table is never the
/// whole story; empty when every check passed. `side` names whose scenarios they are.
fn failed_checks(scenarios: &[ScenarioReport], side: &str) -> String {
    let mut out = String::new();
    for s in scenarios.iter().filter(|s| !s.all_checks_passed) {
        for (i, run) in s.runs.iter().enumerate() {
            for problem in &run.checks.problems {
                out.push_str(&format!(
                    "  {}{} run {}: {problem}\n",
                    s.scenario.name(),
                    side,
                    i + 1
                ));
            }
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("\nchecks that failed:\n{out}")
    }
}

/// The receiver's, the proxy's and the bench's own CPU per request, in microseconds.
fn cpu_column(s: &Summary) -> String {
    [s.receiver_cpu_us, s.proxy_cpu_us, s.bench_cpu_us]
        .map(|v| or_dash(v, 0))
        .join("/")
}

fn or_dash(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.decimals$}"))
}

impl PeerReport {
    /// Ours beside the peer, scenario by scenario, after what the peer was found to do.
    pub fn table(&self, runs: usize, transport: Transport) -> String {
        let mut out = format!(
            "side by side with the FHIR server at {} (ours over {}; same slots, clients, warm-up and duration; medians of {runs} run(s))\n",
            self.url,
            transport.describe()
        );
        out.push_str(&format!(
            "  peer seeded: {} slots in {:.1} s, PUT in transaction Bundles of {} entries\n",
            self.seeded_slots, self.seed_seconds, self.seed_bundle_entries
        ));
        let g = &self.guard;
        out.push_str(&format!(
            "  peer booking: transaction of POST Appointment + PUT Slot busy with ifMatch on the seeded version; guard {} (same Bundle twice: {} then {}{})\n",
            if g.held { "held" } else { "NOT HELD" },
            g.first,
            g.second,
            g.appointments_added
                .map_or(", Appointments not countable".to_string(), |n| format!(
                    ", {n} Appointment(s) added"
                )),
        ));
        if let Some(probe) = &self.slot_search {
            out.push_str(&format!("  peer slot search: GET {}\n", probe.url));
            if !probe.dropped.is_empty() {
                out.push_str(&format!(
                    "    dropped (the peer refused them): {}; refused forms: {}\n",
                    probe.dropped.join(", "),
                    probe.refused.join("; ")
                ));
            }
            let counts = |c: &crate::peer::SearchCounts| {
                format!(
                    "{} slots{} + {} included{}",
                    c.slots,
                    if c.outside > 0 {
                        format!(" ({} outside the schedule and day)", c.outside)
                    } else {
                        String::new()
                    },
                    c.included,
                    if c.paged { ", more pages" } else { "" }
                )
            };
            out.push_str(&format!(
                "    one service's day ({} seeded free): peer {}; ours {}\n",
                probe.expected_slots,
                counts(&probe.peer),
                probe.ours.as_ref().map_or("-".to_string(), counts)
            ));
        }
        out.push_str(&format!(
            "\n{:<16} {:>10} {:>8} {:>8} {:>7} | {:>10} {:>8} {:>8} {:>7} | {:>9} {:>17}  {}\n",
            "scenario",
            "ours req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "peer req/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "ours/peer",
            "server CPU us/req",
            "notes"
        ));
        for row in &self.side_by_side {
            let peer = row.peer.as_ref();
            let mut notes: Vec<String> = Vec::new();
            if peer.is_none() {
                notes.push(
                    match row.scenario {
                        Scenario::EmptyHandler | Scenario::StorageCommit => "ceiling of ours",
                        _ => "ours only",
                    }
                    .into(),
                );
            }
            let bytes = |list: &[ScenarioReport]| {
                list.iter()
                    .find(|s| s.scenario == row.scenario)
                    .and_then(|s| s.runs.last())
                    .and_then(|r| r.checks.mean_body_bytes)
            };
            if let Some(b) = bytes(self.scenarios.as_slice()) {
                notes.push(format!("peer ~{b} bytes/response"));
            }
            if !row.all_checks_passed {
                notes.push("CHECKS FAILED".into());
            }
            out.push_str(&format!(
                "{:<16} {:>10.0} {:>8.2} {:>8.2} {:>7} | {:>10} {:>8} {:>8} {:>7} | {:>9} {:>17}  {}\n",
                row.scenario.name(),
                row.ours.per_second,
                row.ours.p50_ms,
                row.ours.p99_ms,
                row.ours_errors,
                or_dash(peer.map(|p| p.per_second), 0),
                or_dash(peer.map(|p| p.p50_ms), 2),
                or_dash(peer.map(|p| p.p99_ms), 2),
                row.peer_errors.map_or("-".to_string(), |e| e.to_string()),
                or_dash(row.ratio, 2),
                format!(
                    "{} / {}",
                    or_dash(row.ours.receiver_cpu_us, 0),
                    or_dash(peer.and_then(|p| p.receiver_cpu_us), 0)
                ),
                notes.join("; ")
            ));
        }
        out.push_str("errors: failed requests summed over every run, each side\n");
        out.push_str(&failed_checks(&self.scenarios, " (peer)"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn load() -> Load {
        Load {
            clients: 4,
            warmup: Duration::ZERO,
            duration: Duration::from_secs(1),
            contention_clients: 1,
            contention_slots: 1,
        }
    }

    #[test]
    fn side_by_side_puts_each_median_beside_the_peers_with_every_error_counted() {
        let options = BenchOptions {
            exe: "bars".into(),
            data_dir: None,
            slots: 96,
            services: 1,
            runs: 2,
            scenarios: vec![],
            load: load(),
            against: None,
        };
        let mut report = Report::new(&options, 96, Transport::PlainHttp);
        // Without a peer, a peer's run has nowhere to go.
        report.record_peer(
            Scenario::Booking,
            &load(),
            Summary::default(),
            Checks::default(),
        );
        assert!(report.against.is_none());
        report.against = Some(PeerReport {
            url: "http://peer:8080".into(),
            seeded_slots: 96,
            seed_seconds: 1.5,
            seed_bundle_entries: 250,
            guard: GuardCheck {
                first: 200,
                second: 412,
                appointments_added: Some(1),
                held: true,
            },
            slot_search: None,
            scenarios: vec![],
            side_by_side: vec![],
        });
        let summary = |rate: f64, errors: u64| Summary {
            per_second: rate,
            errors,
            // The server's CPU per request, in proportion to the rate here.
            receiver_cpu_us: (rate < 1_000.0).then_some(rate / 2.0),
            ..Summary::default()
        };
        let checks = |errors: u64| Checks {
            passed: errors == 0,
            problems: (errors > 0)
                .then(|| format!("{errors} requests failed"))
                .into_iter()
                .collect(),
            ..Checks::default()
        };
        for (ours, peer, peer_errors) in [(100.0, 50.0, 0), (300.0, 100.0, 2)] {
            report.record(
                Scenario::EmptyHandler,
                &load(),
                summary(1_000.0, 0),
                checks(0),
                None,
                None,
            );
            report.record(
                Scenario::Booking,
                &load(),
                summary(ours, 0),
                checks(0),
                None,
                None,
            );
            report.record_peer(
                Scenario::Booking,
                &load(),
                summary(peer, peer_errors),
                checks(peer_errors),
            );
        }
        report.finish(None);
        let rows = &report.against.as_ref().unwrap().side_by_side;
        assert_eq!(rows.len(), 2);
        let ceiling = &rows[0];
        assert_eq!(ceiling.scenario, Scenario::EmptyHandler);
        assert!(ceiling.peer.is_none() && ceiling.ratio.is_none());
        let booking = &rows[1];
        assert_eq!(booking.ours.per_second, 200.0);
        assert_eq!(booking.peer.as_ref().unwrap().per_second, 75.0);
        assert_eq!(booking.ratio, Some(200.0 / 75.0));
        // The median of (0, 2) errors is 1; the side-by-side counts both.
        assert_eq!(booking.peer_errors, Some(2));
        assert_eq!(booking.ours_errors, 0);
        assert!(!booking.all_checks_passed);
        let table = report.table();
        assert!(table.contains("receiver over plain HTTP"));
        assert!(table.contains("side by side with the FHIR server at http://peer:8080"));
        assert!(
            table.contains("guard held (same Bundle twice: 200 then 412, 1 Appointment(s) added)")
        );
        let line = |name: &str| {
            table
                .lines()
                .rev()
                .find(|l| l.starts_with(name))
                .unwrap()
                .to_string()
        };
        assert!(line("empty-handler").contains("ceiling of ours"));
        let booking = line("booking");
        assert!(
            booking.contains("2.67") && booking.contains("CHECKS FAILED"),
            "{booking}"
        );
        // Each server's CPU per request, medians: ours (50, 150) and the peer's (25, 50).
        assert!(booking.contains(" 100 / 38 "), "{booking}");
        assert!(line("empty-handler").contains(" - / - "));
        // The table says why: the peer's failing run and its problem, nothing for ours.
        assert!(
            table.contains("checks that failed:\n  booking (peer) run 2: 2 requests failed\n"),
            "{table}"
        );
        assert!(!table.contains("booking run"), "{table}");
    }

    #[test]
    fn medians_are_taken_figure_by_figure() {
        let s = |rate: f64, p99: f64| Summary {
            per_second: rate,
            p99_ms: p99,
            ..Summary::default()
        };
        let m = median_summary(&[s(10.0, 9.0), s(30.0, 1.0), s(20.0, 5.0)]);
        assert_eq!(m.per_second, 20.0);
        assert_eq!(m.p99_ms, 5.0);
        assert_eq!(m.receiver_cpu_us, None, "no run measured it");
        // CPU per request: the median of the runs that measured it.
        let cpu = |receiver: Option<f64>, proxy: Option<f64>| Summary {
            receiver_cpu_us: receiver,
            proxy_cpu_us: proxy,
            ..Summary::default()
        };
        let m = median_summary(&[
            cpu(Some(40.0), None),
            cpu(None, None),
            cpu(Some(30.0), Some(80.0)),
            cpu(Some(50.0), None),
        ]);
        assert_eq!(
            (m.receiver_cpu_us, m.proxy_cpu_us, m.bench_cpu_us),
            (Some(40.0), Some(80.0), None)
        );
        assert_eq!(cpu_column(&m), "40/80/-");
        assert_eq!(median(vec![1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}
