//! Logging set-up: one subscriber for the whole process, human-readable or JSON lines, and, in
//! a build with the `otel` feature, the same spans exported over OTLP.
//!
//! A server writes its lines from a thread of its own ([`Output::Server`]): every request logs
//! a line, and written from the async worker that answered it, each was a `write` on stderr
//! during the request (a tenth of a proxied read's CPU went to its log line, profiled), and a
//! stderr whose reader stalls (a full pipe) stalled every request. The writer thread takes the
//! lines queued since it last woke and writes them with one buffered write, then pauses
//! ([`WRITE_PAUSE`]) so that the next lines gather while it sleeps: a writer that kept up line by
//! line was woken (a futex wake from the request's thread) and wrote once per line, a sixth of a
//! read's CPU, profiled. Nothing is dropped: when the queue is full, requests wait for it, as
//! they waited for the write before. One-shot commands write as they go, so their lines and
//! their own messages interleave as they happen.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// Where the lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Written to stderr as each is made.
    Direct,
    /// Queued for a writer thread (see the module's doc).
    Server,
}

/// Lines a server may have queued before the requests logging them wait. A line is a few
/// hundred bytes, so a full queue is a few megabytes, held only while stderr lags behind.
const QUEUED_LINES: usize = 16_384;

/// Keeps the log writer and the exporters alive; dropping it writes the lines still queued
/// and flushes spans not yet sent.
pub struct Telemetry {
    _lines: Option<tracing_appender::non_blocking::WorkerGuard>,
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level (`info`).
pub fn init(format: LogFormat, output: Output) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (queue, lines) = match output {
        Output::Direct => (None, None),
        Output::Server => {
            let (queue, guard) = queued(std::io::stderr());
            (Some(queue), Some(guard))
        }
    };
    let writer = || match &queue {
        Some(queue) => BoxMakeWriter::new(queue.clone()),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let human = (format == LogFormat::Human).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(writer())
            // Colours for a person at a terminal; a log file or collector gets plain text.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_target(false)
    });
    // The current span rides along so that a line written while handling a request (or
    // delivering a pointer) carries that request's ids.
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(writer())
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
    });
    #[cfg(feature = "otel")]
    let (otel, provider) = match otel::layer() {
        Some((layer, provider)) => (Some(layer), Some(provider)),
        None => (None, None),
    };
    #[cfg(not(feature = "otel"))]
    let otel: Option<tracing_subscriber::layer::Identity> = None;
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(human)
        .with(json)
        .with(otel)
        .try_init();
    Telemetry {
        _lines: lines,
        #[cfg(feature = "otel")]
        provider,
    }
}

/// How long the writer thread sleeps after each write. Lines wait at most this long (plus the
/// write) before they reach stderr; under load a write carries a few hundred lines.
const WRITE_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// Bytes gathered before a write even within a batch: a few hundred lines.
const WRITE_BUFFER: usize = 64 * 1024;

/// Lines queued for the writer thread, which writes each batch it takes to `sink` at once.
fn queued<W: std::io::Write + Send + 'static>(
    sink: W,
) -> (
    tracing_appender::non_blocking::NonBlocking,
    tracing_appender::non_blocking::WorkerGuard,
) {
    queued_pausing(sink, || std::thread::sleep(WRITE_PAUSE))
}

/// [`queued`], with what the writer thread does after each batch's write.
fn queued_pausing<W, P>(
    sink: W,
    pause: P,
) -> (
    tracing_appender::non_blocking::NonBlocking,
    tracing_appender::non_blocking::WorkerGuard,
)
where
    W: std::io::Write + Send + 'static,
    P: FnMut() + Send + 'static,
{
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(false)
        .thread_name(LOG_THREAD)
        .finish(Batches {
            out: std::io::BufWriter::with_capacity(WRITE_BUFFER, sink),
            pause,
        })
}

/// The writer thread's sink. `tracing-appender`'s worker writes every line it finds queued and
/// then flushes; the flush here is also where the thread pauses before it looks again.
struct Batches<W: std::io::Write, P> {
    out: std::io::BufWriter<W>,
    pause: P,
}

impl<W: std::io::Write, P: FnMut()> std::io::Write for Batches<W, P> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()?;
        (self.pause)();
        Ok(())
    }
}

const LOG_THREAD: &str = "bars-log";

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// What reached the sink, and the threads that wrote it.
    #[derive(Default)]
    struct Written {
        bytes: Vec<u8>,
        threads: Vec<Option<String>>,
    }

    struct Sink(Arc<Mutex<Written>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut w = self.0.lock().unwrap();
            w.bytes.extend_from_slice(buf);
            w.threads
                .push(std::thread::current().name().map(str::to_string));
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A server's lines reach the sink from the log thread alone, never from the threads that
    /// made them, and every line made is written whole, in order, once the guard is dropped.
    #[test]
    fn server_lines_are_written_by_the_log_thread_and_none_is_lost() {
        let written = Arc::new(Mutex::new(Written::default()));
        let (queue, guard) = super::queued(Sink(written.clone()));
        let makers: Vec<_> = (0..4)
            .map(|t| {
                let subscriber = tracing_subscriber::fmt()
                    .with_writer(queue.clone())
                    .without_time()
                    .with_level(false)
                    .with_target(false)
                    .with_ansi(false)
                    .finish();
                std::thread::spawn(move || {
                    tracing::subscriber::with_default(subscriber, || {
                        for i in 0..2_000 {
                            tracing::info!("maker {t} line {i}");
                        }
                    })
                })
            })
            .collect();
        for maker in makers {
            maker.join().unwrap();
        }
        drop(guard);
        let w = written.lock().unwrap();
        let text = String::from_utf8(w.bytes.clone()).unwrap();
        assert_eq!(text.lines().count(), 8_000);
        for t in 0..4 {
            let prefix = format!("maker {t} line ");
            let mine: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
            let in_order = (0..2_000).map(|i| format!("{prefix}{i}"));
            let first_wrong = mine.iter().zip(in_order).position(|(l, e)| *l != e);
            assert_eq!((mine.len(), first_wrong), (2_000, None), "maker {t}");
        }
        assert!(!w.threads.is_empty());
        assert!(
            w.threads
                .iter()
                .all(|name| name.as_deref() == Some(super::LOG_THREAD)),
            "{:?}",
            w.threads
        );
    }

    /// Lines made while the writer thread pauses after a write reach the sink together, in
    /// one write, instead of one write (and one wake-up of the thread) each.
    #[test]
    fn lines_made_during_the_writers_pause_are_written_at_once() {
        let written = Arc::new(Mutex::new(Written::default()));
        let (paused_tx, paused_rx) = std::sync::mpsc::channel::<()>();
        let (resume_tx, resume_rx) = std::sync::mpsc::channel::<()>();
        let (queue, guard) = super::queued_pausing(Sink(written.clone()), move || {
            let _ = paused_tx.send(());
            let _ = resume_rx.recv();
        });
        let subscriber = tracing_subscriber::fmt()
            .with_writer(queue)
            .without_time()
            .with_level(false)
            .with_target(false)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("line 0");
            // Fails instead of hanging should the writer never pause.
            paused_rx
                .recv_timeout(std::time::Duration::from_secs(30))
                .expect("the writer thread pauses after writing line 0");
            for i in 1..100 {
                tracing::info!("line {i}");
            }
        });
        resume_tx.send(()).unwrap();
        // Lets every later pause (the second batch's, the last flush's) pass at once.
        drop(resume_tx);
        drop(guard);
        let w = written.lock().unwrap();
        let text = String::from_utf8(w.bytes.clone()).unwrap();
        let expected: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
        assert_eq!(w.threads.len(), 2, "one write for line 0, one for the rest");
    }
}

/// OTLP export, configured the standard way: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) names the collector, over HTTP/protobuf;
/// `OTEL_SERVICE_NAME` names the service (default `bars`). Without an endpoint nothing is
/// exported.
#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    pub fn layer<S>() -> Option<(
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
        SdkTracerProvider,
    )>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let configured = [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        if !configured {
            return None;
        }
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
        {
            Ok(e) => e,
            Err(e) => {
                eprintln!("warning: OpenTelemetry export is off: {e}");
                return None;
            }
        };
        let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "bars".to_string());
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(service)
                    .build(),
            )
            .build();
        let tracer = provider.tracer("bars");
        Some((tracing_opentelemetry::layer().with_tracer(tracer), provider))
    }
}
