//! The server loop every role runs: plain TCP or TLS (optionally mutual), a cap on open
//! connections, a deadline for request headers (slow clients cannot pin a connection), limits on
//! the request head, a lingering close that lets a refusal reach a client still sending its
//! body, and a graceful shutdown that stops accepting and lets in-flight requests finish.

mod limits;
mod linger;
#[cfg(test)]
mod tests;

pub use limits::{HeadLimits, Refuse, refuse_with_bars_code};
pub use linger::Linger;
use linger::{LingeringIo, Unread, WatchedBody};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::context::PeerInfo;

/// How a listener behaves.
#[derive(Clone)]
pub struct ServerOptions {
    /// TLS settings; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Time a client has to send a complete request head.
    pub header_read_timeout: Duration,
    /// Time a client has to finish the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed for in-flight requests to finish after shutdown is requested.
    pub drain_timeout: Duration,
    /// Largest request target and header block answered with an OperationOutcome.
    pub head_limits: HeadLimits,
    /// How this listener codes a request refused before any route runs.
    pub refuse: Refuse,
    /// How long a connection whose request body was refused keeps reading before it closes.
    pub linger: Linger,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            tls: None,
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            head_limits: HeadLimits::default(),
            refuse: refuse_with_bars_code::RECEIVER,
            linger: Linger::default(),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServerOptions,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let options = options.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let unread = Unread::default();
            let stream = LingeringIo::new(stream, unread.clone(), options.linger);
            match options.tls.clone() {
                None => {
                    let peer = PeerInfo {
                        addr,
                        client_certificate: None,
                        tls: false,
                    };
                    let conn = connection(&options).serve_connection(
                        TokioIo::new(stream),
                        service(app, peer, unread, &options),
                    );
                    let _ = watcher.watch(conn).await;
                }
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let handshake = acceptor.accept(stream).into_fallible();
                    let tls = match tokio::time::timeout(options.handshake_timeout, handshake).await
                    {
                        Ok(Ok(tls)) => tls,
                        // Refused (the alert is sent): linger so that the client reads it.
                        Ok(Err((_, mut refused))) => {
                            unread.mark();
                            let _ = refused.shutdown().await;
                            return;
                        }
                        Err(_) => return,
                    };
                    let client_certificate = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.clone().into_owned());
                    let peer = PeerInfo {
                        addr,
                        client_certificate,
                        tls: true,
                    };
                    let conn = connection(&options)
                        .serve_connection(TokioIo::new(tls), service(app, peer, unread, &options));
                    let _ = watcher.watch(conn).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still busy when the drain timeout expired");
    }
}

fn connection(options: &ServerOptions) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(options.head_limits.read_buffer())
        .max_headers(options.head_limits.max_headers * 2)
        .keep_alive(true);
    builder
}

fn service(
    app: Router,
    peer: PeerInfo,
    unread: Unread,
    options: &ServerOptions,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone {
    let (limits, refuse) = (options.head_limits, options.refuse);
    hyper::service::service_fn(move |request: http::Request<Incoming>| {
        unread.reset();
        let mut request = request.map(|body| WatchedBody::new(body, unread.clone()));
        let refused = limits.check(&request, refuse);
        request.extensions_mut().insert(peer.clone());
        let app = app.clone();
        async move {
            match refused {
                Some(response) => Ok(response),
                None => app.oneshot(request.map(Body::new)).await,
            }
        }
    })
}

/// A running server: its address and the handle that stops it.
pub struct RunningServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// Binds `addr` (port 0 picks a free port) and serves `app` in the background.
    pub async fn start(
        addr: SocketAddr,
        app: Router,
        options: ServerOptions,
    ) -> std::io::Result<RunningServer> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::start_on(listener, app, options))
    }

    pub fn start_on(listener: TcpListener, app: Router, options: ServerOptions) -> RunningServer {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, options, async move {
            let _ = stopped.await;
        }));
        RunningServer {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops accepting, drains in-flight requests, and returns when done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
