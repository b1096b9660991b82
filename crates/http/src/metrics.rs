//! Counters and histograms for operators, rendered in the Prometheus text format (0.0.4).
//!
//! Small on purpose: a role registers a handful of families at start-up, increments them on the
//! request path with one short-lived lock-free-on-read lookup, and renders them when scraped.
//! Values known only at scrape time (outbox depth, pool use) are appended by the role as gauges
//! with [`Exposition::gauge`], so nothing has to poll in the background.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Latency buckets in seconds: fine below BaRS's 5-second budget, coarse above it.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A family of counters sharing a name, told apart by label values.
pub struct CounterVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    series: RwLock<BTreeMap<Vec<String>, Arc<AtomicU64>>>,
}

/// A family of histograms sharing a name and buckets.
pub struct HistogramVec {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    buckets: &'static [f64],
    series: RwLock<BTreeMap<Vec<String>, Arc<Histogram>>>,
}

struct Histogram {
    /// One count per bucket (not cumulative) plus the overflow above the last bound.
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
}

/// Finds or creates the series for `values`; the write lock is taken only the first time a
/// label combination is seen.
fn series<T>(
    map: &RwLock<BTreeMap<Vec<String>, Arc<T>>>,
    values: &[&str],
    make: impl FnOnce() -> T,
) -> Arc<T> {
    if let Some(found) = existing(map, values) {
        return found;
    }
    let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    match map.write() {
        Ok(mut m) => m.entry(key).or_insert_with(|| Arc::new(make())).clone(),
        // A poisoned map still counts, just not in the exposition.
        Err(_) => Arc::new(make()),
    }
}

/// The series for `values`, if it was ever touched.
fn existing<T>(map: &RwLock<BTreeMap<Vec<String>, Arc<T>>>, values: &[&str]) -> Option<Arc<T>> {
    map.read().ok().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.iter().map(String::as_str).eq(values.iter().copied()))
            .map(|(_, v)| v.clone())
    })
}

impl CounterVec {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        CounterVec {
            name,
            help,
            labels,
            series: RwLock::new(BTreeMap::new()),
        }
    }

    pub fn inc(&self, values: &[&str]) {
        self.add(values, 1);
    }

    pub fn add(&self, values: &[&str], n: u64) {
        debug_assert_eq!(values.len(), self.labels.len(), "{}", self.name);
        series(&self.series, values, || AtomicU64::new(0)).fetch_add(n, Ordering::Relaxed);
    }

    /// The current value of one series (0 if never incremented).
    pub fn get(&self, values: &[&str]) -> u64 {
        existing(&self.series, values).map_or(0, |v| v.load(Ordering::Relaxed))
    }

    pub fn render(&self, out: &mut Exposition) {
        out.header(self.name, self.help, "counter");
        if let Ok(map) = self.series.read() {
            for (values, value) in map.iter() {
                out.sample(
                    self.name,
                    self.labels,
                    values,
                    None,
                    value.load(Ordering::Relaxed) as f64,
                );
            }
        }
    }
}

impl HistogramVec {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        buckets: &'static [f64],
    ) -> Self {
        HistogramVec {
            name,
            help,
            labels,
            buckets,
            series: RwLock::new(BTreeMap::new()),
        }
    }

    pub fn observe(&self, values: &[&str], elapsed: Duration) {
        debug_assert_eq!(values.len(), self.labels.len(), "{}", self.name);
        let histogram = series(&self.series, values, || Histogram {
            counts: (0..=self.buckets.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            sum_nanos: AtomicU64::new(0),
        });
        let seconds = elapsed.as_secs_f64();
        let index = self
            .buckets
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.buckets.len());
        histogram.counts[index].fetch_add(1, Ordering::Relaxed);
        histogram.sum_nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// How many observations one series holds.
    pub fn count(&self, values: &[&str]) -> u64 {
        existing(&self.series, values).map_or(0, |h| {
            h.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
        })
    }

    pub fn render(&self, out: &mut Exposition) {
        out.header(self.name, self.help, "histogram");
        let Ok(map) = self.series.read() else {
            return;
        };
        let bucket_name = format!("{}_bucket", self.name);
        let mut labels: Vec<&str> = self.labels.to_vec();
        labels.push("le");
        for (values, histogram) in map.iter() {
            let mut cumulative = 0u64;
            let mut with_le = values.clone();
            with_le.push(String::new());
            for (i, count) in histogram.counts.iter().enumerate() {
                cumulative += count.load(Ordering::Relaxed);
                let le = self
                    .buckets
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
                if let Some(last) = with_le.last_mut() {
                    *last = le;
                }
                out.sample(&bucket_name, &labels, &with_le, None, cumulative as f64);
            }
            let sum = histogram.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            out.sample(self.name, self.labels, values, Some("_sum"), sum);
            out.sample(
                self.name,
                self.labels,
                values,
                Some("_count"),
                cumulative as f64,
            );
        }
    }
}

/// The text being scraped, built family by family.
#[derive(Default)]
pub struct Exposition {
    text: String,
}

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Exposition {
    fn header(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", help.replace('\n', " "));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(
        &mut self,
        name: &str,
        labels: &[&str],
        values: &[String],
        suffix: Option<&str>,
        value: f64,
    ) {
        self.text.push_str(name);
        if let Some(suffix) = suffix {
            self.text.push_str(suffix);
        }
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().zip(values).enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// A gauge whose value was read at scrape time; one call per family, one pair per series.
    pub fn gauge(
        &mut self,
        name: &str,
        help: &str,
        labels: &[&str],
        series: &[(Vec<String>, f64)],
    ) {
        self.header(name, help, "gauge");
        for (values, value) in series {
            self.sample(name, labels, values, None, *value);
        }
    }

    /// A gauge without labels.
    pub fn single_gauge(&mut self, name: &str, help: &str, value: f64) {
        self.gauge(name, help, &[], &[(Vec::new(), value)]);
    }

    /// Database connection use: `(pool, size, in_use, waiting)` per pool.
    pub fn connection_pools(&mut self, pools: &[(&str, u64, u64, u64)]) {
        if pools.is_empty() {
            return;
        }
        let mut by_state = Vec::new();
        let mut waiting = Vec::new();
        for (name, size, in_use, queued) in pools {
            by_state.push((vec![name.to_string(), "in_use".into()], *in_use as f64));
            by_state.push((
                vec![name.to_string(), "idle".into()],
                size.saturating_sub(*in_use) as f64,
            ));
            waiting.push((vec![name.to_string()], *queued as f64));
        }
        self.gauge(
            "bars_db_connections",
            "Database connections by pool and state.",
            &["pool", "state"],
            &by_state,
        );
        self.gauge(
            "bars_db_waiting",
            "Database operations waiting for a connection (for SQLite's writer: for the next batch).",
            &["pool"],
            &waiting,
        );
    }

    pub fn into_text(self) -> String {
        self.text
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_per_label_set_and_escape_values() {
        let c = CounterVec::new("bars_test_total", "Things.", &["route", "status"]);
        c.inc(&["/a", "200"]);
        c.inc(&["/a", "200"]);
        c.add(&["/b\"x", "404"], 5);
        let mut out = Exposition::default();
        c.render(&mut out);
        let text = out.into_text();
        assert!(text.contains("# TYPE bars_test_total counter"));
        assert!(text.contains("bars_test_total{route=\"/a\",status=\"200\"} 2\n"));
        assert!(text.contains("bars_test_total{route=\"/b\\\"x\",status=\"404\"} 5\n"));
        assert_eq!(c.get(&["/a", "200"]), 2);
        assert_eq!(c.get(&["/c", "200"]), 0);
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let h = HistogramVec::new("bars_latency_seconds", "Latency.", &["route"], &[0.01, 0.1]);
        h.observe(&["/a"], Duration::from_millis(5));
        h.observe(&["/a"], Duration::from_millis(50));
        h.observe(&["/a"], Duration::from_secs(2));
        let mut out = Exposition::default();
        h.render(&mut out);
        let text = out.into_text();
        assert!(text.contains("bars_latency_seconds_bucket{route=\"/a\",le=\"0.01\"} 1\n"));
        assert!(text.contains("bars_latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"));
        assert!(text.contains("bars_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("bars_latency_seconds_count{route=\"/a\"} 3\n"));
        assert!(text.contains("bars_latency_seconds_sum{route=\"/a\"} 2.055\n"));
        assert_eq!(h.count(&["/a"]), 3);
    }

    #[test]
    fn gauges_are_rendered_as_given() {
        let mut out = Exposition::default();
        out.single_gauge("bars_outbox_pending", "Jobs.", 3.0);
        out.gauge(
            "bars_pool",
            "Pool.",
            &["state"],
            &[(vec!["busy".into()], 1.5)],
        );
        let text = out.into_text();
        assert!(text.contains("bars_outbox_pending 3\n"));
        assert!(text.contains("bars_pool{state=\"busy\"} 1.5\n"));
    }
}
