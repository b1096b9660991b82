//! What operators see of every request: one structured log line, a tracing span that carries the
//! request ids into every event below it (storage, upstream calls), and the request metrics.
//!
//! The outermost layer of every role's router, so it sees the final status of everything,
//! refusals by inner layers included. It never logs the path or query as sent: a query names
//! patients (`patient:identifier=...|9434765919`), so lines carry the route template instead.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::context::{X_CORRELATION_ID, X_REQUEST_ID, header_str};
use crate::error::ErrorSummary;
use crate::metrics::{
    Counter, EncodeLabelSet, Exposition, Family, Gauge, LatencyFamily, MethodLabel, latency_family,
};

/// Ids longer than this are cut in logs: an id is a UUID (36 characters), and a sender must not
/// be able to write arbitrary text into the log.
const MAX_LOGGED_ID: usize = 64;

/// The route label of a request no route matched and the role's fallback did not know.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The labels of a request's count: each from a bounded set (the listeners a role opens, the
/// routes it serves plus [`UNMATCHED_ROUTE`], [`MethodLabel`], the statuses HTTP has).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    pub listener: &'static str,
    pub route: Arc<str>,
    pub method: MethodLabel,
    pub status: u16,
}

/// The labels of a request's latency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct LatencyLabels {
    pub listener: &'static str,
    pub route: Arc<str>,
    pub method: MethodLabel,
}

/// The request metrics every role keeps.
pub struct HttpMetrics {
    pub requests: Family<RequestLabels, Counter>,
    pub latency: LatencyFamily<LatencyLabels>,
    in_flight: Gauge,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            requests: Family::default(),
            latency: latency_family(),
            in_flight: Gauge::default(),
        }
    }
}

impl HttpMetrics {
    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    pub fn render(&self, out: &mut Exposition) {
        out.register(
            "bars_http_requests",
            "HTTP requests answered, by listener, route template, method and status.",
            self.requests.clone(),
        );
        out.register(
            "bars_http_request_duration_seconds",
            "Time from the request's arrival to its response, by listener, route template and method.",
            self.latency.clone(),
        );
        out.register(
            "bars_http_requests_in_flight",
            "Requests being processed now, on every listener.",
            self.in_flight.clone(),
        );
    }
}

/// Who sent a request, as far as the inner layers learned it; they leave it on the response for
/// the request log.
#[derive(Debug, Clone, Default)]
pub struct Sender {
    /// The sender's organisation (ODS code).
    pub organisation: Option<String>,
    /// The authenticated sending application, where known.
    pub application: Option<String>,
}

/// How one listener of a role observes its requests.
pub struct Observer {
    /// `receiver`, `registry` or `proxy`: one process may run several (`bars demo`).
    pub role: &'static str,
    /// `api` or `admin`.
    pub listener: &'static str,
    pub metrics: Arc<HttpMetrics>,
    /// The route label of a request no axum route matched (a role's fallback may know better,
    /// e.g. the proxy's route table); anything else becomes [`UNMATCHED_ROUTE`], so unknown
    /// paths cannot grow the metrics without bound.
    pub fallback_route: fn(&str) -> Option<&'static str>,
}

impl Observer {
    pub fn new(role: &'static str, listener: &'static str, metrics: Arc<HttpMetrics>) -> Self {
        Observer {
            role,
            listener,
            metrics,
            fallback_route: |_| None,
        }
    }
}

struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a Gauge) -> Self {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn id_or_new(headers: &http::HeaderMap, name: &str) -> String {
    header_str(headers, name)
        .map(|id| id.chars().take(MAX_LOGGED_ID).collect())
        .unwrap_or_else(|| format!("local-{}", uuid::Uuid::new_v4()))
}

/// Middleware: span, metrics and the request's log line.
pub async fn observe(
    State(observer): State<Arc<Observer>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let _in_flight = InFlight::enter(&observer.metrics.in_flight);
    let method = MethodLabel::from(request.method());
    // As sent for the log, but cut like an id: an extension method can be kilobytes long.
    let method_sent: String = request
        .method()
        .as_str()
        .chars()
        .take(MAX_LOGGED_ID)
        .collect();
    // Shared by both label sets and the log line: one allocation a request.
    let route: Arc<str> = match request.extensions().get::<MatchedPath>() {
        Some(matched) => Arc::from(matched.as_str()),
        None => {
            Arc::from((observer.fallback_route)(request.uri().path()).unwrap_or(UNMATCHED_ROUTE))
        }
    };
    // A request without ids (a health probe, a token request, a refused call) still gets one
    // for its log line, so every line can be found again; it is not sent back.
    let request_id = id_or_new(request.headers(), X_REQUEST_ID);
    let correlation_id = id_or_new(request.headers(), X_CORRELATION_ID);
    let span = tracing::info_span!(
        "request",
        role = observer.role,
        request_id = %request_id,
        correlation_id = %correlation_id,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status();
    observer
        .metrics
        .latency
        .get_or_create(&LatencyLabels {
            listener: observer.listener,
            route: route.clone(),
            method,
        })
        .observe(elapsed.as_secs_f64());
    observer
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            listener: observer.listener,
            route: route.clone(),
            method,
            status: status.as_u16(),
        })
        .inc();

    let sender = response.extensions().get::<Sender>();
    let organisation = sender
        .and_then(|s| s.organisation.as_deref())
        .unwrap_or("-");
    let application = sender.and_then(|s| s.application.as_deref()).unwrap_or("-");
    let error = response.extensions().get::<ErrorSummary>();
    let code = error.map_or("-", |e| e.code.as_str());
    let diagnostics = error.map_or("", |e| e.diagnostics.as_str());
    let duration_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    macro_rules! request_line {
        ($level:ident) => {
            tracing::$level!(
                role = observer.role,
                listener = observer.listener,
                method = %method_sent,
                route = %route,
                status = status.as_u16(),
                duration_ms,
                request_id = %request_id,
                correlation_id = %correlation_id,
                organisation,
                application,
                code,
                diagnostics,
                "request"
            )
        };
    }
    if status.is_server_error() {
        request_line!(warn);
    } else {
        request_line!(info);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use tower::ServiceExt;

    /// Made-up methods and paths no route knows land on the same few series however many
    /// different ones are sent.
    #[tokio::test]
    async fn made_up_methods_and_paths_do_not_make_series() {
        let metrics = Arc::new(HttpMetrics::default());
        let observer = Arc::new(Observer::new("test", "api", metrics.clone()));
        let app = Router::new()
            .route("/a/{id}", get(|| async { "ok" }))
            .layer(from_fn_with_state(observer, observe));
        let send = |method: String, path: String| {
            let app = app.clone();
            async move {
                let request = http::Request::builder()
                    .method(method.as_str())
                    .uri(path)
                    .body(Body::empty())
                    .unwrap();
                app.oneshot(request).await.unwrap().status()
            }
        };
        // The bounded values: a known route and an unknown path, by a standard and an
        // extension method.
        for (method, path) in [
            ("GET", "/a/1"),
            ("FOO", "/a/1"),
            ("GET", "/b"),
            ("FOO", "/b"),
        ] {
            send(method.into(), path.into()).await;
        }
        let render = || {
            let mut out = Exposition::default();
            metrics.render(&mut out);
            out.into_text()
        };
        let samples = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
        let before = samples(&render());
        for i in 0..500 {
            let method = format!("M{i}{}", "X".repeat(i % 50));
            send(method.clone(), format!("/a/{i}")).await;
            send(method, format!("/unknown/{i}?q={i}")).await;
        }
        let text = render();
        assert_eq!(samples(&text), before, "{text}");
        assert!(
            text.contains(
                "bars_http_requests_total{listener=\"api\",route=\"unmatched\",method=\"OTHER\",status=\"404\"} 501\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "bars_http_requests_total{listener=\"api\",route=\"/a/{id}\",method=\"OTHER\",status=\"405\"} 501\n"
            ),
            "{text}"
        );
    }
}
