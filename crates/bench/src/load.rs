//! The load generator: a closed loop of concurrent clients, each sending its next request as
//! soon as the last one answered, with every latency kept so percentiles are exact.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cpu::{CpuUse, Role, Watch};

/// What a single request came to, as the scenario judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The answer the scenario expected (e.g. 201 for a booking).
    Ok,
    /// An answer that is correct but not a success (e.g. 409 when a contended slot was taken).
    Refused,
    /// Anything else: a wrong status, a transport error, a timeout.
    Error,
    /// Nothing was sent: the scenario has no request left (its seeded slots are used up). The
    /// client stops instead of spinning, and the run says how many stopped early.
    Spent,
}

/// Everything one measured interval produced.
#[derive(Debug, Default)]
pub struct Samples {
    pub latencies: Vec<Duration>,
    pub ok: u64,
    pub refused: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Clients that ran out of requests before the interval ended ([`Outcome::Spent`]).
    pub spent_clients: u64,
    /// CPU time the watched processes spent in the interval.
    pub cpu: Vec<CpuUse>,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.ok += other.ok;
        self.refused += other.refused;
        self.errors += other.errors;
        self.spent_clients += other.spent_clients;
    }

    fn record(&mut self, latency: Duration, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Refused => self.refused += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Spent => {
                self.spent_clients += 1;
                return;
            }
        }
        self.latencies.push(latency);
    }

    /// Throughput and latency percentiles of the interval.
    pub fn summary(mut self) -> Summary {
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        let pct = |p: f64| -> f64 {
            if n == 0 {
                return 0.0;
            }
            // Nearest rank: the smallest latency at or above p of the samples.
            let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
            ms(self.latencies[rank.min(n) - 1])
        };
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let per_request = |role: Role| {
            let used = self.cpu.iter().find(|c| c.role == role)?;
            (n > 0).then(|| used.seconds * 1e6 / n as f64)
        };
        Summary {
            requests: n as u64,
            ok: self.ok,
            refused: self.refused,
            errors: self.errors,
            seconds: secs,
            per_second: n as f64 / secs,
            p50_ms: pct(50.0),
            p90_ms: pct(90.0),
            p99_ms: pct(99.0),
            max_ms: self.latencies.last().copied().map(ms).unwrap_or(0.0),
            receiver_cpu_us: per_request(Role::Receiver),
            proxy_cpu_us: per_request(Role::Proxy),
            bench_cpu_us: per_request(Role::Bench),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// Throughput and latency of one scenario run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Requests answered within the measured interval (warm-up excluded).
    pub requests: u64,
    pub ok: u64,
    pub refused: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Requests (of every outcome) per second.
    pub per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// CPU each process spent per request answered in the interval, in microseconds: the
    /// receiver, the proxy, and the bench itself (its clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver_cpu_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_cpu_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bench_cpu_us: Option<f64>,
}

/// Runs `clients` concurrent loops for `warmup` (not recorded) and then `duration`; each loop
/// calls `request(client, n)` with its own counter and records how long it took. A closed loop
/// means the latencies are those at the throughput reached, not at an offered rate. The CPU
/// time of the processes in `watch` is taken over the same interval as the latencies.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    warmup: Duration,
    duration: Duration,
    watch: &Watch,
    request: F,
) -> Samples
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let request = Arc::new(request);
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop = measure_from + duration;
    let watch = watch.clone();
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = watch.snapshot();
        tokio::time::sleep_until(stop.into()).await;
        before.until(&watch.snapshot())
    });
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut n = 0u64;
            loop {
                let began = Instant::now();
                if began >= stop {
                    break;
                }
                let outcome = request(client, n).await;
                n += 1;
                if outcome == Outcome::Spent {
                    samples.record(Duration::ZERO, outcome);
                    break;
                }
                let ended = Instant::now();
                if began >= measure_from && ended <= stop {
                    samples.record(ended - began, outcome);
                }
            }
            samples
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        if let Ok(s) = t.await {
            all.merge(s);
        }
    }
    all.elapsed = duration;
    all.cpu = cpu.await.unwrap_or_default();
    all
}

/// Runs a fixed list of jobs on `clients` concurrent loops (each takes the next job as soon as
/// it is free) and records every one: for work that must happen exactly once per item, such as
/// contention's attempts on a few slots.
pub async fn each_once<F, Fut>(clients: usize, jobs: usize, request: F) -> Samples
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (request, next) = (request.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            loop {
                let job = next.fetch_add(1, Ordering::Relaxed) as usize;
                if job >= jobs {
                    break;
                }
                let began = Instant::now();
                let outcome = request(job).await;
                samples.record(began.elapsed(), outcome);
                if outcome == Outcome::Spent {
                    break;
                }
            }
            samples
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        if let Ok(s) = t.await {
            all.merge(s);
        }
    }
    all.elapsed = start.elapsed();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s = Samples {
            elapsed: Duration::from_secs(2),
            ..Samples::default()
        };
        for i in (1..=100).rev() {
            s.record(Duration::from_millis(i), Outcome::Ok);
        }
        s.record(Duration::from_millis(500), Outcome::Error);
        let sum = s.summary();
        assert_eq!(sum.requests, 101);
        assert_eq!(sum.ok, 100);
        assert_eq!(sum.errors, 1);
        assert_eq!(sum.p50_ms, 51.0);
        assert_eq!(sum.p99_ms, 100.0);
        assert_eq!(sum.max_ms, 500.0);
        assert_eq!(sum.per_second, 50.5);
    }

    /// A client with nothing left to send stops at once (it does not spin) and is counted; the
    /// others run to the end.
    #[tokio::test]
    async fn a_client_with_nothing_left_stops_and_is_counted() {
        let left = Arc::new(AtomicU64::new(5));
        let calls = Arc::new(AtomicU64::new(0));
        let (l, c) = (left.clone(), calls.clone());
        let samples = closed_loop(
            4,
            Duration::ZERO,
            Duration::from_millis(300),
            &Watch::none(),
            move |_, _| {
                let (left, calls) = (l.clone(), c.clone());
                async move {
                    calls.fetch_add(1, Ordering::Relaxed);
                    let taken = left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                    if taken.is_err() {
                        return Outcome::Spent;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    Outcome::Ok
                }
            },
        )
        .await;
        assert_eq!(samples.ok, 5);
        assert_eq!(samples.spent_clients, 4);
        assert_eq!(samples.latencies.len(), 5);
        assert_eq!(
            calls.load(Ordering::Relaxed),
            9,
            "each client asked once more, then stopped"
        );
    }

    /// CPU per request is the interval's CPU over the requests answered in it, by role; a
    /// role not watched, or an interval with no request, reports none.
    #[test]
    fn cpu_per_request_is_the_intervals_cpu_over_its_requests() {
        let mut s = Samples {
            elapsed: Duration::from_secs(1),
            cpu: vec![
                CpuUse {
                    role: Role::Receiver,
                    seconds: 1.5,
                },
                CpuUse {
                    role: Role::Bench,
                    seconds: 0.25,
                },
            ],
            ..Samples::default()
        };
        for _ in 0..1_000 {
            s.record(Duration::from_millis(1), Outcome::Ok);
        }
        let sum = s.summary();
        assert_eq!(sum.receiver_cpu_us, Some(1_500.0));
        assert_eq!(sum.bench_cpu_us, Some(250.0));
        assert_eq!(sum.proxy_cpu_us, None);
        let none = Samples {
            cpu: vec![CpuUse {
                role: Role::Receiver,
                seconds: 1.0,
            }],
            ..Samples::default()
        };
        assert_eq!(none.summary().receiver_cpu_us, None);
    }

    /// The load's own process, watched, is seen spending the CPU its requests burn within the
    /// measured interval (and nothing is reported when nothing is watched).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_watched_process_cpu_is_taken_over_the_measured_interval() {
        let burn = |_, _| async {
            let mut x = 0u64;
            for i in 0..200_000u64 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
            // A request that never waits would keep the interval's timer from running, which
            // the bench's requests (network round trips) never do.
            tokio::task::yield_now().await;
            Outcome::Ok
        };
        let watched = closed_loop(
            2,
            Duration::from_millis(50),
            Duration::from_millis(400),
            &Watch::servers([]),
            burn,
        )
        .await;
        assert_eq!(watched.cpu.len(), 1);
        assert!(
            watched.cpu[0].seconds > 0.0,
            "two clients burning CPU throughout used none: {:?}",
            watched.cpu
        );
        let sum = watched.summary();
        assert!(sum.bench_cpu_us.is_some_and(|us| us > 0.0));
        let unwatched = closed_loop(
            1,
            Duration::ZERO,
            Duration::from_millis(50),
            &Watch::none(),
            burn,
        )
        .await;
        assert!(unwatched.cpu.is_empty());
    }

    #[test]
    fn no_samples_summarise_to_zeros() {
        let sum = Samples::default().summary();
        assert_eq!(sum.requests, 0);
        assert_eq!(sum.p99_ms, 0.0);
    }
}
