//! Waiting for the operator to stop the process.

use std::future::Future;

/// Starts listening for SIGTERM and Ctrl-C (SIGINT) now, and resolves on the first. A signal
/// that arrives before the future is awaited (while the process is still starting) is kept,
/// rather than ending the process on the spot the default way; the process then stops
/// cleanly as soon as it is ready. Must be called inside the runtime.
pub fn listen() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn next(s: Option<Signal>) {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        async move {
            tokio::select! {
                _ = next(interrupt) => {},
                _ = next(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn signal() {
    listen().await
}
