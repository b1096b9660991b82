//! Counters, gauges and histograms for operators, kept by `prometheus-client` and rendered in
//! the Prometheus text format (0.0.4).
//!
//! Every label is a typed value from a bounded set (an enum, a route template, a number bounded
//! by HTTP, an id from the configuration), never text a client sent: a series, once made, is
//! kept for the life of the process, so a label a client could vary would let anyone grow the
//! server's memory and every scrape. A family finds its series by hash.
//!
//! A role registers its families afresh on every scrape ([`Exposition`]): registering clones a
//! handle, not the series, and lets values known only at scrape time (outbox depth, pool use)
//! be plain gauges made there, so nothing has to poll in the background.

use std::sync::atomic::AtomicU64;

pub use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
pub use prometheus_client::metrics::counter::Counter;
pub use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

/// Latency buckets in seconds: fine below BaRS's 5-second budget, coarse above it.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The content type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A family of latency histograms over [`LATENCY_BUCKETS`].
pub type LatencyFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// A histogram over [`LATENCY_BUCKETS`].
pub fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

/// An empty family of latency histograms.
pub fn latency_family<L>() -> LatencyFamily<L>
where
    L: Clone + std::hash::Hash + Eq,
{
    Family::new_with_constructor(latency_histogram)
}

/// A gauge holding a float (an age in seconds).
pub type FloatGauge = Gauge<f64, AtomicU64>;

/// Declares a label whose values are a closed set, each rendered as the text given.
///
/// ```
/// bars_http::label_values! {
///     /// What became of a delivery.
///     pub enum Outcome { Delivered => "delivered", Failed => "failed" }
/// }
/// assert_eq!(Outcome::Failed.as_str(), "failed");
/// ```
#[macro_export]
macro_rules! label_values {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name { $($variant),* }

        impl $name {
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl $crate::metrics::EncodeLabelValue for $name {
            fn encode(
                &self,
                encoder: &mut $crate::metrics::LabelValueEncoder,
            ) -> ::std::result::Result<(), ::std::fmt::Error> {
                ::std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    };
}

label_values! {
    /// A request's method as a label: the standard methods by name, anything else (an extension
    /// method a client made up) as `OTHER`.
    pub enum MethodLabel {
        Get => "GET",
        Head => "HEAD",
        Post => "POST",
        Put => "PUT",
        Delete => "DELETE",
        Connect => "CONNECT",
        Options => "OPTIONS",
        Trace => "TRACE",
        Patch => "PATCH",
        Other => "OTHER",
    }
}

impl From<&http::Method> for MethodLabel {
    fn from(method: &http::Method) -> Self {
        match *method {
            http::Method::GET => MethodLabel::Get,
            http::Method::HEAD => MethodLabel::Head,
            http::Method::POST => MethodLabel::Post,
            http::Method::PUT => MethodLabel::Put,
            http::Method::DELETE => MethodLabel::Delete,
            http::Method::CONNECT => MethodLabel::Connect,
            http::Method::OPTIONS => MethodLabel::Options,
            http::Method::TRACE => MethodLabel::Trace,
            http::Method::PATCH => MethodLabel::Patch,
            _ => MethodLabel::Other,
        }
    }
}

label_values! {
    /// Whether a database connection is working.
    pub enum ConnectionState { InUse => "in_use", Idle => "idle" }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolStateLabels {
    pool: &'static str,
    state: ConnectionState,
}

/// One scrape's worth of metrics, built family by family and rendered once.
#[derive(Default)]
pub struct Exposition {
    registry: Registry,
}

impl Exposition {
    /// Adds a family (or a single metric). `name` is the family's name, without the `_total`
    /// a counter's samples get; `help` may end with a full stop, as the format adds one.
    pub fn register(&mut self, name: &str, help: &str, metric: impl Metric) {
        let help = help.strip_suffix('.').unwrap_or(help);
        self.registry.register(name, help, metric);
    }

    /// A gauge whose value was read at scrape time.
    pub fn gauge(&mut self, name: &str, help: &str, value: i64) {
        let gauge = Gauge::<i64>::default();
        gauge.set(value);
        self.register(name, help, gauge);
    }

    /// A float gauge whose value was read at scrape time.
    pub fn float_gauge(&mut self, name: &str, help: &str, value: f64) {
        let gauge = FloatGauge::default();
        gauge.set(value);
        self.register(name, help, gauge);
    }

    /// Database connection use: `(pool, size, in_use, waiting)` per pool.
    pub fn connection_pools(&mut self, pools: &[(&'static str, u64, u64, u64)]) {
        if pools.is_empty() {
            return;
        }
        let by_state = Family::<PoolStateLabels, Gauge>::default();
        let waiting = Family::<PoolLabels, Gauge>::default();
        for &(pool, size, in_use, queued) in pools {
            let state = |state| PoolStateLabels { pool, state };
            by_state
                .get_or_create(&state(ConnectionState::InUse))
                .set(saturating_i64(in_use));
            by_state
                .get_or_create(&state(ConnectionState::Idle))
                .set(saturating_i64(size.saturating_sub(in_use)));
            waiting
                .get_or_create(&PoolLabels { pool })
                .set(saturating_i64(queued));
        }
        self.register(
            "bars_db_connections",
            "Database connections by pool and state.",
            by_state,
        );
        self.register(
            "bars_db_waiting",
            "Database operations waiting for a connection (for SQLite's writer: for the next batch).",
            waiting,
        );
    }

    /// The text a scraper reads.
    pub fn into_text(self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail, and no label of ours fails to encode; were one to,
        // the scrape still gets every family before it.
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::warn!(error = %e, "metrics exposition cut short");
        }
        text
    }
}

/// A count as a gauge value (gauges are signed).
pub fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    label_values! {
        enum Kind { Conflict => "conflict", Precondition => "precondition" }
    }

    #[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
    struct Labels {
        route: &'static str,
        kind: Kind,
        status: u16,
    }

    #[test]
    fn families_render_per_label_set_with_the_names_and_help_operators_know() {
        let family = Family::<Labels, Counter>::default();
        let labels = |kind| Labels {
            route: "/a",
            kind,
            status: 409,
        };
        family.get_or_create(&labels(Kind::Conflict)).inc();
        family.get_or_create(&labels(Kind::Conflict)).inc();
        family.get_or_create(&labels(Kind::Precondition)).inc_by(5);
        let mut out = Exposition::default();
        out.register("bars_test", "Things.", family);
        let text = out.into_text();
        assert!(text.contains("# HELP bars_test_total Things.\n"), "{text}");
        assert!(text.contains("# TYPE bars_test_total counter\n"), "{text}");
        assert!(
            text.contains("bars_test_total{route=\"/a\",kind=\"conflict\",status=\"409\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("bars_test_total{route=\"/a\",kind=\"precondition\",status=\"409\"} 5\n"),
            "{text}"
        );
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let family = latency_family::<Labels>();
        let labels = Labels {
            route: "/a",
            kind: Kind::Conflict,
            status: 200,
        };
        for seconds in [0.003, 0.05, 2.0] {
            family.get_or_create(&labels).observe(seconds);
        }
        let mut out = Exposition::default();
        out.register("bars_latency_seconds", "Latency.", family);
        let text = out.into_text();
        let series = "route=\"/a\",kind=\"conflict\",status=\"200\"";
        assert!(
            text.contains("# TYPE bars_latency_seconds histogram\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "bars_latency_seconds_bucket{{{series},le=\"0.0025\"}} 0\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "bars_latency_seconds_bucket{{{series},le=\"0.005\"}} 1\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "bars_latency_seconds_bucket{{{series},le=\"0.05\"}} 2\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "bars_latency_seconds_bucket{{{series},le=\"+Inf\"}} 3\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("bars_latency_seconds_count{{{series}}} 3\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("bars_latency_seconds_sum{{{series}}} 2.053\n")),
            "{text}"
        );
    }

    #[test]
    fn gauges_and_pools_are_rendered_as_read() {
        let mut out = Exposition::default();
        out.gauge("bars_outbox_pending", "Jobs.", 3);
        out.float_gauge("bars_outbox_oldest_age_seconds", "Age.", 1.5);
        out.connection_pools(&[("sqlite_readers", 4, 1, 2)]);
        let text = out.into_text();
        assert!(text.contains("bars_outbox_pending 3\n"), "{text}");
        assert!(
            text.contains("bars_outbox_oldest_age_seconds 1.5\n"),
            "{text}"
        );
        assert!(
            text.contains("bars_db_connections{pool=\"sqlite_readers\",state=\"in_use\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("bars_db_connections{pool=\"sqlite_readers\",state=\"idle\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("bars_db_waiting{pool=\"sqlite_readers\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn a_made_up_method_is_other_and_the_standard_ones_keep_their_names() {
        for name in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ] {
            let method = http::Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(MethodLabel::from(&method).as_str(), name);
        }
        for name in ["FOO", "PROPFIND", "get", "OTHER", &"X".repeat(200)] {
            let method = http::Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(MethodLabel::from(&method), MethodLabel::Other, "{name}");
        }
    }
}
